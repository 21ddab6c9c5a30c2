// Op family 'resample' (docs/OPS.md): upsample and downsample of [N, C, D, H, W]
// (factor [fD, fH, fW]) or [N, C, H, W] (factor [fH, fW]) by factors 1, 2 or 4,
// mode "nearest" or "trilinear" ("bilinear" is accepted for 4-d), exactly as
// F.interpolate(x, scale_factor=f) and F.interpolate(x, scale_factor=1/f) with
// align_corners=False. Backward is the adjoint (cpu/resample.h).
#include "backend/cuda_ops.h"
#include "core/error.h"
#include "core/op.h"
#include "cpu/resample.h"

namespace tessera {

namespace {

struct ResamplePlan {
  Shape out_shape;
  int64_t planes;
  cpu::ResampleAxis d, h, w;
  // the same axes as the CUDA kernels take them: D, H, W sizes and 1 / scale_factor
  int64_t in3[3], out3[3];
  float scale3[3];
  bool linear;
};

// device_plan: only the sizes are needed (the CUDA kernels compute taps themselves).
ResamplePlan plan_resample(const char* op, const Shape& shape, const OpParams& params, bool up, bool device_plan) {
  const int nd = int(shape.size());
  TS_CHECK_SHAPE(nd == 4 || nd == 5, op, ": x must be 5-d [N, C, D, H, W] or 4-d [N, C, H, W], got ",
                 shape_str(shape));
  const int spatial = nd - 2;
  std::vector<int64_t> factor = params.get_ints("factor");
  if (factor.size() == 1) factor.assign(size_t(spatial), factor[0]);
  TS_CHECK_ARG(int(factor.size()) == spatial, op, ": factor must have ", spatial, " entries (",
               spatial == 3 ? "[fD, fH, fW]" : "[fH, fW]", ") for a ", nd, "-d input, got ", factor.size());
  for (int64_t f : factor)
    TS_CHECK_ARG(f == 1 || f == 2 || f == 4, op, ": every factor must be 1, 2 or 4, got ", f);
  const std::string mode = params.get_str("mode", "nearest");
  const bool linear = mode == "trilinear" || (nd == 4 && mode == "bilinear");
  TS_CHECK_ARG(linear || mode == "nearest", op, ": mode must be \"nearest\" or \"trilinear\"",
               nd == 4 ? " (or \"bilinear\")" : "", " for a ", nd, "-d input, got \"", mode, "\"");
  static const char* axis_names[3] = {"D", "H", "W"};
  ResamplePlan p;
  p.out_shape = shape;
  p.planes = shape[0] * shape[1];
  cpu::ResampleAxis axes[3];
  for (int k = 0; k < 3; ++k) {
    const int s = k - (3 - spatial);  // index into factor / spatial dims (-1: the absent D of a 4-d input)
    if (s < 0) {
      axes[k] = cpu::make_resample_axis(1, 1, 1.0f, linear);
      p.in3[k] = p.out3[k] = 1;
      p.scale3[k] = 1.0f;
      continue;
    }
    const int64_t in = shape[size_t(2 + s)], f = factor[size_t(s)];
    int64_t out;
    float scale;  // PyTorch's 1 / scale_factor, as float
    if (up) {
      out = in * f;
      scale = float(1.0 / double(f));
    } else {
      TS_CHECK_SHAPE(in % f == 0, op, ": ", axis_names[k], " = ", in, " of x ", shape_str(shape),
                     " is not divisible by its factor ", f);
      out = in / f;
      scale = float(f);
    }
    p.out_shape[size_t(2 + s)] = out;
    p.in3[k] = in;
    p.out3[k] = out;
    p.scale3[k] = scale;
    if (!device_plan) axes[k] = cpu::make_resample_axis(in, out, scale, linear);
  }
  p.linear = linear;
  p.d = std::move(axes[0]);
  p.h = std::move(axes[1]);
  p.w = std::move(axes[2]);
  return p;
}

std::vector<Tensor> resample_forward(Device dev, const char* op, const std::vector<Tensor>& in,
                                     const OpParams& params, bool up) {
  Tensor x = contiguous_f32(in[0], dev, op, "x");
  ResamplePlan p = plan_resample(op, x.shape(), params, up, dev == Device::CUDA);
  Tensor y = empty_f32(p.out_shape, dev);
  if (y.numel() == 0) return {y};
  if (dev == Device::CUDA)
    TS_CUDA(op, resample_forward, data_f32(x), data_f32(y), p.planes, p.in3, p.out3, p.scale3, p.linear);
  else cpu::resample_forward(x.f32(), y.f32(), p.planes, p.d, p.h, p.w);
  return {y};
}

std::vector<Tensor> resample_backward(Device dev, const char* op, const std::vector<Tensor>& in,
                                      const std::vector<Tensor>& gout, const OpParams& params, bool up) {
  const Tensor& x = in[0];
  if (!gout[0].defined()) return {zeros_f32(x.shape(), dev)};
  ResamplePlan p = plan_resample(op, x.shape(), params, up, dev == Device::CUDA);
  Tensor g = contiguous_f32(gout[0], dev, op, "grad");
  TS_CHECK_SHAPE(g.shape() == p.out_shape, op, ": gradient has shape ", shape_str(g.shape()), ", expected ",
                 shape_str(p.out_shape));
  if (x.numel() == 0 || g.numel() == 0) return {zeros_f32(x.shape(), dev)};
  Tensor gx = empty_f32(x.shape(), dev);
  if (dev == Device::CUDA)
    TS_CUDA(op, resample_backward, data_f32(g), data_f32(gx), p.planes, p.in3, p.out3, p.scale3, p.linear);
  else cpu::resample_backward(g.f32(), gx.f32(), p.planes, p.d, p.h, p.w);
  return {gx};
}

}  // namespace

void register_resample_ops(OpRegistry& r) {
  for (const bool up : {true, false}) {
    OpDef d;
    d.name = up ? "upsample" : "downsample";
    const char* op = up ? "upsample" : "downsample";
    set_forward(d, [op, up](Device dev, const std::vector<Tensor>& in, const OpParams& params, OpContext&) {
      return resample_forward(dev, op, in, params, up);
    });
    set_backward(d, [op, up](Device dev, const std::vector<Tensor>& in, const std::vector<Tensor>&,
                             const std::vector<Tensor>&, const std::vector<Tensor>& gout, const OpParams& params) {
      return resample_backward(dev, op, in, gout, params, up);
    });
    d.doc = up ? "upsample(x [N, C, (D,) H, W]; factor [(fD,) fH, fW] in {1, 2, 4}, mode \"nearest\" | "
                 "\"trilinear\") -> F.interpolate(x, scale_factor=f)"
               : "downsample(x [N, C, (D,) H, W]; factor [(fD,) fH, fW] in {1, 2, 4} dividing each size, mode "
                 "\"nearest\" | \"trilinear\") -> F.interpolate(x, scale_factor=1/f)";
    r.add(std::move(d));
  }
}

}  // namespace tessera
