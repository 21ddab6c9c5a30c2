// Op family 'activation' (docs/OPS.md): silu and gelu (approximate "none" = erf
// form, "tanh" = tanh form). Kernels: native/cpu/activation.cpp.
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
}

}  // namespace tessera
