// Normalization layers on contiguous f32: layer norm, RMS norm, group norm.
// Forward saves per-row (per-group) statistics; backward gives dx, dweight, dbias.
//
// Weight and bias pointers may be null (no affine part); gradient pointers for
// weight and bias may be null (not wanted).
//
// Determinism: statistics of a row use the fixed-order reductions of
// cpu/vec_math.h. dweight/dbias are reduced over rows in fixed blocks of
// kNormRowBlock rows (float, rows in order), block partials added in block order
// in double; group norm reduces per-sample partials (double) in sample order.
// Nothing depends on the thread count.
#pragma once
#include <cstdint>

namespace tessera {
namespace cpu {

constexpr int64_t kNormRowBlock = 32;

// x [rows, C]:  mean_r = (1/C) sum_j x[r, j],  var_r = (1/C) sum_j (x[r, j] - mean_r)^2,
// rstd_r = 1 / sqrt(var_r + eps),  y[r, j] = (x[r, j] - mean_r) rstd_r w[j] + b[j]
void layer_norm_forward(const float* x, const float* w, const float* b, float* y, float* mean, float* rstd,
                        int64_t rows, int64_t C, float eps);
// xhat = (x - mean) rstd,  gh = gy w,
// gx = rstd (gh - mean_j(gh) - xhat mean_j(gh xhat)),  gw = sum_r gy xhat,  gb = sum_r gy
void layer_norm_backward(const float* x, const float* w, const float* mean, const float* rstd, const float* gy,
                         float* gx, float* gw, float* gb, int64_t rows, int64_t C);

// x [rows, C]:  rstd_r = 1 / sqrt((1/C) sum_j x[r, j]^2 + eps),  y = x rstd w
void rms_norm_forward(const float* x, const float* w, float* y, float* rstd, int64_t rows, int64_t C, float eps);
// xhat = x rstd,  gh = gy w,  gx = rstd (gh - xhat mean_j(gh xhat)),  gw = sum_r gy xhat
void rms_norm_backward(const float* x, const float* w, const float* rstd, const float* gy, float* gx, float* gw,
                       int64_t rows, int64_t C);

// x [N, C, S] (S = product of spatial dims), G groups of C/G channels; statistics
// per (n, g) over its (C/G) S elements (mean, rstd: [N, G]);
// y[n, c, s] = (x - mean_ng) rstd_ng w[c] + b[c]
void group_norm_forward(const float* x, const float* w, const float* b, float* y, float* mean, float* rstd,
                        int64_t N, int64_t C, int64_t S, int64_t G, float eps);
// Per group (M = (C/G) S elements): xhat = (x - mean) rstd, gh = gy w[c],
// gx = rstd (gh - mean(gh) - xhat mean(gh xhat)),
// gw[c] = sum_{n,s} gy xhat,  gb[c] = sum_{n,s} gy
void group_norm_backward(const float* x, const float* w, const float* mean, const float* rstd, const float* gy,
                         float* gx, float* gw, float* gb, int64_t N, int64_t C, int64_t S, int64_t G);

}  // namespace cpu
}  // namespace tessera
