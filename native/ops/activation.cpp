// Op family 'activation' (docs/OPS.md): silu, gelu (approximate "none" = erf
// form, "tanh" = tanh form), exp and clamp. Kernels: native/cpu/activation.cpp and
// cuda/elementwise.cu.
#include <cmath>
#include <limits>
#include <string>

#include "backend/cuda_ops.h"
#include "core/error.h"
#include "core/op.h"
#include "cpu/activation.h"

namespace tessera {

namespace {

bool gelu_uses_tanh(const OpParams& params) {
  const std::string a = params.get_str("approximate", "none");
  TS_CHECK_ARG(a == "none" || a == "tanh", "gelu: approximate must be \"none\" or \"tanh\", got \"", a, "\"");
  return a == "tanh";
}

// clamp's bounds as float (the tensor's type, as PyTorch rounds a scalar bound for a
// float32 tensor); an absent bound is -inf / +inf. At least one must be given, neither
// may be NaN, and min <= max.
struct ClampBounds {
  float lo, hi;
};

// Rounds to float; beyond the float range (past the rounding midpoint above FLT_MAX)
// gives +-inf, where a plain conversion would be undefined.
float bound_to_f32(double v) {
  constexpr double kOverflow = 0x1.ffffffp127;  // FLT_MAX + half an ulp: rounds to inf (ties to even)
  if (std::fabs(v) >= kOverflow) return v > 0 ? std::numeric_limits<float>::infinity()
                                               : -std::numeric_limits<float>::infinity();
  return float(v);
}

ClampBounds clamp_bounds(const OpParams& params) {
  constexpr double kInf = std::numeric_limits<double>::infinity();
  const bool has_min = params.has("min"), has_max = params.has("max");
  TS_CHECK_ARG(has_min || has_max, "clamp: at least one of min and max must be given, got neither");
  const double lo = params.get_float("min", -kInf), hi = params.get_float("max", kInf);
  TS_CHECK_ARG(!std::isnan(lo), "clamp: min must be a number (finite or +-inf), got ", lo);
  TS_CHECK_ARG(!std::isnan(hi), "clamp: max must be a number (finite or +-inf), got ", hi);
  TS_CHECK_ARG(lo <= hi, "clamp: min (", lo, ") must be <= max (", hi, ")");
  return {bound_to_f32(lo), bound_to_f32(hi)};
}

}  // namespace

void register_activation_ops(OpRegistry& r) {
  OpDef silu;
  silu.name = "silu";
  set_forward(silu, [](Device dev, const std::vector<Tensor>& in, const OpParams&, OpContext&) {
    Tensor x = contiguous_f32(in[0], dev, "silu", "x");
    Tensor y = empty_f32(x.shape(), dev);
    if (dev == Device::CUDA) TS_CUDA("silu", silu_forward, data_f32(x), data_f32(y), x.numel());
    else cpu::silu_forward(x.f32(), y.f32(), x.numel());
    return std::vector<Tensor>{y};
  });
  set_backward(silu, [](Device dev, const std::vector<Tensor>& in, const std::vector<Tensor>&,
                        const std::vector<Tensor>&, const std::vector<Tensor>& gout, const OpParams&) {
    Tensor x = contiguous_f32(in[0], dev, "silu", "x");
    if (!gout[0].defined()) return std::vector<Tensor>{zeros_f32(x.shape(), dev)};
    Tensor g = contiguous_f32(gout[0], dev, "silu", "grad_output");
    TS_CHECK_SHAPE(g.shape() == x.shape(), "silu: grad_output must have shape ", shape_str(x.shape()), ", got ",
                   g.describe());
    Tensor gx = empty_f32(x.shape(), dev);
    if (dev == Device::CUDA) TS_CUDA("silu", silu_backward, data_f32(x), data_f32(g), data_f32(gx), x.numel());
    else cpu::silu_backward(x.f32(), g.f32(), gx.f32(), x.numel());
    return std::vector<Tensor>{gx};
  });
  silu.doc = "silu(x) -> x * sigmoid(x)";
  r.add(std::move(silu));

  OpDef gelu;
  gelu.name = "gelu";
  set_forward(gelu, [](Device dev, const std::vector<Tensor>& in, const OpParams& params, OpContext&) {
    const bool use_tanh = gelu_uses_tanh(params);
    Tensor x = contiguous_f32(in[0], dev, "gelu", "x");
    Tensor y = empty_f32(x.shape(), dev);
    if (dev == Device::CUDA) TS_CUDA("gelu", gelu_forward, data_f32(x), data_f32(y), x.numel(), use_tanh);
    else cpu::gelu_forward(x.f32(), y.f32(), x.numel(), use_tanh);
    return std::vector<Tensor>{y};
  });
  set_backward(gelu, [](Device dev, const std::vector<Tensor>& in, const std::vector<Tensor>&,
                        const std::vector<Tensor>&, const std::vector<Tensor>& gout, const OpParams& params) {
    const bool use_tanh = gelu_uses_tanh(params);
    Tensor x = contiguous_f32(in[0], dev, "gelu", "x");
    if (!gout[0].defined()) return std::vector<Tensor>{zeros_f32(x.shape(), dev)};
    Tensor g = contiguous_f32(gout[0], dev, "gelu", "grad_output");
    TS_CHECK_SHAPE(g.shape() == x.shape(), "gelu: grad_output must have shape ", shape_str(x.shape()), ", got ",
                   g.describe());
    Tensor gx = empty_f32(x.shape(), dev);
    if (dev == Device::CUDA)
      TS_CUDA("gelu", gelu_backward, data_f32(x), data_f32(g), data_f32(gx), x.numel(), use_tanh);
    else cpu::gelu_backward(x.f32(), g.f32(), gx.f32(), x.numel(), use_tanh);
    return std::vector<Tensor>{gx};
  });
  gelu.doc = "gelu(x; approximate=\"none\"|\"tanh\") -> 0.5 x (1 + erf(x / sqrt 2)) (or the tanh form)";
  r.add(std::move(gelu));

  OpDef ex;
  ex.name = "exp";
  set_forward(ex, [](Device dev, const std::vector<Tensor>& in, const OpParams&, OpContext&) {
    Tensor x = contiguous_f32(in[0], dev, "exp", "x");
    Tensor y = empty_f32(x.shape(), dev);
    if (dev == Device::CUDA) TS_CUDA("exp", exp_forward, data_f32(x), data_f32(y), x.numel());
    else cpu::exp_forward(x.f32(), y.f32(), x.numel());
    return std::vector<Tensor>{y};
  });
  // dx = dy * y: from the output, so nothing is saved.
  set_backward(ex, [](Device dev, const std::vector<Tensor>& in, const std::vector<Tensor>& out,
                      const std::vector<Tensor>&, const std::vector<Tensor>& gout, const OpParams&) {
    if (!gout[0].defined()) return std::vector<Tensor>{zeros_f32(in[0].shape(), dev)};
    Tensor y = contiguous_f32(out[0], dev, "exp", "y");
    Tensor g = contiguous_f32(gout[0], dev, "exp", "grad_output");
    TS_CHECK_SHAPE(g.shape() == y.shape(), "exp: grad_output must have shape ", shape_str(y.shape()), ", got ",
                   g.describe());
    Tensor gx = empty_f32(y.shape(), dev);
    if (dev == Device::CUDA) TS_CUDA("exp", exp_backward, data_f32(y), data_f32(g), data_f32(gx), y.numel());
    else cpu::exp_backward(y.f32(), g.f32(), gx.f32(), y.numel());
    return std::vector<Tensor>{gx};
  });
  ex.doc = "exp(x) -> e^x (dx = dy * y)";
  r.add(std::move(ex));

  OpDef clamp;
  clamp.name = "clamp";
  set_forward(clamp, [](Device dev, const std::vector<Tensor>& in, const OpParams& params, OpContext&) {
    const ClampBounds b = clamp_bounds(params);
    Tensor x = contiguous_f32(in[0], dev, "clamp", "x");
    Tensor y = empty_f32(x.shape(), dev);
    if (dev == Device::CUDA) TS_CUDA("clamp", clamp_forward, data_f32(x), data_f32(y), x.numel(), b.lo, b.hi);
    else cpu::clamp_forward(x.f32(), y.f32(), x.numel(), b.lo, b.hi);
    return std::vector<Tensor>{y};
  });
  set_backward(clamp, [](Device dev, const std::vector<Tensor>& in, const std::vector<Tensor>&,
                         const std::vector<Tensor>&, const std::vector<Tensor>& gout, const OpParams& params) {
    const ClampBounds b = clamp_bounds(params);
    Tensor x = contiguous_f32(in[0], dev, "clamp", "x");
    if (!gout[0].defined()) return std::vector<Tensor>{zeros_f32(x.shape(), dev)};
    Tensor g = contiguous_f32(gout[0], dev, "clamp", "grad_output");
    TS_CHECK_SHAPE(g.shape() == x.shape(), "clamp: grad_output must have shape ", shape_str(x.shape()), ", got ",
                   g.describe());
    Tensor gx = empty_f32(x.shape(), dev);
    if (dev == Device::CUDA)
      TS_CUDA("clamp", clamp_backward, data_f32(x), data_f32(g), data_f32(gx), x.numel(), b.lo, b.hi);
    else cpu::clamp_backward(x.f32(), g.f32(), gx.f32(), x.numel(), b.lo, b.hi);
    return std::vector<Tensor>{gx};
  });
  clamp.doc = "clamp(x; min?, max? (at least one; min <= max; +-inf allowed)) -> min(max(x, min), max), NaN stays "
              "NaN (dx = dy where min <= x <= max, else 0)";
  r.add(std::move(clamp));
}

}  // namespace tessera
