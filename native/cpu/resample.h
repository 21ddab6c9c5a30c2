// Nearest and (tri/bi)linear resampling of [P, D, H, W] planes by small integer
// factors, as torch.nn.functional.interpolate(scale_factor=..., align_corners=False)
// (the `upsample` and `downsample` ops; a 4-d input is a 5-d one with D = 1).
#pragma once
#include <cstdint>
#include <vector>

namespace tessera {
namespace cpu {

// The 1-d interpolation along one axis: output index o reads
//   taps == 1: x[i0[o]] * w0[o]            (nearest, or an identity axis: w0 = 1)
//   taps == 2: x[i0[o]] * w0[o] + x[i1[o]] * w1[o]
struct ResampleAxis {
  int64_t in_size = 1, out_size = 1;
  int taps = 1;
  bool identity = true;  // out = in, i0[o] = o, w0 = 1
  std::vector<int32_t> i0, i1;
  std::vector<float> w0, w1;
};

// PyTorch's index rules for one axis with `scale` = 1 / scale_factor (what
// interpolate passes down when scale_factor is given):
//   nearest: i = min(floor(o * scale), in - 1)
//   linear:  s = max(scale * (o + 0.5) - 0.5, 0); i0 = min(floor(s), in - 1);
//            i1 = i0 + (i0 < in - 1); w1 = s - i0; w0 = 1 - w1
ResampleAxis make_resample_axis(int64_t in_size, int64_t out_size, float scale, bool linear);

// y[p, od, oh, ow] = sum over taps of wd * wh * ww * x[p, id, ih, iw]
// (separable: the D and H taps combine up to four input rows, then the W taps
// interpolate along the row). Parallel over output rows.
void resample_forward(const float* x, float* y, int64_t planes, const ResampleAxis& d, const ResampleAxis& h,
                      const ResampleAxis& w);

// The adjoint: gx[p, id, ih, iw] = sum over every output that reads (id, ih, iw)
// of its weight times gy. Computed one axis at a time (W, then H, then D), each
// pass gathering into outputs it owns, in increasing output order: no atomics,
// same bits for any thread count.
void resample_backward(const float* gy, float* gx, int64_t planes, const ResampleAxis& d, const ResampleAxis& h,
                       const ResampleAxis& w);

}  // namespace cpu
}  // namespace tessera
