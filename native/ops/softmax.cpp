// Op family 'softmax' (docs/OPS.md): softmax over the last dimension.
// Backward uses the saved output y. Kernels: native/cpu/softmax.cpp.
#include "backend/cuda_ops.h"
#include "core/error.h"
#include "core/op.h"
#include "cpu/softmax.h"

namespace tessera {

void register_softmax_ops(OpRegistry& r) {
  OpDef d;
  d.name = "softmax";
  set_forward(d, [](Device dev, const std::vector<Tensor>& in, const OpParams&, OpContext&) {
    Tensor x = contiguous_f32(in[0], dev, "softmax", "x");
    Tensor y = empty_f32(x.shape(), dev);
    const int64_t cols = x.dim() == 0 ? 1 : x.shape().back();
    if (x.numel() == 0) return std::vector<Tensor>{y};
    if (dev == Device::CUDA) TS_CUDA("softmax", softmax_forward, data_f32(x), data_f32(y), x.numel() / cols, cols);
    else cpu::softmax_forward(x.f32(), y.f32(), x.numel() / cols, cols);
    return std::vector<Tensor>{y};
  });
  set_backward(d, [](Device dev, const std::vector<Tensor>&, const std::vector<Tensor>& out,
                     const std::vector<Tensor>&, const std::vector<Tensor>& gout, const OpParams&) {
    Tensor y = contiguous_f32(out[0], dev, "softmax", "y");
    if (!gout[0].defined()) return std::vector<Tensor>{zeros_f32(y.shape(), dev)};
    Tensor g = contiguous_f32(gout[0], dev, "softmax", "grad_output");
    TS_CHECK_SHAPE(g.shape() == y.shape(), "softmax: grad_output must have shape ", shape_str(y.shape()),
                   ", got ", g.describe());
    Tensor gx = empty_f32(y.shape(), dev);
    const int64_t cols = y.dim() == 0 ? 1 : y.shape().back();
    if (y.numel() == 0) return std::vector<Tensor>{gx};
    if (dev == Device::CUDA)
      TS_CUDA("softmax", softmax_backward, data_f32(y), data_f32(g), data_f32(gx), y.numel() / cols, cols);
    else cpu::softmax_backward(y.f32(), g.f32(), gx.f32(), y.numel() / cols, cols);
    return std::vector<Tensor>{gx};
  });
  d.doc = "softmax(x) -> softmax over the last dim, same shape";
  r.add(std::move(d));
}

}  // namespace tessera
