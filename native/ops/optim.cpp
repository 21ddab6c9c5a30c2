// Op family 'optim' (docs/OPS.md): adamw (param, grad, m, v -> new param, m, v)
// and clip_grad_norm (g0, g1, ... -> clipped g0, g1, ..., total norm []).
// Neither is differentiable. Kernels: native/cpu/optim.cpp.
#include <algorithm>
#include <cmath>
#include <string>

#include "backend/cuda_ops.h"
#include "core/error.h"
#include "core/op.h"
#include "cpu/optim.h"

namespace tessera {

namespace {

double required_float(const char* op, const OpParams& params, const char* name) {
  TS_CHECK_ARG(params.has(name), op, ": parameter ", name, " (number) is required");
  return params.get_float(name, 0.0);
}

// A copy of a contiguous f32 tensor on its device.
Tensor copy_of(Device dev, const Tensor& t) {
  if (dev == Device::CPU) return t.clone();
  Tensor c = empty_f32(t.shape(), dev);
  if (t.nbytes()) TS_CUDA("copy", memcpy_d2d, c.raw_data(), t.raw_data(), t.nbytes());
  return c;
}

std::vector<Tensor> adamw_forward(Device dev, const std::vector<Tensor>& in, const OpParams& params, OpContext&) {
  const char* op = "adamw";
  Tensor p = contiguous_f32(in[0], dev, op, "param");
  Tensor g = contiguous_f32(in[1], dev, op, "grad");
  Tensor m = contiguous_f32(in[2], dev, op, "m");
  Tensor v = contiguous_f32(in[3], dev, op, "v");
  const char* names[] = {"grad", "m", "v"};
  const Tensor* others[] = {&g, &m, &v};
  for (int i = 0; i < 3; ++i)
    TS_CHECK_SHAPE(others[i]->shape() == p.shape(), op, ": ", names[i], " must have the shape of param ",
                   shape_str(p.shape()), ", got ", others[i]->describe());
  AdamWConfig cfg;
  cfg.lr = required_float(op, params, "lr");
  cfg.beta1 = params.get_float("beta1", 0.9);
  cfg.beta2 = params.get_float("beta2", 0.999);
  cfg.eps = params.get_float("eps", 1e-8);
  cfg.weight_decay = params.get_float("weightDecay", 0.01);
  const int64_t step = params.get_int("step");
  TS_CHECK_ARG(cfg.lr >= 0, op, ": lr must be >= 0, got ", cfg.lr);
  TS_CHECK_ARG(cfg.beta1 >= 0 && cfg.beta1 < 1, op, ": beta1 must be in [0, 1), got ", cfg.beta1);
  TS_CHECK_ARG(cfg.beta2 >= 0 && cfg.beta2 < 1, op, ": beta2 must be in [0, 1), got ", cfg.beta2);
  TS_CHECK_ARG(cfg.eps >= 0, op, ": eps must be >= 0, got ", cfg.eps);
  TS_CHECK_ARG(cfg.weight_decay >= 0, op, ": weightDecay must be >= 0, got ", cfg.weight_decay);
  TS_CHECK_ARG(step >= 1, op, ": step must be >= 1 (the 1-based count of updates), got ", step);
  Tensor p2 = copy_of(dev, p), m2 = copy_of(dev, m), v2 = copy_of(dev, v);
  if (dev == Device::CUDA)
    TS_CUDA(op, adamw_step, data_f32(p2), data_f32(g), data_f32(m2), data_f32(v2), p.numel(), cfg.lr, cfg.beta1,
            cfg.beta2, cfg.eps, cfg.weight_decay, step);
  else cpu::adamw_step(p2.f32(), g.f32(), m2.f32(), v2.f32(), p.numel(), cfg, step);
  return {p2, m2, v2};
}

// On CUDA: the global norm is computed on the device (cuda/optim.cu, fixed-order
// reduction), read back (one sync: the coefficient decides whether to scale), and
// the gradients are scaled by the same float coefficient as on the CPU.
std::vector<Tensor> clip_grad_norm_cuda(const std::vector<Tensor>& in, double max_norm) {
  const char* op = "clip_grad_norm";
  const Device dev = Device::CUDA;
  std::vector<Tensor> out;
  std::vector<const float*> data;
  std::vector<int64_t> sizes;
  for (size_t i = 0; i < in.size(); ++i) {
    const std::string what = "g" + std::to_string(i);
    out.push_back(contiguous_f32(in[i], dev, op, what.c_str()));
    data.push_back(data_f32(out.back()));
    sizes.push_back(out.back().numel());
  }
  const int64_t n = int64_t(in.size());
  Tensor ws = empty_f32({std::max<int64_t>(1, cuda_backend::api().global_norm_workspace_floats(n))}, dev);
  Tensor norm = empty_f32({}, dev);
  TS_CUDA(op, global_norm, data.data(), sizes.data(), n, data_f32(ws), data_f32(norm));
  float total = 0;
  cuda_backend::check(cuda_backend::api().memcpy_d2h(&total, norm.raw_data(), sizeof(float), cuda_backend::stream()),
                      op);
  const float coef = cpu::clip_coefficient(double(total), max_norm);
  if (coef != 1.0f)
    for (Tensor& t : out) {
      if (!t.numel()) continue;
      Tensor scaled = empty_f32(t.shape(), dev);  // out of place: the kernel's pointers are __restrict__
      TS_CUDA(op, scale_forward, data_f32(t), data_f32(scaled), t.numel(), coef);
      t = scaled;
    }
  out.push_back(norm);
  return out;
}

std::vector<Tensor> clip_grad_norm_forward(Device dev, const std::vector<Tensor>& in, const OpParams& params,
                                           OpContext&) {
  const char* op = "clip_grad_norm";
  const double max_norm = required_float(op, params, "maxNorm");
  TS_CHECK_ARG(std::isfinite(max_norm) && max_norm >= 0, op, ": maxNorm must be a finite number >= 0, got ",
               max_norm);
  if (dev == Device::CUDA) return clip_grad_norm_cuda(in, max_norm);
  std::vector<Tensor> out;
  std::vector<const float*> data;
  std::vector<int64_t> sizes;
  for (size_t i = 0; i < in.size(); ++i) {
    const std::string what = "g" + std::to_string(i);
    out.push_back(contiguous_f32(in[i], op, what.c_str()).clone());
    data.push_back(out.back().f32());
    sizes.push_back(out.back().numel());
  }
  const double total = cpu::global_norm(data, sizes);
  const float coef = cpu::clip_coefficient(total, max_norm);
  for (Tensor& t : out) cpu::scale_inplace(t.f32(), t.numel(), coef);
  Tensor norm = Tensor::empty({});
  norm.f32()[0] = float(total);
  out.push_back(norm);
  return out;
}

}  // namespace

void register_optim_ops(OpRegistry& r) {
  OpDef a;
  a.name = "adamw";
  a.min_inputs = 4;
  a.max_inputs = 4;
  set_forward(a, adamw_forward);
  a.doc = "adamw(param, grad, m, v; lr, beta1=0.9, beta2=0.999, eps=1e-8, weightDecay=0.01, step>=1) -> "
          "new param, m, v";
  r.add(std::move(a));

  OpDef c;
  c.name = "clip_grad_norm";
  c.min_inputs = 1;
  c.max_inputs = -1;
  set_forward(c, clip_grad_norm_forward);
  c.doc = "clip_grad_norm(g0, g1, ...; maxNorm) -> g_i * min(1, maxNorm / (norm + 1e-6)) ..., total norm []";
  r.add(std::move(c));
}

}  // namespace tessera
