// Single-precision GEMM: packing, microkernels (AVX-512, AVX2+FMA, generic) and
// the blocked, multithreaded driver. See gemm.h for the contract.
//
//   C[i, j] = alpha * sum_k op(A)[i, k] op(B)[k, j] + beta * C[i, j] + bias_n[j] + bias_m[i]
//
// Loop nest (per call):
//   K is cut into k_blocks equal blocks of at most KC (fixed by K alone).
//   for each region (rows ic.. x columns jc.., sized so its packed panels fit a
//   bounded buffer; usually one region covers the whole product)
//     parallel over tasks (MR-tile ranges x NR-panel ranges of the region)
//       for kb in K blocks, in order
//         for each B micro-panel q of the task       (KC x NR, stays in L1)
//           for each A micro-panel ti of the task    (MR x KC, from L2)
//             C tile (ti, q) = kernel(A panel (kb, ti), B panel (kb, q)) with the epilogue
// Micro-panels are packed on first use by whichever task needs them first and
// shared by all tasks of the region (see PanelFlags), so each is packed once per
// region. When M is not split (short, wide products such as conv3d), each B
// micro-panel has a single user and is packed into a small per-thread buffer
// that stays in L1 instead. The first K block applies beta, later ones add (beta = 1); the last adds
// the biases.
#include "cpu/gemm.h"

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <thread>

#include "core/cpu_features.h"
#include "core/error.h"
#include "core/threadpool.h"

#if TESSERA_X86
#include <immintrin.h>
#endif

namespace tessera {
namespace cpu {
namespace {

// A growable 64-byte aligned scratch buffer, one per thread and role.
struct ScratchBuffer {
  float* data = nullptr;
  size_t capacity = 0;  // floats
  ~ScratchBuffer() { std::free(data); }
  float* get(size_t floats) {
    if (floats > capacity) {
      std::free(data);
      size_t bytes = (floats * sizeof(float) + 4095) / 4096 * 4096;
      data = static_cast<float*>(std::aligned_alloc(64, bytes));
      TS_CHECK(data != nullptr, ErrorCode::OutOfMemory, "sgemm: could not allocate ", bytes,
               " bytes of packing buffer");
      capacity = bytes / sizeof(float);
    }
    return data;
  }
};
thread_local ScratchBuffer tl_pack_a;  // the calling thread's packed op(A) region, shared by its tasks
thread_local ScratchBuffer tl_pack_b;  // the calling thread's packed op(B) region, shared by its tasks
thread_local ScratchBuffer tl_panel_b;  // one op(B) micro-panel private to a task

// What the microkernel does with its accumulator tile:
//   c = alpha * acc (+ beta * c if beta != 0) (+ bias_n[j]) (+ bias_m[r])
struct Epilogue {
  float alpha = 1.0f;
  float beta = 0.0f;
  const float* bias_n = nullptr;  // NR entries for this tile, or null
  const float* bias_m = nullptr;  // MR entries for this tile, or null
};

using KernelFn = void (*)(int64_t kc, const float* a, const float* b, float* c, int64_t ldc, const Epilogue& e);
using PackAFn = void (*)(bool trans, const float* A, int64_t lda, int64_t i0, int64_t mc, int64_t k0, int64_t kc,
                         float* dst);
using PackBFn = void (*)(bool trans, const float* B, int64_t ldb, int64_t k0, int64_t kc, int64_t j0, int64_t nc,
                         float* dst);

struct KernelSet {
  int64_t mr, nr;
  int64_t kc_max, mc_max, nc_max;
  KernelFn kernel;
  PackAFn pack_a;
  PackBFn pack_b;
};

// ---------------------------------------------------------------------------
// Packing (templated on the tile shape; instantiated inside target-attributed
// wrappers so the copies vectorize for the instruction set).
//
// A micro-panel p (rows i0 + p*MR ...): dst[p*MR*kc + k*MR + r] = op(A)[i0 + p*MR + r, k0 + k], 0 past mc.
// B micro-panel p (cols j0 + p*NR ...): dst[p*NR*kc + k*NR + j] = op(B)[k0 + k, j0 + p*NR + j], 0 past nc.

template <int MR>
TESSERA_INLINE void pack_a_impl(bool trans, const float* A, int64_t lda, int64_t i0, int64_t mc, int64_t k0,
                                int64_t kc, float* dst) {
  for (int64_t p0 = 0; p0 < mc; p0 += MR, dst += MR * kc) {
    const int64_t mv = std::min<int64_t>(MR, mc - p0);
    if (!trans) {
      // op(A)[i, k] = A[i * lda + k]: MR row streams, interleaved.
      const float* rows[MR];
      for (int r = 0; r < MR; ++r) rows[r] = A + (i0 + p0 + std::min<int64_t>(r, mv - 1)) * lda + k0;
      if (mv == MR) {
        for (int64_t k = 0; k < kc; ++k)
          for (int r = 0; r < MR; ++r) dst[k * MR + r] = rows[r][k];
      } else {
        for (int64_t k = 0; k < kc; ++k)
          for (int r = 0; r < MR; ++r) dst[k * MR + r] = r < mv ? rows[r][k] : 0.0f;
      }
    } else {
      // op(A)[i, k] = A[k * lda + i]: contiguous MR floats per k.
      const float* src = A + k0 * lda + i0 + p0;
      if (mv == MR) {
        for (int64_t k = 0; k < kc; ++k)
          for (int r = 0; r < MR; ++r) dst[k * MR + r] = src[k * lda + r];
      } else {
        for (int64_t k = 0; k < kc; ++k)
          for (int r = 0; r < MR; ++r) dst[k * MR + r] = r < mv ? src[k * lda + r] : 0.0f;
      }
    }
  }
}

template <int NR>
TESSERA_INLINE void pack_b_impl(bool trans, const float* B, int64_t ldb, int64_t k0, int64_t kc, int64_t j0,
                                int64_t nc, float* dst) {
  for (int64_t p0 = 0; p0 < nc; p0 += NR, dst += NR * kc) {
    const int64_t nv = std::min<int64_t>(NR, nc - p0);
    if (!trans) {
      // op(B)[k, j] = B[k * ldb + j]: contiguous NR floats per k.
      const float* src = B + k0 * ldb + j0 + p0;
      if (nv == NR) {
        for (int64_t k = 0; k < kc; ++k)
          for (int j = 0; j < NR; ++j) dst[k * NR + j] = src[k * ldb + j];
      } else {
        for (int64_t k = 0; k < kc; ++k)
          for (int j = 0; j < NR; ++j) dst[k * NR + j] = j < nv ? src[k * ldb + j] : 0.0f;
      }
    } else {
      // op(B)[k, j] = B[j * ldb + k]: transpose NR rows of B, in k chunks of 16
      // so the NR source rows stay in L1 while their lines are consumed.
      const float* src = B + (j0 + p0) * ldb + k0;
      constexpr int64_t KB = 16;
      for (int64_t kb = 0; kb < kc; kb += KB) {
        const int64_t kn = std::min(KB, kc - kb);
        for (int j = 0; j < NR; ++j) {
          if (j < nv) {
            const float* s = src + j * ldb + kb;
            for (int64_t k = 0; k < kn; ++k) dst[(kb + k) * NR + j] = s[k];
          } else {
            for (int64_t k = 0; k < kn; ++k) dst[(kb + k) * NR + j] = 0.0f;
          }
        }
      }
    }
  }
}

// ---------------------------------------------------------------------------
// Microkernels: acc[r][j] = sum_k a[k*MR + r] * b[k*NR + j], k in order, then the epilogue.

// Generic C++: 4 x 16 (plain loops; the compiler vectorizes over j).
template <int MR, int NR>
void kernel_generic(int64_t kc, const float* a, const float* b, float* c, int64_t ldc, const Epilogue& e) {
  float acc[MR][NR];
  for (int r = 0; r < MR; ++r)
    for (int j = 0; j < NR; ++j) acc[r][j] = 0.0f;
  for (int64_t k = 0; k < kc; ++k, a += MR, b += NR) {
    for (int r = 0; r < MR; ++r) {
      const float av = a[r];
      for (int j = 0; j < NR; ++j) acc[r][j] += av * b[j];
    }
  }
  for (int r = 0; r < MR; ++r) {
    float* cr = c + r * ldc;
    for (int j = 0; j < NR; ++j) {
      float v = e.alpha * acc[r][j];
      if (e.beta != 0.0f) v += e.beta * cr[j];
      if (e.bias_n) v += e.bias_n[j];
      if (e.bias_m) v += e.bias_m[r];
      cr[j] = v;
    }
  }
}

void pack_a_generic(bool t, const float* A, int64_t lda, int64_t i0, int64_t mc, int64_t k0, int64_t kc, float* d) {
  pack_a_impl<4>(t, A, lda, i0, mc, k0, kc, d);
}
void pack_b_generic(bool t, const float* B, int64_t ldb, int64_t k0, int64_t kc, int64_t j0, int64_t nc, float* d) {
  pack_b_impl<16>(t, B, ldb, k0, kc, j0, nc, d);
}

#if TESSERA_X86

// AVX2 + FMA: 6 x 16 (12 ymm accumulators, 2 for B, 1 broadcast).
TESSERA_TARGET_AVX2 void kernel_avx2_6x16(int64_t kc, const float* a, const float* b, float* c, int64_t ldc,
                                          const Epilogue& e) {
  constexpr int MR = 6;
  __m256 acc0[MR], acc1[MR];
  for (int r = 0; r < MR; ++r) acc0[r] = acc1[r] = _mm256_setzero_ps();
#pragma GCC unroll 2
  for (int64_t k = 0; k < kc; ++k, a += MR, b += 16) {
    const __m256 b0 = _mm256_load_ps(b), b1 = _mm256_load_ps(b + 8);
#pragma GCC unroll 6
    for (int r = 0; r < MR; ++r) {
      const __m256 av = _mm256_broadcast_ss(a + r);
      acc0[r] = _mm256_fmadd_ps(av, b0, acc0[r]);
      acc1[r] = _mm256_fmadd_ps(av, b1, acc1[r]);
    }
  }
  const __m256 va = _mm256_set1_ps(e.alpha), vb = _mm256_set1_ps(e.beta);
  __m256 bn0 = _mm256_setzero_ps(), bn1 = _mm256_setzero_ps();
  if (e.bias_n) {
    bn0 = _mm256_loadu_ps(e.bias_n);
    bn1 = _mm256_loadu_ps(e.bias_n + 8);
  }
#pragma GCC unroll 6
  for (int r = 0; r < MR; ++r) {
    float* cr = c + r * ldc;
    __m256 v0 = _mm256_mul_ps(acc0[r], va), v1 = _mm256_mul_ps(acc1[r], va);
    if (e.beta != 0.0f) {
      v0 = _mm256_fmadd_ps(vb, _mm256_loadu_ps(cr), v0);
      v1 = _mm256_fmadd_ps(vb, _mm256_loadu_ps(cr + 8), v1);
    }
    if (e.bias_n) {
      v0 = _mm256_add_ps(v0, bn0);
      v1 = _mm256_add_ps(v1, bn1);
    }
    if (e.bias_m) {
      const __m256 bm = _mm256_set1_ps(e.bias_m[r]);
      v0 = _mm256_add_ps(v0, bm);
      v1 = _mm256_add_ps(v1, bm);
    }
    _mm256_storeu_ps(cr, v0);
    _mm256_storeu_ps(cr + 8, v1);
  }
}

TESSERA_TARGET_AVX2 void pack_a_avx2(bool t, const float* A, int64_t lda, int64_t i0, int64_t mc, int64_t k0,
                                     int64_t kc, float* d) {
  pack_a_impl<6>(t, A, lda, i0, mc, k0, kc, d);
}
TESSERA_TARGET_AVX2 void pack_b_avx2(bool t, const float* B, int64_t ldb, int64_t k0, int64_t kc, int64_t j0,
                                     int64_t nc, float* d) {
  pack_b_impl<16>(t, B, ldb, k0, kc, j0, nc, d);
}

// AVX-512: 12 x 32 (24 zmm accumulators, 2 for B, broadcasts of A).
TESSERA_TARGET_AVX512 void kernel_avx512_12x32(int64_t kc, const float* a, const float* b, float* c, int64_t ldc,
                                               const Epilogue& e) {
  constexpr int MR = 12;
  __m512 acc0[MR], acc1[MR];
  for (int r = 0; r < MR; ++r) acc0[r] = acc1[r] = _mm512_setzero_ps();
  for (int r = 0; r < MR; ++r) {
    _mm_prefetch(reinterpret_cast<const char*>(c + r * ldc), _MM_HINT_T0);
    _mm_prefetch(reinterpret_cast<const char*>(c + r * ldc + 31), _MM_HINT_T0);
  }
#pragma GCC unroll 2
  for (int64_t k = 0; k < kc; ++k, a += MR, b += 32) {
    const __m512 b0 = _mm512_load_ps(b), b1 = _mm512_load_ps(b + 16);
#pragma GCC unroll 12
    for (int r = 0; r < MR; ++r) {
      const __m512 av = _mm512_set1_ps(a[r]);
      acc0[r] = _mm512_fmadd_ps(av, b0, acc0[r]);
      acc1[r] = _mm512_fmadd_ps(av, b1, acc1[r]);
    }
  }
  const __m512 va = _mm512_set1_ps(e.alpha), vb = _mm512_set1_ps(e.beta);
  __m512 bn0 = _mm512_setzero_ps(), bn1 = _mm512_setzero_ps();
  if (e.bias_n) {
    bn0 = _mm512_loadu_ps(e.bias_n);
    bn1 = _mm512_loadu_ps(e.bias_n + 16);
  }
#pragma GCC unroll 12
  for (int r = 0; r < MR; ++r) {
    float* cr = c + r * ldc;
    __m512 v0 = _mm512_mul_ps(acc0[r], va), v1 = _mm512_mul_ps(acc1[r], va);
    if (e.beta != 0.0f) {
      v0 = _mm512_fmadd_ps(vb, _mm512_loadu_ps(cr), v0);
      v1 = _mm512_fmadd_ps(vb, _mm512_loadu_ps(cr + 16), v1);
    }
    if (e.bias_n) {
      v0 = _mm512_add_ps(v0, bn0);
      v1 = _mm512_add_ps(v1, bn1);
    }
    if (e.bias_m) {
      const __m512 bm = _mm512_set1_ps(e.bias_m[r]);
      v0 = _mm512_add_ps(v0, bm);
      v1 = _mm512_add_ps(v1, bm);
    }
    _mm512_storeu_ps(cr, v0);
    _mm512_storeu_ps(cr + 16, v1);
  }
}

// GCC 12 warns about the deliberately undefined pass-through operand inside the
// unpack / shuffle intrinsics (_mm512_undefined_ps) when they are inlined here.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"

// In-register 16 x 16 transpose: on return r[j] holds column j (lane i = old r[i][j]).
TESSERA_TARGET_AVX512 TESSERA_INLINE void transpose16x16(__m512 r[16]) {
  __m512 t[16], u[16];
  for (int i = 0; i < 8; ++i) {
    t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
    t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
  }
  for (int i = 0; i < 4; ++i) {
    const __m512d t0 = _mm512_castps_pd(t[4 * i]), t1 = _mm512_castps_pd(t[4 * i + 1]);
    const __m512d t2 = _mm512_castps_pd(t[4 * i + 2]), t3 = _mm512_castps_pd(t[4 * i + 3]);
    u[4 * i + 0] = _mm512_castpd_ps(_mm512_unpacklo_pd(t0, t2));
    u[4 * i + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(t0, t2));
    u[4 * i + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(t1, t3));
    u[4 * i + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(t1, t3));
  }
  // u[4g + c], 128-bit lane L = rows 4g..4g+3 of column 4L + c.
  for (int c = 0; c < 4; ++c) {
    const __m512 v0 = _mm512_shuffle_f32x4(u[c], u[4 + c], 0x44), v1 = _mm512_shuffle_f32x4(u[c], u[4 + c], 0xEE);
    const __m512 v2 = _mm512_shuffle_f32x4(u[8 + c], u[12 + c], 0x44);
    const __m512 v3 = _mm512_shuffle_f32x4(u[8 + c], u[12 + c], 0xEE);
    r[c] = _mm512_shuffle_f32x4(v0, v2, 0x88);
    r[4 + c] = _mm512_shuffle_f32x4(v0, v2, 0xDD);
    r[8 + c] = _mm512_shuffle_f32x4(v1, v3, 0x88);
    r[12 + c] = _mm512_shuffle_f32x4(v1, v3, 0xDD);
  }
}

// Loads rows[i][0 .. kn) for i < nrows (zero for the others and past kn).
TESSERA_TARGET_AVX512 TESSERA_INLINE void load_rows16(__m512 r[16], const float* const* rows, int nrows, int64_t off,
                                                      int64_t kn) {
  const __mmask16 km = kn >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << kn) - 1);
  for (int i = 0; i < 16; ++i) r[i] = i < nrows ? _mm512_maskz_loadu_ps(km, rows[i] + off) : _mm512_setzero_ps();
}

// A not transposed: MR = 12 row streams interleaved, 16 k at a time through a
// 16 x 16 transpose (4 zero rows); other cases use the generic copy.
TESSERA_TARGET_AVX512 void pack_a_avx512(bool t, const float* A, int64_t lda, int64_t i0, int64_t mc, int64_t k0,
                                         int64_t kc, float* d) {
  constexpr int MR = 12;
  if (t) {
    pack_a_impl<MR>(t, A, lda, i0, mc, k0, kc, d);
    return;
  }
  for (int64_t p0 = 0; p0 < mc; p0 += MR, d += MR * kc) {
    const int mv = int(std::min<int64_t>(MR, mc - p0));
    const float* rows[16];
    for (int r = 0; r < 16; ++r) rows[r] = A + (i0 + p0 + std::min(r, mv - 1)) * lda + k0;
    for (int64_t kb = 0; kb < kc; kb += 16) {
      const int64_t kn = std::min<int64_t>(16, kc - kb);
      __m512 r[16];
      load_rows16(r, rows, mv, kb, kn);
      transpose16x16(r);
      for (int64_t k = 0; k < kn; ++k) _mm512_mask_storeu_ps(d + (kb + k) * MR, __mmask16(0x0FFF), r[k]);
    }
  }
}

// B transposed (stored [N, K]): NR = 32 rows of B per micro-panel, transposed 16 x 16
// at a time; B not transposed is a plain row copy (generic code vectorizes it).
TESSERA_TARGET_AVX512 void pack_b_avx512(bool t, const float* B, int64_t ldb, int64_t k0, int64_t kc, int64_t j0,
                                         int64_t nc, float* d) {
  constexpr int NR = 32;
  if (!t) {
    pack_b_impl<NR>(t, B, ldb, k0, kc, j0, nc, d);
    return;
  }
  for (int64_t p0 = 0; p0 < nc; p0 += NR, d += NR * kc) {
    const int nv = int(std::min<int64_t>(NR, nc - p0));
    for (int half = 0; half < 2; ++half) {
      const int hv = std::max(0, std::min(16, nv - 16 * half));
      const float* rows[16];
      for (int r = 0; r < 16; ++r) rows[r] = B + (j0 + p0 + 16 * half + std::min(r, std::max(hv - 1, 0))) * ldb + k0;
      for (int64_t kb = 0; kb < kc; kb += 16) {
        const int64_t kn = std::min<int64_t>(16, kc - kb);
        __m512 r[16];
        load_rows16(r, rows, hv, kb, kn);
        transpose16x16(r);
        for (int64_t k = 0; k < kn; ++k) _mm512_store_ps(d + (kb + k) * NR + 16 * half, r[k]);
      }
    }
  }
}

#pragma GCC diagnostic pop

#endif  // TESSERA_X86

const KernelSet& kernel_set() {
  static const KernelSet generic{4, 16, 256, 128, 2048, kernel_generic<4, 16>, pack_a_generic, pack_b_generic};
#if TESSERA_X86
  static const KernelSet avx2{6, 16, 256, 120, 4096, kernel_avx2_6x16, pack_a_avx2, pack_b_avx2};
  static const KernelSet avx512{12, 32, 256, 240, 4096, kernel_avx512_12x32, pack_a_avx512, pack_b_avx512};
  switch (cpu_isa()) {
    case Isa::Avx512: return avx512;
    case Isa::Avx2: return avx2;
    default: return generic;
  }
#else
  return generic;
#endif
}

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

// C = beta * C + biases, for K == 0.
void scale_only(int64_t M, int64_t N, float beta, float* C, int64_t ldc, const float* bias_n, const float* bias_m) {
  for (int64_t i = 0; i < M; ++i) {
    float* cr = C + i * ldc;
    for (int64_t j = 0; j < N; ++j) {
      float v = beta != 0.0f ? beta * cr[j] : 0.0f;
      if (bias_n) v += bias_n[j];
      if (bias_m) v += bias_m[i];
      cr[j] = v;
    }
  }
}

// Work below this many flops runs on the calling thread.
constexpr int64_t kParallelFlops = int64_t(1) << 19;
// Packed op(A) / op(B) per region: at most this many floats each (rows x K,
// K x columns), so one parallel region usually covers the whole product.
constexpr int64_t kPackedFloats = int64_t(1) << 22;

// Ready flags of the packed op(B) micro-panels of one N block. A panel is packed
// by the first task that needs it (0 -> 1 claims it, 1 -> 2 publishes it); other
// tasks wait for 2. The claiming thread packs at once and waits on nothing, so
// this cannot deadlock, also when tasks run one after another on one thread.
class PanelFlags {
 public:
  explicit PanelFlags(int64_t n) : flags_(new std::atomic<int>[size_t(n)]) {
    for (int64_t i = 0; i < n; ++i) flags_[size_t(i)].store(0, std::memory_order_relaxed);
  }
  template <class PackFn>
  void ensure(int64_t i, const PackFn& pack) {
    std::atomic<int>& f = flags_[size_t(i)];
    if (f.load(std::memory_order_acquire) == 2) return;
    int expected = 0;
    if (f.compare_exchange_strong(expected, 1, std::memory_order_acq_rel)) {
      try {
        pack();
      } catch (...) {
        f.store(2, std::memory_order_release);
        throw;
      }
      f.store(2, std::memory_order_release);
      return;
    }
    for (int spins = 0; f.load(std::memory_order_acquire) != 2; ++spins) {
      if (spins < 4096) {
#if TESSERA_X86
        _mm_pause();
#endif
      } else {
        std::this_thread::yield();
      }
    }
  }

 private:
  std::unique_ptr<std::atomic<int>[]> flags_;
};

void gemm_driver(const KernelSet& ks, bool trans_a, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
                 int64_t lda, const GemmPackB& pack_b, float beta, float* C, int64_t ldc, const float* bias_n,
                 const float* bias_m) {
  if (M <= 0 || N <= 0) return;
  if (K <= 0) {
    scale_only(M, N, beta, C, ldc, bias_n, bias_m);
    return;
  }
  const int64_t MR = ks.mr, NR = ks.nr;
  const bool serial = 2 * M * N * K < kParallelFlops;
  const int64_t threads = serial ? 1 : std::max(1, num_threads());

  // Fixed K blocking: depends on K only.
  const int64_t k_blocks = ceil_div(K, ks.kc_max);
  const int64_t kc_step = ceil_div(K, k_blocks);
  const int64_t k_padded = k_blocks * kc_step;
  // Region sizes: the packed op(A) rows (mc_region x K) and op(B) columns
  // (K x nc_region) of one region each fit kPackedFloats.
  const int64_t mc_region = std::max(MR, kPackedFloats / k_padded / MR * MR);
  const int64_t nc_shared = std::max(NR, std::min(ks.nc_max, kPackedFloats / k_padded) / NR * NR);
  const size_t a_panel_floats = size_t(kc_step * MR), b_panel_floats = size_t(kc_step * NR);

  for (int64_t ic = 0; ic < M; ic += mc_region) {
    const int64_t mc = std::min(mc_region, M - ic);
    const int64_t m_tiles = ceil_div(mc, MR);
    // Task grid: M-tile ranges x B-panel ranges, balanced. Tall products split M
    // (tasks share the packed B panels, so a region's columns are bounded);
    // short ones split N only (each B panel has one user and is packed into a
    // small per-thread buffer, so the region spans all columns). The partition
    // changes which thread computes a tile, never how it is computed.
    int64_t m_parts = std::min(m_tiles, ceil_div(mc, ks.mc_max));
    if (threads > 1 && m_tiles >= 8 * threads)
      m_parts = std::min(m_tiles, ceil_div(std::max(m_parts, 2 * threads), threads) * threads);
    const bool private_b = m_parts == 1;
    const int64_t nc_region = private_b ? N : nc_shared;
    for (int64_t jc = 0; jc < N; jc += nc_region) {
      const int64_t nc = std::min(nc_region, N - jc);
      const int64_t n_panels = ceil_div(nc, NR);
      int64_t n_parts = 1;
      if (threads > 1 && m_parts < 2 * threads) n_parts = std::min(n_panels, ceil_div(4 * threads, m_parts));
      // Micro-panels of this region, packed on first use and shared by all tasks:
      // A panel (kb, tile) and (unless private) B panel (kb, q).
      float* ap = tl_pack_a.get(size_t(k_blocks * m_tiles) * a_panel_floats);
      float* bp = private_b ? nullptr : tl_pack_b.get(size_t(k_blocks * n_panels) * b_panel_floats);
      PanelFlags a_ready(k_blocks * m_tiles), b_ready(private_b ? 0 : k_blocks * n_panels);

      auto task = [&](int64_t t) {
        alignas(64) float tile[16 * 32];
        alignas(64) float tile_bias_n[32];
        alignas(64) float tile_bias_m[16];
        const int64_t mp = t / n_parts, np = t % n_parts;
        const int64_t tile0 = mp * m_tiles / m_parts, tile1 = (mp + 1) * m_tiles / m_parts;
        const int64_t pan0 = np * n_panels / n_parts, pan1 = (np + 1) * n_panels / n_parts;
        // Without an M split each B panel has one user: it is packed into a small
        // per-thread buffer that stays in cache instead of the region buffer.
        float* b_private = private_b ? tl_panel_b.get(b_panel_floats) : nullptr;
        for (int64_t kb = 0; kb < k_blocks; ++kb) {
          const int64_t k0 = kb * kc_step;
          const int64_t kc = std::min(kc_step, K - k0);
          const bool last = kb == k_blocks - 1;
          // Tasks start at different panels (rotated by their index) so that tasks
          // running at the same time pack different panels instead of waiting on
          // each other; the order does not change any result.
          const int64_t pan_count = pan1 - pan0, tile_count = tile1 - tile0;
          for (int64_t qi = 0; qi < pan_count; ++qi) {
            const int64_t q = pan0 + (qi + mp * pan_count / m_parts) % pan_count;
            const int64_t j = jc + q * NR;
            const int64_t nv = std::min(NR, N - j);
            float* bq;
            if (private_b) {
              bq = b_private;
              pack_b(bq, k0, kc, j, nv, NR);
            } else {
              bq = bp + size_t(kb * n_panels + q) * b_panel_floats;
              b_ready.ensure(kb * n_panels + q, [&] { pack_b(bq, k0, kc, j, nv, NR); });
            }
            for (int64_t tj = 0; tj < tile_count; ++tj) {
              const int64_t ti = tile0 + (tj + np * tile_count / n_parts) % tile_count;
              const int64_t i = ic + ti * MR;
              const int64_t mv = std::min(MR, M - i);
              float* at = ap + size_t(kb * m_tiles + ti) * a_panel_floats;
              a_ready.ensure(kb * m_tiles + ti, [&] { ks.pack_a(trans_a, A, lda, i, mv, k0, kc, at); });
              Epilogue e;
              e.alpha = alpha;
              e.beta = kb == 0 ? beta : 1.0f;
              if (last) {
                e.bias_n = bias_n ? bias_n + j : nullptr;
                e.bias_m = bias_m ? bias_m + i : nullptr;
              }
              float* ct = C + i * ldc + j;
              if (mv == MR && nv == NR) {
                ks.kernel(kc, at, bq, ct, ldc, e);
                continue;
              }
              // Edge tile: the same kernel on a padded copy.
              for (int64_t r = 0; r < MR; ++r)
                for (int64_t c = 0; c < NR; ++c)
                  tile[r * NR + c] = (e.beta != 0.0f && r < mv && c < nv) ? ct[r * ldc + c] : 0.0f;
              if (e.bias_n) {
                for (int64_t c = 0; c < NR; ++c) tile_bias_n[c] = c < nv ? e.bias_n[c] : 0.0f;
                e.bias_n = tile_bias_n;
              }
              if (e.bias_m) {
                for (int64_t r = 0; r < MR; ++r) tile_bias_m[r] = r < mv ? e.bias_m[r] : 0.0f;
                e.bias_m = tile_bias_m;
              }
              ks.kernel(kc, at, bq, tile, NR, e);
              for (int64_t r = 0; r < mv; ++r)
                for (int64_t c = 0; c < nv; ++c) ct[r * ldc + c] = tile[r * NR + c];
            }
          }
        }
      };
      const int64_t tasks = m_parts * n_parts;
      if (threads <= 1 || tasks <= 1) {
        for (int64_t t = 0; t < tasks; ++t) task(t);
      } else {
        parallel_for(tasks, 1, [&](int64_t b, int64_t e) {
          for (int64_t t = b; t < e; ++t) task(t);
        });
      }
    }
  }
}

}  // namespace

int64_t sgemm_nr() { return kernel_set().nr; }

void sgemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
           const float* B, int64_t ldb, float beta, float* C, int64_t ldc, const float* bias_n, const float* bias_m) {
  const KernelSet& ks = kernel_set();
  GemmPackB pack = [&](float* dst, int64_t k0, int64_t kc, int64_t j0, int64_t nc, int64_t nr) {
    (void)nr;
    ks.pack_b(trans_b, B, ldb, k0, kc, j0, nc, dst);
  };
  gemm_driver(ks, trans_a, M, N, K, alpha, A, lda, pack, beta, C, ldc, bias_n, bias_m);
}

void sgemm_pack_b(bool trans_a, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
                  const GemmPackB& pack_b, float beta, float* C, int64_t ldc, const float* bias_n,
                  const float* bias_m) {
  gemm_driver(kernel_set(), trans_a, M, N, K, alpha, A, lda, pack_b, beta, C, ldc, bias_n, bias_m);
}

void sgemm_strided_batched(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
                           int64_t lda, int64_t stride_a, const float* B, int64_t ldb, int64_t stride_b, float beta,
                           float* C, int64_t ldc, int64_t stride_c, int64_t batch, const float* bias_n) {
  if (batch <= 0) return;
  auto one = [&](int64_t b) {
    sgemm(trans_a, trans_b, M, N, K, alpha, A + b * stride_a, lda, B + b * stride_b, ldb, beta, C + b * stride_c,
          ldc, bias_n);
  };
  // Below this many flops per matrix, whole matrices go to threads (the nested
  // sgemm calls then run on their worker alone).
  constexpr int64_t kPerThreadFlops = int64_t(1) << 24;
  if (batch > 1 && num_threads() > 1 && 2 * M * N * K < kPerThreadFlops) {
    parallel_for(batch, 1, [&](int64_t b0, int64_t b1) {
      for (int64_t b = b0; b < b1; ++b) one(b);
    });
  } else {
    for (int64_t b = 0; b < batch; ++b) one(b);
  }
}

}  // namespace cpu
}  // namespace tessera
