// cuda/attention.cu — flash-attention-2 style attention kernels (see attention.h
// for the math and the layouts): fp32 forward, fp32 backward (row-dot, dk/dv and dq
// passes, no atomics) and a bf16 tensor-core (wmma) forward.
//
// Common structure. Grids are (tiles along the sequence, head, sequence); a block
// whose tile starts past its sequence's end returns as a whole before any barrier
// (packed grids are sized by max_seqlen). Blocks have 128 threads. The head dim is
// padded to DP = round_up(Dh, 16) in shared memory (zeros, which add exactly 0 to
// the fp32 sums), and tiles past the sequence end are zero rows whose
// probabilities are forced to 0, so the inner loops have no edge tests.
//
// fp32 kernels: thread t = (ty, tx) = (t / 8, t % 8) owns tile rows ty + 16 i and
// tile columns tx + 8 j (score micro-tile) and output columns tx + 8 c, c < DP / 8
// (accumulator micro-tile, same rows), so the per-row softmax statistics live in
// the 8 lanes of a row group and combine with 3 xor shuffles. Operands are staged
// in shared memory as rows [r][DP + 4] or transposed [d][tile + 1]; both strides
// keep the broadcast / consecutive access patterns below free of bank conflicts
// (DP + 4 = 4 or 20 mod 32 spreads the 4 row groups of a warp; tile + 1 = 1 mod 32).
// Global loads: consecutive threads read consecutive d of a row (coalesced).
// Tiles (queries x keys), smaller past DP = 64 to bound shared memory and registers:
//   forward  64 x 64 (64 x 32);  dq  64 x 64 (32 x 32);  dk/dv  64 keys x 32 queries (32 x 32).
//
// bf16 kernel: 4 warps, each owning 16 query rows of a 64-row tile (no inter-warp
// softmax traffic); 64-key tiles; S = Q K^T and P V are 16x16x16 wmma products with
// fp32 accumulators that pass through a per-warp shared buffer, where lane
// (r, half) = (lane % 16, lane / 16) does the row softmax on 32 columns and keeps
// its half of the output row in fp32 registers.
//
// Shared memory (bytes) at DP = 64 / 128: fwd f32 68096 / 76032, dq 85248 / 72064,
// dk/dv 68864 / 76288, fwd bf16 45056 / 77824. Above 48 KiB the launchers opt in
// (cudaFuncAttributeMaxDynamicSharedMemorySize); everything stays under the 99 KiB
// per-block limit of sm_86/sm_89 (sm_80: 163 KiB, sm_90: 227 KiB).
#include "attention.h"
#include "check.h"

#include <cmath>
#include <cstring>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>

namespace tessera {
namespace cuda {

namespace {

constexpr int kThreads = 128;
constexpr int kWarp = 32;
constexpr unsigned kFull = 0xffffffffu;
constexpr size_t kMaxSmemBytes = 99 * 1024;  // sm_86 / sm_89 per-block opt-in limit

using bf16 = __nv_bfloat16;

// ---- problem geometry (by value into every kernel) ------------------------------------

struct Geo {
  int64_t H, Dh;
  int64_t nq, nk;                      // dense lengths
  const int64_t *cu_q, *cu_k;          // packed offsets (device) or nullptr
  int64_t total_q;                     // packed Tq
  const float* mask;
  int64_t mask_b, mask_h, mask_i;
  float scale;
};

// One (sequence, head): lengths, element offset of its row 0 in q/o/dq/dout and in
// k/v/dk/dv, row stride, index of its row 0 in lse / D, mask rows of (b, h).
struct Seq {
  int64_t nq, nk, q_base, k_base, rs, lse_base;
  const float* mask;
};

__device__ __forceinline__ Seq seq_of(const Geo& g, int64_t b, int64_t h) {
  Seq s;
  if (g.cu_q) {
    const int64_t q0 = g.cu_q[b], k0 = g.cu_k[b];
    s.nq = g.cu_q[b + 1] - q0;
    s.nk = g.cu_k[b + 1] - k0;
    s.q_base = (q0 * g.H + h) * g.Dh;
    s.k_base = (k0 * g.H + h) * g.Dh;
    s.rs = g.H * g.Dh;
    s.lse_base = h * g.total_q + q0;
  } else {
    s.nq = g.nq;
    s.nk = g.nk;
    s.q_base = (b * g.H + h) * g.nq * g.Dh;
    s.k_base = (b * g.H + h) * g.nk * g.Dh;
    s.rs = g.Dh;
    s.lse_base = (b * g.H + h) * g.nq;
  }
  s.mask = g.mask ? g.mask + b * g.mask_b + h * g.mask_h : nullptr;
  return s;
}

__device__ __forceinline__ float row_group_max(float v) {  // over the 8 lanes tx = 0..7 of a row group
  for (int o = 4; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(kFull, v, o));
  return v;
}
__device__ __forceinline__ float row_group_sum(float v) {
  for (int o = 4; o > 0; o >>= 1) v += __shfl_xor_sync(kFull, v, o);
  return v;
}

// Stages R rows x DP columns of a row-major global operand into shared memory:
//   dst[r * dr + d * dd] = alpha * src[r * rs + d]   (r < rows, d < Dh), 0 elsewhere.
// (dr, dd) = (ld, 1) keeps rows, (1, ld) transposes. Consecutive threads take
// consecutive d of a row (coalesced global reads).
template <int R, int DP>
__device__ __forceinline__ void stage_f32(float* dst, int dr, int dd, const float* __restrict__ src, int64_t rs,
                                          int rows, int Dh, float alpha) {
  for (int e = threadIdx.x; e < R * DP; e += kThreads) {
    const int r = e / DP, d = e % DP;
    float x = 0.0f;
    if (r < rows && d < Dh) x = alpha * src[r * rs + d];
    dst[r * dr + d * dd] = x;
  }
}

constexpr int pad16(int64_t dh) { return int((dh + 15) / 16 * 16); }

// ---- fp32 forward ---------------------------------------------------------------------

template <int DP>
struct FwdF32 {
  static constexpr int BQ = 64, BK = DP <= 64 ? 64 : 32;
  static constexpr int RI = BQ / 16, CJ = BK / 8, NC = DP / 8;
  static constexpr int LDQ = DP + 4, LDKT = BK + 1, LDV = DP + 4, LDP = BK + 1;
  static constexpr int Q = 0, KT = Q + BQ * LDQ, V = KT + DP * LDKT, P = V + BK * LDV, FLOATS = P + BQ * LDP;
  static constexpr size_t bytes = size_t(FLOATS) * sizeof(float);
  static_assert(bytes <= kMaxSmemBytes, "fp32 forward tile exceeds the shared-memory budget");
};

// Block (query tile, head h, sequence b); Qs = scale q (BQ x DP), per key tile:
//   S = Qs K^T + mask             (keys past the end: -inf)
//   m' = max(m, rowmax S);  mu = m' (0 if m' = -inf);  alpha = exp(m - mu) (0 if m = -inf)
//   P = exp(S - mu);  l = alpha l + rowsum P;  O = alpha O + P V;  m = m'
// then o = O / l and lse = m + log l (o = 0, lse = -inf when l = 0), as the CPU does.
template <int DP>
__global__ void __launch_bounds__(kThreads)
    attn_fwd_f32_kernel(Geo g, const float* __restrict__ q, const float* __restrict__ k,
                        const float* __restrict__ v, float* __restrict__ o, float* __restrict__ lse) {
  using C = FwdF32<DP>;
  TESSERA_DYNAMIC_SHARED(float, sm);
  float* Qs = sm + C::Q;
  float* Kt = sm + C::KT;
  float* Vs = sm + C::V;
  float* Ps = sm + C::P;
  const Seq s = seq_of(g, blockIdx.z, blockIdx.y);
  const int64_t i0 = int64_t(blockIdx.x) * C::BQ;
  if (i0 >= s.nq) return;  // the whole block leaves: no barrier is skipped by part of it
  const int rows = int(s.nq - i0 < C::BQ ? s.nq - i0 : C::BQ);
  const int Dh = int(g.Dh);
  const int tx = threadIdx.x % 8, ty = threadIdx.x / 8;
  stage_f32<C::BQ, DP>(Qs, C::LDQ, 1, q + s.q_base + i0 * s.rs, s.rs, rows, Dh, g.scale);

  float m[C::RI], l[C::RI], acc[C::RI][C::NC];
#pragma unroll
  for (int i = 0; i < C::RI; ++i) {
    m[i] = -INFINITY;
    l[i] = 0.0f;
#pragma unroll
    for (int c = 0; c < C::NC; ++c) acc[i][c] = 0.0f;
  }

  for (int64_t j0 = 0; j0 < s.nk; j0 += C::BK) {
    const int kr = int(s.nk - j0 < C::BK ? s.nk - j0 : C::BK);
    __syncthreads();  // previous tile's readers of Kt / Vs / Ps are done (first pass: Qs is staged)
    stage_f32<C::BK, DP>(Kt, 1, C::LDKT, k + s.k_base + j0 * s.rs, s.rs, kr, Dh, 1.0f);
    stage_f32<C::BK, DP>(Vs, C::LDV, 1, v + s.k_base + j0 * s.rs, s.rs, kr, Dh, 1.0f);
    __syncthreads();

    float sc[C::RI][C::CJ];
#pragma unroll
    for (int i = 0; i < C::RI; ++i)
#pragma unroll
      for (int j = 0; j < C::CJ; ++j) sc[i][j] = 0.0f;
#pragma unroll 4
    for (int d = 0; d < DP; ++d) {
      float a[C::RI], b[C::CJ];
#pragma unroll
      for (int i = 0; i < C::RI; ++i) a[i] = Qs[(ty + 16 * i) * C::LDQ + d];
#pragma unroll
      for (int j = 0; j < C::CJ; ++j) b[j] = Kt[d * C::LDKT + tx + 8 * j];
#pragma unroll
      for (int i = 0; i < C::RI; ++i)
#pragma unroll
        for (int j = 0; j < C::CJ; ++j) sc[i][j] = fmaf(a[i], b[j], sc[i][j]);
    }

#pragma unroll
    for (int i = 0; i < C::RI; ++i) {
      const int row = ty + 16 * i;
      const float* mrow = s.mask && row < rows ? s.mask + (i0 + row) * g.mask_i + j0 : nullptr;
      float mx = -INFINITY;
#pragma unroll
      for (int j = 0; j < C::CJ; ++j) {
        const int col = tx + 8 * j;
        float x = sc[i][j];
        if (col >= kr) x = -INFINITY;
        else if (mrow) x += mrow[col];
        sc[i][j] = x;
        mx = fmaxf(mx, x);
      }
      mx = row_group_max(mx);
      const float m_new = fmaxf(m[i], mx);
      const float mu = m_new == -INFINITY ? 0.0f : m_new;
      const float alpha = m[i] == -INFINITY ? 0.0f : expf(m[i] - mu);
      float sum = 0.0f;
#pragma unroll
      for (int j = 0; j < C::CJ; ++j) {
        const float p = expf(sc[i][j] - mu);
        Ps[row * C::LDP + tx + 8 * j] = p;
        sum += p;
      }
      sum = row_group_sum(sum);
      l[i] = l[i] * alpha + sum;
      m[i] = m_new;
#pragma unroll
      for (int c = 0; c < C::NC; ++c) acc[i][c] *= alpha;
    }
    __syncthreads();

    // O[row][tx + 8c] += sum_j P[row][j] V[j][tx + 8c]   (j ascending, fp32 FMA)
#pragma unroll 4
    for (int j = 0; j < C::BK; ++j) {
      float p[C::RI], vv[C::NC];
#pragma unroll
      for (int i = 0; i < C::RI; ++i) p[i] = Ps[(ty + 16 * i) * C::LDP + j];
#pragma unroll
      for (int c = 0; c < C::NC; ++c) vv[c] = Vs[j * C::LDV + tx + 8 * c];
#pragma unroll
      for (int i = 0; i < C::RI; ++i)
#pragma unroll
        for (int c = 0; c < C::NC; ++c) acc[i][c] = fmaf(p[i], vv[c], acc[i][c]);
    }
  }

#pragma unroll
  for (int i = 0; i < C::RI; ++i) {
    const int row = ty + 16 * i;
    if (row >= rows) continue;
    const float inv = l[i] > 0.0f ? 1.0f / l[i] : 0.0f;
    float* orow = o + s.q_base + (i0 + row) * s.rs;
#pragma unroll
    for (int c = 0; c < C::NC; ++c) {
      const int d = tx + 8 * c;
      if (d < Dh) orow[d] = acc[i][c] * inv;
    }
    if (tx == 0) lse[s.lse_base + i0 + row] = l[i] > 0.0f ? m[i] + logf(l[i]) : -INFINITY;
  }
}

// ---- fp32 backward --------------------------------------------------------------------

// D[lse index of row r] = sum_d dout[r][d] o[r][d] over the rows of the q layout
// (dense: row r = (b H + h) Nq + i is its own lse index; packed: row r = t H + h has
// lse index h Tq + t). One warp per row, lanes stride d (coalesced), xor butterfly.
__global__ void __launch_bounds__(kThreads)
    attn_bwd_rowdot_kernel(const float* __restrict__ o, const float* __restrict__ dout, float* __restrict__ D,
                           int64_t nrows, int64_t Dh, int64_t H, int64_t total_q, bool packed) {
  const int lane = threadIdx.x % kWarp;
  const int64_t r = int64_t(blockIdx.x) * (kThreads / kWarp) + threadIdx.x / kWarp;
  if (r >= nrows) return;  // whole warp; no block barrier below
  float acc = 0.0f;
  for (int64_t d = lane; d < Dh; d += kWarp) acc = fmaf(dout[r * Dh + d], o[r * Dh + d], acc);
  for (int off = kWarp / 2; off > 0; off >>= 1) acc += __shfl_xor_sync(kFull, acc, off);
  if (lane == 0) D[packed ? (r % H) * total_q + r / H : r] = acc;
}

template <int DP>
struct DqF32 {
  static constexpr int BQ = DP <= 64 ? 64 : 32, BK = BQ;
  static constexpr int RI = BQ / 16, CJ = BK / 8, NC = DP / 8;
  static constexpr int LDQ = DP + 4, LDT = BK + 1, LDS = BK + 1;
  static constexpr int Q = 0, DO = Q + BQ * LDQ, KT = DO + BQ * LDQ, VT = KT + DP * LDT, DS = VT + DP * LDT,
                       LSE = DS + BQ * LDS, DR = LSE + BQ, FLOATS = DR + BQ;
  static constexpr size_t bytes = size_t(FLOATS) * sizeof(float);
  static_assert(bytes <= kMaxSmemBytes, "dq tile exceeds the shared-memory budget");
};

// Pass 2, block (query tile, head, sequence); Qs = scale q, dOs = dout, per key tile:
//   S = Qs K^T + mask;  P = exp(S - lse) (lse = -inf read as +inf: P = 0; keys past the
//   end: P = 0);  dP = dOs V^T;  dS = P (dP - D);  dQ += dS K
// then dq = scale dQ. K and V are staged transposed ([d][key]); dS K reads K^T by column.
template <int DP>
__global__ void __launch_bounds__(kThreads)
    attn_bwd_dq_kernel(Geo g, const float* __restrict__ q, const float* __restrict__ k, const float* __restrict__ v,
                       const float* __restrict__ lse, const float* __restrict__ Drow,
                       const float* __restrict__ dout, float* __restrict__ dq) {
  using C = DqF32<DP>;
  TESSERA_DYNAMIC_SHARED(float, sm);
  float* Qs = sm + C::Q;
  float* dOs = sm + C::DO;
  float* Kt = sm + C::KT;
  float* Vt = sm + C::VT;
  float* dS = sm + C::DS;
  float* lse_s = sm + C::LSE;
  float* D_s = sm + C::DR;
  const Seq s = seq_of(g, blockIdx.z, blockIdx.y);
  const int64_t i0 = int64_t(blockIdx.x) * C::BQ;
  if (i0 >= s.nq) return;  // whole block
  const int rows = int(s.nq - i0 < C::BQ ? s.nq - i0 : C::BQ);
  const int Dh = int(g.Dh);
  const int tx = threadIdx.x % 8, ty = threadIdx.x / 8;
  stage_f32<C::BQ, DP>(Qs, C::LDQ, 1, q + s.q_base + i0 * s.rs, s.rs, rows, Dh, g.scale);
  stage_f32<C::BQ, DP>(dOs, C::LDQ, 1, dout + s.q_base + i0 * s.rs, s.rs, rows, Dh, 1.0f);
  for (int r = threadIdx.x; r < C::BQ; r += kThreads) {
    const float ls = r < rows ? lse[s.lse_base + i0 + r] : -INFINITY;
    lse_s[r] = ls == -INFINITY ? INFINITY : ls;
    D_s[r] = r < rows ? Drow[s.lse_base + i0 + r] : 0.0f;
  }

  float acc[C::RI][C::NC];
#pragma unroll
  for (int i = 0; i < C::RI; ++i)
#pragma unroll
    for (int c = 0; c < C::NC; ++c) acc[i][c] = 0.0f;

  for (int64_t j0 = 0; j0 < s.nk; j0 += C::BK) {
    const int kr = int(s.nk - j0 < C::BK ? s.nk - j0 : C::BK);
    __syncthreads();  // readers of Kt / Vt / dS are done (first pass: Qs, dOs, lse_s, D_s staged)
    stage_f32<C::BK, DP>(Kt, 1, C::LDT, k + s.k_base + j0 * s.rs, s.rs, kr, Dh, 1.0f);
    stage_f32<C::BK, DP>(Vt, 1, C::LDT, v + s.k_base + j0 * s.rs, s.rs, kr, Dh, 1.0f);
    __syncthreads();

    float sc[C::RI][C::CJ], dp[C::RI][C::CJ];
#pragma unroll
    for (int i = 0; i < C::RI; ++i)
#pragma unroll
      for (int j = 0; j < C::CJ; ++j) sc[i][j] = dp[i][j] = 0.0f;
#pragma unroll 2
    for (int d = 0; d < DP; ++d) {
      float a[C::RI], gg[C::RI], kk[C::CJ], vv[C::CJ];
#pragma unroll
      for (int i = 0; i < C::RI; ++i) {
        a[i] = Qs[(ty + 16 * i) * C::LDQ + d];
        gg[i] = dOs[(ty + 16 * i) * C::LDQ + d];
      }
#pragma unroll
      for (int j = 0; j < C::CJ; ++j) {
        kk[j] = Kt[d * C::LDT + tx + 8 * j];
        vv[j] = Vt[d * C::LDT + tx + 8 * j];
      }
#pragma unroll
      for (int i = 0; i < C::RI; ++i)
#pragma unroll
        for (int j = 0; j < C::CJ; ++j) {
          sc[i][j] = fmaf(a[i], kk[j], sc[i][j]);
          dp[i][j] = fmaf(gg[i], vv[j], dp[i][j]);
        }
    }
#pragma unroll
    for (int i = 0; i < C::RI; ++i) {
      const int row = ty + 16 * i;
      const float* mrow = s.mask && row < rows ? s.mask + (i0 + row) * g.mask_i + j0 : nullptr;
#pragma unroll
      for (int j = 0; j < C::CJ; ++j) {
        const int col = tx + 8 * j;
        float ds = 0.0f;
        if (row < rows && col < kr) {
          const float x = mrow ? sc[i][j] + mrow[col] : sc[i][j];
          const float p = expf(x - lse_s[row]);
          ds = p * (dp[i][j] - D_s[row]);
        }
        dS[row * C::LDS + col] = ds;
      }
    }
    __syncthreads();

    // dQ[row][tx + 8c] += sum_j dS[row][j] K[j][tx + 8c]   (K[j][d] = Kt[d][j])
#pragma unroll 4
    for (int j = 0; j < C::BK; ++j) {
      float a[C::RI], kv[C::NC];
#pragma unroll
      for (int i = 0; i < C::RI; ++i) a[i] = dS[(ty + 16 * i) * C::LDS + j];
#pragma unroll
      for (int c = 0; c < C::NC; ++c) kv[c] = Kt[(tx + 8 * c) * C::LDT + j];
#pragma unroll
      for (int i = 0; i < C::RI; ++i)
#pragma unroll
        for (int c = 0; c < C::NC; ++c) acc[i][c] = fmaf(a[i], kv[c], acc[i][c]);
    }
  }

#pragma unroll
  for (int i = 0; i < C::RI; ++i) {
    const int row = ty + 16 * i;
    if (row >= rows) continue;
    float* out = dq + s.q_base + (i0 + row) * s.rs;
#pragma unroll
    for (int c = 0; c < C::NC; ++c) {
      const int d = tx + 8 * c;
      if (d < Dh) out[d] = g.scale * acc[i][c];
    }
  }
}

template <int DP>
struct DkvF32 {
  static constexpr int BK = DP <= 64 ? 64 : 32, BQ = 32;
  static constexpr int RI = BK / 16, CJ = BQ / 8, NC = DP / 8;
  static constexpr int LDK = DP + 4, LDT = BQ + 1, LDP = BQ + 1;
  static constexpr int K = 0, V = K + BK * LDK, QT = V + BK * LDK, DOT = QT + DP * LDT, PT = DOT + DP * LDT,
                       DST = PT + BK * LDP, LSE = DST + BK * LDP, DR = LSE + BQ, FLOATS = DR + BQ;
  static constexpr size_t bytes = size_t(FLOATS) * sizeof(float);
  static_assert(bytes <= kMaxSmemBytes, "dk/dv tile exceeds the shared-memory budget");
};

// Pass 3, block (key tile, head, sequence); per query tile, in transposed form
// (rows = keys, columns = queries), with Qt = scale q^T and dOt = dout^T staged [d][query]:
//   S^T = K Qt + mask^T;  P^T = exp(S^T - lse);  dP^T = V dOt;  dS^T = P^T (dP^T - D)
//   dV += P^T dout;  dK += dS^T (scale q)
// Every key row of the tile is written (zeros when no query of the sequence exists).
template <int DP>
__global__ void __launch_bounds__(kThreads)
    attn_bwd_dkv_kernel(Geo g, const float* __restrict__ q, const float* __restrict__ k,
                        const float* __restrict__ v, const float* __restrict__ lse, const float* __restrict__ Drow,
                        const float* __restrict__ dout, float* __restrict__ dk, float* __restrict__ dv) {
  using C = DkvF32<DP>;
  TESSERA_DYNAMIC_SHARED(float, sm);
  float* Ks = sm + C::K;
  float* Vs = sm + C::V;
  float* Qt = sm + C::QT;
  float* dOt = sm + C::DOT;
  float* Pt = sm + C::PT;
  float* dSt = sm + C::DST;
  float* lse_s = sm + C::LSE;
  float* D_s = sm + C::DR;
  const Seq s = seq_of(g, blockIdx.z, blockIdx.y);
  const int64_t j0 = int64_t(blockIdx.x) * C::BK;
  if (j0 >= s.nk) return;  // whole block
  const int kr = int(s.nk - j0 < C::BK ? s.nk - j0 : C::BK);
  const int Dh = int(g.Dh);
  const int tx = threadIdx.x % 8, ty = threadIdx.x / 8;
  stage_f32<C::BK, DP>(Ks, C::LDK, 1, k + s.k_base + j0 * s.rs, s.rs, kr, Dh, 1.0f);
  stage_f32<C::BK, DP>(Vs, C::LDK, 1, v + s.k_base + j0 * s.rs, s.rs, kr, Dh, 1.0f);

  float gk[C::RI][C::NC], gv[C::RI][C::NC];
#pragma unroll
  for (int i = 0; i < C::RI; ++i)
#pragma unroll
    for (int c = 0; c < C::NC; ++c) gk[i][c] = gv[i][c] = 0.0f;

  for (int64_t i0 = 0; i0 < s.nq; i0 += C::BQ) {
    const int qr = int(s.nq - i0 < C::BQ ? s.nq - i0 : C::BQ);
    __syncthreads();  // readers of Qt / dOt / Pt / dSt / lse_s / D_s are done (first pass: Ks, Vs staged)
    stage_f32<C::BQ, DP>(Qt, 1, C::LDT, q + s.q_base + i0 * s.rs, s.rs, qr, Dh, g.scale);
    stage_f32<C::BQ, DP>(dOt, 1, C::LDT, dout + s.q_base + i0 * s.rs, s.rs, qr, Dh, 1.0f);
    for (int r = threadIdx.x; r < C::BQ; r += kThreads) {
      const float ls = r < qr ? lse[s.lse_base + i0 + r] : -INFINITY;
      lse_s[r] = ls == -INFINITY ? INFINITY : ls;
      D_s[r] = r < qr ? Drow[s.lse_base + i0 + r] : 0.0f;
    }
    __syncthreads();

    float st[C::RI][C::CJ], dpt[C::RI][C::CJ];
#pragma unroll
    for (int i = 0; i < C::RI; ++i)
#pragma unroll
      for (int j = 0; j < C::CJ; ++j) st[i][j] = dpt[i][j] = 0.0f;
#pragma unroll 2
    for (int d = 0; d < DP; ++d) {
      float kk[C::RI], vv[C::RI], qq[C::CJ], gg[C::CJ];
#pragma unroll
      for (int i = 0; i < C::RI; ++i) {
        kk[i] = Ks[(ty + 16 * i) * C::LDK + d];
        vv[i] = Vs[(ty + 16 * i) * C::LDK + d];
      }
#pragma unroll
      for (int j = 0; j < C::CJ; ++j) {
        qq[j] = Qt[d * C::LDT + tx + 8 * j];
        gg[j] = dOt[d * C::LDT + tx + 8 * j];
      }
#pragma unroll
      for (int i = 0; i < C::RI; ++i)
#pragma unroll
        for (int j = 0; j < C::CJ; ++j) {
          st[i][j] = fmaf(kk[i], qq[j], st[i][j]);
          dpt[i][j] = fmaf(vv[i], gg[j], dpt[i][j]);
        }
    }
#pragma unroll
    for (int i = 0; i < C::RI; ++i) {
      const int key = ty + 16 * i;
#pragma unroll
      for (int j = 0; j < C::CJ; ++j) {
        const int qc = tx + 8 * j;
        float p = 0.0f, ds = 0.0f;
        if (key < kr && qc < qr) {
          float x = st[i][j];
          if (s.mask) x += s.mask[(i0 + qc) * g.mask_i + j0 + key];
          p = expf(x - lse_s[qc]);
          ds = p * (dpt[i][j] - D_s[qc]);
        }
        Pt[key * C::LDP + qc] = p;
        dSt[key * C::LDP + qc] = ds;
      }
    }
    __syncthreads();

    // dV[key][tx + 8c] += sum_i P^T[key][i] dout[i][tx + 8c];  dK likewise with dS^T and scale q
#pragma unroll 4
    for (int i = 0; i < C::BQ; ++i) {
      float p[C::RI], ds[C::RI], gq[C::NC], qv[C::NC];
#pragma unroll
      for (int r = 0; r < C::RI; ++r) {
        p[r] = Pt[(ty + 16 * r) * C::LDP + i];
        ds[r] = dSt[(ty + 16 * r) * C::LDP + i];
      }
#pragma unroll
      for (int c = 0; c < C::NC; ++c) {
        gq[c] = dOt[(tx + 8 * c) * C::LDT + i];
        qv[c] = Qt[(tx + 8 * c) * C::LDT + i];
      }
#pragma unroll
      for (int r = 0; r < C::RI; ++r)
#pragma unroll
        for (int c = 0; c < C::NC; ++c) {
          gv[r][c] = fmaf(p[r], gq[c], gv[r][c]);
          gk[r][c] = fmaf(ds[r], qv[c], gk[r][c]);
        }
    }
  }

#pragma unroll
  for (int i = 0; i < C::RI; ++i) {
    const int key = ty + 16 * i;
    if (key >= kr) continue;
    float* dkr = dk + s.k_base + (j0 + key) * s.rs;
    float* dvr = dv + s.k_base + (j0 + key) * s.rs;
#pragma unroll
    for (int c = 0; c < C::NC; ++c) {
      const int d = tx + 8 * c;
      if (d < Dh) {
        dkr[d] = gk[i][c];
        dvr[d] = gv[i][c];
      }
    }
  }
}

// ---- bf16 forward on tensor cores -------------------------------------------------------

constexpr float kLog2e = 1.4426950408889634f, kLn2 = 0.69314718055994531f;

constexpr int round128(int bytes) { return (bytes + 127) / 128 * 128; }

template <int DP>
struct FwdBf16 {
  static constexpr int BQ = 64, BK = 64, NW = kThreads / kWarp;  // warp w: query rows 16w .. 16w + 15
  static constexpr int NF = DP / 16;                              // 16-wide fragments along d
  static constexpr int HALF = DP / 2;                             // output columns per lane
  static constexpr int LDK = DP + 8;                              // bf16, K / V / staged Q rows
  static constexpr int LDS = (DP > BK ? DP : BK) + 4;             // f32, per-warp S / PV buffer
  static constexpr int LDP = BK + 8;                              // bf16, per-warp P
  static constexpr int K = 0, V = K + round128(BK * LDK * 2), S = V + round128(BK * LDK * 2),
                       P = S + round128(NW * 16 * LDS * 4), BYTES = P + round128(NW * 16 * LDP * 2);
  static constexpr size_t bytes = size_t(BYTES);
  static constexpr int NV = BK * DP / 8 / kThreads;  // uint4 (8 bf16) per thread for one K or V tile
  static constexpr bool kPrefetch = DP <= 64;       // register double buffer (register budget)
  static_assert(bytes <= kMaxSmemBytes, "bf16 forward tile exceeds the shared-memory budget");
  static_assert(NV * kThreads * 8 == BK * DP, "tile must split evenly into 16-byte vectors");
};

// dst[r * LDK + d] = src[r * rs + d] for r < rows, d < Dh; 0 elsewhere (r < R, d < DP).
template <int R, int DP, int LDK>
__device__ __forceinline__ void stage_bf16(bf16* dst, const bf16* __restrict__ src, int64_t rs, int rows, int Dh) {
  const bf16 zero = __float2bfloat16(0.0f);
  for (int e = threadIdx.x; e < R * DP; e += kThreads) {
    const int r = e / DP, d = e % DP;
    dst[r * LDK + d] = r < rows && d < Dh ? src[r * rs + d] : zero;
  }
}
// Vector form (Dh % 8 == 0, 16-byte aligned rows): thread t holds vectors e = t + u * 128
// (row e / (DP / 8), columns 8 (e % (DP / 8)) ..), consecutive threads on consecutive columns.
template <int R, int DP, int N>
__device__ __forceinline__ void fetch_bf16(uint4 (&reg)[N], const bf16* __restrict__ src, int64_t rs, int rows,
                                           int Dh) {
#pragma unroll
  for (int u = 0; u < N; ++u) {
    const int e = threadIdx.x + u * kThreads, r = e / (DP / 8), d = e % (DP / 8) * 8;
    reg[u] = r < rows && d < Dh ? *reinterpret_cast<const uint4*>(src + r * rs + d) : make_uint4(0u, 0u, 0u, 0u);
  }
}
template <int DP, int LDK, int N>
__device__ __forceinline__ void put_bf16(bf16* dst, const uint4 (&reg)[N]) {
#pragma unroll
  for (int u = 0; u < N; ++u) {
    const int e = threadIdx.x + u * kThreads, r = e / (DP / 8), d = e % (DP / 8) * 8;
    *reinterpret_cast<uint4*>(dst + r * LDK + d) = reg[u];
  }
}

// Block (64-query tile, head, sequence); warp w owns query rows 16w .. 16w + 15 and
// keeps their Q fragments (bf16, DP/16 of them) in registers. Per 64-key tile:
//   S = Q K^T                    wmma, fp32 accumulate -> per-warp buffer
//   lane (r, hf): x = log2(e) (scale S[r][32hf ..] + mask)   (base 2; keys past the end: -inf)
//   m' = max(m, rowmax x) (halves combined by one xor-16 shuffle), mu, alpha = 2^(m - mu)
//   P = bf16(2^(x - mu)) -> per-warp buffer;  l = alpha l + sum 2^(x - mu),
//   lr = alpha lr + sum P (the rounded values);  O = alpha O + P V (wmma into the
//   buffer, added to this lane's fp32 registers O[r][hf DP/2 ..])
// then o = O / lr, lse = ln(2) (m + log2 l) (o = 0, lse = -inf when l = 0).
// (exp2f is one MUFU.EX2 plus range handling; its ~2 ulp are far below P's bf16 rounding.)
// The Q tile is staged through the K buffer before the loop.
template <int DP>
__global__ void __launch_bounds__(kThreads)
    attn_fwd_bf16_kernel(Geo g, bool vec, const bf16* __restrict__ q, const bf16* __restrict__ k,
                         const bf16* __restrict__ v, float* __restrict__ o, float* __restrict__ lse) {
  using namespace nvcuda;
  using C = FwdBf16<DP>;
  TESSERA_DYNAMIC_SHARED(unsigned char, sm);
  bf16* Ks = reinterpret_cast<bf16*>(sm + C::K);
  bf16* Vs = reinterpret_cast<bf16*>(sm + C::V);
  const int warp = threadIdx.x / kWarp, lane = threadIdx.x % kWarp;
  float* Sw = reinterpret_cast<float*>(sm + C::S) + warp * 16 * C::LDS;
  bf16* Pw = reinterpret_cast<bf16*>(sm + C::P) + warp * 16 * C::LDP;
  const Seq s = seq_of(g, blockIdx.z, blockIdx.y);
  const int64_t i0 = int64_t(blockIdx.x) * C::BQ;
  if (i0 >= s.nq) return;  // whole block
  const int rows = int(s.nq - i0 < C::BQ ? s.nq - i0 : C::BQ);
  const int Dh = int(g.Dh);

  // Q tile -> Ks -> fragments.
  if (vec) {
    uint4 t[C::NV];
    fetch_bf16<C::BQ, DP>(t, q + s.q_base + i0 * s.rs, s.rs, rows, Dh);
    put_bf16<DP, C::LDK>(Ks, t);
  } else {
    stage_bf16<C::BQ, DP, C::LDK>(Ks, q + s.q_base + i0 * s.rs, s.rs, rows, Dh);
  }
  __syncthreads();
  wmma::fragment<wmma::matrix_a, 16, 16, 16, bf16, wmma::row_major> qa[C::NF];
#pragma unroll
  for (int f = 0; f < C::NF; ++f) wmma::load_matrix_sync(qa[f], Ks + warp * 16 * C::LDK + 16 * f, C::LDK);

  const int r = lane % 16, hf = lane / 16;
  const bool row_ok = warp * 16 + r < rows;
  const float* mrow = s.mask && row_ok ? s.mask + (i0 + warp * 16 + r) * g.mask_i : nullptr;
  const float scale_log2 = g.scale * kLog2e;
  float m = -INFINITY, l = 0.0f, lr = 0.0f;  // base-2 running max, sums of exact / rounded P
  float oacc[C::HALF];
#pragma unroll
  for (int c = 0; c < C::HALF; ++c) oacc[c] = 0.0f;

  [[maybe_unused]] uint4 pk[C::kPrefetch ? C::NV : 1], pv[C::kPrefetch ? C::NV : 1];
  if constexpr (C::kPrefetch) {
    if (vec && s.nk > 0) {
      const int kr0 = int(s.nk < C::BK ? s.nk : C::BK);
      fetch_bf16<C::BK, DP>(pk, k + s.k_base, s.rs, kr0, Dh);
      fetch_bf16<C::BK, DP>(pv, v + s.k_base, s.rs, kr0, Dh);
    }
  }

  for (int64_t j0 = 0; j0 < s.nk; j0 += C::BK) {
    const int kr = int(s.nk - j0 < C::BK ? s.nk - j0 : C::BK);
    __syncthreads();  // every warp is done with Ks / Vs (first pass: Q fragments loaded)
    if (vec) {
      if constexpr (C::kPrefetch) {
        put_bf16<DP, C::LDK>(Ks, pk);
        put_bf16<DP, C::LDK>(Vs, pv);
        const int64_t jn = j0 + C::BK;
        if (jn < s.nk) {  // next tile's loads are in flight during this tile's math
          const int krn = int(s.nk - jn < C::BK ? s.nk - jn : C::BK);
          fetch_bf16<C::BK, DP>(pk, k + s.k_base + jn * s.rs, s.rs, krn, Dh);
          fetch_bf16<C::BK, DP>(pv, v + s.k_base + jn * s.rs, s.rs, krn, Dh);
        }
      } else {
        uint4 t[C::NV];
        fetch_bf16<C::BK, DP>(t, k + s.k_base + j0 * s.rs, s.rs, kr, Dh);
        put_bf16<DP, C::LDK>(Ks, t);
        fetch_bf16<C::BK, DP>(t, v + s.k_base + j0 * s.rs, s.rs, kr, Dh);
        put_bf16<DP, C::LDK>(Vs, t);
      }
    } else {
      stage_bf16<C::BK, DP, C::LDK>(Ks, k + s.k_base + j0 * s.rs, s.rs, kr, Dh);
      stage_bf16<C::BK, DP, C::LDK>(Vs, v + s.k_base + j0 * s.rs, s.rs, kr, Dh);
    }
    __syncthreads();

    // S (16 x 64) = Q_w K^T: K rows stored [key][d] read as a col-major K^T.
#pragma unroll
    for (int n = 0; n < C::BK / 16; ++n) {
      wmma::fragment<wmma::accumulator, 16, 16, 16, float> acc;
      wmma::fill_fragment(acc, 0.0f);
#pragma unroll
      for (int f = 0; f < C::NF; ++f) {
        wmma::fragment<wmma::matrix_b, 16, 16, 16, bf16, wmma::col_major> kb;
        wmma::load_matrix_sync(kb, Ks + n * 16 * C::LDK + 16 * f, C::LDK);
        wmma::mma_sync(acc, qa[f], kb, acc);
      }
      wmma::store_matrix_sync(Sw + 16 * n, acc, C::LDS, wmma::mem_row_major);
    }
    __syncwarp();

    // Row softmax on this lane's 32 columns.
    float x[32];
    const float* srow = Sw + r * C::LDS + 32 * hf;
#pragma unroll
    for (int c = 0; c < 32; c += 4) {
      const float4 t4 = *reinterpret_cast<const float4*>(srow + c);
      x[c] = t4.x;
      x[c + 1] = t4.y;
      x[c + 2] = t4.z;
      x[c + 3] = t4.w;
    }
    float mx = -INFINITY;
#pragma unroll
    for (int c = 0; c < 32; ++c) {
      const int col = 32 * hf + c;
      float t = x[c] * scale_log2;
      if (col >= kr) t = -INFINITY;
      else if (mrow) t = fmaf(mrow[j0 + col], kLog2e, t);
      x[c] = t;
      mx = fmaxf(mx, t);
    }
    mx = fmaxf(mx, __shfl_xor_sync(kFull, mx, 16));
    const float m_new = fmaxf(m, mx);
    const float mu = m_new == -INFINITY ? 0.0f : m_new;
    const float alpha = m == -INFINITY ? 0.0f : exp2f(m - mu);
    float se = 0.0f, sr = 0.0f;
    bf16* prow = Pw + r * C::LDP + 32 * hf;
#pragma unroll
    for (int c = 0; c < 32; c += 8) {
      alignas(16) __nv_bfloat162 h2[4];
#pragma unroll
      for (int u = 0; u < 4; ++u) {
        const float p0 = exp2f(x[c + 2 * u] - mu), p1 = exp2f(x[c + 2 * u + 1] - mu);
        h2[u] = __floats2bfloat162_rn(p0, p1);
        se += p0 + p1;
        sr += __low2float(h2[u]) + __high2float(h2[u]);
      }
      uint4 w;
      memcpy(&w, h2, sizeof w);
      *reinterpret_cast<uint4*>(prow + c) = w;
    }
    se += __shfl_xor_sync(kFull, se, 16);
    sr += __shfl_xor_sync(kFull, sr, 16);
    l = l * alpha + se;
    lr = lr * alpha + sr;
    m = m_new;
#pragma unroll
    for (int c = 0; c < C::HALF; ++c) oacc[c] *= alpha;
    __syncwarp();

    // PV (16 x DP) = P_w V (P fragments loaded once), then O += PV on this lane's half row.
    wmma::fragment<wmma::matrix_a, 16, 16, 16, bf16, wmma::row_major> pa[C::BK / 16];
#pragma unroll
    for (int kk = 0; kk < C::BK / 16; ++kk) wmma::load_matrix_sync(pa[kk], Pw + 16 * kk, C::LDP);
#pragma unroll
    for (int n = 0; n < C::NF; ++n) {
      wmma::fragment<wmma::accumulator, 16, 16, 16, float> acc;
      wmma::fill_fragment(acc, 0.0f);
#pragma unroll
      for (int kk = 0; kk < C::BK / 16; ++kk) {
        wmma::fragment<wmma::matrix_b, 16, 16, 16, bf16, wmma::row_major> vb;
        wmma::load_matrix_sync(vb, Vs + kk * 16 * C::LDK + 16 * n, C::LDK);
        wmma::mma_sync(acc, pa[kk], vb, acc);
      }
      wmma::store_matrix_sync(Sw + 16 * n, acc, C::LDS, wmma::mem_row_major);
    }
    __syncwarp();
    const float* pvrow = Sw + r * C::LDS + hf * C::HALF;
#pragma unroll
    for (int c = 0; c < C::HALF; c += 4) {
      const float4 t4 = *reinterpret_cast<const float4*>(pvrow + c);
      oacc[c] += t4.x;
      oacc[c + 1] += t4.y;
      oacc[c + 2] += t4.z;
      oacc[c + 3] += t4.w;
    }
  }

  // o = O / lr through the warp buffer (this lane rewrites only the elements it
  // read), then coalesced row-major stores of the warp's 16 rows.
  const float inv = lr > 0.0f ? 1.0f / lr : 0.0f;
  float* orow_s = Sw + r * C::LDS + hf * C::HALF;
#pragma unroll
  for (int c = 0; c < C::HALF; ++c) orow_s[c] = oacc[c] * inv;
  __syncwarp();
  for (int e = lane; e < 16 * Dh; e += kWarp) {
    const int rr = e / Dh, d = e % Dh;
    if (warp * 16 + rr < rows) o[s.q_base + (i0 + warp * 16 + rr) * s.rs + d] = Sw[rr * C::LDS + d];
  }
  if (hf == 0 && row_ok) lse[s.lse_base + i0 + warp * 16 + r] = l > 0.0f ? (m + log2f(l)) * kLn2 : -INFINITY;
}

// ---- host side --------------------------------------------------------------------------

[[noreturn]] void bad_arg(const char* fn, const std::string& msg) {
  throw std::invalid_argument(std::string("tessera::cuda::") + fn + ": " + msg);
}

struct Plan {
  Geo g;
  bool packed;
  int64_t max_nq, max_nk;  // grid extents along the sequences
  int64_t q_rows;          // rows of the q layout: B H Nq (dense) or Tq H (packed)
  int dp;                  // padded head dim
};

Plan make_plan(const AttentionShape& s, const char* fn) {
  const auto str = [](int64_t x) { return std::to_string(x); };
  if (s.batch < 0) bad_arg(fn, "batch must be >= 0, got " + str(s.batch));
  if (s.heads < 0) bad_arg(fn, "heads must be >= 0, got " + str(s.heads));
  if (s.head_dim < 0 || s.head_dim > kAttentionMaxHeadDim)
    bad_arg(fn, "head_dim must be in [0, " + str(kAttentionMaxHeadDim) + "] (the tiles hold whole rows), got " +
                    str(s.head_dim));
  if ((s.cu_q == nullptr) != (s.cu_k == nullptr))
    bad_arg(fn, "cu_q and cu_k must both be set (packed) or both be null (dense)");
  if (!std::isfinite(s.scale)) bad_arg(fn, "scale must be finite, got " + std::to_string(s.scale));
  if (s.mask && (s.mask_b < 0 || s.mask_h < 0 || s.mask_i < 0))
    bad_arg(fn, "mask strides must be >= 0, got mask_b " + str(s.mask_b) + ", mask_h " + str(s.mask_h) +
                    ", mask_i " + str(s.mask_i));
  if (s.heads > 65535) bad_arg(fn, "heads must be <= 65535 (grid y), got " + str(s.heads));
  if (s.batch > 65535) bad_arg(fn, "batch must be <= 65535 (grid z), got " + str(s.batch));
  Plan p;
  p.packed = s.cu_q != nullptr;
  if (p.packed) {
    if (s.max_seqlen_q < 0 || s.max_seqlen_k < 0)
      bad_arg(fn, "max_seqlen_q / max_seqlen_k must be >= 0, got " + str(s.max_seqlen_q) + " / " +
                      str(s.max_seqlen_k));
    if (s.total_q < 0) bad_arg(fn, "total_q must be >= 0, got " + str(s.total_q));
    p.max_nq = s.max_seqlen_q;
    p.max_nk = s.max_seqlen_k;
    p.q_rows = s.total_q * s.heads;
  } else {
    if (s.nq < 0 || s.nk < 0) bad_arg(fn, "nq / nk must be >= 0, got " + str(s.nq) + " / " + str(s.nk));
    p.max_nq = s.nq;
    p.max_nk = s.nk;
    p.q_rows = s.batch * s.heads * s.nq;
  }
  if (p.max_nq / 32 > 0x7fffffffLL || p.max_nk / 32 > 0x7fffffffLL)
    bad_arg(fn, "sequence length too large for the grid");
  p.g = Geo{s.heads, s.head_dim, s.nq, s.nk, s.cu_q, s.cu_k, s.total_q, s.mask, s.mask_b, s.mask_h, s.mask_i,
            s.scale};
  p.dp = pad16(s.head_dim > 0 ? s.head_dim : 1);
  return p;
}

void need(const void* ptr, const char* fn, const char* name) {
  if (!ptr) bad_arg(fn, std::string(name) + " must not be null");
}

// Calls f(std::integral_constant<int, DP>) for the padded head dim.
template <class F>
void with_dp(int dp, F&& f) {
  switch (dp) {
    case 16: f(std::integral_constant<int, 16>()); break;
    case 32: f(std::integral_constant<int, 32>()); break;
    case 48: f(std::integral_constant<int, 48>()); break;
    case 64: f(std::integral_constant<int, 64>()); break;
    case 80: f(std::integral_constant<int, 80>()); break;
    case 96: f(std::integral_constant<int, 96>()); break;
    case 112: f(std::integral_constant<int, 112>()); break;
    case 128: f(std::integral_constant<int, 128>()); break;
    default: throw std::logic_error("tessera::cuda::attention: unexpected padded head dim " + std::to_string(dp));
  }
}

// Dynamic shared memory above 48 KiB needs an explicit opt-in per kernel on the GPU.
// The emulator accepts up to 227 KiB (sm_90's opt-in limit) without it.
template <class Kernel>
void allow_smem(Kernel kernel, size_t bytes) {
#if TESSERA_EMU
  (void)kernel;
  (void)bytes;
#else
  if (bytes > 48 * 1024)
    TESSERA_CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, int(bytes)));
#endif
}

unsigned tiles(int64_t n, int64_t t) { return unsigned((n + t - 1) / t); }

}  // namespace

int64_t attention_lse_numel(const AttentionShape& s) {
  return s.cu_q ? s.heads * s.total_q : s.batch * s.heads * s.nq;
}

int64_t attention_backward_workspace_floats(const AttentionShape& s) { return attention_lse_numel(s); }

void attention_forward(const AttentionShape& s, const float* q, const float* k, const float* v, float* o,
                       float* lse, cudaStream_t stream) {
  const char* fn = "attention_forward";
  const Plan p = make_plan(s, fn);
  if (p.max_nq == 0 || s.heads == 0 || s.batch == 0) return;
  need(lse, fn, "lse");
  if (s.head_dim > 0) {
    need(q, fn, "q");
    need(o, fn, "o");
    if (p.max_nk > 0) {
      need(k, fn, "k");
      need(v, fn, "v");
    }
  }
  with_dp(p.dp, [&](auto dpc) {
    constexpr int DP = decltype(dpc)::value;
    using C = FwdF32<DP>;
    allow_smem(attn_fwd_f32_kernel<DP>, C::bytes);
    const dim3 grid(tiles(p.max_nq, C::BQ), unsigned(s.heads), unsigned(s.batch));
    TESSERA_LAUNCH(attn_fwd_f32_kernel<DP>, grid, kThreads, C::bytes, stream)(p.g, q, k, v, o, lse);
    TESSERA_CUDA_CHECK_LAUNCH();
  });
}

void attention_forward_bf16(const AttentionShape& s, const __nv_bfloat16* q, const __nv_bfloat16* k,
                            const __nv_bfloat16* v, float* o, float* lse, cudaStream_t stream) {
  const char* fn = "attention_forward_bf16";
  const Plan p = make_plan(s, fn);
  if (p.max_nq == 0 || s.heads == 0 || s.batch == 0) return;
  need(lse, fn, "lse");
  if (s.head_dim > 0) {
    need(q, fn, "q");
    need(o, fn, "o");
    if (p.max_nk > 0) {
      need(k, fn, "k");
      need(v, fn, "v");
    }
  }
  // 16-byte vector loads when every row starts 16-byte aligned.
  const auto aligned = [](const void* ptr) { return reinterpret_cast<uintptr_t>(ptr) % 16 == 0; };
  const bool vec = s.head_dim % 8 == 0 && aligned(q) && aligned(k) && aligned(v);
  with_dp(p.dp, [&](auto dpc) {
    constexpr int DP = decltype(dpc)::value;
    using C = FwdBf16<DP>;
    allow_smem(attn_fwd_bf16_kernel<DP>, C::bytes);
    const dim3 grid(tiles(p.max_nq, C::BQ), unsigned(s.heads), unsigned(s.batch));
    TESSERA_LAUNCH(attn_fwd_bf16_kernel<DP>, grid, kThreads, C::bytes, stream)(p.g, vec, q, k, v, o, lse);
    TESSERA_CUDA_CHECK_LAUNCH();
  });
}

void attention_backward(const AttentionShape& s, const float* q, const float* k, const float* v, const float* o,
                        const float* lse, const float* dout, float* dq, float* dk, float* dv, float* workspace,
                        cudaStream_t stream) {
  const char* fn = "attention_backward";
  const Plan p = make_plan(s, fn);
  // dq / dk / dv have no elements: nothing to write.
  if (s.head_dim == 0 || s.heads == 0 || s.batch == 0 || (p.max_nq == 0 && p.max_nk == 0)) return;
  if (p.max_nq > 0) {
    need(q, fn, "q");
    need(o, fn, "o");
    need(lse, fn, "lse");
    need(dout, fn, "dout");
    need(dq, fn, "dq");
    need(workspace, fn, "workspace (attention_backward_workspace_floats)");
  }
  if (p.max_nk > 0) {
    need(k, fn, "k");
    need(v, fn, "v");
    need(dk, fn, "dk");
    need(dv, fn, "dv");
  }
  float* D = workspace;
  if (p.q_rows > 0) {
    const int64_t blocks = (p.q_rows + kThreads / kWarp - 1) / (kThreads / kWarp);
    if (blocks > 0x7fffffffLL) bad_arg(fn, "too many query rows for the grid: " + std::to_string(p.q_rows));
    TESSERA_LAUNCH(attn_bwd_rowdot_kernel, unsigned(blocks), kThreads, 0, stream)(
        o, dout, D, p.q_rows, s.head_dim, s.heads, s.total_q, p.packed);
    TESSERA_CUDA_CHECK_LAUNCH();
  }
  with_dp(p.dp, [&](auto dpc) {
    constexpr int DP = decltype(dpc)::value;
    if (p.max_nq > 0) {
      using C = DqF32<DP>;
      allow_smem(attn_bwd_dq_kernel<DP>, C::bytes);
      const dim3 grid(tiles(p.max_nq, C::BQ), unsigned(s.heads), unsigned(s.batch));
      TESSERA_LAUNCH(attn_bwd_dq_kernel<DP>, grid, kThreads, C::bytes, stream)(p.g, q, k, v, lse, D, dout, dq);
      TESSERA_CUDA_CHECK_LAUNCH();
    }
    if (p.max_nk > 0) {
      using C = DkvF32<DP>;
      allow_smem(attn_bwd_dkv_kernel<DP>, C::bytes);
      const dim3 grid(tiles(p.max_nk, C::BK), unsigned(s.heads), unsigned(s.batch));
      TESSERA_LAUNCH(attn_bwd_dkv_kernel<DP>, grid, kThreads, C::bytes, stream)(p.g, q, k, v, lse, D, dout, dk, dv);
      TESSERA_CUDA_CHECK_LAUNCH();
    }
  });
}

}  // namespace cuda
}  // namespace tessera
