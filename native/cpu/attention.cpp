// Flash-style scaled-dot-product attention kernels (see cpu/attention.h).
//
// Blocking: queries and keys are cut into blocks of kBlock = 64 rows per (sequence,
// head). K, V (and in backward Q, dO) are first repacked block by block into two
// formats, both zero-padded:
//   "T" (transposed)  [Dh][64]      — the right operand of a score product A · B^T
//   "R" (rows)        [64][Dpad]    — the right operand of an accumulate C += P · B
// with Dpad = Dh rounded up to 16. Every tile product is then one of two
// register-blocked micro-GEMMs:
//   score:      C[r][0:64]   = sum_d A[r][d] * T[d][0:64]          (Q K^T, dO V^T, K Q^T, V dO^T)
//   accumulate: C[r][0:Dpad] += sum_j A[r][j] * R[j][0:Dpad]       (P V, dS K, P^T dO, dS^T Q)
// The packs are O(N Dh) memory; scores exist only as 64 x 64 tiles.
//
// Vector code: the kernels are templates on the instruction set, compiled inside
// TESSERA_TARGET_AVX512 / TESSERA_TARGET_AVX2 wrappers (TESSERA_ISA_DISPATCH).
// They use GCC vector extensions (16, 8 or 4 floats) rather than <immintrin.h>
// calls, because GCC refuses to inline target-specific intrinsics into a template
// body that is not itself target-attributed; the vector extensions compile to the
// same zmm/ymm FMA instructions inside each wrapper (a * b + c contracts to FMA
// under the project's GNU C++ mode), and to SSE2 in the generic path.
#include "cpu/attention.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "core/cpu_features.h"
#include "core/threadpool.h"

#pragma GCC diagnostic ignored "-Wpsabi"

namespace tessera::cpu {

namespace {

constexpr int64_t kBlock = 64;
constexpr float kInf = std::numeric_limits<float>::infinity();

int64_t round_up(int64_t x, int64_t m) { return (x + m - 1) / m * m; }

// ---- vector helpers ------------------------------------------------------------

template <Isa I> struct IsaTraits;
template <> struct IsaTraits<Isa::Avx512> { static constexpr int W = 16, RB = 4, NV = 4; };
template <> struct IsaTraits<Isa::Avx2> { static constexpr int W = 8, RB = 4, NV = 2; };
template <> struct IsaTraits<Isa::Generic> { static constexpr int W = 4, RB = 4, NV = 2; };

template <int W> struct VecT {
  typedef float f __attribute__((vector_size(4 * W)));
  typedef int32_t i __attribute__((vector_size(4 * W)));
};

template <int W> TESSERA_INLINE typename VecT<W>::f vload(const float* p) {
  typename VecT<W>::f r;
  std::memcpy(&r, p, sizeof r);
  return r;
}
template <int W> TESSERA_INLINE void vstore(float* p, const typename VecT<W>::f& v) { std::memcpy(p, &v, sizeof v); }
template <int W> TESSERA_INLINE typename VecT<W>::f vset(float s) {
  const typename VecT<W>::i zero = {};
  int32_t bits;
  std::memcpy(&bits, &s, 4);
  return (typename VecT<W>::f)(zero + bits);  // integer x + 0 folds away: a plain broadcast
}
template <int W> TESSERA_INLINE float hmax(const typename VecT<W>::f& v) {
  float m = v[0];
  for (int l = 1; l < W; ++l) m = std::max(m, float(v[l]));
  return m;
}
template <int W> TESSERA_INLINE float hsum(const typename VecT<W>::f& v) {
  float s = v[0];
  for (int l = 1; l < W; ++l) s += v[l];
  return s;
}

// exp(x) for a vector, ~1 ulp on the normal range (Cephes expf):
//   n = round(x / ln2), r = x - n ln2 (ln2 split in two for exactness), |r| <= ln2/2
//   e^r = 1 + r + r^2 P(r) with a degree-5 minimax P;  e^x = 2^n e^r (n added to the exponent bits).
// x below -87.3 (including -inf) gives exactly 0; x is clamped at 88 above (scores here are <= 0).
template <int W> TESSERA_INLINE typename VecT<W>::f vexp(const typename VecT<W>::f& in) {
  using F = typename VecT<W>::f;
  using Iv = typename VecT<W>::i;
  const F lo = vset<W>(-87.3365447f), hi = vset<W>(88.0f);
  const Iv under = in < lo;
  F x = in < lo ? lo : in;
  x = x > hi ? hi : x;
  const F magic = vset<W>(12582912.0f);  // 1.5 * 2^23: adding it rounds to an integer
  const F t = x * 1.44269504088896341f + magic;
  const F n = t - magic;
  const Iv ni = (Iv)t - (Iv)magic;
  F r = x - n * 0.693359375f;
  r = r - n * -2.12194440e-4f;
  F p = vset<W>(1.9875691500e-4f);
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  F y = (r * r) * p + r + 1.0f;
  const Iv bits = (ni + 127) << 23;
  y = y * (F)bits;
  return under ? vset<W>(0.0f) : y;
}

// ---- micro-GEMMs -----------------------------------------------------------------

// score: C[r][0:64] = sum_{d < dh} A[r * lda + d] * T[d * 64 + 0:64] for r < RB.
template <Isa I, int RB> TESSERA_INLINE void score_rows(const float* A, int64_t lda, const float* T, int64_t dh,
                                                         float* C) {
  constexpr int W = IsaTraits<I>::W, NV = IsaTraits<I>::NV;
  using F = typename VecT<W>::f;
  for (int c = 0; c < kBlock; c += NV * W) {
    F acc[RB][NV];
    for (int r = 0; r < RB; ++r)
      for (int v = 0; v < NV; ++v) acc[r][v] = vset<W>(0.0f);
    const float* t = T + c;
    for (int64_t d = 0; d < dh; ++d, t += kBlock) {
      F b[NV];
      for (int v = 0; v < NV; ++v) b[v] = vload<W>(t + v * W);
      for (int r = 0; r < RB; ++r) {
        const F a = vset<W>(A[r * lda + d]);
        for (int v = 0; v < NV; ++v) acc[r][v] += a * b[v];
      }
    }
    for (int r = 0; r < RB; ++r)
      for (int v = 0; v < NV; ++v) vstore<W>(C + r * kBlock + c + v * W, acc[r][v]);
  }
}

template <Isa I> TESSERA_INLINE void score_tile(const float* A, int64_t lda, int64_t rows, const float* T,
                                                int64_t dh, float* C) {
  constexpr int RB = IsaTraits<I>::RB;
  int64_t r = 0;
  for (; r + RB <= rows; r += RB) score_rows<I, RB>(A + r * lda, lda, T, dh, C + r * kBlock);
  for (; r < rows; ++r) score_rows<I, 1>(A + r * lda, lda, T, dh, C + r * kBlock);
}

// accumulate: C[r * ldc + c0 + 0:NV*W] += sum_{j < kk} A[r * lda + j] * R[j * ldr + c0 + 0:NV*W].
template <Isa I, int RB, int NV> TESSERA_INLINE void accum_rows(const float* A, int64_t lda, const float* R,
                                                                int64_t ldr, int64_t kk, float* C, int64_t ldc) {
  constexpr int W = IsaTraits<I>::W;
  using F = typename VecT<W>::f;
  F acc[RB][NV];
  for (int r = 0; r < RB; ++r)
    for (int v = 0; v < NV; ++v) acc[r][v] = vload<W>(C + r * ldc + v * W);
  const float* b = R;
  for (int64_t j = 0; j < kk; ++j, b += ldr) {
    F bv[NV];
    for (int v = 0; v < NV; ++v) bv[v] = vload<W>(b + v * W);
    for (int r = 0; r < RB; ++r) {
      const F a = vset<W>(A[r * lda + j]);
      for (int v = 0; v < NV; ++v) acc[r][v] += a * bv[v];
    }
  }
  for (int r = 0; r < RB; ++r)
    for (int v = 0; v < NV; ++v) vstore<W>(C + r * ldc + v * W, acc[r][v]);
}

template <Isa I, int RB> TESSERA_INLINE void accum_strip(const float* A, int64_t lda, const float* R, int64_t kk,
                                                         int64_t dpad, float* C) {
  constexpr int W = IsaTraits<I>::W, NV = IsaTraits<I>::NV;
  int64_t c = 0;
  for (; c + NV * W <= dpad; c += NV * W) accum_rows<I, RB, NV>(A, lda, R + c, dpad, kk, C + c, dpad);
  const int rest = int((dpad - c) / W);  // dpad is a multiple of 16, so of W
  if constexpr (NV > 1) {
    if (rest >= 1 && rest < NV) {
      switch (rest) {
        case 1: accum_rows<I, RB, 1>(A, lda, R + c, dpad, kk, C + c, dpad); break;
        case 2: if constexpr (NV > 2) accum_rows<I, RB, 2>(A, lda, R + c, dpad, kk, C + c, dpad); break;
        case 3: if constexpr (NV > 3) accum_rows<I, RB, 3>(A, lda, R + c, dpad, kk, C + c, dpad); break;
        default: break;
      }
    }
  }
}

// C[r][0:dpad] += sum_{j < kk} A[r * lda + j] * R[j][0:dpad] for r < rows (C row stride dpad).
template <Isa I> TESSERA_INLINE void accum_tile(const float* A, int64_t lda, int64_t rows, const float* R,
                                                int64_t kk, int64_t dpad, float* C) {
  constexpr int RB = IsaTraits<I>::RB;
  int64_t r = 0;
  for (; r + RB <= rows; r += RB) accum_strip<I, RB>(A + r * lda, lda, R, kk, dpad, C + r * dpad);
  for (; r < rows; ++r) accum_strip<I, 1>(A + r * lda, lda, R, kk, dpad, C + r * dpad);
}

// ---- problem description -----------------------------------------------------------

// One block of kBlock rows (queries or keys) of one sequence.
struct Block {
  int64_t seq, start, rows;
};

struct Plan {
  const AttentionShape* s;
  int64_t H, Dh, Dpad;
  bool packed;
  std::vector<Block> qblocks, kblocks;

  int64_t q_len(int64_t b) const { return packed ? s->cu_q[b + 1] - s->cu_q[b] : s->nq; }
  int64_t k_len(int64_t b) const { return packed ? s->cu_k[b + 1] - s->cu_k[b] : s->nk; }
  // Element offset of row i of sequence b, head h, and the stride between rows.
  int64_t q_off(int64_t b, int64_t h, int64_t i) const {
    return packed ? ((s->cu_q[b] + i) * H + h) * Dh : ((b * H + h) * s->nq + i) * Dh;
  }
  int64_t k_off(int64_t b, int64_t h, int64_t i) const {
    return packed ? ((s->cu_k[b] + i) * H + h) * Dh : ((b * H + h) * s->nk + i) * Dh;
  }
  int64_t row_stride() const { return packed ? H * Dh : Dh; }
  int64_t lse_off(int64_t b, int64_t h, int64_t i) const {
    return packed ? h * s->cu_q[s->batch] + s->cu_q[b] + i : (b * H + h) * s->nq + i;
  }
  const float* mask_at(int64_t b, int64_t h, int64_t i) const {
    return s->mask ? s->mask + b * s->mask_b + h * s->mask_h + i * s->mask_i : nullptr;
  }
};

Plan make_plan(const AttentionShape& s) {
  Plan p;
  p.s = &s;
  p.H = s.heads;
  p.Dh = s.head_dim;
  p.Dpad = round_up(s.head_dim, 16);
  p.packed = s.cu_q != nullptr;
  for (int64_t b = 0; b < s.batch; ++b) {
    for (int64_t i = 0; i < p.q_len(b); i += kBlock) p.qblocks.push_back({b, i, std::min(kBlock, p.q_len(b) - i)});
    for (int64_t j = 0; j < p.k_len(b); j += kBlock) p.kblocks.push_back({b, j, std::min(kBlock, p.k_len(b) - j)});
  }
  return p;
}

// First block index of each sequence in a block list (size batch + 1).
std::vector<int64_t> block_starts(const std::vector<Block>& blocks, int64_t batch) {
  std::vector<int64_t> st(size_t(batch + 1), int64_t(blocks.size()));
  for (int64_t i = int64_t(blocks.size()) - 1; i >= 0; --i) st[size_t(blocks[size_t(i)].seq)] = i;
  for (int64_t b = batch - 1; b >= 0; --b) st[size_t(b)] = std::min(st[size_t(b)], st[size_t(b + 1)]);
  return st;
}

// Packs rows [start, start + rows) of one (sequence, head) of x (scaled by alpha):
//   T format: t[d * 64 + j] = alpha x[j][d]   (zero for j >= rows)
//   R format: r[j * dpad + d] = alpha x[j][d] (zero for j >= rows or d >= dh)
void pack_t(const float* x, int64_t stride, int64_t rows, int64_t dh, float alpha, float* t) {
  std::fill(t, t + dh * kBlock, 0.0f);
  for (int64_t j = 0; j < rows; ++j)
    for (int64_t d = 0; d < dh; ++d) t[d * kBlock + j] = alpha * x[j * stride + d];
}
void pack_r(const float* x, int64_t stride, int64_t rows, int64_t dh, int64_t dpad, float alpha, float* r) {
  std::fill(r, r + kBlock * dpad, 0.0f);
  for (int64_t j = 0; j < rows; ++j)
    for (int64_t d = 0; d < dh; ++d) r[j * dpad + d] = alpha * x[j * stride + d];
}

// ---- forward ------------------------------------------------------------------------

struct FwdArgs {
  const Plan* p;
  const float* q;
  const float *kt, *vr;  // packed K (T format) and V (R format), per (key block, head)
  const std::vector<int64_t>* kstart;
  float *o, *lse;
};

// Per (query block, head): S = (scale q) k^T + mask per key block; online softmax
//   m' = max(m, rowmax S); P = exp(S - m'); l = l e^(m - m') + rowsum P; O = O e^(m - m') + P V,
// then o = O / l and lse = m + log l (o = 0, lse = -inf when l = 0).
template <Isa I> TESSERA_INLINE void forward_tasks_impl(const FwdArgs* a, int64_t t0, int64_t t1) {
  constexpr int W = IsaTraits<I>::W;
  using F = typename VecT<W>::f;
  const Plan& p = *a->p;
  const int64_t H = p.H, Dh = p.Dh, Dpad = p.Dpad, rs = p.row_stride();
  const float scale = p.s->scale;
  std::vector<float> buf(size_t(kBlock * Dh + kBlock * kBlock + kBlock * Dpad + 2 * kBlock) + 64);
  float* qs = buf.data();
  float* S = qs + kBlock * Dh;
  float* O = S + kBlock * kBlock;
  float* m = O + kBlock * Dpad;
  float* l = m + kBlock;
  for (int64_t t = t0; t < t1; ++t) {
    const Block& qb = p.qblocks[size_t(t / H)];
    const int64_t h = t % H, b = qb.seq, nqb = qb.rows;
    const float* qp = a->q + p.q_off(b, h, qb.start);
    for (int64_t i = 0; i < nqb; ++i)
      for (int64_t d = 0; d < Dh; ++d) qs[i * Dh + d] = scale * qp[i * rs + d];
    std::fill(O, O + kBlock * Dpad, 0.0f);
    std::fill(m, m + kBlock, -kInf);
    std::fill(l, l + kBlock, 0.0f);
    const int64_t kb0 = (*a->kstart)[size_t(b)], kb1 = (*a->kstart)[size_t(b + 1)];
    for (int64_t kb = kb0; kb < kb1; ++kb) {
      const Block& kblk = p.kblocks[size_t(kb)];
      const int64_t nkb = kblk.rows;
      score_tile<I>(qs, Dh, nqb, a->kt + (kb * H + h) * Dh * kBlock, Dh, S);
      for (int64_t i = 0; i < nqb; ++i) {
        float* row = S + i * kBlock;
        if (const float* mk = p.mask_at(b, h, qb.start + i)) {
          mk += kblk.start;
          for (int64_t j = 0; j < nkb; ++j) row[j] += mk[j];
        }
        for (int64_t j = nkb; j < kBlock; ++j) row[j] = -kInf;
        F mx = vload<W>(row);
        for (int c = W; c < kBlock; c += W) {
          const F x = vload<W>(row + c);
          mx = x > mx ? x : mx;
        }
        const float m_new = std::max(m[i], hmax<W>(mx));
        const float mu = m_new == -kInf ? 0.0f : m_new;
        const float alpha = m[i] == -kInf ? 0.0f : std::exp(m[i] - mu);
        const F muv = vset<W>(mu);
        F sum = vset<W>(0.0f);
        for (int c = 0; c < kBlock; c += W) {
          const F e = vexp<W>(vload<W>(row + c) - muv);
          vstore<W>(row + c, e);
          sum += e;
        }
        l[i] = l[i] * alpha + hsum<W>(sum);
        m[i] = m_new;
        if (alpha != 1.0f) {
          const F av = vset<W>(alpha);
          float* orow = O + i * Dpad;
          for (int64_t c = 0; c < Dpad; c += W) vstore<W>(orow + c, vload<W>(orow + c) * av);
        }
      }
      accum_tile<I>(S, kBlock, nqb, a->vr + (kb * H + h) * kBlock * Dpad, nkb, Dpad, O);
    }
    float* op = a->o + p.q_off(b, h, qb.start);
    float* lp = a->lse + p.lse_off(b, h, qb.start);
    for (int64_t i = 0; i < nqb; ++i) {
      const float inv = l[i] > 0.0f ? 1.0f / l[i] : 0.0f;
      for (int64_t d = 0; d < Dh; ++d) op[i * rs + d] = O[i * Dpad + d] * inv;
      lp[i] = l[i] > 0.0f ? m[i] + std::log(l[i]) : -kInf;
    }
  }
}

TESSERA_ISA_DISPATCH(forward_tasks, forward_tasks_impl, (const FwdArgs* a, int64_t t0, int64_t t1), (a, t0, t1))

// ---- backward -----------------------------------------------------------------------

struct BwdArgs {
  const Plan* p;
  // Key side, per (key block, head): K and V in T and R formats.
  const float *kt, *kr, *vt, *vr;
  // Query side, per (query block, head): scale q in R and T formats, do in R and T
  // formats, lse (+inf for rows with no probability mass and for padding), D.
  const float *qr, *qt, *dor, *dot, *lseb, *drow;
  const std::vector<int64_t>*qstart, *kstart;
  float *dq, *dk, *dv;
};

// Pass 1, per (query block, head): for each key block
//   P = exp(S - lse); dP = do v^T; dS = P (dP - D); dQ += dS k;  finally dq = scale dQ.
template <Isa I> TESSERA_INLINE void dq_tasks_impl(const BwdArgs* a, int64_t t0, int64_t t1) {
  constexpr int W = IsaTraits<I>::W;
  using F = typename VecT<W>::f;
  const Plan& p = *a->p;
  const int64_t H = p.H, Dh = p.Dh, Dpad = p.Dpad, rs = p.row_stride();
  const float scale = p.s->scale;
  std::vector<float> buf(size_t(2 * kBlock * kBlock + kBlock * Dpad) + 64);
  float* S = buf.data();
  float* dP = S + kBlock * kBlock;
  float* G = dP + kBlock * kBlock;
  for (int64_t t = t0; t < t1; ++t) {
    const int64_t qi = t / H, h = t % H;
    const Block& qb = p.qblocks[size_t(qi)];
    const int64_t b = qb.seq, nqb = qb.rows, qslot = qi * H + h;
    const float* qr = a->qr + qslot * kBlock * Dpad;
    const float* dor = a->dor + qslot * kBlock * Dpad;
    const float* lse = a->lseb + qslot * kBlock;
    const float* D = a->drow + qslot * kBlock;
    std::fill(G, G + kBlock * Dpad, 0.0f);
    const int64_t kb0 = (*a->kstart)[size_t(b)], kb1 = (*a->kstart)[size_t(b + 1)];
    for (int64_t kb = kb0; kb < kb1; ++kb) {
      const Block& kblk = p.kblocks[size_t(kb)];
      const int64_t nkb = kblk.rows, kslot = kb * H + h;
      score_tile<I>(qr, Dpad, nqb, a->kt + kslot * Dh * kBlock, Dh, S);
      score_tile<I>(dor, Dpad, nqb, a->vt + kslot * Dh * kBlock, Dh, dP);
      for (int64_t i = 0; i < nqb; ++i) {
        float* row = S + i * kBlock;
        const float* dprow = dP + i * kBlock;
        if (const float* mk = p.mask_at(b, h, qb.start + i)) {
          mk += kblk.start;
          for (int64_t j = 0; j < nkb; ++j) row[j] += mk[j];
        }
        for (int64_t j = nkb; j < kBlock; ++j) row[j] = -kInf;
        const F lv = vset<W>(lse[i]), dv = vset<W>(D[i]);
        for (int c = 0; c < kBlock; c += W) {
          const F pr = vexp<W>(vload<W>(row + c) - lv);
          vstore<W>(row + c, pr * (vload<W>(dprow + c) - dv));
        }
      }
      accum_tile<I>(S, kBlock, nqb, a->kr + kslot * kBlock * Dpad, nkb, Dpad, G);
    }
    float* dq = a->dq + p.q_off(b, h, qb.start);
    for (int64_t i = 0; i < nqb; ++i)
      for (int64_t d = 0; d < Dh; ++d) dq[i * rs + d] = scale * G[i * Dpad + d];
  }
}

TESSERA_ISA_DISPATCH(dq_tasks, dq_tasks_impl, (const BwdArgs* a, int64_t t0, int64_t t1), (a, t0, t1))

// Pass 2, per (key block, head): for each query block, in transposed form
//   P^T = exp(S^T - lse); dV += P^T do; dP^T = v do^T; dS^T = P^T (dP^T - D); dK += dS^T (scale q).
template <Isa I> TESSERA_INLINE void dkv_tasks_impl(const BwdArgs* a, int64_t t0, int64_t t1) {
  constexpr int W = IsaTraits<I>::W;
  const Plan& p = *a->p;
  const int64_t H = p.H, Dh = p.Dh, Dpad = p.Dpad, rs = p.row_stride();
  std::vector<float> buf(size_t(2 * kBlock * kBlock + 2 * kBlock * Dpad) + 64);
  float* St = buf.data();
  float* dPt = St + kBlock * kBlock;
  float* GK = dPt + kBlock * kBlock;
  float* GV = GK + kBlock * Dpad;
  for (int64_t t = t0; t < t1; ++t) {
    const int64_t ki = t / H, h = t % H;
    const Block& kblk = p.kblocks[size_t(ki)];
    const int64_t b = kblk.seq, nkb = kblk.rows, kslot = ki * H + h;
    const float* kr = a->kr + kslot * kBlock * Dpad;
    const float* vr = a->vr + kslot * kBlock * Dpad;
    std::fill(GK, GK + 2 * kBlock * Dpad, 0.0f);
    const int64_t qb0 = (*a->qstart)[size_t(b)], qb1 = (*a->qstart)[size_t(b + 1)];
    for (int64_t qi = qb0; qi < qb1; ++qi) {
      const Block& qb = p.qblocks[size_t(qi)];
      const int64_t nqb = qb.rows, qslot = qi * H + h;
      const float* lse = a->lseb + qslot * kBlock;
      const float* D = a->drow + qslot * kBlock;
      score_tile<I>(kr, Dpad, nkb, a->qt + qslot * Dh * kBlock, Dh, St);
      score_tile<I>(vr, Dpad, nkb, a->dot + qslot * Dh * kBlock, Dh, dPt);
      if (p.s->mask) {
        for (int64_t i = 0; i < nqb; ++i) {
          const float* mk = p.mask_at(b, h, qb.start + i) + kblk.start;
          for (int64_t j = 0; j < nkb; ++j) St[j * kBlock + i] += mk[j];
        }
      }
      // Padded query columns have lse = +inf, so their probabilities are 0.
      for (int64_t j = 0; j < nkb; ++j) {
        float* row = St + j * kBlock;
        for (int c = 0; c < kBlock; c += W) vstore<W>(row + c, vexp<W>(vload<W>(row + c) - vload<W>(lse + c)));
      }
      accum_tile<I>(St, kBlock, nkb, a->dor + qslot * kBlock * Dpad, nqb, Dpad, GV);
      for (int64_t j = 0; j < nkb; ++j) {
        float* row = St + j * kBlock;
        const float* dprow = dPt + j * kBlock;
        for (int c = 0; c < kBlock; c += W)
          vstore<W>(row + c, vload<W>(row + c) * (vload<W>(dprow + c) - vload<W>(D + c)));
      }
      accum_tile<I>(St, kBlock, nkb, a->qr + qslot * kBlock * Dpad, nqb, Dpad, GK);
    }
    float* dk = a->dk + p.k_off(b, h, kblk.start);
    float* dv = a->dv + p.k_off(b, h, kblk.start);
    for (int64_t j = 0; j < nkb; ++j)
      for (int64_t d = 0; d < Dh; ++d) {
        dk[j * rs + d] = GK[j * Dpad + d];
        dv[j * rs + d] = GV[j * Dpad + d];
      }
  }
}

TESSERA_ISA_DISPATCH(dkv_tasks, dkv_tasks_impl, (const BwdArgs* a, int64_t t0, int64_t t1), (a, t0, t1))

}  // namespace

int64_t attention_lse_numel(const AttentionShape& s) {
  return s.cu_q ? s.heads * s.cu_q[s.batch] : s.batch * s.heads * s.nq;
}

void attention_forward(const AttentionShape& s, const float* q, const float* k, const float* v, float* o,
                       float* lse) {
  const Plan p = make_plan(s);
  const int64_t H = p.H, Dh = p.Dh, Dpad = p.Dpad, rs = p.row_stride();
  if (p.qblocks.empty() || H == 0) return;
  if (Dh == 0) {
    // Empty head dimension: every score is the mask (or 0); o has no elements.
    for (const Block& qb : p.qblocks)
      for (int64_t h = 0; h < H; ++h)
        for (int64_t i = 0; i < qb.rows; ++i) {
          const int64_t n = p.k_len(qb.seq);
          const float* mk = p.mask_at(qb.seq, h, qb.start + i);
          float mx = -kInf, sum = 0.0f;
          for (int64_t j = 0; j < n; ++j) mx = std::max(mx, mk ? mk[j] : 0.0f);
          for (int64_t j = 0; mx != -kInf && j < n; ++j) sum += std::exp((mk ? mk[j] : 0.0f) - mx);
          lse[p.lse_off(qb.seq, h, qb.start + i)] = sum > 0.0f ? mx + std::log(sum) : -kInf;
        }
    return;
  }
  const int64_t nkblk = int64_t(p.kblocks.size());
  std::vector<float> kt(size_t(nkblk * H * Dh * kBlock)), vr(size_t(nkblk * H * kBlock * Dpad));
  parallel_for(nkblk * H, 1, [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t) {
      const Block& kb = p.kblocks[size_t(t / H)];
      const int64_t h = t % H, off = p.k_off(kb.seq, h, kb.start);
      pack_t(k + off, rs, kb.rows, Dh, 1.0f, kt.data() + t * Dh * kBlock);
      pack_r(v + off, rs, kb.rows, Dh, Dpad, 1.0f, vr.data() + t * kBlock * Dpad);
    }
  });
  const std::vector<int64_t> kstart = block_starts(p.kblocks, s.batch);
  FwdArgs a{&p, q, kt.data(), vr.data(), &kstart, o, lse};
  parallel_for(int64_t(p.qblocks.size()) * H, 1, [&](int64_t t0, int64_t t1) { forward_tasks(&a, t0, t1); });
}

void attention_backward(const AttentionShape& s, const float* q, const float* k, const float* v, const float* o,
                        const float* lse, const float* dout, float* dq, float* dk, float* dv) {
  const Plan p = make_plan(s);
  const int64_t H = p.H, Dh = p.Dh, Dpad = p.Dpad, rs = p.row_stride();
  const int64_t nqblk = int64_t(p.qblocks.size()), nkblk = int64_t(p.kblocks.size());
  if (H == 0 || Dh == 0) return;
  // Key side packs.
  std::vector<float> kt(size_t(nkblk * H * Dh * kBlock)), vt(kt.size());
  std::vector<float> kr(size_t(nkblk * H * kBlock * Dpad)), vr(kr.size());
  parallel_for(nkblk * H, 1, [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t) {
      const Block& kb = p.kblocks[size_t(t / H)];
      const int64_t h = t % H, off = p.k_off(kb.seq, h, kb.start);
      pack_t(k + off, rs, kb.rows, Dh, 1.0f, kt.data() + t * Dh * kBlock);
      pack_t(v + off, rs, kb.rows, Dh, 1.0f, vt.data() + t * Dh * kBlock);
      pack_r(k + off, rs, kb.rows, Dh, Dpad, 1.0f, kr.data() + t * kBlock * Dpad);
      pack_r(v + off, rs, kb.rows, Dh, Dpad, 1.0f, vr.data() + t * kBlock * Dpad);
    }
  });
  // Query side packs, lse (with -inf turned into +inf so that exp(S - lse) = 0) and
  // D_i = sum_d do_id o_id.
  std::vector<float> qr(size_t(nqblk * H * kBlock * Dpad)), dor(qr.size());
  std::vector<float> qt(size_t(nqblk * H * Dh * kBlock)), dot(qt.size());
  std::vector<float> lseb(size_t(nqblk * H * kBlock)), drow(lseb.size());
  const float scale = s.scale;
  parallel_for(nqblk * H, 1, [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t) {
      const Block& qb = p.qblocks[size_t(t / H)];
      const int64_t h = t % H, off = p.q_off(qb.seq, h, qb.start);
      pack_r(q + off, rs, qb.rows, Dh, Dpad, scale, qr.data() + t * kBlock * Dpad);
      pack_t(q + off, rs, qb.rows, Dh, scale, qt.data() + t * Dh * kBlock);
      pack_r(dout + off, rs, qb.rows, Dh, Dpad, 1.0f, dor.data() + t * kBlock * Dpad);
      pack_t(dout + off, rs, qb.rows, Dh, 1.0f, dot.data() + t * Dh * kBlock);
      const float* lp = lse + p.lse_off(qb.seq, h, qb.start);
      float* lb = lseb.data() + t * kBlock;
      float* dr = drow.data() + t * kBlock;
      for (int64_t i = 0; i < kBlock; ++i) {
        lb[i] = i < qb.rows && lp[i] != -kInf ? lp[i] : kInf;
        float acc = 0.0f;
        for (int64_t d = 0; i < qb.rows && d < Dh; ++d) acc += dout[off + i * rs + d] * o[off + i * rs + d];
        dr[i] = acc;
      }
    }
  });
  const std::vector<int64_t> qstart = block_starts(p.qblocks, s.batch), kstart = block_starts(p.kblocks, s.batch);
  BwdArgs a{&p,         kt.data(),   kr.data(),   vt.data(), vr.data(), qr.data(), qt.data(),
            dor.data(), dot.data(), lseb.data(), drow.data(), &qstart, &kstart,    dq,        dk,  dv};
  parallel_for(nqblk * H, 1, [&](int64_t t0, int64_t t1) { dq_tasks(&a, t0, t1); });
  // Every key block is written by pass 2 (zeros when its sequence has no queries).
  parallel_for(nkblk * H, 1, [&](int64_t t0, int64_t t1) { dkv_tasks(&a, t0, t1); });
}

}  // namespace tessera::cpu
