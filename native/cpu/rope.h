// 3-d rotary position embedding (RoPE) for spacetime patches, forward and backward.
//
//   rope3d(x [B, H, N, Dh], positions [N, 3]; sections [st, sh, sw], theta) -> y [B, H, N, Dh]
//
// positions[n] = (t, h, w), the coordinates of token n (f32, may be fractional).
// Dh = st + sh + sw, each section even (0 allowed). Channels [0, st) rotate with t,
// [st, st + sh) with h, [st + sh, Dh) with w. Within a section of size s starting at
// channel c0 with coordinate p, pair i (i = 0 .. s/2 - 1) is channels
// (c0 + 2i, c0 + 2i + 1) (interleaved pairs), with
//   f_i = theta^(-2i / s),  a = p * f_i
//   y[c0+2i]   = x[c0+2i] cos a - x[c0+2i+1] sin a
//   y[c0+2i+1] = x[c0+2i] sin a + x[c0+2i+1] cos a
// Backward is the transpose (a rotation by -a): dx = R(-a) dy. positions get no
// gradient.
//
// Numerics: f_i and a are computed in double (rope3d_frequency below) and cos a, sin a
// rounded once to float, so angle error does not grow with |p|: for |p| up to ~1e6
// each output is within 2 * 2^-24 (|x[c0+2i]| + |x[c0+2i+1]|) of the exact rotation
// (measured 1.8 units; the only float32 roundings are cos/sin and the products and sum;
// the AVX2 / AVX-512 paths contract them into FMAs, the generic path does not, so
// paths differ by ~1 ulp). Non-finite positions give NaN outputs for their token.
//
// Work is split over (n, b*h) rows in n-major order; each output element is
// computed by the same code whatever the thread count, so results are
// bit-identical for any thread count. The cos/sin row of a token is computed once
// and reused for all B*H rows of that token.
#pragma once
#include <cmath>
#include <cstdint>

namespace tessera {
namespace cpu {

// Frequency of pair i of a section of size s: f_i = theta^(-(2 i) / s), in double.
// The angle is then a = double(p) * f_i. The CUDA kernel (cuda/rope.cu) evaluates
// the same expressions in the same order.
inline double rope3d_frequency(int64_t i, int64_t s, double theta) {
  return std::pow(theta, -(2.0 * double(i)) / double(s));
}

// Default sections for a head dim: sh = sw = 2 * floor(3 Dh / 16), st = Dh - sh - sw
// (Dh = 64 -> [16, 24, 24], 32 -> [8, 12, 12], 24 -> [8, 8, 8], 40 -> [12, 14, 14]).
// Returns false (out untouched) when that split is invalid: Dh odd (st odd) or
// Dh < 6 (a section would be empty); callers then ask for explicit sections.
bool rope3d_default_sections(int64_t head_dim, int64_t out[3]);

// y = rope3d(x): x, y [B, H, N, Dh] contiguous f32 (must not overlap),
// positions [N, 3]. Sections must be valid (even, non-negative, summing to Dh) and
// theta finite > 0; the op layer (native/ops/rope.cpp) checks them.
void rope3d_forward(const float* x, const float* positions, float* y, int64_t B, int64_t H, int64_t N,
                    int64_t Dh, int64_t st, int64_t sh, int64_t sw, double theta);
// dx = rope3d^T(dy): the rotation by -a. Same layout and rules.
void rope3d_backward(const float* dy, const float* positions, float* dx, int64_t B, int64_t H, int64_t N,
                     int64_t Dh, int64_t st, int64_t sh, int64_t sw, double theta);

}  // namespace cpu
}  // namespace tessera
