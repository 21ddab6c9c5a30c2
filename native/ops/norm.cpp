// Op family 'norm' (docs/OPS.md): layer_norm, rms_norm, group_norm with optional
// affine weight/bias. Forward saves the per-row (per-group) mean and rstd;
// backward returns dx, dweight, dbias (undefined for absent inputs).
// Kernels: native/cpu/norm.cpp.
#include <algorithm>

#include "backend/cuda_ops.h"
#include "core/error.h"
#include "core/op.h"
#include "cpu/norm.h"

namespace tessera {

namespace {

bool present(const std::vector<Tensor>& in, size_t i) { return i < in.size() && in[i].defined(); }

// Contiguous f32 [C] parameter, or an undefined tensor when absent.
Tensor affine_param(Device dev, const std::vector<Tensor>& in, size_t i, const char* op, const char* what,
                    int64_t C) {
  if (!present(in, i)) return Tensor();
  Tensor t = contiguous_f32(in[i], dev, op, what);
  TS_CHECK_SHAPE(t.dim() == 1 && t.size(0) == C, op, ": ", what, " must be [", C, "] (the size of the normalized ",
                 "channel dim), got ", t.describe());
  return t;
}

float read_eps(const char* op, const OpParams& params, double fallback) {
  const double eps = params.get_float("eps", fallback);
  TS_CHECK_ARG(eps >= 0, op, ": eps must be >= 0, got ", eps);
  return float(eps);
}

Tensor grad_or_zeros(Device dev, const char* op, const std::vector<Tensor>& gout, const Shape& shape) {
  if (!gout[0].defined()) return zeros_f32(shape, dev);
  Tensor g = contiguous_f32(gout[0], dev, op, "grad_output");
  TS_CHECK_SHAPE(g.shape() == shape, op, ": grad_output must have shape ", shape_str(shape), ", got ", g.describe());
  return g;
}

// Forward kernels on either device (backward needs them too when the statistics
// were not saved).
void layer_norm_fwd(Device dev, const Tensor& x, const Tensor& w, const Tensor& b, const Tensor& y,
                    const Tensor& mean, const Tensor& rstd, int64_t rows, int64_t C, float eps) {
  if (dev == Device::CUDA)
    TS_CUDA("layer_norm", layer_norm_forward, data_f32(x), data_f32(w), data_f32(b), data_f32(y), data_f32(mean),
            data_f32(rstd), rows, C, eps);
  else
    cpu::layer_norm_forward(x.f32(), data_f32(w), data_f32(b), y.f32(), mean.f32(), rstd.f32(), rows, C, eps);
}

void rms_norm_fwd(Device dev, const Tensor& x, const Tensor& w, const Tensor& y, const Tensor& rstd, int64_t rows,
                  int64_t C, float eps) {
  if (dev == Device::CUDA)
    TS_CUDA("rms_norm", rms_norm_forward, data_f32(x), data_f32(w), data_f32(y), data_f32(rstd), rows, C, eps);
  else cpu::rms_norm_forward(x.f32(), data_f32(w), y.f32(), rstd.f32(), rows, C, eps);
}

// ---- layer_norm / rms_norm: x [..., C] ----

Tensor last_dim_input(Device dev, const char* op, const Tensor& in) {
  Tensor x = contiguous_f32(in, dev, op, "x");
  TS_CHECK_SHAPE(x.dim() >= 1, op, ": x must have at least 1 dim [..., C], got ", x.describe());
  return x;
}

std::vector<Tensor> layer_norm_forward(Device dev, const std::vector<Tensor>& in, const OpParams& params, OpContext& ctx) {
  const char* op = "layer_norm";
  Tensor x = last_dim_input(dev, op, in[0]);
  const int64_t C = x.shape().back(), rows = C ? x.numel() / C : 0;
  Tensor w = affine_param(dev, in, 1, op, "weight", C), b = affine_param(dev, in, 2, op, "bias", C);
  const float eps = read_eps(op, params, 1e-5);
  Tensor y = empty_f32(x.shape(), dev), mean = empty_f32({rows}, dev), rstd = empty_f32({rows}, dev);
  layer_norm_fwd(dev, x, w, b, y, mean, rstd, rows, C, eps);
  ctx.save(mean);
  ctx.save(rstd);
  return {y};
}

std::vector<Tensor> layer_norm_backward(Device dev, const std::vector<Tensor>& in, const std::vector<Tensor>&,
                                        const std::vector<Tensor>& saved, const std::vector<Tensor>& gout,
                                        const OpParams& params) {
  const char* op = "layer_norm";
  Tensor x = last_dim_input(dev, op, in[0]);
  const int64_t C = x.shape().back(), rows = C ? x.numel() / C : 0;
  Tensor w = affine_param(dev, in, 1, op, "weight", C), b = affine_param(dev, in, 2, op, "bias", C);
  Tensor g = grad_or_zeros(dev, op, gout, x.shape());
  Tensor mean, rstd;
  if (saved.size() >= 2) {
    mean = saved[0];
    rstd = saved[1];
  } else {  // statistics not saved: recompute them
    mean = empty_f32({rows}, dev);
    rstd = empty_f32({rows}, dev);
    Tensor y = empty_f32(x.shape(), dev);
    layer_norm_fwd(dev, x, w, b, y, mean, rstd, rows, C, read_eps(op, params, 1e-5));
  }
  Tensor gx = empty_f32(x.shape(), dev);
  Tensor gw = w.defined() ? empty_f32({C}, dev) : Tensor();
  Tensor gb = b.defined() ? empty_f32({C}, dev) : Tensor();
  if (dev == Device::CUDA) {
    Tensor ws = empty_f32({std::max<int64_t>(1, cuda_backend::api().norm_backward_workspace_floats(rows, C))}, dev);
    TS_CUDA(op, layer_norm_backward, data_f32(x), data_f32(w), data_f32(mean), data_f32(rstd), data_f32(g),
            data_f32(gx), data_f32(gw), data_f32(gb), data_f32(ws), rows, C);
  } else {
    cpu::layer_norm_backward(x.f32(), data_f32(w), mean.f32(), rstd.f32(), g.f32(), gx.f32(), data_f32(gw),
                             data_f32(gb), rows, C);
  }
  std::vector<Tensor> grads{gx, gw, gb};
  grads.resize(in.size());
  return grads;
}

std::vector<Tensor> rms_norm_forward(Device dev, const std::vector<Tensor>& in, const OpParams& params, OpContext& ctx) {
  const char* op = "rms_norm";
  Tensor x = last_dim_input(dev, op, in[0]);
  const int64_t C = x.shape().back(), rows = C ? x.numel() / C : 0;
  Tensor w = affine_param(dev, in, 1, op, "weight", C);
  const float eps = read_eps(op, params, 1e-6);
  Tensor y = empty_f32(x.shape(), dev), rstd = empty_f32({rows}, dev);
  rms_norm_fwd(dev, x, w, y, rstd, rows, C, eps);
  ctx.save(rstd);
  return {y};
}

std::vector<Tensor> rms_norm_backward(Device dev, const std::vector<Tensor>& in, const std::vector<Tensor>&,
                                      const std::vector<Tensor>& saved, const std::vector<Tensor>& gout,
                                      const OpParams& params) {
  const char* op = "rms_norm";
  Tensor x = last_dim_input(dev, op, in[0]);
  const int64_t C = x.shape().back(), rows = C ? x.numel() / C : 0;
  Tensor w = affine_param(dev, in, 1, op, "weight", C);
  Tensor g = grad_or_zeros(dev, op, gout, x.shape());
  Tensor rstd;
  if (!saved.empty()) {
    rstd = saved[0];
  } else {
    rstd = empty_f32({rows}, dev);
    Tensor y = empty_f32(x.shape(), dev);
    rms_norm_fwd(dev, x, w, y, rstd, rows, C, read_eps(op, params, 1e-6));
  }
  Tensor gx = empty_f32(x.shape(), dev);
  Tensor gw = w.defined() ? empty_f32({C}, dev) : Tensor();
  if (dev == Device::CUDA) {
    Tensor ws = empty_f32({std::max<int64_t>(1, cuda_backend::api().norm_backward_workspace_floats(rows, C))}, dev);
    TS_CUDA(op, rms_norm_backward, data_f32(x), data_f32(w), data_f32(rstd), data_f32(g), data_f32(gx), data_f32(gw),
            data_f32(ws), rows, C);
  } else {
    cpu::rms_norm_backward(x.f32(), data_f32(w), rstd.f32(), g.f32(), gx.f32(), data_f32(gw), rows, C);
  }
  std::vector<Tensor> grads{gx, gw};
  grads.resize(in.size());
  return grads;
}

// ---- group_norm: x [N, C, *] ----

struct GroupDims {
  int64_t N, C, S, G;
};

GroupDims group_dims(const Tensor& x, const OpParams& params) {
  const char* op = "group_norm";
  TS_CHECK_SHAPE(x.dim() >= 2, op, ": x must be [N, C, *spatial] (at least 2-d), got ", x.describe());
  GroupDims d;
  d.N = x.size(0);
  d.C = x.size(1);
  d.S = 1;
  for (int i = 2; i < x.dim(); ++i) d.S *= x.size(i);
  TS_CHECK_ARG(params.has("numGroups"), op, ": parameter numGroups is required");
  d.G = params.get_int("numGroups");
  TS_CHECK_ARG(d.G > 0, op, ": numGroups must be > 0, got ", d.G);
  TS_CHECK_ARG(d.C % d.G == 0, op, ": numGroups ", d.G, " must divide the channel count C = ", d.C, " (x ",
               x.describe(), ")");
  return d;
}

void group_norm_fwd(Device dev, const Tensor& x, const Tensor& w, const Tensor& b, const Tensor& y,
                    const Tensor& mean, const Tensor& rstd, const GroupDims& d, float eps) {
  if (dev == Device::CUDA)
    TS_CUDA("group_norm", group_norm_forward, data_f32(x), data_f32(w), data_f32(b), data_f32(y), data_f32(mean),
            data_f32(rstd), d.N, d.C, d.S, d.G, eps);
  else
    cpu::group_norm_forward(x.f32(), data_f32(w), data_f32(b), y.f32(), mean.f32(), rstd.f32(), d.N, d.C, d.S, d.G,
                            eps);
}

std::vector<Tensor> group_norm_forward(Device dev, const std::vector<Tensor>& in, const OpParams& params, OpContext& ctx) {
  const char* op = "group_norm";
  Tensor x = contiguous_f32(in[0], dev, op, "x");
  GroupDims d = group_dims(x, params);
  Tensor w = affine_param(dev, in, 1, op, "weight", d.C), b = affine_param(dev, in, 2, op, "bias", d.C);
  const float eps = read_eps(op, params, 1e-5);
  Tensor y = empty_f32(x.shape(), dev), mean = empty_f32({d.N, d.G}, dev), rstd = empty_f32({d.N, d.G}, dev);
  group_norm_fwd(dev, x, w, b, y, mean, rstd, d, eps);
  ctx.save(mean);
  ctx.save(rstd);
  return {y};
}

std::vector<Tensor> group_norm_backward(Device dev, const std::vector<Tensor>& in, const std::vector<Tensor>&,
                                        const std::vector<Tensor>& saved, const std::vector<Tensor>& gout,
                                        const OpParams& params) {
  const char* op = "group_norm";
  Tensor x = contiguous_f32(in[0], dev, op, "x");
  GroupDims d = group_dims(x, params);
  Tensor w = affine_param(dev, in, 1, op, "weight", d.C), b = affine_param(dev, in, 2, op, "bias", d.C);
  Tensor g = grad_or_zeros(dev, op, gout, x.shape());
  Tensor mean, rstd;
  if (saved.size() >= 2) {
    mean = saved[0];
    rstd = saved[1];
  } else {
    mean = empty_f32({d.N, d.G}, dev);
    rstd = empty_f32({d.N, d.G}, dev);
    Tensor y = empty_f32(x.shape(), dev);
    group_norm_fwd(dev, x, w, b, y, mean, rstd, d, read_eps(op, params, 1e-5));
  }
  Tensor gx = empty_f32(x.shape(), dev);
  Tensor gw = w.defined() ? empty_f32({d.C}, dev) : Tensor();
  Tensor gb = b.defined() ? empty_f32({d.C}, dev) : Tensor();
  if (dev == Device::CUDA) {
    Tensor ws = empty_f32({std::max<int64_t>(1, cuda_backend::api().group_norm_backward_workspace_floats(d.N, d.C))},
                          dev);
    TS_CUDA(op, group_norm_backward, data_f32(x), data_f32(w), data_f32(mean), data_f32(rstd), data_f32(g),
            data_f32(gx), data_f32(gw), data_f32(gb), data_f32(ws), d.N, d.C, d.S, d.G);
  } else {
    cpu::group_norm_backward(x.f32(), data_f32(w), mean.f32(), rstd.f32(), g.f32(), gx.f32(), data_f32(gw),
                             data_f32(gb), d.N, d.C, d.S, d.G);
  }
  std::vector<Tensor> grads{gx, gw, gb};
  grads.resize(in.size());
  return grads;
}

}  // namespace

void register_norm_ops(OpRegistry& r) {
  OpDef ln;
  ln.name = "layer_norm";
  ln.min_inputs = 1;
  ln.max_inputs = 3;
  set_forward(ln, layer_norm_forward);
  set_backward(ln, layer_norm_backward);
  ln.doc = "layer_norm(x [..., C], weight [C]?, bias [C]?; eps=1e-5) -> same shape";
  r.add(std::move(ln));

  OpDef rms;
  rms.name = "rms_norm";
  rms.min_inputs = 1;
  rms.max_inputs = 2;
  set_forward(rms, rms_norm_forward);
  set_backward(rms, rms_norm_backward);
  rms.doc = "rms_norm(x [..., C], weight [C]?; eps=1e-6) -> x / sqrt(mean(x^2) + eps) * weight";
  r.add(std::move(rms));

  OpDef gn;
  gn.name = "group_norm";
  gn.min_inputs = 1;
  gn.max_inputs = 3;
  set_forward(gn, group_norm_forward);
  set_backward(gn, group_norm_backward);
  gn.doc = "group_norm(x [N, C, *], weight [C]?, bias [C]?; numGroups, eps=1e-5) -> same shape";
  r.add(std::move(gn));
}

}  // namespace tessera
