// Op family 'elementwise' (docs/OPS.md): add, sub, mul with NumPy broadcasting,
// and scale. Kernels: native/cpu/elementwise.cpp.
#include <algorithm>
#include <string>

#include "backend/cuda_ops.h"
#include "core/error.h"
#include "core/op.h"
#include "cpu/elementwise.h"

namespace tessera {

namespace {

Shape broadcast_shapes(const char* op, const Tensor& a, const Tensor& b) {
  const Shape& sa = a.shape();
  const Shape& sb = b.shape();
  const size_t nd = std::max(sa.size(), sb.size());
  Shape out(nd, 1);
  for (size_t i = 0; i < nd; ++i) {
    const int64_t da = i < sa.size() ? sa[sa.size() - 1 - i] : 1;
    const int64_t db = i < sb.size() ? sb[sb.size() - 1 - i] : 1;
    TS_CHECK_SHAPE(da == db || da == 1 || db == 1, op, ": cannot broadcast a ", a.describe(), " with b ",
                   b.describe(), ": dim -", i + 1, " has sizes ", da, " and ", db,
                   " (each pair must be equal or one of them 1)");
    out[nd - 1 - i] = da == 1 ? db : da;
  }
  TS_CHECK_SHAPE(nd <= 16, op, ": at most 16 dimensions are supported, got ", nd);
  return out;
}

cpu::BinaryOp op_kind(const std::string& name) {
  if (name == "add") return cpu::BinaryOp::Add;
  if (name == "sub") return cpu::BinaryOp::Sub;
  return cpu::BinaryOp::Mul;
}

int32_t cuda_kind(const std::string& name) { return name == "add" ? 0 : name == "sub" ? 1 : 2; }

std::vector<Tensor> binary_forward(Device dev, const std::string& name, const std::vector<Tensor>& inputs) {
  const char* op = name.c_str();
  Tensor a = contiguous_f32(inputs[0], dev, op, "a");
  Tensor b = contiguous_f32(inputs[1], dev, op, "b");
  Shape out_shape = broadcast_shapes(op, a, b);
  if (dev == Device::CUDA) {
    Tensor out = empty_f32(out_shape, dev);
    if (out.numel())
      TS_CUDA(op, binary_forward, cuda_kind(name), data_f32(a), a.shape().data(), a.dim(), data_f32(b),
              b.shape().data(), b.dim(), data_f32(out));
    return {out};
  }
  Tensor out = Tensor::empty(out_shape);
  cpu::BroadcastLayout layout = cpu::broadcast_layout(a.shape(), b.shape(), out_shape);
  cpu::binary_forward(op_kind(name), a.f32(), b.f32(), out.f32(), layout);
  return {out};
}

// Gradient for `self` (the operand whose gradient is wanted) given the other
// operand (used by mul) and the output gradient g (shape out_shape).
Tensor input_grad(const std::string& name, bool is_b, const Tensor& self, const Tensor& other, const Tensor& g,
                  const Shape& out_shape) {
  Tensor grad = Tensor::empty(self.shape());
  if (grad.numel() == 0) return grad;
  if (shape_numel(out_shape) == 0) return Tensor::zeros(self.shape());
  const bool mul = name == "mul";
  const float sign = (name == "sub" && is_b) ? -1.0f : 1.0f;
  if (self.shape() == out_shape) {  // nothing to reduce
    if (mul) {
      cpu::binary_forward(cpu::BinaryOp::Mul, g.f32(), other.f32(), grad.f32(),
                          cpu::broadcast_layout(out_shape, other.shape(), out_shape));
    } else {
      cpu::scale_forward(g.f32(), grad.f32(), g.numel(), sign);
    }
    return grad;
  }
  const Shape& other_shape = mul ? other.shape() : self.shape();
  cpu::BroadcastLayout layout = cpu::broadcast_layout(self.shape(), other_shape, out_shape);
  cpu::reduce_broadcast_grad(g.f32(), mul ? other.f32() : nullptr, grad.f32(), layout, sign);
  return grad;
}

std::vector<Tensor> binary_backward(Device dev, const std::string& name, const std::vector<Tensor>& inputs,
                                    const std::vector<Tensor>& outputs, const std::vector<Tensor>& grad_outputs) {
  const char* op = name.c_str();
  Tensor a = contiguous_f32(inputs[0], dev, op, "a");
  Tensor b = contiguous_f32(inputs[1], dev, op, "b");
  Shape out_shape = broadcast_shapes(op, a, b);
  if (!grad_outputs[0].defined()) return {zeros_f32(a.shape(), dev), zeros_f32(b.shape(), dev)};
  Tensor g = contiguous_f32(grad_outputs[0], dev, op, "grad_output");
  TS_CHECK_SHAPE(g.shape() == out_shape, op, ": grad_output must have the output shape ", shape_str(out_shape),
                 ", got ", g.describe());
  if (dev == Device::CUDA) {
    Tensor ga = empty_f32(a.shape(), dev), gb = empty_f32(b.shape(), dev);
    if (shape_numel(out_shape) == 0) return {zeros_f32(a.shape(), dev), zeros_f32(b.shape(), dev)};
    const int64_t ws_floats = cuda_backend::api().binary_backward_workspace_floats(
        cuda_kind(name), a.shape().data(), a.dim(), b.shape().data(), b.dim());
    Tensor ws = empty_f32({std::max<int64_t>(1, ws_floats)}, dev);
    TS_CUDA(op, binary_backward, cuda_kind(name), data_f32(a), a.shape().data(), a.dim(), data_f32(b),
            b.shape().data(), b.dim(), data_f32(g), data_f32(ga), data_f32(gb), data_f32(ws));
    return {ga, gb};
  }
  return {input_grad(name, false, a, b, g, out_shape), input_grad(name, true, b, a, g, out_shape)};
}

// y = alpha x on either device.
void scale_on(Device dev, const Tensor& x, const Tensor& y, float alpha) {
  if (x.numel() == 0) return;
  if (dev == Device::CUDA) TS_CUDA("scale", scale_forward, data_f32(x), data_f32(y), x.numel(), alpha);
  else cpu::scale_forward(x.f32(), y.f32(), x.numel(), alpha);
}

void add_binary(OpRegistry& r, const std::string& name, const std::string& doc) {
  OpDef d;
  d.name = name;
  d.min_inputs = 2;
  d.max_inputs = 2;
  set_forward(d, [name](Device dev, const std::vector<Tensor>& in, const OpParams&, OpContext&) {
    return binary_forward(dev, name, in);
  });
  set_backward(d, [name](Device dev, const std::vector<Tensor>& in, const std::vector<Tensor>& out,
                         const std::vector<Tensor>&, const std::vector<Tensor>& gout,
                         const OpParams&) { return binary_backward(dev, name, in, out, gout); });
  d.doc = doc;
  r.add(std::move(d));
}

}  // namespace

void register_elementwise_ops(OpRegistry& r) {
  add_binary(r, "add", "add(a, b) -> a + b with NumPy broadcasting");
  add_binary(r, "sub", "sub(a, b) -> a - b with NumPy broadcasting");
  add_binary(r, "mul", "mul(a, b) -> a * b with NumPy broadcasting");

  OpDef s;
  s.name = "scale";
  s.min_inputs = 1;
  s.max_inputs = 1;
  set_forward(s, [](Device dev, const std::vector<Tensor>& in, const OpParams& params, OpContext&) {
    Tensor x = contiguous_f32(in[0], dev, "scale", "x");
    TS_CHECK_ARG(params.has("alpha"), "scale: parameter alpha (number) is required");
    const float alpha = float(params.get_float("alpha", 1.0));
    Tensor y = empty_f32(x.shape(), dev);
    scale_on(dev, x, y, alpha);
    return std::vector<Tensor>{y};
  });
  set_backward(s, [](Device dev, const std::vector<Tensor>& in, const std::vector<Tensor>&,
                     const std::vector<Tensor>&, const std::vector<Tensor>& gout, const OpParams& params) {
    if (!gout[0].defined()) return std::vector<Tensor>{zeros_f32(in[0].shape(), dev)};
    Tensor g = contiguous_f32(gout[0], dev, "scale", "grad_output");
    const float alpha = float(params.get_float("alpha", 1.0));
    Tensor gx = empty_f32(g.shape(), dev);
    scale_on(dev, g, gx, alpha);
    return std::vector<Tensor>{gx};
  });
  s.doc = "scale(x; alpha) -> alpha * x";
  r.add(std::move(s));
}

}  // namespace tessera
