// cuda/resample.h — nearest and (tri/bi)linear resampling of contiguous f32
// [P, D, H, W] planes (P = N C; a 4-d input has D = 1), forward and backward, as
// native/cpu/resample.h (torch.nn.functional.interpolate, align_corners=False).
#pragma once
#include <cstdint>

#include "launch.h"

namespace tessera {
namespace cuda {

// One axis: in -> out elements; scale = PyTorch's 1 / scale_factor as float
// (upsample by f: 1/f, downsample by f: f). in == out is the identity.
//   nearest: i = min(floor(o scale), in - 1)
//   linear:  s = max(scale (o + 0.5) - 0.5, 0); i0 = min(floor(s), in - 1);
//            i1 = i0 + (i0 < in - 1); w1 = s - i0; w0 = 1 - w1
struct ResampleDim {
  int64_t in = 1, out = 1;
  float scale = 1.0f;
};

// y[p, od, oh, ow] = sum over taps of wd wh ww x[p, id, ih, iw]
void resample_forward(const float* x, float* y, int64_t planes, ResampleDim d, ResampleDim h, ResampleDim w,
                      bool linear, cudaStream_t stream);
// gx[p, id, ih, iw] = sum over every output reading (id, ih, iw) of its weight times
// gy (a gather: one thread per input element, no atomics)
void resample_backward(const float* gy, float* gx, int64_t planes, ResampleDim d, ResampleDim h, ResampleDim w,
                       bool linear, cudaStream_t stream);

}  // namespace cuda
}  // namespace tessera
