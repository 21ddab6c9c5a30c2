// 3-d convolution as implicit GEMM: forward, and backward (dx, dw, dbias).
//
//   y[n, co, o] = bias[co] + sum_{ci, a, b, c} w[co, ci, a, b, c] * x[n, ci, od*sD - pF + a, oh*sH - pH + b, ow*sW - pW + c]
//
// The GEMM view, per sample n (P = Do*Ho*Wo output positions, Kc = Cin*kD*kH*kW):
//   y[n]   (Cout x P)  = w (Cout x Kc) @ col(x[n]) (Kc x P),  col[kk, p] = xpad[ci, od*sD + a, oh*sH + b, ow*sW + c]
//   dw     (Cout x Kc) = sum_n sum_chunks dy[n][:, chunk] @ col(x[n])[:, chunk]^T  (fixed chunks of positions)
//   dx[n]  (Cin x DHW) = w' (Cin x Cout*k) @ col'(dy[n]),  a stride-1 convolution of dy dilated by the stride
//                        and padded by k - 1 - p, with the flipped, transposed kernel
//                        w'[ci, co, a, b, c] = w[co, ci, kD-1-a, kH-1-b, kW-1-c]
//   dbias[co]          = sum_{n, p} dy[n, co, p]
// xpad is x[n] copied once into a zero-padded buffer, so packing a column panel is
// a gather of runs with no bounds checks: entry (kk, p) of col lives at
//   xpad + kbase[kk] + pbase[p],  kbase[kk] = ((ci*Dp + a)*Hp + b)*Wp + c,
//                                  pbase[p]  = ((od*sD)*Hp + oh*sH)*Wp + ow*sW,
// and the positions of a panel split into runs along ow where pbase steps by sW.
// The GEMM's B-packing hook packs those panels straight into its micro-panel
// layout; the im2col matrix is never built.
#include "cpu/conv3d.h"

#include <algorithm>
#include <vector>

#include "core/cpu_features.h"
#include "core/tensor.h"
#include "core/threadpool.h"
#include "cpu/gemm.h"

namespace tessera {
namespace cpu {

namespace {

// A stride-(sD, sH, sW) convolution window over a padded source [C, Dp, Hp, Wp].
struct ColGeometry {
  const float* src = nullptr;
  int64_t C = 0, Dp = 0, Hp = 0, Wp = 0;
  int64_t kD = 1, kH = 1, kW = 1;
  int64_t sD = 1, sH = 1, sW = 1;
  int64_t Do = 0, Ho = 0, Wo = 0;
  std::vector<int64_t> kbase;  // per column-matrix row kk = ((ci*kD + a)*kH + b)*kW + c

  void build_kbase() {
    kbase.resize(size_t(C * kD * kH * kW));
    size_t kk = 0;
    for (int64_t ci = 0; ci < C; ++ci)
      for (int64_t a = 0; a < kD; ++a)
        for (int64_t b = 0; b < kH; ++b)
          for (int64_t c = 0; c < kW; ++c) kbase[kk++] = ((ci * Dp + a) * Hp + b) * Wp + c;
  }
};

// A run of output positions [off, off + len) (relative to the first position of a
// range) on one output row; the source offset of position off + t is base + t*sW.
struct Run {
  int64_t off, len, base;
};

void position_runs(const ColGeometry& g, int64_t p0, int64_t count, std::vector<Run>& runs) {
  runs.clear();
  const int64_t plane = g.Ho * g.Wo;
  int64_t od = p0 / plane, rem = p0 % plane;
  int64_t oh = rem / g.Wo, ow = rem % g.Wo;
  for (int64_t off = 0; off < count;) {
    const int64_t len = std::min(g.Wo - ow, count - off);
    runs.push_back({off, len, ((od * g.sD) * g.Hp + oh * g.sH) * g.Wp + ow * g.sW});
    off += len;
    ow = 0;
    if (++oh == g.Ho) {
      oh = 0;
      ++od;
    }
  }
}

// One B micro-panel of col (rows kk = k0 .. k0+kc, the nv positions of `runs`):
//   dst[k*nr + j] = col[k0 + k, p0 + j], zero for j >= nv.
// Consecutive rows kk read scattered source rows (other kernel taps, channels),
// so the source of row k + kPrefetchRows is prefetched while row k is copied.
constexpr int64_t kPrefetchRows = 12;

template <int NR>
TESSERA_INLINE void copy_full_run_rows(const ColGeometry* g, int64_t base, float* dst, int64_t k0, int64_t kc) {
  const int64_t* kbase = g->kbase.data() + k0;
  const float* src = g->src + base;
  for (int64_t k = 0; k < kc; ++k) {
    if (k + kPrefetchRows < kc) {
      const char* pf = reinterpret_cast<const char*>(src + kbase[k + kPrefetchRows]);
      __builtin_prefetch(pf);
      __builtin_prefetch(pf + NR * sizeof(float) - 1);
    }
    const float* __restrict s = src + kbase[k];
    float* __restrict d = dst + k * NR;
    for (int j = 0; j < NR; ++j) d[j] = s[j];
  }
}

template <Isa isa>
TESSERA_INLINE void pack_col_panel_impl(const ColGeometry* g, const Run* runs, int64_t n_runs, float* dst, int64_t k0,
                                        int64_t kc, int64_t nv, int64_t nr) {
  const int64_t sW = g->sW;
  if (n_runs == 1 && sW == 1 && runs[0].len == nr && (nr == 32 || nr == 16)) {
    // The common case: the whole panel is one contiguous source run.
    if (nr == 32)
      copy_full_run_rows<32>(g, runs[0].base, dst, k0, kc);
    else
      copy_full_run_rows<16>(g, runs[0].base, dst, k0, kc);
    return;
  }
  for (int64_t k = 0; k < kc; ++k) {
    if (k + kPrefetchRows < kc) {
      const float* pf = g->src + g->kbase[size_t(k0 + k + kPrefetchRows)];
      for (int64_t r = 0; r < n_runs; ++r) __builtin_prefetch(pf + runs[r].base);
    }
    float* __restrict d = dst + k * nr;
    const float* __restrict s = g->src + g->kbase[size_t(k0 + k)];
    for (int64_t r = 0; r < n_runs; ++r) {
      const float* __restrict rs = s + runs[r].base;
      float* __restrict rd = d + runs[r].off;
      const int64_t len = runs[r].len;
      if (sW == 1) {
        for (int64_t t = 0; t < len; ++t) rd[t] = rs[t];
      } else {
        for (int64_t t = 0; t < len; ++t) rd[t] = rs[t * sW];
      }
    }
    for (int64_t j = nv; j < nr; ++j) d[j] = 0.0f;
  }
}
TESSERA_ISA_DISPATCH(pack_col_panel, pack_col_panel_impl,
                     (const ColGeometry* g, const Run* runs, int64_t n_runs, float* dst, int64_t k0, int64_t kc,
                      int64_t nv, int64_t nr),
                     (g, runs, n_runs, dst, k0, kc, nv, nr))

// One B micro-panel of col^T (rows = the kc positions of `runs`, columns kk = j0 .. j0+nv):
//   dst[k*nr + j] = col[j0 + j, p0 + k], zero for j >= nv.
template <Isa isa>
TESSERA_INLINE void pack_colt_panel_impl(const ColGeometry* g, const Run* runs, int64_t n_runs, float* dst,
                                         int64_t j0, int64_t nv, int64_t kc, int64_t nr) {
  const int64_t sW = g->sW;
  for (int64_t j = 0; j < nv; ++j) {
    const float* __restrict s = g->src + g->kbase[size_t(j0 + j)];
    for (int64_t r = 0; r < n_runs; ++r) {
      const float* __restrict rs = s + runs[r].base;
      float* __restrict rd = dst + runs[r].off * nr + j;
      const int64_t len = runs[r].len;
      for (int64_t t = 0; t < len; ++t) rd[t * nr] = rs[t * sW];
    }
  }
  if (nv < nr)
    for (int64_t k = 0; k < kc; ++k)
      for (int64_t j = nv; j < nr; ++j) dst[k * nr + j] = 0.0f;
}
TESSERA_ISA_DISPATCH(pack_colt_panel, pack_colt_panel_impl,
                     (const ColGeometry* g, const Run* runs, int64_t n_runs, float* dst, int64_t j0, int64_t nv,
                      int64_t kc, int64_t nr),
                     (g, runs, n_runs, dst, j0, nv, kc, nr))

// B = col (Kc x P): the packing hook for y = w @ col and dx = w' @ col'.
GemmPackB col_packer(const ColGeometry& g) {
  return [&g](float* dst, int64_t k0, int64_t kc, int64_t j0, int64_t nc, int64_t nr) {
    thread_local std::vector<Run> runs;
    for (int64_t p0 = 0; p0 < nc; p0 += nr, dst += nr * kc) {
      const int64_t nv = std::min(nr, nc - p0);
      position_runs(g, j0 + p0, nv, runs);
      pack_col_panel(&g, runs.data(), int64_t(runs.size()), dst, k0, kc, nv, nr);
    }
  };
}

// B = col^T (P x Kc): the packing hook for dw = dy @ col^T.
GemmPackB colt_packer(const ColGeometry& g) {
  return [&g](float* dst, int64_t k0, int64_t kc, int64_t j0, int64_t nc, int64_t nr) {
    thread_local std::vector<Run> runs;
    position_runs(g, k0, kc, runs);
    for (int64_t p0 = 0; p0 < nc; p0 += nr, dst += nr * kc) {
      const int64_t nv = std::min(nr, nc - p0);
      pack_colt_panel(&g, runs.data(), int64_t(runs.size()), dst, j0 + p0, nv, kc, nr);
    }
  };
}

// out[c, td, th, tw] = in[c, id, ih, iw] where td = id*dD + fD (same for h, w), zero
// elsewhere; out is [C, Dp, Hp, Wp]. Dilation 1 and front offsets = padding gives the
// zero-padded input; dilation = stride and offsets k - 1 - p the transposed-conv input.
// Rows that map outside out are dropped (only happens for negative offsets).
void dilate_pad(const float* in, int64_t C, int64_t D, int64_t H, int64_t W, int64_t dD, int64_t dH, int64_t dW,
                int64_t fD, int64_t fH, int64_t fW, float* out, int64_t Dp, int64_t Hp, int64_t Wp) {
  parallel_for(C * Dp, 4, [&](int64_t b, int64_t e) {
    for (int64_t cd = b; cd < e; ++cd) {
      const int64_t c = cd / Dp, td = cd % Dp;
      float* plane = out + cd * Hp * Wp;
      std::fill(plane, plane + Hp * Wp, 0.0f);
      const int64_t qd = td - fD;
      if (qd < 0 || qd % dD != 0 || qd / dD >= D) continue;
      const float* src_plane = in + (c * D + qd / dD) * H * W;
      for (int64_t ih = 0; ih < H; ++ih) {
        const int64_t th = ih * dH + fH;
        if (th < 0 || th >= Hp) continue;
        const float* s = src_plane + ih * W;
        float* d = plane + th * Wp;
        for (int64_t iw = 0; iw < W; ++iw) {
          const int64_t tw = iw * dW + fW;
          if (tw >= 0 && tw < Wp) d[tw] = s[iw];
        }
      }
    }
  });
}

// y (M x P, row-major, contiguous) = A (M x Kc) @ col (Kc x P) + bias_m, with col packed by
// `pack`. P is done in chunks of kChunk positions through a scratch buffer whose
// row stride is padded: y's own stride (P, often a power of two such as 64*64*8)
// would map all rows of a tile to the same cache sets. Each chunk is an
// independent GEMM over all of K, so results do not depend on the chunking.
constexpr int64_t kChunk = 4096;

void gemm_col_chunks(int64_t M, int64_t P, int64_t Kc, const float* A, const GemmPackB& pack, const float* bias_m,
                     float* y, float* chunk_buf) {
  const int64_t ldc = kChunk + 16;
  for (int64_t p0 = 0; p0 < P; p0 += kChunk) {
    const int64_t pc = std::min(kChunk, P - p0);
    const GemmPackB shifted = [&](float* dst, int64_t k0, int64_t kc, int64_t j0, int64_t nc, int64_t nr) {
      pack(dst, k0, kc, p0 + j0, nc, nr);
    };
    sgemm_pack_b(false, M, pc, Kc, 1.0f, A, Kc, shifted, 0.0f, chunk_buf, ldc, nullptr, bias_m);
    parallel_for(M, 16, [&](int64_t b, int64_t e) {
      for (int64_t m = b; m < e; ++m) std::copy(chunk_buf + m * ldc, chunk_buf + m * ldc + pc, y + m * P + p0);
    });
  }
}

// Scratch memory from the tensor allocator, whose cache hands back the same
// blocks call after call (no fresh pages to fault in for every convolution).
struct Scratch {
  Tensor t;
  explicit Scratch(int64_t n) : t(Tensor::empty({std::max<int64_t>(n, 1)})) {}
  float* get() const { return t.f32(); }
  float& operator[](size_t i) const { return t.f32()[i]; }
};
Scratch scratch(int64_t n) { return Scratch(n); }

// im2col geometry over x zero-padded by the conv's own padding (forward and dw).
ColGeometry padded_input_geometry(const Conv3dShape& s) {
  ColGeometry g;
  g.C = s.Cin;
  g.Dp = s.D + s.pF + s.pB;
  g.Hp = s.H + 2 * s.pH;
  g.Wp = s.W + 2 * s.pW;
  g.kD = s.kD, g.kH = s.kH, g.kW = s.kW;
  g.sD = s.sD, g.sH = s.sH, g.sW = s.sW;
  g.Do = s.Do, g.Ho = s.Ho, g.Wo = s.Wo;
  g.build_kbase();
  return g;
}

}  // namespace

void conv3d_forward(const float* x, const float* w, const float* bias, float* y, const Conv3dShape& s) {
  const int64_t P = s.Do * s.Ho * s.Wo;
  if (s.N == 0 || s.Cout == 0 || P == 0) return;
  const int64_t Kc = s.Cin * s.kD * s.kH * s.kW;
  ColGeometry g = padded_input_geometry(s);
  auto xpad = scratch(g.C * g.Dp * g.Hp * g.Wp);
  g.src = xpad.get();
  const GemmPackB pack = col_packer(g);
  auto chunk = scratch(s.Cout * (kChunk + 16));
  for (int64_t n = 0; n < s.N; ++n) {
    dilate_pad(x + n * s.Cin * s.D * s.H * s.W, s.Cin, s.D, s.H, s.W, 1, 1, 1, s.pF, s.pH, s.pW, xpad.get(), g.Dp,
               g.Hp, g.Wp);
    gemm_col_chunks(s.Cout, P, Kc, w, pack, bias, y + n * s.Cout * P, chunk.get());
  }
}

void conv3d_backward(const float* x, const float* w, const float* dy, float* dx, float* dw, float* dbias,
                     const Conv3dShape& s) {
  const int64_t P = s.Do * s.Ho * s.Wo;
  const int64_t taps = s.kD * s.kH * s.kW;
  const int64_t Kc = s.Cin * taps;
  const int64_t in_size = s.Cin * s.D * s.H * s.W;

  if (dbias) {
    // dbias[co] = sum over samples (in order) of sum over positions (in order), in double.
    parallel_for(s.Cout, 1, [&](int64_t b, int64_t e) {
      for (int64_t co = b; co < e; ++co) {
        double acc = 0.0;
        for (int64_t n = 0; n < s.N; ++n) {
          const float* g = dy + (n * s.Cout + co) * P;
          for (int64_t p = 0; p < P; ++p) acc += double(g[p]);
        }
        dbias[co] = float(acc);
      }
    });
  }

  if (dw) {
    if (s.N == 0 || P == 0) {
      std::fill(dw, dw + s.Cout * Kc, 0.0f);
    } else {
      ColGeometry g = padded_input_geometry(s);
      auto xpad = scratch(g.C * g.Dp * g.Hp * g.Wp);
      g.src = xpad.get();
      const GemmPackB pack = colt_packer(g);
      for (int64_t n = 0; n < s.N; ++n) {
        dilate_pad(x + n * in_size, s.Cin, s.D, s.H, s.W, 1, 1, 1, s.pF, s.pH, s.pW, xpad.get(), g.Dp, g.Hp, g.Wp);
        // dw (Cout x Kc) (+)= dy[n][:, chunk] (Cout x pc) @ col[:, chunk]^T (pc x Kc), over fixed
        // chunks of kChunk positions in order (the GEMM's K dimension, so the packed dy block stays
        // bounded), samples in order.
        for (int64_t p0 = 0; p0 < P; p0 += kChunk) {
          const int64_t pc = std::min(kChunk, P - p0);
          const GemmPackB shifted = [&](float* dst, int64_t k0, int64_t kc, int64_t j0, int64_t nc, int64_t nr) {
            pack(dst, p0 + k0, kc, j0, nc, nr);
          };
          const float beta = (n == 0 && p0 == 0) ? 0.0f : 1.0f;
          sgemm_pack_b(false, s.Cout, Kc, pc, 1.0f, dy + n * s.Cout * P + p0, P, shifted, beta, dw, Kc);
        }
      }
    }
  }

  if (dx) {
    const int64_t DHW = s.D * s.H * s.W;
    if (s.N == 0 || in_size == 0) return;
    // The transposed convolution: a stride-1 convolution over dy dilated by the
    // stride, front offset k - 1 - p, with the flipped kernel w'.
    const int64_t Kt = s.Cout * taps;
    auto wt = scratch(s.Cin * Kt);
    for (int64_t ci = 0; ci < s.Cin; ++ci)
      for (int64_t co = 0; co < s.Cout; ++co)
        for (int64_t a = 0; a < s.kD; ++a)
          for (int64_t b = 0; b < s.kH; ++b)
            for (int64_t c = 0; c < s.kW; ++c)
              wt[size_t(ci * Kt + ((co * s.kD + a) * s.kH + b) * s.kW + c)] =
                  w[size_t((((co * s.Cin + ci) * s.kD + (s.kD - 1 - a)) * s.kH + (s.kH - 1 - b)) * s.kW +
                           (s.kW - 1 - c))];
    ColGeometry g;
    g.C = s.Cout;
    g.Dp = s.D + s.kD - 1;
    g.Hp = s.H + s.kH - 1;
    g.Wp = s.W + s.kW - 1;
    g.kD = s.kD, g.kH = s.kH, g.kW = s.kW;
    g.sD = g.sH = g.sW = 1;
    g.Do = s.D, g.Ho = s.H, g.Wo = s.W;
    g.build_kbase();
    auto dypad = scratch(g.C * g.Dp * g.Hp * g.Wp);
    g.src = dypad.get();
    const GemmPackB pack = col_packer(g);
    auto chunk = scratch(s.Cin * (kChunk + 16));
    for (int64_t n = 0; n < s.N; ++n) {
      if (P == 0) {
        std::fill(dx + n * in_size, dx + (n + 1) * in_size, 0.0f);
        continue;
      }
      dilate_pad(dy + n * s.Cout * P, s.Cout, s.Do, s.Ho, s.Wo, s.sD, s.sH, s.sW, s.kD - 1 - s.pF,
                 s.kH - 1 - s.pH, s.kW - 1 - s.pW, dypad.get(), g.Dp, g.Hp, g.Wp);
      gemm_col_chunks(s.Cin, DHW, Kt, wt.get(), pack, nullptr, dx + n * in_size, chunk.get());
    }
  }
}

}  // namespace cpu
}  // namespace tessera
