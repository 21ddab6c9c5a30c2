// Op family 'loss' (docs/OPS.md): mse_loss and l1_loss, mean over all elements,
// scalar [] output; gradients for both input and target.
// Kernels: native/cpu/loss.cpp.
#include <limits>
#include <string>

#include "core/error.h"
#include "core/op.h"
#include "cpu/loss.h"

namespace tessera {

namespace {

void add_loss(OpRegistry& r, const std::string& name, bool square) {
  OpDef d;
  d.name = name;
  d.min_inputs = 2;
  d.max_inputs = 2;
  d.forward = [name, square](const std::vector<Tensor>& in, const OpParams&, OpContext&) {
    const char* op = name.c_str();
    Tensor x = contiguous_f32(in[0], op, "input");
    Tensor y = contiguous_f32(in[1], op, "target");
    TS_CHECK_SHAPE(x.shape() == y.shape(), op, ": input and target must have the same shape, got input ",
                   x.describe(), " and target ", y.describe());
    const int64_t n = x.numel();
    const double s = square ? cpu::mse_sum(x.f32(), y.f32(), n) : cpu::l1_sum(x.f32(), y.f32(), n);
    Tensor out = Tensor::empty({});
    out.f32()[0] = n ? float(s / double(n)) : std::numeric_limits<float>::quiet_NaN();
    return std::vector<Tensor>{out};
  };
  d.backward = [name, square](const std::vector<Tensor>& in, const std::vector<Tensor>&,
                              const std::vector<Tensor>&, const std::vector<Tensor>& gout, const OpParams&) {
    const char* op = name.c_str();
    Tensor x = contiguous_f32(in[0], op, "input");
    Tensor y = contiguous_f32(in[1], op, "target");
    if (!gout[0].defined()) return std::vector<Tensor>{Tensor::zeros(x.shape()), Tensor::zeros(y.shape())};
    Tensor g = contiguous_f32(gout[0], op, "grad_output");
    TS_CHECK_SHAPE(g.numel() == 1, op, ": grad_output must be a scalar [], got ", g.describe());
    Tensor gx = Tensor::empty(x.shape()), gy = Tensor::empty(y.shape());
    if (square) cpu::mse_backward(x.f32(), y.f32(), g.f32()[0], gx.f32(), gy.f32(), x.numel());
    else cpu::l1_backward(x.f32(), y.f32(), g.f32()[0], gx.f32(), gy.f32(), x.numel());
    return std::vector<Tensor>{gx, gy};
  };
  d.doc = name + "(input, target) -> scalar [] mean of " + (square ? "(input - target)^2" : "|input - target|");
  r.add(std::move(d));
}

}  // namespace

void register_loss_ops(OpRegistry& r) {
  add_loss(r, "mse_loss", true);
  add_loss(r, "l1_loss", false);
}

}  // namespace tessera
