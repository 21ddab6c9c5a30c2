// cuda/conv3d.cu — 3-d convolution as implicit GEMM: forward (f32 SIMT and bf16
// tensor cores), dx, dw (f32 SIMT) and dbias. Math and conventions: cuda/conv3d.h.
//
// One tile machinery serves every GEMM here. The K dimension of a tile is described
// by a small per-tile table in shared memory (one Row per k: an index offset and the
// kernel tap / position it stands for), built once per K step by a few threads; each
// thread precomputes the Col (offset and window origin) of the GEMM column(s) it
// gathers, once per block. An im2col element is then Row + Col: three adds, three
// unsigned range tests (zero padding = out-of-range = 0) and one load, with no
// divisions in the inner loops (except dx with a stride > 1, which divides by the
// stride to find the output positions that touch an input position). Gathers walk the output/input-position dimension
// with consecutive threads (coalesced; stride-1 convolutions read consecutive
// addresses). Out-of-range rows / columns are zeros in shared memory, so the inner
// loops have no edge tests.
//
// Pipeline (all kernels): tiles are double-buffered in shared memory and staged
// through registers: while the tile of step kt is multiplied, the global loads of
// step kt + 1 are in flight, and the Row table of step kt + 2 is built; one
// __syncthreads per K step.
//
// Indices inside a sample (and inside w) are 32-bit; the launchers check the limits.
#include "conv3d.h"
#include "check.h"

#include <algorithm>
#include <stdexcept>
#include <string>

namespace tessera {
namespace cuda {

namespace {

// ---- geometry ----------------------------------------------------------------------

// The shape as 32-bit ints plus derived sizes (P = Do*Ho*Wo, T = kD*kH*kW,
// Kc = Cin*T: the forward / dw reduction length, Kt = Cout*T: the dx one).
struct Geom {
  int N, Cin, D, H, W, Cout, kD, kH, kW, sD, sH, sW, pF, pH, pW, Do, Ho, Wo;
  int T, kHW, HW, DHW, HoWo, P, Kc, Kt;
};

// One k of a tile's reduction dimension:
//   forward : k = kk = (ci, a, b, c):   off = ci*DHW + a*HW + b*W + c, (a, b, c) = tap
//   dx      : k = kk = (co, a, b, c):   off = co*P, (a, b, c) = tap, aux = co*Cin*T + tap (w offset)
//   dw      : k = output position p:     off = (bd*H + bh)*W + bw, (a, b, c) = (bd, bh, bw) window origin,
//                                        aux = p
// Rows past the end carry a sentinel tap that fails every range test, and aux = -1.
struct Row {
  int off, a, b, c, aux;
};
// One GEMM column (per thread, per block):
//   forward : output position p:        off = (bd*H + bh)*W + bw, (d, h, w) = (bd, bh, bw) = window origin
//                                        (od*sD - pF, oh*sH - pH, ow*sW - pW)
//   dx      : input position (id, ih, iw): off = unused, (d, h, w) = (id + pF, ih + pH, iw + pW)
//   dw      : kk = (ci, a, b, c):         off = ci*DHW + a*HW + b*W + c, (d, h, w) = (a, b, c)
struct Col {
  int off, d, h, w;
};

constexpr int kSentinel = 1 << 29;  // |coordinates| < 2^28 (checked): sentinel sums stay out of range

enum Mode { kFwd = 0, kDgrad = 1, kWgrad = 2 };

__device__ __forceinline__ int imin(int a, int b) { return a < b ? a : b; }

__device__ __forceinline__ void split_tap(const Geom& g, int tap, int& a, int& b, int& c) {
  a = tap / g.kHW;
  const int r = tap - a * g.kHW;
  b = r / g.kW;
  c = r - b * g.kW;
}

__device__ __forceinline__ Row fwd_row(const Geom& g, int kk) {
  if (kk >= g.Kc) return Row{0, -kSentinel, -kSentinel, -kSentinel, -1};
  const int ci = kk / g.T;
  int a, b, c;
  split_tap(g, kk - ci * g.T, a, b, c);
  return Row{ci * g.DHW + a * g.HW + b * g.W + c, a, b, c, kk};
}

__device__ __forceinline__ Row dgrad_row(const Geom& g, int kk) {
  if (kk >= g.Kt) return Row{0, kSentinel, kSentinel, kSentinel, -1};
  const int co = kk / g.T, tap = kk - co * g.T;
  int a, b, c;
  split_tap(g, tap, a, b, c);
  return Row{co * g.P, a, b, c, co * g.Cin * g.T + tap};
}

// Output position p -> window origin (shared by the forward's columns and dw's rows).
__device__ __forceinline__ void window_origin(const Geom& g, int p, int& bd, int& bh, int& bw) {
  const int od = p / g.HoWo, r = p - od * g.HoWo;
  const int oh = r / g.Wo, ow = r - oh * g.Wo;
  bd = od * g.sD - g.pF;
  bh = oh * g.sH - g.pH;
  bw = ow * g.sW - g.pW;
}

__device__ __forceinline__ Row wgrad_row(const Geom& g, int p, int p_end) {
  if (p >= p_end) return Row{0, -kSentinel, -kSentinel, -kSentinel, -1};
  int bd, bh, bw;
  window_origin(g, p, bd, bh, bw);
  return Row{(bd * g.H + bh) * g.W + bw, bd, bh, bw, p};
}

__device__ __forceinline__ Col fwd_col(const Geom& g, int p) {
  if (p >= g.P) return Col{0, -kSentinel, -kSentinel, -kSentinel};
  int bd, bh, bw;
  window_origin(g, p, bd, bh, bw);
  return Col{(bd * g.H + bh) * g.W + bw, bd, bh, bw};
}

__device__ __forceinline__ Col dgrad_col(const Geom& g, int i) {
  if (i >= g.DHW) return Col{0, -kSentinel, -kSentinel, -kSentinel};
  const int id = i / g.HW, r = i - id * g.HW;
  const int ih = r / g.W, iw = r - ih * g.W;
  return Col{i, id + g.pF, ih + g.pH, iw + g.pW};
}

__device__ __forceinline__ Col wgrad_col(const Geom& g, int kk) {
  if (kk >= g.Kc) return Col{0, -kSentinel, -kSentinel, -kSentinel};
  const int ci = kk / g.T;
  int a, b, c;
  split_tap(g, kk - ci * g.T, a, b, c);
  return Col{ci * g.DHW + a * g.HW + b * g.W + c, a, b, c};
}

// Forward / dw im2col element: x[n, ci, d, h, w] with (d, h, w) = tap + window origin,
// at sample offset r.off + c.off; false when outside x (zero padding).
__device__ __forceinline__ bool in_input(const Geom& g, const Row& r, const Col& c) {
  return unsigned(r.a + c.d) < unsigned(g.D) && unsigned(r.b + c.h) < unsigned(g.H) &&
         unsigned(r.c + c.w) < unsigned(g.W);
}

// dx element: dy[n, co, od, oh, ow] with od*sD = id + pF - a (alike h, w) when that has
// an integer solution inside the output; its sample offset, or -1.
__device__ __forceinline__ int dgrad_index(const Geom& g, const Row& r, const Col& c) {
  const int td = c.d - r.a, th = c.h - r.b, tw = c.w - r.c;
  if (td < 0 || th < 0 || tw < 0) return -1;
  int od = td, oh = th, ow = tw;  // stride 1 (a uniform branch): no division
  if (g.sD != 1) {
    od = td / g.sD;
    if (od * g.sD != td) return -1;
  }
  if (g.sH != 1) {
    oh = th / g.sH;
    if (oh * g.sH != th) return -1;
  }
  if (g.sW != 1) {
    ow = tw / g.sW;
    if (ow * g.sW != tw) return -1;
  }
  if (od >= g.Do || oh >= g.Ho || ow >= g.Wo) return -1;
  return r.off + (od * g.Ho + oh) * g.Wo + ow;
}

// dw splits: split z = sn * Sp + sp sums samples [sn*G, sn*G + G) and positions
// [sp*Lp, sp*Lp + Lp) (clipped); S = Sn * Sp splits in all.
struct DwSplit {
  int G, Sn, Lp, Sp;
};

// ---- f32: shared-memory tiled implicit GEMM ----------------------------------------
// Block tile BM x BN = 64 x 64, K step 16, 256 threads; thread (tx, ty) = (t % 16, t / 16)
// owns the 4 x 4 micro-tile of rows ty + 16 i and columns tx + 16 j (as gemm.cu's sgemm):
//   acc[i][j] += As[k][ty + 16 i] * Bs[k][tx + 16 j]   (k ascending, one fp32 FMA each)
// The three GEMMs (blockIdx.z = sample n, or the dw split):
//   kFwd  : rows co, columns p,  k = (ci, tap):  As = w[co, kk],        Bs = col(x[n])[kk, p]
//           y[n, co, p] = acc + bias[co]
//   kDgrad: rows ci, columns i (input position), k = (co, tap):
//           As = w[co, ci, tap],  Bs = colT(dy[n])[kk, i],  dx[n, ci, i] = acc
//   kWgrad: rows co, columns kk, k = (n, p) over the split's samples and positions:
//           As = dy[n, co, p],    Bs = col(x[n])[kk, p],    out[z, co, kk] = acc
//           (out = dw when there is one split, else the workspace)
// Loads: A walks k with consecutive threads (w rows / dy rows are contiguous in k);
// B walks the position dimension (columns for kFwd / kDgrad, k for kWgrad).
constexpr int kBM = 64, kBN = 64, kBK = 16, kThreads = 256, kLd = kBM + 4;

struct F32Smem {
  float a[2][kBK][kLd];  // a[buf][k][m]
  float b[2][kBK][kLd];  // b[buf][k][n]
  Row table[2][kBK];
};

template <int MODE>
__global__ void __launch_bounds__(kThreads)
    conv3d_f32_kernel(const float* __restrict__ asrc, const float* __restrict__ bsrc, const float* __restrict__ bias,
                      float* __restrict__ out, Geom g, DwSplit sp) {
  TESSERA_SHARED_VAR(F32Smem, sm);
  const int t = threadIdx.x;
  const int tx = t % 16, ty = t / 16;
  const int z = blockIdx.z;
  const int m0 = blockIdx.y * kBM, n0 = blockIdx.x * kBN;

  int n_first = z, p_begin = 0, p_end = 0, ptiles = 1, nk;
  if (MODE == kWgrad) {
    const int sn = z / sp.Sp, spi = z % sp.Sp;
    n_first = sn * sp.G;
    const int n_end = imin(g.N, n_first + sp.G);
    p_begin = spi * sp.Lp;
    p_end = imin(g.P, p_begin + sp.Lp);
    ptiles = (p_end - p_begin + kBK - 1) / kBK;
    nk = (n_end - n_first) * ptiles;
  } else {
    nk = ((MODE == kFwd ? g.Kc : g.Kt) + kBK - 1) / kBK;
  }
  // Step kt covers sample tile_n(kt), reduction indices tile_k0(kt) .. + kBK.
  auto tile_n = [&](int kt) { return MODE == kWgrad ? n_first + kt / ptiles : n_first; };
  auto tile_k0 = [&](int kt) { return MODE == kWgrad ? p_begin + (kt % ptiles) * kBK : kt * kBK; };
  auto make_row = [&](int kt, int k) {
    const int kk = tile_k0(kt) + k;
    if (MODE == kFwd) return fwd_row(g, kk);
    if (MODE == kDgrad) return dgrad_row(g, kk);
    return wgrad_row(g, kk, p_end);
  };

  // This thread's gather columns: kFwd / kDgrad one (t % 64), kWgrad four (t / 16 + 16 q).
  constexpr int kCols = MODE == kWgrad ? 4 : 1;
  Col cols[kCols];
#pragma unroll
  for (int q = 0; q < kCols; ++q) {
    if (MODE == kFwd) cols[q] = fwd_col(g, n0 + t % kBN);
    else if (MODE == kDgrad) cols[q] = dgrad_col(g, n0 + t % kBN);
    else cols[q] = wgrad_col(g, n0 + t / kBK + 16 * q);
  }

  float ra[4], rb[4];
  // Global -> registers for step kt (its Row table is in slot).
  auto fetch = [&](int kt, int slot) {
    const int n = tile_n(kt);
    const int ka = t % kBK;
    const Row ar = sm.table[slot][ka];
#pragma unroll
    for (int q = 0; q < 4; ++q) {
      const int m = m0 + t / kBK + 16 * q;
      float v = 0.0f;
      if (MODE == kFwd) {
        const int kk = tile_k0(kt) + ka;
        if (m < g.Cout && kk < g.Kc) v = asrc[m * g.Kc + kk];
      } else if (MODE == kDgrad) {
        if (m < g.Cin && ar.aux >= 0) v = asrc[ar.aux + m * g.T];
      } else {
        if (m < g.Cout && ar.aux >= 0) v = asrc[(int64_t(n) * g.Cout + m) * g.P + ar.aux];
      }
      ra[q] = v;
    }
    if (MODE == kDgrad) {
      const float* dyn = bsrc + int64_t(n) * g.Cout * g.P;
#pragma unroll
      for (int q = 0; q < 4; ++q) {
        const int idx = dgrad_index(g, sm.table[slot][t / kBN + 4 * q], cols[0]);
        rb[q] = idx >= 0 ? dyn[idx] : 0.0f;
      }
    } else {
      const float* xn = bsrc + int64_t(n) * g.Cin * g.DHW;
#pragma unroll
      for (int q = 0; q < 4; ++q) {
        const Row r = sm.table[slot][MODE == kWgrad ? t % kBK : t / kBN + 4 * q];
        const Col& c = cols[MODE == kWgrad ? q : 0];
        rb[q] = in_input(g, r, c) ? xn[r.off + c.off] : 0.0f;
      }
    }
  };
  // Registers -> shared buffer buf.
  auto stash = [&](int buf) {
#pragma unroll
    for (int q = 0; q < 4; ++q) {
      sm.a[buf][t % kBK][t / kBK + 16 * q] = ra[q];
      if (MODE == kWgrad) sm.b[buf][t % kBK][t / kBK + 16 * q] = rb[q];
      else sm.b[buf][t / kBN + 4 * q][t % kBN] = rb[q];
    }
  };

  if (t < kBK && nk > 0) sm.table[0][t] = make_row(0, t);
  if (t >= 32 && t < 32 + kBK && nk > 1) sm.table[1][t - 32] = make_row(1, t - 32);
  __syncthreads();
  if (nk > 0) {
    fetch(0, 0);
    stash(0);
  }
  __syncthreads();

  float acc[4][4];
  for (int i = 0; i < 4; ++i)
    for (int j = 0; j < 4; ++j) acc[i][j] = 0.0f;
  for (int kt = 0; kt < nk; ++kt) {
    const int cur = kt & 1;
    if (kt + 1 < nk) fetch(kt + 1, cur ^ 1);
#pragma unroll
    for (int k = 0; k < kBK; ++k) {
      float a[4], b[4];
      for (int i = 0; i < 4; ++i) a[i] = sm.a[cur][k][ty + 16 * i];
      for (int j = 0; j < 4; ++j) b[j] = sm.b[cur][k][tx + 16 * j];
      for (int i = 0; i < 4; ++i)
        for (int j = 0; j < 4; ++j) acc[i][j] = fmaf(a[i], b[j], acc[i][j]);
    }
    if (kt + 1 < nk) stash(cur ^ 1);
    // Slot cur held step kt's table, last read by fetch(kt) before the previous barrier.
    if (kt + 2 < nk && t < kBK) sm.table[cur][t] = make_row(kt + 2, t);
    __syncthreads();
  }

  for (int i = 0; i < 4; ++i) {
    const int m = m0 + ty + 16 * i;
    for (int j = 0; j < 4; ++j) {
      const int c = n0 + tx + 16 * j;
      if (MODE == kFwd) {
        if (m < g.Cout && c < g.P) out[(int64_t(z) * g.Cout + m) * g.P + c] = acc[i][j] + (bias ? bias[m] : 0.0f);
      } else if (MODE == kDgrad) {
        if (m < g.Cin && c < g.DHW) out[(int64_t(z) * g.Cin + m) * g.DHW + c] = acc[i][j];
      } else {
        if (m < g.Cout && c < g.Kc) out[(int64_t(z) * g.Cout + m) * g.Kc + c] = acc[i][j];
      }
    }
  }
}

// ---- bf16 forward on tensor cores (wmma) --------------------------------------------
// y[n] (Cout x P) = w (Cout x Kc) @ col(x[n]), bf16 operands, fp32 accumulation.
// Block tile BM x 128 (BM = 64 or 128 output channels x 128 positions), K step 32,
// 256 threads = 8 warps in a 2 x 4 grid; warp (wr, wc) owns rows wr*BM/2 .. + BM/2 and
// columns wc*32 .. + 32 = (BM/32) x 2 accumulator fragments of 16 x 16:
//   acc[i][j] += A(rows wr*BM/2 + 16 i, k .. k+16) @ B(k .. k+16, cols wc*32 + 16 j)
// Shared tiles (double-buffered) hold A row-major [BM][40] and B row-major [32][136]
// halves (leading dimensions: multiples of 8 halves for wmma, 32-byte aligned fragment
// pointers, ldmatrix rows on distinct banks). A is copied in 16-byte vectors when
// Kc % 8 == 0 and w is 16-byte aligned (kVecA), else element-wise. The epilogue
// stages each warp's 16 x 32 strips through shared memory (reusing the tile buffers)
// and writes y = acc + bias[co] with lanes along p (coalesced, edge-guarded).
constexpr int kHBN = 128, kHBK = 32, kHThreads = 256;
constexpr int kHLdA = kHBK + 8, kHLdB = kHBN + 8, kHLdS = 36;

template <int BM>
struct alignas(128) Bf16Smem {
  static constexpr int kABytes = 2 * BM * kHLdA * 2;
  static constexpr int kTileBytes = kABytes + 2 * kHBK * kHLdB * 2;
  static constexpr int kStageBytes = (kHThreads / 32) * 16 * kHLdS * 4;
  alignas(128) unsigned char raw[kTileBytes > kStageBytes ? kTileBytes : kStageBytes];
  Row table[2][kHBK];
};

template <int BM, bool kVecA>
__global__ void __launch_bounds__(kHThreads, 2)
    conv3d_fwd_bf16_kernel(const unsigned short* __restrict__ x, const unsigned short* __restrict__ w,
                           const float* __restrict__ bias, float* __restrict__ y, Geom g) {
  using namespace nvcuda;
  constexpr int FM = BM / 32;                       // fragment rows per warp
  constexpr int kAVec = BM * kHBK / 8 / kHThreads;  // 16-byte A vectors per thread
  constexpr int kAScalar = BM * kHBK / kHThreads;   // A elements per thread
  constexpr int kBElems = kHBK * kHBN / kHThreads;  // B elements per thread (16)
  TESSERA_SHARED_VAR(Bf16Smem<BM>, sm);
  unsigned short* As = reinterpret_cast<unsigned short*>(sm.raw);
  unsigned short* Bs = reinterpret_cast<unsigned short*>(sm.raw + Bf16Smem<BM>::kABytes);
  const int t = threadIdx.x, warp = t / 32, lane = t % 32;
  const int wr = warp / 4, wc = warp % 4;
  const int n = blockIdx.z, m0 = blockIdx.y * BM, p0 = blockIdx.x * kHBN;
  const unsigned short* xn = x + int64_t(n) * g.Cin * g.DHW;
  const int nk = (g.Kc + kHBK - 1) / kHBK;
  const Col col = fwd_col(g, p0 + t % kHBN);

  uint4 rav[kVecA ? kAVec : 1];
  // Staged halves are packed two to a 32-bit register (element q in bits 16 (q % 2)).
  unsigned ras[kVecA ? 1 : kAScalar / 2];
  unsigned rb[kBElems / 2];
  auto fetch = [&](int kt, int slot) {
    const int k0 = kt * kHBK;
    if (kVecA) {
#pragma unroll
      for (int q = 0; q < kAVec; ++q) {
        const int e = t + kHThreads * q, m = m0 + e / (kHBK / 8), kk = k0 + (e % (kHBK / 8)) * 8;
        rav[q] = (m < g.Cout && kk < g.Kc) ? *reinterpret_cast<const uint4*>(w + m * g.Kc + kk)
                                           : make_uint4(0u, 0u, 0u, 0u);
      }
    } else {
#pragma unroll
      for (int q = 0; q < kAScalar; ++q) {
        const int m = m0 + t / kHBK + (kHThreads / kHBK) * q, kk = k0 + t % kHBK;
        const unsigned v = (m < g.Cout && kk < g.Kc) ? w[m * g.Kc + kk] : 0u;
        ras[q / 2] = q % 2 ? ras[q / 2] | (v << 16) : v;
      }
    }
#pragma unroll
    for (int q = 0; q < kBElems; ++q) {
      const Row r = sm.table[slot][t / kHBN + (kHThreads / kHBN) * q];
      const unsigned v = in_input(g, r, col) ? xn[r.off + col.off] : 0u;
      rb[q / 2] = q % 2 ? rb[q / 2] | (v << 16) : v;
    }
  };
  auto stash = [&](int buf) {
    unsigned short* a = As + buf * BM * kHLdA;
    if (kVecA) {
#pragma unroll
      for (int q = 0; q < kAVec; ++q) {
        const int e = t + kHThreads * q;
        *reinterpret_cast<uint4*>(a + (e / (kHBK / 8)) * kHLdA + (e % (kHBK / 8)) * 8) = rav[q];
      }
    } else {
#pragma unroll
      for (int q = 0; q < kAScalar; ++q)
        a[(t / kHBK + (kHThreads / kHBK) * q) * kHLdA + t % kHBK] = (unsigned short)(ras[q / 2] >> (16 * (q % 2)));
    }
    unsigned short* b = Bs + buf * kHBK * kHLdB;
#pragma unroll
    for (int q = 0; q < kBElems; ++q)
      b[(t / kHBN + (kHThreads / kHBN) * q) * kHLdB + t % kHBN] = (unsigned short)(rb[q / 2] >> (16 * (q % 2)));
  };

  if (t < kHBK && nk > 0) sm.table[0][t] = fwd_row(g, t);
  if (t >= 32 && t < 32 + kHBK && nk > 1) sm.table[1][t - 32] = fwd_row(g, kHBK + t - 32);
  __syncthreads();
  if (nk > 0) {
    fetch(0, 0);
    stash(0);
  }
  __syncthreads();

  wmma::fragment<wmma::accumulator, 16, 16, 16, float> acc[FM][2];
#pragma unroll
  for (int i = 0; i < FM; ++i)
#pragma unroll
    for (int j = 0; j < 2; ++j) wmma::fill_fragment(acc[i][j], 0.0f);
  for (int kt = 0; kt < nk; ++kt) {
    const int cur = kt & 1;
    if (kt + 1 < nk) fetch(kt + 1, cur ^ 1);
    const __nv_bfloat16* a = reinterpret_cast<const __nv_bfloat16*>(As + cur * BM * kHLdA);
    const __nv_bfloat16* b = reinterpret_cast<const __nv_bfloat16*>(Bs + cur * kHBK * kHLdB);
#pragma unroll
    for (int kk = 0; kk < kHBK; kk += 16) {
      // Both B fragments stay live; one A fragment at a time (register pressure at BM = 128).
      wmma::fragment<wmma::matrix_b, 16, 16, 16, __nv_bfloat16, wmma::row_major> fb[2];
#pragma unroll
      for (int j = 0; j < 2; ++j) wmma::load_matrix_sync(fb[j], b + kk * kHLdB + wc * 32 + 16 * j, kHLdB);
#pragma unroll
      for (int i = 0; i < FM; ++i) {
        wmma::fragment<wmma::matrix_a, 16, 16, 16, __nv_bfloat16, wmma::row_major> fa;
        wmma::load_matrix_sync(fa, a + (wr * (BM / 2) + 16 * i) * kHLdA + kk, kHLdA);
#pragma unroll
        for (int j = 0; j < 2; ++j) wmma::mma_sync(acc[i][j], fa, fb[j], acc[i][j]);
      }
    }
    if (kt + 1 < nk) stash(cur ^ 1);
    if (kt + 2 < nk && t < kHBK) sm.table[cur][t] = fwd_row(g, (kt + 2) * kHBK + t);
    __syncthreads();
  }

  // Epilogue: the tile buffers are free (the loop ended with a barrier).
  float* stage = reinterpret_cast<float*>(sm.raw) + warp * 16 * kHLdS;
  const int p = p0 + wc * 32 + lane;
#pragma unroll
  for (int i = 0; i < FM; ++i) {
#pragma unroll
    for (int j = 0; j < 2; ++j) wmma::store_matrix_sync(stage + 16 * j, acc[i][j], kHLdS, wmma::mem_row_major);
    __syncwarp();
    for (int r = 0; r < 16; ++r) {
      const int co = m0 + wr * (BM / 2) + 16 * i + r;
      if (co < g.Cout && p < g.P)
        y[(int64_t(n) * g.Cout + co) * g.P + p] = stage[r * kHLdS + lane] + (bias ? bias[co] : 0.0f);
    }
    __syncwarp();
  }
}

// ---- dbias and the dw split reduction ------------------------------------------------
constexpr int kSumThreads = 256;

// dbias[co] = sum_n sum_p dy[n, co, p], one block per co: thread t adds p = t, t + 256, ...
// of every sample (samples in order) in double, then a fixed shared-memory tree adds the
// 256 partials. Reads are coalesced along p; the order is fixed (deterministic).
__global__ void __launch_bounds__(kSumThreads)
    conv3d_dbias_kernel(const float* __restrict__ dy, float* __restrict__ dbias, int N, int Cout, int P) {
  TESSERA_SHARED(double, red, kSumThreads);
  const int co = blockIdx.x, t = threadIdx.x;
  double acc = 0.0;
  for (int n = 0; n < N; ++n) {
    const float* row = dy + (int64_t(n) * Cout + co) * P;
    for (int p = t; p < P; p += kSumThreads) acc += double(row[p]);
  }
  red[t] = acc;
  __syncthreads();
  for (int s = kSumThreads / 2; s > 0; s >>= 1) {
    if (t < s) red[t] += red[t + s];
    __syncthreads();
  }
  if (t == 0) dbias[co] = float(red[0]);
}

// dw[e] = sum_{z = 0..S-1} ws[z * count + e]   (splits in order; one thread per element)
__global__ void conv3d_dw_reduce_kernel(const float* __restrict__ ws, float* __restrict__ dw, int64_t count, int S) {
  const int64_t e = int64_t(blockIdx.x) * kSumThreads + threadIdx.x;
  if (e >= count) return;  // no barriers in this kernel
  float acc = 0.0f;
  for (int z = 0; z < S; ++z) acc += ws[int64_t(z) * count + e];
  dw[e] = acc;
}

// ---- host side ------------------------------------------------------------------------

[[noreturn]] void bad(const char* fn, const std::string& msg) {
  throw std::invalid_argument(std::string("tessera::cuda::") + fn + ": " + msg);
}

std::string triple(int64_t a, int64_t b, int64_t c) {
  return "(" + std::to_string(a) + ", " + std::to_string(b) + ", " + std::to_string(c) + ")";
}

// Checks the shape and converts it to 32-bit geometry.
Geom make_geom(const Conv3dShape& s, const char* fn) {
  if (s.N < 0 || s.Cin < 0 || s.Cout < 0 || s.D < 0 || s.H < 0 || s.W < 0)
    bad(fn, "sizes must be >= 0, got N=" + std::to_string(s.N) + " Cin=" + std::to_string(s.Cin) +
                " Cout=" + std::to_string(s.Cout) + " (D, H, W)=" + triple(s.D, s.H, s.W));
  if (s.kD < 1 || s.kH < 1 || s.kW < 1)
    bad(fn, "kernel size (kD, kH, kW) = " + triple(s.kD, s.kH, s.kW) + " must be >= 1");
  if (s.sD < 1 || s.sH < 1 || s.sW < 1) bad(fn, "stride (sD, sH, sW) = " + triple(s.sD, s.sH, s.sW) + " must be >= 1");
  if (s.pF < 0 || s.pB < 0 || s.pH < 0 || s.pW < 0)
    bad(fn, "padding (pF, pB, pH, pW) = (" + std::to_string(s.pF) + ", " + std::to_string(s.pB) + ", " +
                std::to_string(s.pH) + ", " + std::to_string(s.pW) + ") must be >= 0");
  const int64_t Dp = s.D + s.pF + s.pB, Hp = s.H + 2 * s.pH, Wp = s.W + 2 * s.pW;
  constexpr int64_t kMaxExtent = int64_t(1) << 28;
  if (Dp >= kMaxExtent || Hp >= kMaxExtent || Wp >= kMaxExtent || s.kD >= kMaxExtent || s.kH >= kMaxExtent ||
      s.kW >= kMaxExtent || s.sD >= kMaxExtent || s.sH >= kMaxExtent || s.sW >= kMaxExtent)
    bad(fn, "padded extents " + triple(Dp, Hp, Wp) + ", kernel sizes and strides must be < 2^28");
  if (Dp < s.kD || Hp < s.kH || Wp < s.kW)
    bad(fn, "padded input (D + pF + pB, H + 2 pH, W + 2 pW) = " + triple(Dp, Hp, Wp) +
                " must be at least the kernel size " + triple(s.kD, s.kH, s.kW));
  Conv3dShape o = s;
  tessera::cpu::conv3d_output_size(o);
  if (o.Do != s.Do || o.Ho != s.Ho || o.Wo != s.Wo)
    bad(fn, "output size (Do, Ho, Wo) = " + triple(s.Do, s.Ho, s.Wo) + " must equal conv3d_output_size " +
                triple(o.Do, o.Ho, o.Wo) + " ((D + pF + pB - kD) / sD + 1, alike for H and W)");
  const int64_t T = s.kD * s.kH * s.kW, P = s.Do * s.Ho * s.Wo;
  constexpr int64_t kMax = int64_t(1) << 31;
  // Gather offsets stay inside [-(padded sample), padded sample); weights and outputs per sample alike.
  if (T >= kMax || s.Cin * Dp * Hp * Wp >= kMax || s.Cout * P >= kMax || s.Cout * s.Cin * T >= kMax ||
      s.Cout * T >= kMax || s.Cin * T >= kMax)
    bad(fn, "per-sample sizes must stay below 2^31 elements: Cin * padded D*H*W = " +
                std::to_string(s.Cin * Dp * Hp * Wp) + ", Cout * Do*Ho*Wo = " + std::to_string(s.Cout * P) +
                ", Cout * Cin * kD*kH*kW = " + std::to_string(s.Cout * s.Cin * T));
  if (s.N > 65535) bad(fn, "N = " + std::to_string(s.N) + " must be <= 65535 (grid z)");
  if ((s.Cout + kBM - 1) / kBM > 65535 || (s.Cin + kBM - 1) / kBM > 65535)
    bad(fn, "Cin = " + std::to_string(s.Cin) + " and Cout = " + std::to_string(s.Cout) +
                " must be <= 65535 * 64 (grid y)");
  Geom g;
  g.N = int(s.N), g.Cin = int(s.Cin), g.D = int(s.D), g.H = int(s.H), g.W = int(s.W), g.Cout = int(s.Cout);
  g.kD = int(s.kD), g.kH = int(s.kH), g.kW = int(s.kW), g.sD = int(s.sD), g.sH = int(s.sH), g.sW = int(s.sW);
  g.pF = int(s.pF), g.pH = int(s.pH), g.pW = int(s.pW), g.Do = int(s.Do), g.Ho = int(s.Ho), g.Wo = int(s.Wo);
  g.T = int(T), g.kHW = int(s.kH * s.kW), g.HW = int(s.H * s.W), g.DHW = int(s.D * s.H * s.W);
  g.HoWo = int(s.Ho * s.Wo), g.P = int(P), g.Kc = int(s.Cin * T), g.Kt = int(s.Cout * T);
  return g;
}

void require(bool ok, const char* fn, const char* what) {
  if (!ok) bad(fn, std::string(what) + " must not be null");
}

unsigned blocks_for(int64_t n, int64_t tile) { return unsigned((n + tile - 1) / tile); }

// dw splits, from the shape only (so dw is the same on every device): enough splits
// for about kDwTargetBlocks blocks, each reducing at least kDwMinK (sample, position)
// pairs; samples are split first, then positions (in multiples of the K step).
constexpr int64_t kDwTargetBlocks = 1024, kDwMinK = 256;

DwSplit dw_split(const Geom& g) {
  const int64_t tiles = int64_t(blocks_for(g.Cout, kBM)) * blocks_for(g.Kc, kBN);
  const int64_t pairs = int64_t(g.N) * g.P;
  int64_t want = std::min((kDwTargetBlocks + tiles - 1) / tiles, (pairs + kDwMinK - 1) / kDwMinK);
  want = std::max<int64_t>(want, 1);
  DwSplit sp;
  sp.Sn = int(std::min<int64_t>(g.N, want));
  sp.G = (g.N + sp.Sn - 1) / sp.Sn;
  sp.Sn = (g.N + sp.G - 1) / sp.G;
  const int64_t sp_want = (want + sp.Sn - 1) / sp.Sn;
  const int64_t per = (g.P + sp_want - 1) / sp_want;
  sp.Lp = int((per + kBK - 1) / kBK * kBK);
  sp.Sp = (g.P + sp.Lp - 1) / sp.Lp;
  return sp;
}

template <int BM, bool kVecA>
void launch_fwd_bf16(const unsigned short* x, const unsigned short* w, const float* bias, float* y, const Geom& g,
                     cudaStream_t stream) {
  const dim3 grid(blocks_for(g.P, kHBN), blocks_for(g.Cout, BM), unsigned(g.N));
  TESSERA_LAUNCH((conv3d_fwd_bf16_kernel<BM, kVecA>), grid, kHThreads, 0, stream)(x, w, bias, y, g);
  TESSERA_CUDA_CHECK_LAUNCH();
}

// Multiprocessors of the device current at the first call (the tile heuristic only).
int sm_count() {
  static const int count = [] {
    int dev = 0;
    cudaDeviceProp p;
    if (cudaGetDevice(&dev) != cudaSuccess || cudaGetDeviceProperties(&p, dev) != cudaSuccess) {
      (void)cudaGetLastError();
      return 1;
    }
    return p.multiProcessorCount > 0 ? p.multiProcessorCount : 1;
  }();
  return count;
}

}  // namespace

void conv3d_forward(const float* x, const float* w, const float* bias, float* y, const Conv3dShape& s,
                    cudaStream_t stream) {
  const char* fn = "conv3d_forward";
  const Geom g = make_geom(s, fn);
  if (g.N == 0 || g.Cout == 0 || g.P == 0) return;
  require(y, fn, "y");
  if (g.Kc > 0) {
    require(x || g.DHW == 0, fn, "x");
    require(w, fn, "w");
  }
  const dim3 grid(blocks_for(g.P, kBN), blocks_for(g.Cout, kBM), unsigned(g.N));
  TESSERA_LAUNCH((conv3d_f32_kernel<kFwd>), grid, kThreads, 0, stream)(w, x, bias, y, g, DwSplit{1, 1, 1, 1});
  TESSERA_CUDA_CHECK_LAUNCH();
}

void conv3d_forward_bf16(const __nv_bfloat16* x, const __nv_bfloat16* w, const float* bias, float* y,
                         const Conv3dShape& s, cudaStream_t stream, int tile_m) {
  const char* fn = "conv3d_forward_bf16";
  if (tile_m != 0 && tile_m != 64 && tile_m != 128)
    bad(fn, "tile_m = " + std::to_string(tile_m) + " must be 0 (auto), 64 or 128");
  const Geom g = make_geom(s, fn);
  if (g.N == 0 || g.Cout == 0 || g.P == 0) return;
  require(y, fn, "y");
  if (g.Kc > 0) {
    require(x || g.DHW == 0, fn, "x");
    require(w, fn, "w");
  }
  if (tile_m == 0) {
    const int64_t blocks128 = int64_t(blocks_for(g.P, kHBN)) * blocks_for(g.Cout, 128) * g.N;
    tile_m = (g.Cout > 64 && blocks128 >= 2 * int64_t(sm_count())) ? 128 : 64;
  }
  const auto* xb = reinterpret_cast<const unsigned short*>(x);
  const auto* wb = reinterpret_cast<const unsigned short*>(w);
  const bool vec = g.Kc % 8 == 0 && reinterpret_cast<uintptr_t>(w) % 16 == 0;
  if (tile_m == 128) {
    if (vec) launch_fwd_bf16<128, true>(xb, wb, bias, y, g, stream);
    else launch_fwd_bf16<128, false>(xb, wb, bias, y, g, stream);
  } else {
    if (vec) launch_fwd_bf16<64, true>(xb, wb, bias, y, g, stream);
    else launch_fwd_bf16<64, false>(xb, wb, bias, y, g, stream);
  }
}

int64_t conv3d_backward_workspace_floats(const Conv3dShape& s) {
  const Geom g = make_geom(s, "conv3d_backward_workspace_floats");
  if (g.N == 0 || g.P == 0 || g.Cout == 0 || g.Kc == 0) return 0;
  const DwSplit sp = dw_split(g);
  const int64_t S = int64_t(sp.Sn) * sp.Sp;
  return S > 1 ? S * g.Cout * g.Kc : 0;
}

void conv3d_backward(const float* x, const float* w, const float* dy, float* dx, float* dw, float* dbias,
                     const Conv3dShape& s, float* workspace, cudaStream_t stream) {
  const char* fn = "conv3d_backward";
  const Geom g = make_geom(s, fn);
  const int64_t dy_count = int64_t(g.N) * g.Cout * g.P;
  if (dy_count > 0) require(dy, fn, "dy");

  if (dbias && g.Cout > 0) {
    TESSERA_LAUNCH(conv3d_dbias_kernel, g.Cout, kSumThreads, 0, stream)(dy, dbias, g.N, g.Cout, g.P);
    TESSERA_CUDA_CHECK_LAUNCH();
  }

  const int64_t dw_count = int64_t(g.Cout) * g.Kc;
  if (dw && dw_count > 0) {
    if (dy_count == 0) {
      TESSERA_CUDA_CHECK(cudaMemsetAsync(dw, 0, size_t(dw_count) * sizeof(float), stream));
    } else {
      require(x, fn, "x");
      const DwSplit sp = dw_split(g);
      const int S = sp.Sn * sp.Sp;
      if (S > 1 && !workspace)
        bad(fn, "workspace must not be null when dw is wanted: it needs conv3d_backward_workspace_floats = " +
                    std::to_string(int64_t(S) * dw_count) + " floats");
      const dim3 grid(blocks_for(g.Kc, kBN), blocks_for(g.Cout, kBM), unsigned(S));
      TESSERA_LAUNCH((conv3d_f32_kernel<kWgrad>), grid, kThreads, 0, stream)(dy, x, nullptr, S > 1 ? workspace : dw,
                                                                             g, sp);
      TESSERA_CUDA_CHECK_LAUNCH();
      if (S > 1) {
        TESSERA_LAUNCH(conv3d_dw_reduce_kernel, blocks_for(dw_count, kSumThreads), kSumThreads, 0, stream)(
            workspace, dw, dw_count, S);
        TESSERA_CUDA_CHECK_LAUNCH();
      }
    }
  }

  const int64_t dx_count = int64_t(g.N) * g.Cin * g.DHW;
  if (dx && dx_count > 0) {
    if (dy_count == 0) {
      TESSERA_CUDA_CHECK(cudaMemsetAsync(dx, 0, size_t(dx_count) * sizeof(float), stream));
    } else {
      require(w, fn, "w");
      const dim3 grid(blocks_for(g.DHW, kBN), blocks_for(g.Cin, kBM), unsigned(g.N));
      TESSERA_LAUNCH((conv3d_f32_kernel<kDgrad>), grid, kThreads, 0, stream)(w, dy, nullptr, dx, g,
                                                                             DwSplit{1, 1, 1, 1});
      TESSERA_CUDA_CHECK_LAUNCH();
    }
  }
}

}  // namespace cuda
}  // namespace tessera
