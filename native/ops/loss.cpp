// Op family 'loss' (docs/OPS.md): mse_loss and l1_loss, mean over all elements,
// scalar [] output; gradients for both input and target.
// Kernels: native/cpu/loss.cpp.
#include <limits>
#include <string>

#include "core/error.h"
#include <algorithm>

#include "backend/cuda_ops.h"
#include "core/op.h"
#include "cpu/loss.h"

namespace tessera {

namespace {

void add_loss(OpRegistry& r, const std::string& name, bool square) {
  OpDef d;
  d.name = name;
  d.min_inputs = 2;
  d.max_inputs = 2;
  set_forward(d, [name, square](Device dev, const std::vector<Tensor>& in, const OpParams&, OpContext&) {
    const char* op = name.c_str();
    Tensor x = contiguous_f32(in[0], dev, op, "input");
    Tensor y = contiguous_f32(in[1], dev, op, "target");
    TS_CHECK_SHAPE(x.shape() == y.shape(), op, ": input and target must have the same shape, got input ",
                   x.describe(), " and target ", y.describe());
    const int64_t n = x.numel();
    if (dev == Device::CUDA) {  // the mean stays on the device (no sync)
      Tensor out = empty_f32({}, dev);
      Tensor ws = empty_f32({std::max<int64_t>(1, cuda_backend::api().loss_workspace_floats(square ? 0 : 1, n))}, dev);
      TS_CUDA(op, loss_forward, square ? 0 : 1, data_f32(x), data_f32(y), data_f32(out), data_f32(ws), n);
      return std::vector<Tensor>{out};
    }
    const double s = square ? cpu::mse_sum(x.f32(), y.f32(), n) : cpu::l1_sum(x.f32(), y.f32(), n);
    Tensor out = Tensor::empty({});
    out.f32()[0] = n ? float(s / double(n)) : std::numeric_limits<float>::quiet_NaN();
    return std::vector<Tensor>{out};
  });
  set_backward(d, [name, square](Device dev, const std::vector<Tensor>& in, const std::vector<Tensor>&,
                                 const std::vector<Tensor>&, const std::vector<Tensor>& gout, const OpParams&) {
    const char* op = name.c_str();
    Tensor x = contiguous_f32(in[0], dev, op, "input");
    Tensor y = contiguous_f32(in[1], dev, op, "target");
    if (!gout[0].defined()) return std::vector<Tensor>{zeros_f32(x.shape(), dev), zeros_f32(y.shape(), dev)};
    Tensor g = contiguous_f32(gout[0], dev, op, "grad_output");
    TS_CHECK_SHAPE(g.numel() == 1, op, ": grad_output must be a scalar [], got ", g.describe());
    Tensor gx = empty_f32(x.shape(), dev), gy = empty_f32(y.shape(), dev);
    if (dev == Device::CUDA)
      TS_CUDA(op, loss_backward, square ? 0 : 1, data_f32(x), data_f32(y), data_f32(g), data_f32(gx), data_f32(gy),
              x.numel());
    else if (square) cpu::mse_backward(x.f32(), y.f32(), g.f32()[0], gx.f32(), gy.f32(), x.numel());
    else cpu::l1_backward(x.f32(), y.f32(), g.f32()[0], gx.f32(), gy.f32(), x.numel());
    return std::vector<Tensor>{gx, gy};
  });
  d.doc = name + "(input, target) -> scalar [] mean of " + (square ? "(input - target)^2" : "|input - target|");
  r.add(std::move(d));
}

}  // namespace

void register_loss_ops(OpRegistry& r) {
  add_loss(r, "mse_loss", true);
  add_loss(r, "l1_loss", false);
}

}  // namespace tessera
