// cuda/rope.h — 3-d rotary position embedding for spacetime patches, forward and
// backward (semantics of native/cpu/rope.h):
//
//   rope3d(x [B, H, N, Dh], positions [N, 3]; sections [st, sh, sw], theta) -> y [B, H, N, Dh]
//
// Channels [0, st) rotate with t = positions[n, 0], [st, st + sh) with h =
// positions[n, 1], [st + sh, Dh) with w = positions[n, 2]. In a section of size s
// starting at channel c0 with coordinate p, pair i is channels (c0 + 2i, c0 + 2i + 1):
//   f_i = theta^(-2i / s),  a = p * f_i          (both in double, as on the CPU)
//   y[c0+2i]   = x[c0+2i] cos a - x[c0+2i+1] sin a
//   y[c0+2i+1] = x[c0+2i] sin a + x[c0+2i+1] cos a
// Backward: dx = rotation of dy by -a; positions get no gradient.
//
// All pointers are f32 device pointers to contiguous arrays; x / y (dy / dx) must
// not overlap. Sections must be even, non-negative and sum to Dh, theta finite > 0
// (checked by the op layer, native/ops/rope.cpp).
#pragma once
#include <cstdint>

#include "launch.h"

namespace tessera {
namespace cuda {

void rope3d_forward(const float* x, const float* positions, float* y, int64_t B, int64_t H, int64_t N, int64_t Dh,
                    int64_t st, int64_t sh, int64_t sw, double theta, cudaStream_t stream);
void rope3d_backward(const float* dy, const float* positions, float* dx, int64_t B, int64_t H, int64_t N,
                     int64_t Dh, int64_t st, int64_t sh, int64_t sw, double theta, cudaStream_t stream);

}  // namespace cuda
}  // namespace tessera
