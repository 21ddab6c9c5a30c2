// cuda/norm.cu — layer norm, RMS norm, group norm (forward and backward), f32.
//
// Row statistics: one 256-thread block per row (per (n, g) group for group norm).
// Threads walk the row with stride 256 (coalesced; float4 loads when the row length
// is a multiple of 4 and the pointers are 16-byte aligned), keep fp32 partials, and
// the block combines them with a warp xor-butterfly of shuffles followed by a
// shared-memory pass in which every thread adds the 8 warp partials in warp order,
// so every thread holds the same value and the result does not depend on the
// schedule. Statistics are two-pass (mean, then sum of squared deviations), as on
// the CPU.
//
// dweight/dbias (no atomics, deterministic): layer/RMS norm write per-column
// partial sums over fixed blocks of kNormRowBlock rows (rows in order) to a
// workspace, then a second kernel adds the partials in block order. Group norm
// writes per-(n, c) sums (one warp each) that feed both dx and, summed over n in
// order by a second kernel, dweight/dbias.
#include "norm.h"
#include "check.h"

#include <stdexcept>
#include <string>

namespace tessera {
namespace cuda {

namespace {

constexpr int kWarp = 32;
constexpr int kThreads = 256;
constexpr int kWarps = kThreads / kWarp;

__device__ __forceinline__ float warp_sum(float v) {
  for (int o = kWarp / 2; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

// a <- sum over the block of a, b likewise; every thread gets the same values
// (warp partials added in warp order). sh: 2 kWarps floats; reusable on return.
// Every thread of the block must call it.
__device__ __forceinline__ void block_sum2(float& a, float& b, float* sh) {
  a = warp_sum(a);
  b = warp_sum(b);
  const int warp = threadIdx.x / kWarp, lane = threadIdx.x % kWarp;
  if (lane == 0) {
    sh[warp] = a;
    sh[kWarps + warp] = b;
  }
  __syncthreads();
  float sa = 0.0f, sb = 0.0f;
  for (int i = 0; i < kWarps; ++i) {
    sa += sh[i];
    sb += sh[kWarps + i];
  }
  __syncthreads();
  a = sa;
  b = sb;
}

// Sum over the row of f(x[j]) (this thread's share; caller reduces).
template <bool kVec, class F>
__device__ __forceinline__ float row_partial(const float* __restrict__ xr, int64_t C, F f) {
  float s = 0.0f;
  if (kVec) {
    const float4* x4 = reinterpret_cast<const float4*>(xr);
    for (int64_t j = threadIdx.x; j < C / 4; j += kThreads) {
      const float4 v = x4[j];
      s += (f(v.x) + f(v.y)) + (f(v.z) + f(v.w));
    }
  } else {
    for (int64_t j = threadIdx.x; j < C; j += kThreads) s += f(xr[j]);
  }
  return s;
}

// Layer norm (kCenter) / RMS norm (!kCenter), one block per row r:
//   m = (1/C) sum_j x[j]               (0 for RMS norm)
//   q = (1/C) sum_j (x[j] - m)^2       (mean square for RMS norm)
//   rs = 1 / sqrt(q + eps)
//   y[j] = (x[j] - m) rs w[j] + b[j]   (w = 1, b = 0 when absent)
template <bool kCenter, bool kVec>
__global__ void row_norm_fwd_kernel(const float* __restrict__ x, const float* __restrict__ w,
                                    const float* __restrict__ b, float* __restrict__ y, float* __restrict__ mean,
                                    float* __restrict__ rstd, int64_t C, float eps) {
  TESSERA_SHARED(float, red, 2 * kWarps);
  const int64_t r = blockIdx.x;
  const float* xr = x + r * C;
  float* yr = y + r * C;
  float m = 0.0f, unused = 0.0f;
  if (kCenter) {
    float s = row_partial<kVec>(xr, C, [](float v) { return v; });
    block_sum2(s, unused, red);
    m = s / float(C);
  }
  float q = row_partial<kVec>(xr, C, [m](float v) { return (v - m) * (v - m); });
  block_sum2(q, unused, red);
  const float rs = 1.0f / sqrtf(q / float(C) + eps);
  if (threadIdx.x == 0) {
    if (kCenter) mean[r] = m;
    rstd[r] = rs;
  }
  if (kVec) {
    const float4* x4 = reinterpret_cast<const float4*>(xr);
    float4* y4 = reinterpret_cast<float4*>(yr);
    for (int64_t j = threadIdx.x; j < C / 4; j += kThreads) {
      const float4 v = x4[j];
      float4 o;
      o.x = (v.x - m) * rs * (w ? w[4 * j + 0] : 1.0f) + (b ? b[4 * j + 0] : 0.0f);
      o.y = (v.y - m) * rs * (w ? w[4 * j + 1] : 1.0f) + (b ? b[4 * j + 1] : 0.0f);
      o.z = (v.z - m) * rs * (w ? w[4 * j + 2] : 1.0f) + (b ? b[4 * j + 2] : 0.0f);
      o.w = (v.w - m) * rs * (w ? w[4 * j + 3] : 1.0f) + (b ? b[4 * j + 3] : 0.0f);
      y4[j] = o;
    }
  } else {
    for (int64_t j = threadIdx.x; j < C; j += kThreads)
      yr[j] = (xr[j] - m) * rs * (w ? w[j] : 1.0f) + (b ? b[j] : 0.0f);
  }
}

// dx of layer norm (kCenter) / RMS norm, one block per row r:
//   xh[j] = (x[j] - m) rs,  gh[j] = gy[j] w[j]
//   a = (1/C) sum_j gh[j]   (0 for RMS norm),  c = (1/C) sum_j gh[j] xh[j]
//   gx[j] = rs (gh[j] - a - xh[j] c)
template <bool kCenter>
__global__ void row_norm_bwd_dx_kernel(const float* __restrict__ x, const float* __restrict__ w,
                                       const float* __restrict__ mean, const float* __restrict__ rstd,
                                       const float* __restrict__ gy, float* __restrict__ gx, int64_t C) {
  TESSERA_SHARED(float, red, 2 * kWarps);
  const int64_t r = blockIdx.x;
  const float* xr = x + r * C;
  const float* gr = gy + r * C;
  float* out = gx + r * C;
  const float m = kCenter ? mean[r] : 0.0f;
  const float rs = rstd[r];
  float s1 = 0.0f, s2 = 0.0f;
  for (int64_t j = threadIdx.x; j < C; j += kThreads) {
    const float gh = gr[j] * (w ? w[j] : 1.0f);
    s1 += gh;
    s2 += gh * ((xr[j] - m) * rs);
  }
  block_sum2(s1, s2, red);
  const float a = kCenter ? s1 / float(C) : 0.0f;
  const float c = s2 / float(C);
  for (int64_t j = threadIdx.x; j < C; j += kThreads) {
    const float xh = (xr[j] - m) * rs;
    out[j] = rs * (gr[j] * (w ? w[j] : 1.0f) - a - xh * c);
  }
}

// Partials of dweight/dbias over row block k = blockIdx.x (rows 32k .. 32k+31, in
// order), one thread per column j (coalesced across the warp):
//   pw[k, j] = sum_r gy[r, j] (x[r, j] - m_r) rs_r,   pb[k, j] = sum_r gy[r, j]
__global__ void row_norm_bwd_partial_kernel(const float* __restrict__ x, const float* __restrict__ mean,
                                            const float* __restrict__ rstd, const float* __restrict__ gy,
                                            float* __restrict__ pw, float* __restrict__ pb, int64_t rows,
                                            int64_t C) {
  const int64_t k = blockIdx.x;
  const int64_t j = int64_t(blockIdx.y) * kThreads + threadIdx.x;
  if (j >= C) return;  // no barriers in this kernel
  const int64_t r1 = (k + 1) * kNormRowBlock < rows ? (k + 1) * kNormRowBlock : rows;
  float sw = 0.0f, sb = 0.0f;
  for (int64_t r = k * kNormRowBlock; r < r1; ++r) {
    const float g = gy[r * C + j];
    const float m = mean ? mean[r] : 0.0f;
    sw += g * ((x[r * C + j] - m) * rstd[r]);
    sb += g;
  }
  if (pw) pw[k * C + j] = sw;
  if (pb) pb[k * C + j] = sb;
}

// out[j] = sum_{k = 0..nblk-1} p[k, j]   (k ascending; one thread per column)
__global__ void sum_partials_kernel(const float* __restrict__ p, float* __restrict__ out, int64_t nblk, int64_t C) {
  const int64_t j = int64_t(blockIdx.x) * kThreads + threadIdx.x;
  if (j >= C) return;
  float s = 0.0f;
  for (int64_t k = 0; k < nblk; ++k) s += p[k * C + j];
  out[j] = s;
}

// Group norm, one block per t = n G + g over its M = (C/G) S contiguous elements:
//   m = (1/M) sum x,  rs = 1 / sqrt((1/M) sum (x - m)^2 + eps)
//   y[c, s] = x[c, s] scale_c + shift_c,  scale_c = rs w[c],  shift_c = b[c] - m scale_c
// (the CPU's form, so y matches it to rounding)
template <bool kVec>
__global__ void group_norm_fwd_kernel(const float* __restrict__ x, const float* __restrict__ w,
                                      const float* __restrict__ b, float* __restrict__ y, float* __restrict__ mean,
                                      float* __restrict__ rstd, int64_t C, int64_t S, int64_t G, float eps) {
  TESSERA_SHARED(float, red, 2 * kWarps);
  const int64_t t = blockIdx.x;
  const int64_t Cg = C / G, M = Cg * S, c0 = (t % G) * Cg;
  const float* xg = x + t * M;
  float* yg = y + t * M;
  float unused = 0.0f;
  float s = row_partial<kVec>(xg, M, [](float v) { return v; });
  block_sum2(s, unused, red);
  const float m = s / float(M);
  float q = row_partial<kVec>(xg, M, [m](float v) { return (v - m) * (v - m); });
  block_sum2(q, unused, red);
  const float rs = 1.0f / sqrtf(q / float(M) + eps);
  if (threadIdx.x == 0) {
    mean[t] = m;
    rstd[t] = rs;
  }
  for (int64_t i = threadIdx.x; i < M; i += kThreads) {
    const int64_t c = c0 + i / S;
    const float scale = w ? rs * w[c] : rs;
    const float shift = (b ? b[c] : 0.0f) - m * scale;
    yg[i] = xg[i] * scale + shift;
  }
}

// Group norm backward, step 1: one warp per (n, c) = u, over its S elements:
//   pb[u] = sum_s gy,   pw[u] = sum_s gy (x - m_t) rs_t,   t = n G + c / (C/G)
__global__ void group_norm_bwd_channel_kernel(const float* __restrict__ x, const float* __restrict__ mean,
                                              const float* __restrict__ rstd, const float* __restrict__ gy,
                                              float* __restrict__ pw, float* __restrict__ pb, int64_t N, int64_t C,
                                              int64_t S, int64_t G) {
  const int lane = threadIdx.x % kWarp;
  const int64_t u = int64_t(blockIdx.x) * kWarps + threadIdx.x / kWarp;
  if (u >= N * C) return;  // whole warp leaves together; no block barriers below
  const int64_t n = u / C, c = u % C;
  const int64_t t = n * G + c / (C / G);
  const float m = mean[t], rs = rstd[t];
  const float* xr = x + u * S;
  const float* gr = gy + u * S;
  float s1 = 0.0f, s2 = 0.0f;
  for (int64_t s = lane; s < S; s += kWarp) {
    const float g = gr[s];
    s1 += g;
    s2 += g * ((xr[s] - m) * rs);
  }
  s1 = warp_sum(s1);
  s2 = warp_sum(s2);
  if (lane == 0) {
    pb[u] = s1;
    pw[u] = s2;
  }
}

// Group norm backward, step 2 (dx): one block per t = n G + g:
//   a = (1/M) sum_c w[c] pb[n, c],  k = (1/M) sum_c w[c] pw[n, c]   (c in the group)
//   gx[c, s] = rs (gy[c, s] w[c] - a - xh[c, s] k),  xh = (x - m) rs
__global__ void group_norm_bwd_dx_kernel(const float* __restrict__ x, const float* __restrict__ w,
                                         const float* __restrict__ mean, const float* __restrict__ rstd,
                                         const float* __restrict__ gy, const float* __restrict__ pw,
                                         const float* __restrict__ pb, float* __restrict__ gx, int64_t C, int64_t S,
                                         int64_t G) {
  TESSERA_SHARED(float, red, 2 * kWarps);
  const int64_t t = blockIdx.x;
  const int64_t n = t / G, Cg = C / G, M = Cg * S, c0 = (t % G) * Cg;
  const float m = mean[t], rs = rstd[t];
  float s1 = 0.0f, s2 = 0.0f;
  for (int64_t c = threadIdx.x; c < Cg; c += kThreads) {
    const float wc = w ? w[c0 + c] : 1.0f;
    s1 += wc * pb[n * C + c0 + c];
    s2 += wc * pw[n * C + c0 + c];
  }
  block_sum2(s1, s2, red);
  const float a = s1 / float(M), k = s2 / float(M);
  const float* xg = x + t * M;
  const float* gg = gy + t * M;
  float* out = gx + t * M;
  for (int64_t i = threadIdx.x; i < M; i += kThreads) {
    const float wc = w ? w[c0 + i / S] : 1.0f;
    const float xh = (xg[i] - m) * rs;
    out[i] = rs * (gg[i] * wc - a - xh * k);
  }
}

bool aligned16(const void* p) { return (reinterpret_cast<uintptr_t>(p) & 15u) == 0; }

unsigned col_blocks(int64_t C) { return unsigned((C + kThreads - 1) / kThreads); }

void row_norm_forward(bool center, const float* x, const float* w, const float* b, float* y, float* mean,
                      float* rstd, int64_t rows, int64_t C, float eps, cudaStream_t stream) {
  if (rows <= 0 || C <= 0) return;
  const bool vec = C % 4 == 0 && aligned16(x) && aligned16(y);
  const unsigned grid = unsigned(rows);
  if (center && vec)
    TESSERA_LAUNCH((row_norm_fwd_kernel<true, true>), grid, kThreads, 0, stream)(x, w, b, y, mean, rstd, C, eps);
  else if (center)
    TESSERA_LAUNCH((row_norm_fwd_kernel<true, false>), grid, kThreads, 0, stream)(x, w, b, y, mean, rstd, C, eps);
  else if (vec)
    TESSERA_LAUNCH((row_norm_fwd_kernel<false, true>), grid, kThreads, 0, stream)(x, w, b, y, mean, rstd, C, eps);
  else
    TESSERA_LAUNCH((row_norm_fwd_kernel<false, false>), grid, kThreads, 0, stream)(x, w, b, y, mean, rstd, C, eps);
  TESSERA_CUDA_CHECK_LAUNCH();
}

void row_norm_backward(bool center, const float* x, const float* w, const float* mean, const float* rstd,
                       const float* gy, float* gx, float* gw, float* gb, float* workspace, int64_t rows, int64_t C,
                       cudaStream_t stream) {
  if (C <= 0) return;
  if (rows <= 0) {
    if (gw) cudaMemsetAsync(gw, 0, size_t(C) * sizeof(float), stream);
    if (gb) cudaMemsetAsync(gb, 0, size_t(C) * sizeof(float), stream);
    return;
  }
  if (center)
    TESSERA_LAUNCH(row_norm_bwd_dx_kernel<true>, unsigned(rows), kThreads, 0, stream)(x, w, mean, rstd, gy, gx, C);
  else
    TESSERA_LAUNCH(row_norm_bwd_dx_kernel<false>, unsigned(rows), kThreads, 0, stream)(x, w, mean, rstd, gy, gx, C);
  TESSERA_CUDA_CHECK_LAUNCH();
  if (!gw && !gb) return;
  if (!workspace) throw std::invalid_argument("norm backward: dweight/dbias need a workspace");
  const int64_t nblk = (rows + kNormRowBlock - 1) / kNormRowBlock;
  float* pw = gw ? workspace : nullptr;
  float* pb = gb ? workspace + nblk * C : nullptr;
  TESSERA_LAUNCH(row_norm_bwd_partial_kernel, dim3(unsigned(nblk), col_blocks(C)), kThreads, 0, stream)(
      x, center ? mean : nullptr, rstd, gy, pw, pb, rows, C);
  TESSERA_CUDA_CHECK_LAUNCH();
  if (gw) {
    TESSERA_LAUNCH(sum_partials_kernel, col_blocks(C), kThreads, 0, stream)(pw, gw, nblk, C);
    TESSERA_CUDA_CHECK_LAUNCH();
  }
  if (gb) {
    TESSERA_LAUNCH(sum_partials_kernel, col_blocks(C), kThreads, 0, stream)(pb, gb, nblk, C);
    TESSERA_CUDA_CHECK_LAUNCH();
  }
}

}  // namespace

int64_t norm_backward_workspace_floats(int64_t rows, int64_t C) {
  return 2 * C * ((rows + kNormRowBlock - 1) / kNormRowBlock);
}

int64_t group_norm_backward_workspace_floats(int64_t N, int64_t C) { return 2 * N * C; }

void layer_norm_forward(const float* x, const float* w, const float* b, float* y, float* mean, float* rstd,
                        int64_t rows, int64_t C, float eps, cudaStream_t stream) {
  row_norm_forward(true, x, w, b, y, mean, rstd, rows, C, eps, stream);
}

void layer_norm_backward(const float* x, const float* w, const float* mean, const float* rstd, const float* gy,
                         float* gx, float* gw, float* gb, float* workspace, int64_t rows, int64_t C,
                         cudaStream_t stream) {
  row_norm_backward(true, x, w, mean, rstd, gy, gx, gw, gb, workspace, rows, C, stream);
}

void rms_norm_forward(const float* x, const float* w, float* y, float* rstd, int64_t rows, int64_t C, float eps,
                      cudaStream_t stream) {
  row_norm_forward(false, x, w, nullptr, y, nullptr, rstd, rows, C, eps, stream);
}

void rms_norm_backward(const float* x, const float* w, const float* rstd, const float* gy, float* gx, float* gw,
                       float* workspace, int64_t rows, int64_t C, cudaStream_t stream) {
  row_norm_backward(false, x, w, nullptr, rstd, gy, gx, gw, nullptr, workspace, rows, C, stream);
}

void group_norm_forward(const float* x, const float* w, const float* b, float* y, float* mean, float* rstd,
                        int64_t N, int64_t C, int64_t S, int64_t G, float eps, cudaStream_t stream) {
  if (N <= 0 || C <= 0 || S <= 0 || G <= 0) return;
  if (C % G != 0) throw std::invalid_argument("group_norm: C must be a multiple of G");
  const bool vec = ((C / G) * S) % 4 == 0 && aligned16(x) && aligned16(y);
  const unsigned grid = unsigned(N * G);
  if (vec)
    TESSERA_LAUNCH(group_norm_fwd_kernel<true>, grid, kThreads, 0, stream)(x, w, b, y, mean, rstd, C, S, G, eps);
  else
    TESSERA_LAUNCH(group_norm_fwd_kernel<false>, grid, kThreads, 0, stream)(x, w, b, y, mean, rstd, C, S, G, eps);
  TESSERA_CUDA_CHECK_LAUNCH();
}

void group_norm_backward(const float* x, const float* w, const float* mean, const float* rstd, const float* gy,
                         float* gx, float* gw, float* gb, float* workspace, int64_t N, int64_t C, int64_t S,
                         int64_t G, cudaStream_t stream) {
  if (C <= 0 || G <= 0) return;
  if (C % G != 0) throw std::invalid_argument("group_norm: C must be a multiple of G");
  if (N <= 0 || S <= 0) {
    if (gw) cudaMemsetAsync(gw, 0, size_t(C) * sizeof(float), stream);
    if (gb) cudaMemsetAsync(gb, 0, size_t(C) * sizeof(float), stream);
    return;
  }
  if (!workspace) throw std::invalid_argument("group_norm backward needs a workspace");
  float* pw = workspace;
  float* pb = workspace + N * C;
  TESSERA_LAUNCH(group_norm_bwd_channel_kernel, unsigned((N * C + kWarps - 1) / kWarps), kThreads, 0, stream)(
      x, mean, rstd, gy, pw, pb, N, C, S, G);
  TESSERA_CUDA_CHECK_LAUNCH();
  TESSERA_LAUNCH(group_norm_bwd_dx_kernel, unsigned(N * G), kThreads, 0, stream)(x, w, mean, rstd, gy, pw, pb, gx,
                                                                                   C, S, G);
  TESSERA_CUDA_CHECK_LAUNCH();
  // gw[c] = sum_n pw[n, c], gb[c] = sum_n pb[n, c]  (n ascending)
  if (gw) {
    TESSERA_LAUNCH(sum_partials_kernel, col_blocks(C), kThreads, 0, stream)(pw, gw, N, C);
    TESSERA_CUDA_CHECK_LAUNCH();
  }
  if (gb) {
    TESSERA_LAUNCH(sum_partials_kernel, col_blocks(C), kThreads, 0, stream)(pb, gb, N, C);
    TESSERA_CUDA_CHECK_LAUNCH();
  }
}

}  // namespace cuda
}  // namespace tessera
