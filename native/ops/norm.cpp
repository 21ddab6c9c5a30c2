// Op family 'norm' (docs/OPS.md): layer_norm, rms_norm, group_norm with optional
// affine weight/bias. Forward saves the per-row (per-group) mean and rstd;
// backward returns dx, dweight, dbias (undefined for absent inputs).
// Kernels: native/cpu/norm.cpp.
#include "core/error.h"
#include "core/op.h"
#include "cpu/norm.h"

namespace tessera {

namespace {

bool present(const std::vector<Tensor>& in, size_t i) { return i < in.size() && in[i].defined(); }

// Contiguous f32 [C] parameter, or an undefined tensor when absent.
Tensor affine_param(const std::vector<Tensor>& in, size_t i, const char* op, const char* what, int64_t C) {
  if (!present(in, i)) return Tensor();
  Tensor t = contiguous_f32(in[i], op, what);
  TS_CHECK_SHAPE(t.dim() == 1 && t.size(0) == C, op, ": ", what, " must be [", C, "] (the size of the normalized ",
                 "channel dim), got ", t.describe());
  return t;
}

const float* ptr(const Tensor& t) { return t.defined() ? t.f32() : nullptr; }

float read_eps(const char* op, const OpParams& params, double fallback) {
  const double eps = params.get_float("eps", fallback);
  TS_CHECK_ARG(eps >= 0, op, ": eps must be >= 0, got ", eps);
  return float(eps);
}

Tensor grad_or_zeros(const char* op, const std::vector<Tensor>& gout, const Shape& shape) {
  if (!gout[0].defined()) return Tensor::zeros(shape);
  Tensor g = contiguous_f32(gout[0], op, "grad_output");
  TS_CHECK_SHAPE(g.shape() == shape, op, ": grad_output must have shape ", shape_str(shape), ", got ", g.describe());
  return g;
}

// ---- layer_norm / rms_norm: x [..., C] ----

Tensor last_dim_input(const char* op, const Tensor& in) {
  Tensor x = contiguous_f32(in, op, "x");
  TS_CHECK_SHAPE(x.dim() >= 1, op, ": x must have at least 1 dim [..., C], got ", x.describe());
  return x;
}

std::vector<Tensor> layer_norm_forward(const std::vector<Tensor>& in, const OpParams& params, OpContext& ctx) {
  const char* op = "layer_norm";
  Tensor x = last_dim_input(op, in[0]);
  const int64_t C = x.shape().back(), rows = C ? x.numel() / C : 0;
  Tensor w = affine_param(in, 1, op, "weight", C), b = affine_param(in, 2, op, "bias", C);
  const float eps = read_eps(op, params, 1e-5);
  Tensor y = Tensor::empty(x.shape()), mean = Tensor::empty({rows}), rstd = Tensor::empty({rows});
  cpu::layer_norm_forward(x.f32(), ptr(w), ptr(b), y.f32(), mean.f32(), rstd.f32(), rows, C, eps);
  ctx.save(mean);
  ctx.save(rstd);
  return {y};
}

std::vector<Tensor> layer_norm_backward(const std::vector<Tensor>& in, const std::vector<Tensor>&,
                                        const std::vector<Tensor>& saved, const std::vector<Tensor>& gout,
                                        const OpParams& params) {
  const char* op = "layer_norm";
  Tensor x = last_dim_input(op, in[0]);
  const int64_t C = x.shape().back(), rows = C ? x.numel() / C : 0;
  Tensor w = affine_param(in, 1, op, "weight", C), b = affine_param(in, 2, op, "bias", C);
  Tensor g = grad_or_zeros(op, gout, x.shape());
  Tensor mean, rstd;
  if (saved.size() >= 2) {
    mean = saved[0];
    rstd = saved[1];
  } else {  // statistics not saved: recompute them
    mean = Tensor::empty({rows});
    rstd = Tensor::empty({rows});
    Tensor y = Tensor::empty(x.shape());
    cpu::layer_norm_forward(x.f32(), ptr(w), ptr(b), y.f32(), mean.f32(), rstd.f32(), rows, C,
                            read_eps(op, params, 1e-5));
  }
  Tensor gx = Tensor::empty(x.shape());
  Tensor gw = w.defined() ? Tensor::empty({C}) : Tensor();
  Tensor gb = b.defined() ? Tensor::empty({C}) : Tensor();
  cpu::layer_norm_backward(x.f32(), ptr(w), mean.f32(), rstd.f32(), g.f32(), gx.f32(),
                           gw.defined() ? gw.f32() : nullptr, gb.defined() ? gb.f32() : nullptr, rows, C);
  std::vector<Tensor> grads{gx, gw, gb};
  grads.resize(in.size());
  return grads;
}

std::vector<Tensor> rms_norm_forward(const std::vector<Tensor>& in, const OpParams& params, OpContext& ctx) {
  const char* op = "rms_norm";
  Tensor x = last_dim_input(op, in[0]);
  const int64_t C = x.shape().back(), rows = C ? x.numel() / C : 0;
  Tensor w = affine_param(in, 1, op, "weight", C);
  const float eps = read_eps(op, params, 1e-6);
  Tensor y = Tensor::empty(x.shape()), rstd = Tensor::empty({rows});
  cpu::rms_norm_forward(x.f32(), ptr(w), y.f32(), rstd.f32(), rows, C, eps);
  ctx.save(rstd);
  return {y};
}

std::vector<Tensor> rms_norm_backward(const std::vector<Tensor>& in, const std::vector<Tensor>&,
                                      const std::vector<Tensor>& saved, const std::vector<Tensor>& gout,
                                      const OpParams& params) {
  const char* op = "rms_norm";
  Tensor x = last_dim_input(op, in[0]);
  const int64_t C = x.shape().back(), rows = C ? x.numel() / C : 0;
  Tensor w = affine_param(in, 1, op, "weight", C);
  Tensor g = grad_or_zeros(op, gout, x.shape());
  Tensor rstd;
  if (!saved.empty()) {
    rstd = saved[0];
  } else {
    rstd = Tensor::empty({rows});
    Tensor y = Tensor::empty(x.shape());
    cpu::rms_norm_forward(x.f32(), ptr(w), y.f32(), rstd.f32(), rows, C, read_eps(op, params, 1e-6));
  }
  Tensor gx = Tensor::empty(x.shape());
  Tensor gw = w.defined() ? Tensor::empty({C}) : Tensor();
  cpu::rms_norm_backward(x.f32(), ptr(w), rstd.f32(), g.f32(), gx.f32(), gw.defined() ? gw.f32() : nullptr, rows,
                         C);
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

std::vector<Tensor> group_norm_forward(const std::vector<Tensor>& in, const OpParams& params, OpContext& ctx) {
  const char* op = "group_norm";
  Tensor x = contiguous_f32(in[0], op, "x");
  GroupDims d = group_dims(x, params);
  Tensor w = affine_param(in, 1, op, "weight", d.C), b = affine_param(in, 2, op, "bias", d.C);
  const float eps = read_eps(op, params, 1e-5);
  Tensor y = Tensor::empty(x.shape()), mean = Tensor::empty({d.N, d.G}), rstd = Tensor::empty({d.N, d.G});
  cpu::group_norm_forward(x.f32(), ptr(w), ptr(b), y.f32(), mean.f32(), rstd.f32(), d.N, d.C, d.S, d.G, eps);
  ctx.save(mean);
  ctx.save(rstd);
  return {y};
}

std::vector<Tensor> group_norm_backward(const std::vector<Tensor>& in, const std::vector<Tensor>&,
                                        const std::vector<Tensor>& saved, const std::vector<Tensor>& gout,
                                        const OpParams& params) {
  const char* op = "group_norm";
  Tensor x = contiguous_f32(in[0], op, "x");
  GroupDims d = group_dims(x, params);
  Tensor w = affine_param(in, 1, op, "weight", d.C), b = affine_param(in, 2, op, "bias", d.C);
  Tensor g = grad_or_zeros(op, gout, x.shape());
  Tensor mean, rstd;
  if (saved.size() >= 2) {
    mean = saved[0];
    rstd = saved[1];
  } else {
    mean = Tensor::empty({d.N, d.G});
    rstd = Tensor::empty({d.N, d.G});
    Tensor y = Tensor::empty(x.shape());
    cpu::group_norm_forward(x.f32(), ptr(w), ptr(b), y.f32(), mean.f32(), rstd.f32(), d.N, d.C, d.S, d.G,
                            read_eps(op, params, 1e-5));
  }
  Tensor gx = Tensor::empty(x.shape());
  Tensor gw = w.defined() ? Tensor::empty({d.C}) : Tensor();
  Tensor gb = b.defined() ? Tensor::empty({d.C}) : Tensor();
  cpu::group_norm_backward(x.f32(), ptr(w), mean.f32(), rstd.f32(), g.f32(), gx.f32(),
                           gw.defined() ? gw.f32() : nullptr, gb.defined() ? gb.f32() : nullptr, d.N, d.C, d.S,
                           d.G);
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
  ln.forward = layer_norm_forward;
  ln.backward = layer_norm_backward;
  ln.doc = "layer_norm(x [..., C], weight [C]?, bias [C]?; eps=1e-5) -> same shape";
  r.add(std::move(ln));

  OpDef rms;
  rms.name = "rms_norm";
  rms.min_inputs = 1;
  rms.max_inputs = 2;
  rms.forward = rms_norm_forward;
  rms.backward = rms_norm_backward;
  rms.doc = "rms_norm(x [..., C], weight [C]?; eps=1e-6) -> x / sqrt(mean(x^2) + eps) * weight";
  r.add(std::move(rms));

  OpDef gn;
  gn.name = "group_norm";
  gn.min_inputs = 1;
  gn.max_inputs = 3;
  gn.forward = group_norm_forward;
  gn.backward = group_norm_backward;
  gn.doc = "group_norm(x [N, C, *], weight [C]?, bias [C]?; numGroups, eps=1e-5) -> same shape";
  r.add(std::move(gn));
}

}  // namespace tessera
