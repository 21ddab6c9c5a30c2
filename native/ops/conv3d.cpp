// Op family 'conv3d' (docs/OPS.md): y = conv3d(x, w) + bias, as
// torch.nn.functional.conv3d with zero padding.
//
//   x [N, Cin, D, H, W], w [Cout, Cin, kD, kH, kW], bias [Cout] (optional) -> y [N, Cout, Do, Ho, Wo]
//   stride [sD, sH, sW] (default 1s), padding [pD, pH, pW] (zeros on both sides, default 0s),
//   causal: temporal padding kD - 1 before and none after (pD ignored).
//   Do = (D + padBefore + padAfter - kD) / sD + 1, Ho = (H + 2 pH - kH) / sH + 1, Wo alike.
// Kernels (forward and backward, implicit GEMM) are in cpu/conv3d.cpp.
#include <algorithm>

#include "backend/cuda_ops.h"
#include "core/error.h"
#include "core/op.h"
#include "cpu/conv3d.h"

namespace tessera {

namespace {

std::vector<int64_t> triple(const OpParams& params, const char* name, int64_t fallback, int64_t min_value) {
  std::vector<int64_t> v = params.get_ints(name, {fallback, fallback, fallback});
  if (v.size() == 1) v = {v[0], v[0], v[0]};
  TS_CHECK_ARG(v.size() == 3, "conv3d: ", name, " must have 3 entries [d, h, w] (or one for all), got ", v.size(),
               " entries");
  for (int64_t e : v)
    TS_CHECK_ARG(e >= min_value, "conv3d: ", name, " entries must be >= ", min_value, ", got ", e);
  return v;
}

cpu::Conv3dShape plan_conv3d(const Tensor& x, const Tensor& w, const Tensor* bias, const OpParams& params) {
  TS_CHECK_SHAPE(x.dim() == 5, "conv3d: x must be 5-d [N, C, D, H, W], got ", x.describe());
  TS_CHECK_SHAPE(w.dim() == 5, "conv3d: w must be 5-d [Cout, Cin, kD, kH, kW], got ", w.describe());
  TS_CHECK_SHAPE(w.size(1) == x.size(1), "conv3d: w's Cin (", w.size(1), ") must equal x's channels (", x.size(1),
                 "), got x ", x.describe(), " and w ", w.describe());
  const std::vector<int64_t> stride = triple(params, "stride", 1, 1);
  const std::vector<int64_t> padding = triple(params, "padding", 0, 0);
  const bool causal = params.get_bool("causal", false);
  cpu::Conv3dShape s;
  s.N = x.size(0), s.Cin = x.size(1), s.D = x.size(2), s.H = x.size(3), s.W = x.size(4);
  s.Cout = w.size(0), s.kD = w.size(2), s.kH = w.size(3), s.kW = w.size(4);
  TS_CHECK_SHAPE(s.kD >= 1 && s.kH >= 1 && s.kW >= 1, "conv3d: kernel sizes must be >= 1, got w ", w.describe());
  s.sD = stride[0], s.sH = stride[1], s.sW = stride[2];
  s.pF = causal ? s.kD - 1 : padding[0];
  s.pB = causal ? 0 : padding[0];
  s.pH = padding[1], s.pW = padding[2];
  TS_CHECK_SHAPE(s.D + s.pF + s.pB >= s.kD && s.H + 2 * s.pH >= s.kH && s.W + 2 * s.pW >= s.kW,
                 "conv3d: padded input (D, H, W) = (", s.D + s.pF + s.pB, ", ", s.H + 2 * s.pH, ", ",
                 s.W + 2 * s.pW, ") must be at least the kernel size (", s.kD, ", ", s.kH, ", ", s.kW, "), x ",
                 x.describe(), ", w ", w.describe());
  cpu::conv3d_output_size(s);
  if (bias && bias->defined()) {
    TS_CHECK_SHAPE(bias->dim() == 1 && bias->size(0) == s.Cout, "conv3d: bias must be [Cout] = [", s.Cout,
                   "], got ", bias->describe());
  }
  return s;
}

TsConv3dShape device_shape(const cpu::Conv3dShape& s) {
  return TsConv3dShape{s.N,  s.Cin, s.D,  s.H,  s.W,  s.Cout, s.kD, s.kH, s.kW, s.sD,
                       s.sH, s.sW,  s.pF, s.pB, s.pH, s.pW,   s.Do, s.Ho, s.Wo};
}

std::vector<Tensor> conv3d_forward(Device dev, const std::vector<Tensor>& inputs, const OpParams& params,
                                   OpContext& ctx) {
  Tensor x = contiguous_f32(inputs[0], dev, "conv3d", "x");
  Tensor w = contiguous_f32(inputs[1], dev, "conv3d", "w");
  Tensor bias;
  if (inputs.size() > 2 && inputs[2].defined()) bias = contiguous_f32(inputs[2], dev, "conv3d", "bias");
  const cpu::Conv3dShape s = plan_conv3d(x, w, &bias, params);
  Tensor y = empty_f32({s.N, s.Cout, s.Do, s.Ho, s.Wo}, dev);
  if (y.numel() == 0) return {y};
  if (dev == Device::CUDA) {
    const TsConv3dShape d = device_shape(s);
    TS_CUDA("conv3d", conv3d_forward, data_f32(x), data_f32(w), data_f32(bias), data_f32(y), &d);
  } else {
    cpu::conv3d_forward(x.f32(), w.f32(), bias.defined() ? bias.f32() : nullptr, y.f32(), s);
  }
  return {y};
}

std::vector<Tensor> conv3d_backward(Device dev, const std::vector<Tensor>& inputs,
                                    const std::vector<Tensor>& outputs, const std::vector<Tensor>& saved,
                                    const std::vector<Tensor>& grad_outputs, const OpParams& params) {
  Tensor x = contiguous_f32(inputs[0], dev, "conv3d", "x");
  Tensor w = contiguous_f32(inputs[1], dev, "conv3d", "w");
  const bool has_bias = inputs.size() > 2 && inputs[2].defined();
  Tensor bias_in = has_bias ? inputs[2] : Tensor();
  const cpu::Conv3dShape s = plan_conv3d(x, w, has_bias ? &bias_in : nullptr, params);
  std::vector<Tensor> grads(inputs.size());
  Tensor dx = zeros_f32(x.shape(), dev);
  Tensor dw = zeros_f32(w.shape(), dev);
  Tensor dbias = has_bias ? zeros_f32({s.Cout}, dev) : Tensor();
  grads[0] = dx;
  grads[1] = dw;
  if (has_bias) grads[2] = dbias;
  if (grad_outputs.empty() || !grad_outputs[0].defined()) return grads;
  Tensor dy = contiguous_f32(grad_outputs[0], dev, "conv3d", "grad");
  const Shape y_shape{s.N, s.Cout, s.Do, s.Ho, s.Wo};
  TS_CHECK_SHAPE(dy.shape() == y_shape, "conv3d: output gradient must be ", shape_str(y_shape), ", got ",
                 dy.describe());
  if (dy.numel() == 0) return grads;
  if (dev == Device::CUDA) {
    const TsConv3dShape d = device_shape(s);
    Tensor ws = empty_f32({std::max<int64_t>(1, cuda_backend::api().conv3d_backward_workspace_floats(&d))}, dev);
    TS_CUDA("conv3d", conv3d_backward, data_f32(x), data_f32(w), data_f32(dy), data_f32(dx), data_f32(dw),
            data_f32(dbias), &d, data_f32(ws));
  } else {
    cpu::conv3d_backward(x.f32(), w.f32(), dy.f32(), dx.f32(), dw.f32(), has_bias ? dbias.f32() : nullptr, s);
  }
  return grads;
}

}  // namespace

void register_conv3d_ops(OpRegistry& r) {
  OpDef def;
  def.name = "conv3d";
  def.min_inputs = 2;
  def.max_inputs = 3;
  set_forward(def, conv3d_forward);
  set_backward(def, conv3d_backward);
  def.doc =
      "conv3d(x [N, Cin, D, H, W], w [Cout, Cin, kD, kH, kW], bias [Cout]?; stride=[1,1,1], padding=[0,0,0], "
      "causal=false) -> [N, Cout, Do, Ho, Wo]";
  r.add(def);
}

}  // namespace tessera
