// Layer norm, RMS norm and group norm, forward and backward (formulas in norm.h).
//
// Derivation of the input gradient (same for all three, with mean = 0 for RMS
// norm): y = xhat w + b with xhat = (x - mean) rstd over a set of M elements, so
//   dL/dx = rstd (gh - mean(gh) - xhat mean(gh xhat)),  gh = dL/dy * w.
// Row statistics and the two row means in backward use fixed-order lane sums
// (cpu/vec_math.h); every loop is compiled per instruction set.
#include "cpu/norm.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "core/cpu_features.h"
#include "core/threadpool.h"
#include "cpu/vec_math.h"

namespace tessera {
namespace cpu {

namespace {

constexpr int64_t kGrainElems = 16384;
constexpr int kLanes = 16;

// sums[0] = sum_j gh_j, sums[1] = sum_j gh_j xhat_j with gh = g w (w null: g),
// xhat = (x - m) rs; 16 float lanes, lanes added in order in double.
TESSERA_INLINE void row_grad_sums(const float* __restrict x, const float* __restrict g, const float* __restrict w,
                                  float m, float rs, int64_t n, double* sums) {
  float l1[kLanes], l2[kLanes];
  for (int k = 0; k < kLanes; ++k) l1[k] = l2[k] = 0.0f;
  int64_t j = 0;
  if (w) {
    for (; j + kLanes <= n; j += kLanes)
      for (int k = 0; k < kLanes; ++k) {
        const float gh = g[j + k] * w[j + k];
        l1[k] += gh;
        l2[k] += gh * ((x[j + k] - m) * rs);
      }
    for (int k = 0; j + k < n; ++k) {
      const float gh = g[j + k] * w[j + k];
      l1[k] += gh;
      l2[k] += gh * ((x[j + k] - m) * rs);
    }
  } else {
    for (; j + kLanes <= n; j += kLanes)
      for (int k = 0; k < kLanes; ++k) {
        l1[k] += g[j + k];
        l2[k] += g[j + k] * ((x[j + k] - m) * rs);
      }
    for (int k = 0; j + k < n; ++k) {
      l1[k] += g[j + k];
      l2[k] += g[j + k] * ((x[j + k] - m) * rs);
    }
  }
  double s1 = 0.0, s2 = 0.0;
  for (int k = 0; k < kLanes; ++k) {
    s1 += double(l1[k]);
    s2 += double(l2[k]);
  }
  sums[0] = s1;
  sums[1] = s2;
}

// ---- layer norm ----

template <Isa I>
TESSERA_INLINE void ln_fwd_rows_impl(const float* x, const float* w, const float* b, float* y, float* mean,
                                     float* rstd, int64_t C, float eps, int64_t r0, int64_t r1) {
  for (int64_t r = r0; r < r1; ++r) {
    const float* __restrict xr = x + r * C;
    float* __restrict yr = y + r * C;
    const float m = float(vm::sum(xr, C) / double(C));
    const float var = float(vm::sum_sq_dev(xr, m, C) / double(C));
    const float rs = float(1.0 / std::sqrt(double(var) + double(eps)));
    mean[r] = m;
    rstd[r] = rs;
    if (w && b) {
      for (int64_t j = 0; j < C; ++j) yr[j] = (xr[j] - m) * rs * w[j] + b[j];
    } else if (w) {
      for (int64_t j = 0; j < C; ++j) yr[j] = (xr[j] - m) * rs * w[j];
    } else if (b) {
      for (int64_t j = 0; j < C; ++j) yr[j] = (xr[j] - m) * rs + b[j];
    } else {
      for (int64_t j = 0; j < C; ++j) yr[j] = (xr[j] - m) * rs;
    }
  }
}
TESSERA_ISA_DISPATCH(ln_fwd_rows, ln_fwd_rows_impl,
                     (const float* x, const float* w, const float* b, float* y, float* mean, float* rstd, int64_t C,
                      float eps, int64_t r0, int64_t r1),
                     (x, w, b, y, mean, rstd, C, eps, r0, r1))

// Row blocks [blk0, blk1): gx for their rows, and per-block partial sums
// pw[blk, j] = sum_r gy xhat, pb[blk, j] = sum_r gy (rows in order, float).
// mean = null means RMS norm (mean 0).
template <Isa I>
TESSERA_INLINE void norm_bwd_blocks_impl(const float* x, const float* w, const float* mean, const float* rstd,
                                         const float* gy, float* gx, float* pw, float* pb, int64_t rows, int64_t C,
                                         int64_t blk0, int64_t blk1) {
  const double invC = 1.0 / double(C);
  for (int64_t blk = blk0; blk < blk1; ++blk) {
    float* __restrict bw = pw ? pw + blk * C : nullptr;
    float* __restrict bb = pb ? pb + blk * C : nullptr;
    if (bw) for (int64_t j = 0; j < C; ++j) bw[j] = 0.0f;
    if (bb) for (int64_t j = 0; j < C; ++j) bb[j] = 0.0f;
    const int64_t r1 = std::min(rows, (blk + 1) * kNormRowBlock);
    for (int64_t r = blk * kNormRowBlock; r < r1; ++r) {
      const float* __restrict xr = x + r * C;
      const float* __restrict gr = gy + r * C;
      float* __restrict out = gx + r * C;
      const float m = mean ? mean[r] : 0.0f;
      const float rs = rstd[r];
      double sums[2];
      row_grad_sums(xr, gr, w, m, rs, C, sums);
      const float a = mean ? float(sums[0] * invC) : 0.0f;
      const float c = float(sums[1] * invC);
      if (w) {
        for (int64_t j = 0; j < C; ++j) {
          const float xh = (xr[j] - m) * rs;
          out[j] = rs * (gr[j] * w[j] - a - xh * c);
        }
      } else {
        for (int64_t j = 0; j < C; ++j) {
          const float xh = (xr[j] - m) * rs;
          out[j] = rs * (gr[j] - a - xh * c);
        }
      }
      if (bw) for (int64_t j = 0; j < C; ++j) bw[j] += gr[j] * ((xr[j] - m) * rs);
      if (bb) for (int64_t j = 0; j < C; ++j) bb[j] += gr[j];
    }
  }
}
TESSERA_ISA_DISPATCH(norm_bwd_blocks, norm_bwd_blocks_impl,
                     (const float* x, const float* w, const float* mean, const float* rstd, const float* gy,
                      float* gx, float* pw, float* pb, int64_t rows, int64_t C, int64_t blk0, int64_t blk1),
                     (x, w, mean, rstd, gy, gx, pw, pb, rows, C, blk0, blk1))

// out[j] = sum_{blk < nblk} partial[blk, j] in block order, in double.
void combine_blocks(const float* partial, float* out, int64_t nblk, int64_t C) {
  parallel_for(C, std::max<int64_t>(1, kGrainElems / std::max<int64_t>(nblk, 1)), [&](int64_t j0, int64_t j1) {
    std::vector<double> acc(size_t(j1 - j0), 0.0);
    for (int64_t blk = 0; blk < nblk; ++blk) {
      const float* p = partial + blk * C;
      for (int64_t j = j0; j < j1; ++j) acc[size_t(j - j0)] += double(p[j]);
    }
    for (int64_t j = j0; j < j1; ++j) out[j] = float(acc[size_t(j - j0)]);
  });
}

void norm_backward(const float* x, const float* w, const float* mean, const float* rstd, const float* gy,
                   float* gx, float* gw, float* gb, int64_t rows, int64_t C) {
  if (C == 0) return;
  const int64_t nblk = (rows + kNormRowBlock - 1) / kNormRowBlock;
  std::vector<float> pw(gw ? size_t(nblk * C) : 0), pb(gb ? size_t(nblk * C) : 0);
  float* pwp = gw ? pw.data() : nullptr;
  float* pbp = gb ? pb.data() : nullptr;
  parallel_for(nblk, std::max<int64_t>(1, kGrainElems / (kNormRowBlock * C)), [&](int64_t b0, int64_t b1) {
    norm_bwd_blocks(x, w, mean, rstd, gy, gx, pwp, pbp, rows, C, b0, b1);
  });
  if (gw) combine_blocks(pwp, gw, nblk, C);
  if (gb) combine_blocks(pbp, gb, nblk, C);
}

// ---- RMS norm ----

template <Isa I>
TESSERA_INLINE void rms_fwd_rows_impl(const float* x, const float* w, float* y, float* rstd, int64_t C, float eps,
                                      int64_t r0, int64_t r1) {
  for (int64_t r = r0; r < r1; ++r) {
    const float* __restrict xr = x + r * C;
    float* __restrict yr = y + r * C;
    const double ms = vm::dot(xr, xr, C) / double(C);
    const float rs = float(1.0 / std::sqrt(ms + double(eps)));
    rstd[r] = rs;
    if (w) {
      for (int64_t j = 0; j < C; ++j) yr[j] = xr[j] * rs * w[j];
    } else {
      for (int64_t j = 0; j < C; ++j) yr[j] = xr[j] * rs;
    }
  }
}
TESSERA_ISA_DISPATCH(rms_fwd_rows, rms_fwd_rows_impl,
                     (const float* x, const float* w, float* y, float* rstd, int64_t C, float eps, int64_t r0,
                      int64_t r1),
                     (x, w, y, rstd, C, eps, r0, r1))

// ---- group norm ----

template <Isa I>
TESSERA_INLINE void gn_fwd_groups_impl(const float* x, const float* w, const float* b, float* y, float* mean,
                                       float* rstd, int64_t C, int64_t S, int64_t G, float eps, int64_t t0,
                                       int64_t t1) {
  const int64_t Cg = C / G, M = Cg * S;
  for (int64_t t = t0; t < t1; ++t) {  // t = n * G + g
    const float* xg = x + t * M;
    float* yg = y + t * M;
    const float m = float(vm::sum(xg, M) / double(M));
    const float var = float(vm::sum_sq_dev(xg, m, M) / double(M));
    const float rs = float(1.0 / std::sqrt(double(var) + double(eps)));
    mean[t] = m;
    rstd[t] = rs;
    const int64_t c0 = (t % G) * Cg;
    for (int64_t c = 0; c < Cg; ++c) {
      const float scale = w ? rs * w[c0 + c] : rs;
      const float shift = (b ? b[c0 + c] : 0.0f) - m * scale;
      const float* __restrict xr = xg + c * S;
      float* __restrict yr = yg + c * S;
      for (int64_t s = 0; s < S; ++s) yr[s] = xr[s] * scale + shift;
    }
  }
}
TESSERA_ISA_DISPATCH(gn_fwd_groups, gn_fwd_groups_impl,
                     (const float* x, const float* w, const float* b, float* y, float* mean, float* rstd, int64_t C,
                      int64_t S, int64_t G, float eps, int64_t t0, int64_t t1),
                     (x, w, b, y, mean, rstd, C, S, G, eps, t0, t1))

// Groups [t0, t1): gx, and per-sample channel partials
// pw[n, c] = sum_s gy (x - mean) rstd, pb[n, c] = sum_s gy (double).
template <Isa I>
TESSERA_INLINE void gn_bwd_groups_impl(const float* x, const float* w, const float* mean, const float* rstd,
                                       const float* gy, float* gx, double* pw, double* pb, int64_t C, int64_t S,
                                       int64_t G, int64_t t0, int64_t t1) {
  const int64_t Cg = C / G, M = Cg * S;
  for (int64_t t = t0; t < t1; ++t) {
    const int64_t n = t / G, c0 = (t % G) * Cg;
    const float m = mean[t], rs = rstd[t];
    double sum_gh = 0.0, sum_ghxh = 0.0;
    for (int64_t c = 0; c < Cg; ++c) {
      const float* __restrict xr = x + t * M + c * S;
      const float* __restrict gr = gy + t * M + c * S;
      double sums[2];
      row_grad_sums(xr, gr, nullptr, m, rs, S, sums);  // sum gy, sum gy xhat
      const double wc = w ? double(w[c0 + c]) : 1.0;
      sum_gh += wc * sums[0];
      sum_ghxh += wc * sums[1];
      pb[n * C + c0 + c] = sums[0];
      pw[n * C + c0 + c] = sums[1];
    }
    const float a = float(sum_gh / double(M));
    const float k = float(sum_ghxh / double(M));
    for (int64_t c = 0; c < Cg; ++c) {
      const float* __restrict xr = x + t * M + c * S;
      const float* __restrict gr = gy + t * M + c * S;
      float* __restrict out = gx + t * M + c * S;
      const float wc = w ? w[c0 + c] : 1.0f;
      for (int64_t s = 0; s < S; ++s) {
        const float xh = (xr[s] - m) * rs;
        out[s] = rs * (gr[s] * wc - a - xh * k);
      }
    }
  }
}
TESSERA_ISA_DISPATCH(gn_bwd_groups, gn_bwd_groups_impl,
                     (const float* x, const float* w, const float* mean, const float* rstd, const float* gy,
                      float* gx, double* pw, double* pb, int64_t C, int64_t S, int64_t G, int64_t t0, int64_t t1),
                     (x, w, mean, rstd, gy, gx, pw, pb, C, S, G, t0, t1))

}  // namespace

void layer_norm_forward(const float* x, const float* w, const float* b, float* y, float* mean, float* rstd,
                        int64_t rows, int64_t C, float eps) {
  if (C == 0) return;
  parallel_for(rows, std::max<int64_t>(1, kGrainElems / C),
               [&](int64_t r0, int64_t r1) { ln_fwd_rows(x, w, b, y, mean, rstd, C, eps, r0, r1); });
}

void layer_norm_backward(const float* x, const float* w, const float* mean, const float* rstd, const float* gy,
                         float* gx, float* gw, float* gb, int64_t rows, int64_t C) {
  norm_backward(x, w, mean, rstd, gy, gx, gw, gb, rows, C);
}

void rms_norm_forward(const float* x, const float* w, float* y, float* rstd, int64_t rows, int64_t C, float eps) {
  if (C == 0) return;
  parallel_for(rows, std::max<int64_t>(1, kGrainElems / C),
               [&](int64_t r0, int64_t r1) { rms_fwd_rows(x, w, y, rstd, C, eps, r0, r1); });
}

void rms_norm_backward(const float* x, const float* w, const float* rstd, const float* gy, float* gx, float* gw,
                       int64_t rows, int64_t C) {
  norm_backward(x, w, nullptr, rstd, gy, gx, gw, nullptr, rows, C);
}

void group_norm_forward(const float* x, const float* w, const float* b, float* y, float* mean, float* rstd,
                        int64_t N, int64_t C, int64_t S, int64_t G, float eps) {
  const int64_t M = (C / G) * S;
  if (M == 0) return;
  parallel_for(N * G, std::max<int64_t>(1, kGrainElems / M),
               [&](int64_t t0, int64_t t1) { gn_fwd_groups(x, w, b, y, mean, rstd, C, S, G, eps, t0, t1); });
}

void group_norm_backward(const float* x, const float* w, const float* mean, const float* rstd, const float* gy,
                         float* gx, float* gw, float* gb, int64_t N, int64_t C, int64_t S, int64_t G) {
  const int64_t M = (C / G) * S;
  if (M == 0) {
    if (gw) std::fill(gw, gw + C, 0.0f);
    if (gb) std::fill(gb, gb + C, 0.0f);
    return;
  }
  std::vector<double> pw(static_cast<size_t>(N * C)), pb(static_cast<size_t>(N * C));
  parallel_for(N * G, std::max<int64_t>(1, kGrainElems / M), [&](int64_t t0, int64_t t1) {
    gn_bwd_groups(x, w, mean, rstd, gy, gx, pw.data(), pb.data(), C, S, G, t0, t1);
  });
  for (int64_t c = 0; c < C; ++c) {
    double sw = 0.0, sb = 0.0;
    for (int64_t n = 0; n < N; ++n) {
      sw += pw[size_t(n * C + c)];
      sb += pb[size_t(n * C + c)];
    }
    if (gw) gw[c] = float(sw);
    if (gb) gb[c] = float(sb);
  }
}

}  // namespace cpu
}  // namespace tessera
