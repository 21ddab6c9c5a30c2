// cuda/norm.h — layer norm, RMS norm and group norm on contiguous f32, forward and
// backward (semantics of native/cpu/norm.h: same saved statistics, same formulas).
//
// Weight/bias pointers may be null (no affine part); gradient pointers for weight
// and bias may be null (not wanted). dweight/dbias are reduced deterministically
// through a caller-provided device workspace (no atomics): size it with the
// *_workspace_floats functions (0 when neither gw nor gb is wanted).
#pragma once
#include <cstdint>

#include "launch.h"

namespace tessera {
namespace cuda {

// Rows per partial sum of dweight/dbias (as cpu::kNormRowBlock).
constexpr int64_t kNormRowBlock = 32;

// x [rows, C]: mean_r = (1/C) sum_j x, var_r = (1/C) sum_j (x - mean_r)^2,
// rstd_r = 1/sqrt(var_r + eps), y = (x - mean_r) rstd_r w + b.  mean, rstd: [rows]
void layer_norm_forward(const float* x, const float* w, const float* b, float* y, float* mean, float* rstd,
                        int64_t rows, int64_t C, float eps, cudaStream_t stream);
// gx = rstd (gh - mean_j gh - xhat mean_j(gh xhat)), gh = gy w; gw = sum_r gy xhat; gb = sum_r gy
void layer_norm_backward(const float* x, const float* w, const float* mean, const float* rstd, const float* gy,
                         float* gx, float* gw, float* gb, float* workspace, int64_t rows, int64_t C,
                         cudaStream_t stream);

// x [rows, C]: rstd_r = 1/sqrt((1/C) sum_j x^2 + eps), y = x rstd w.  rstd: [rows]
void rms_norm_forward(const float* x, const float* w, float* y, float* rstd, int64_t rows, int64_t C, float eps,
                      cudaStream_t stream);
// gx = rstd (gh - xhat mean_j(gh xhat)), xhat = x rstd; gw = sum_r gy xhat
void rms_norm_backward(const float* x, const float* w, const float* rstd, const float* gy, float* gx, float* gw,
                       float* workspace, int64_t rows, int64_t C, cudaStream_t stream);

// Workspace (floats) for layer_norm_backward / rms_norm_backward: 2 C ceil(rows / 32).
int64_t norm_backward_workspace_floats(int64_t rows, int64_t C);

// x [N, C, S], G groups (C % G == 0); mean, rstd: [N, G] over the (C/G) S elements of
// a group; y[n, c, s] = (x - mean) rstd w[c] + b[c]
void group_norm_forward(const float* x, const float* w, const float* b, float* y, float* mean, float* rstd,
                        int64_t N, int64_t C, int64_t S, int64_t G, float eps, cudaStream_t stream);
// Per group (M = (C/G) S): gx = rstd (gh - mean(gh) - xhat mean(gh xhat)), gh = gy w[c];
// gw[c] = sum_{n,s} gy xhat, gb[c] = sum_{n,s} gy
void group_norm_backward(const float* x, const float* w, const float* mean, const float* rstd, const float* gy,
                         float* gx, float* gw, float* gb, float* workspace, int64_t N, int64_t C, int64_t S,
                         int64_t G, cudaStream_t stream);
// Workspace (floats) for group_norm_backward: 2 N C (always needed: the per-channel
// sums also feed gx).
int64_t group_norm_backward_workspace_floats(int64_t N, int64_t C);

}  // namespace cuda
}  // namespace tessera
