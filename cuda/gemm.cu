// cuda/gemm.cu — GEMM: f32 tiled SIMT kernel, bf16/f16 tensor-core (wmma) kernel,
// strided-batched variants, the column-sum (dbias) kernel and the 2-d matmul backward.
//
//   C[i, j] = alpha * sum_k op(A)[i, k] * op(B)[k, j] + beta * C[i, j] (+ bias[j])
//
// Both kernels stage op(A) / op(B) tiles through shared memory. Global loads walk
// the stored matrix's contiguous dimension with consecutive threads (coalesced for
// either transpose); out-of-range elements are written to shared memory as zeros,
// so the inner loops need no edge tests. Batch entries are blockIdx.z.
#include "gemm.h"
#include "check.h"

#include <stdexcept>
#include <string>

namespace tessera {
namespace cuda {

namespace {

// ---- shared tile loader ----------------------------------------------------------
// Copies the R x Cc tile of op(X) starting at (r0, c0) into shared memory:
//   dst[r * dsr + c * dsc] = op(X)[r0 + r, c0 + c]   (0 outside rows x cols)
// op(X)[r, c] = X[r * ld + c] (X[c * ld + r] if trans). Consecutive threads take
// consecutive elements of X's contiguous dimension (c if !trans, r if trans).
template <int R, int Cc, int NT, class T, class S>
__device__ __forceinline__ void load_tile(S* dst, int dsr, int dsc, const T* __restrict__ X, int64_t ld, bool trans,
                                          int64_t r0, int64_t c0, int64_t rows, int64_t cols) {
  for (int e = threadIdx.x; e < R * Cc; e += NT) {
    int r, c;
    if (!trans) {
      r = e / Cc;
      c = e % Cc;
    } else {
      c = e / R;
      r = e % R;
    }
    const int64_t gr = r0 + r, gc = c0 + c;
    S v = S(0.0f);
    if (gr < rows && gc < cols) v = S(trans ? X[gc * ld + gr] : X[gr * ld + gc]);
    dst[r * dsr + c * dsc] = v;
  }
}

// ---- f32: shared-memory tiled SIMT GEMM -----------------------------------------
// Block tile BM x BN = 64 x 64, K step BK = 16, 256 threads; thread (tx, ty) =
// (t % 16, t / 16) owns the 4 x 4 register micro-tile of rows ty + 16 i and
// columns tx + 16 j (i, j < 4), so C stores and Bs reads are coalesced / conflict-free
// and As reads are broadcasts. Both tiles are stored k-major:
//   As[k][m] = op(A)[m0 + m, k0 + k],  Bs[k][n] = op(B)[k0 + k, n0 + n]
//   acc[i][j] += As[k][ty + 16 i] * Bs[k][tx + 16 j]   (k ascending, one FMA each)
//   C = alpha * acc (+ beta * C) (+ bias[n])
constexpr int kBM = 64, kBN = 64, kBK = 16, kThreadsF32 = 256, kTM = 4, kTN = 4;

__global__ void __launch_bounds__(kThreadsF32)
    sgemm_tiled_kernel(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha,
                       const float* __restrict__ A, int64_t lda, int64_t stride_a, const float* __restrict__ B,
                       int64_t ldb, int64_t stride_b, float beta, float* __restrict__ C, int64_t ldc,
                       int64_t stride_c, const float* __restrict__ bias) {
  TESSERA_SHARED_2D(float, As, kBK, kBM + 4);
  TESSERA_SHARED_2D(float, Bs, kBK, kBN + 4);
  const int64_t z = blockIdx.z;
  A += z * stride_a;
  B += z * stride_b;
  C += z * stride_c;
  const int64_t m0 = int64_t(blockIdx.y) * kBM, n0 = int64_t(blockIdx.x) * kBN;
  const int tx = threadIdx.x % 16, ty = threadIdx.x / 16;
  float acc[kTM][kTN];
  for (int i = 0; i < kTM; ++i)
    for (int j = 0; j < kTN; ++j) acc[i][j] = 0.0f;

  for (int64_t k0 = 0; k0 < K; k0 += kBK) {
    // op(A) tile rows m, cols k -> As[k][m]; op(B) tile rows k, cols n -> Bs[k][n]
    load_tile<kBM, kBK, kThreadsF32>(&As[0][0], 1, kBM + 4, A, lda, trans_a, m0, k0, M, K);
    load_tile<kBK, kBN, kThreadsF32>(&Bs[0][0], kBN + 4, 1, B, ldb, trans_b, k0, n0, K, N);
    __syncthreads();
#pragma unroll
    for (int k = 0; k < kBK; ++k) {
      float a[kTM], b[kTN];
      for (int i = 0; i < kTM; ++i) a[i] = As[k][ty + 16 * i];
      for (int j = 0; j < kTN; ++j) b[j] = Bs[k][tx + 16 * j];
      for (int i = 0; i < kTM; ++i)
        for (int j = 0; j < kTN; ++j) acc[i][j] = fmaf(a[i], b[j], acc[i][j]);
    }
    __syncthreads();
  }

  for (int i = 0; i < kTM; ++i) {
    const int64_t m = m0 + ty + 16 * i;
    if (m >= M) continue;
    for (int j = 0; j < kTN; ++j) {
      const int64_t n = n0 + tx + 16 * j;
      if (n >= N) continue;
      float v = alpha * acc[i][j];
      if (beta != 0.0f) v += beta * C[m * ldc + n];
      if (bias) v += bias[n];
      C[m * ldc + n] = v;
    }
  }
}

// ---- bf16 / f16: tensor cores through wmma ----------------------------------------
// Block tile 64 x 64, K step 32, 4 warps (128 threads) in a 2 x 2 grid; warp (wr, wc)
// owns the 32 x 32 output sub-tile = 2 x 2 accumulator fragments of 16 x 16 (fp32).
// Shared tiles hold op(A) row-major [64][32] and op(B) row-major [32][64], zero padded
// at the matrix edges (a zero contributes exactly 0 to the fp32 sum):
//   Cfrag[i][j] += Afrag(rows 32 wr + 16 i, k..k+16) @ Bfrag(k..k+16, cols 32 wc + 16 j)
// The accumulators go through shared memory (Cs) for the edge-guarded epilogue
//   C = alpha * acc (+ beta * C) (+ bias[n]).
// Leading dimensions (40, 72 halves; 68 floats) keep wmma's multiple-of-16-bytes rule
// and 32-byte aligned fragment pointers while skewing shared-memory banks.
constexpr int kWM = 64, kWN = 64, kWK = 32, kWThreads = 128;
constexpr int kLdA = kWK + 8, kLdB = kWN + 8, kLdC = kWN + 4;

template <class T>
struct alignas(32) WmmaSmem {
  T a[kWM * kLdA];
  T b[kWK * kLdB];
  float c[kWM * kLdC];
};

template <class T>
__global__ void __launch_bounds__(kWThreads)
    gemm_wmma_kernel(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha,
                     const T* __restrict__ A, int64_t lda, int64_t stride_a, const T* __restrict__ B, int64_t ldb,
                     int64_t stride_b, float beta, float* __restrict__ C, int64_t ldc, int64_t stride_c,
                     const float* __restrict__ bias) {
  using namespace nvcuda;
  TESSERA_SHARED_VAR(WmmaSmem<T>, sm);
  const int64_t z = blockIdx.z;
  A += z * stride_a;
  B += z * stride_b;
  C += z * stride_c;
  const int64_t m0 = int64_t(blockIdx.y) * kWM, n0 = int64_t(blockIdx.x) * kWN;
  const int warp = threadIdx.x / 32;
  const int wr = warp / 2, wc = warp % 2;

  wmma::fragment<wmma::accumulator, 16, 16, 16, float> acc[2][2];
  for (int i = 0; i < 2; ++i)
    for (int j = 0; j < 2; ++j) wmma::fill_fragment(acc[i][j], 0.0f);

  for (int64_t k0 = 0; k0 < K; k0 += kWK) {
    load_tile<kWM, kWK, kWThreads>(sm.a, kLdA, 1, A, lda, trans_a, m0, k0, M, K);
    load_tile<kWK, kWN, kWThreads>(sm.b, kLdB, 1, B, ldb, trans_b, k0, n0, K, N);
    __syncthreads();
    for (int kk = 0; kk < kWK; kk += 16) {
      wmma::fragment<wmma::matrix_a, 16, 16, 16, T, wmma::row_major> fa[2];
      wmma::fragment<wmma::matrix_b, 16, 16, 16, T, wmma::row_major> fb[2];
      for (int i = 0; i < 2; ++i) wmma::load_matrix_sync(fa[i], sm.a + (wr * 32 + i * 16) * kLdA + kk, kLdA);
      for (int j = 0; j < 2; ++j) wmma::load_matrix_sync(fb[j], sm.b + kk * kLdB + wc * 32 + j * 16, kLdB);
      for (int i = 0; i < 2; ++i)
        for (int j = 0; j < 2; ++j) wmma::mma_sync(acc[i][j], fa[i], fb[j], acc[i][j]);
    }
    __syncthreads();
  }

  for (int i = 0; i < 2; ++i)
    for (int j = 0; j < 2; ++j)
      wmma::store_matrix_sync(sm.c + (wr * 32 + i * 16) * kLdC + wc * 32 + j * 16, acc[i][j], kLdC,
                              wmma::mem_row_major);
  __syncthreads();
  for (int e = threadIdx.x; e < kWM * kWN; e += kWThreads) {
    const int r = e / kWN, c = e % kWN;
    const int64_t m = m0 + r, n = n0 + c;
    if (m >= M || n >= N) continue;
    float v = alpha * sm.c[r * kLdC + c];
    if (beta != 0.0f) v += beta * C[m * ldc + n];
    if (bias) v += bias[n];
    C[m * ldc + n] = v;
  }
}

// ---- column sums (dbias) --------------------------------------------------------
// out[j] = sum_{i = 0..rows-1} G[i, j], double accumulator, rows in order: one thread
// per column, consecutive threads read consecutive columns (coalesced), deterministic.
__global__ void column_sums_kernel(const float* __restrict__ G, int64_t rows, int64_t cols, float* __restrict__ out) {
  const int64_t j = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (j >= cols) return;
  double acc = 0.0;
  for (int64_t i = 0; i < rows; ++i) acc += double(G[i * cols + j]);
  out[j] = float(acc);
}

unsigned blocks_for(int64_t n, int64_t tile) { return unsigned((n + tile - 1) / tile); }

void check_args(int64_t M, int64_t N, int64_t K, int64_t batch) {
  if (M < 0 || N < 0 || K < 0 || batch < 0) throw std::invalid_argument("tessera::cuda::gemm: negative size");
  if (blocks_for(M, 64) > 65535u || batch > 65535)
    throw std::invalid_argument("tessera::cuda::gemm: M or batch too large for the grid");
}

// K == 0: C = beta * C (+ bias) with the same kernels (the K loop is empty).
template <class T>
void launch_wmma(bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha, const T* A, int64_t lda, int64_t sa,
                 const T* B, int64_t ldb, int64_t sb, float beta, float* C, int64_t ldc, int64_t sc, int64_t batch,
                 const float* bias, cudaStream_t stream) {
  check_args(M, N, K, batch);
  if (M == 0 || N == 0 || batch == 0) return;
  const dim3 grid(blocks_for(N, kWN), blocks_for(M, kWM), unsigned(batch));
  TESSERA_LAUNCH(gemm_wmma_kernel<T>, grid, kWThreads, 0, stream)(ta, tb, M, N, K, alpha, A, lda, sa, B, ldb, sb,
                                                                  beta, C, ldc, sc, bias);
  TESSERA_CUDA_CHECK_LAUNCH();
}

}  // namespace

void gemm_f32_strided_batched(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha,
                              const float* A, int64_t lda, int64_t stride_a, const float* B, int64_t ldb,
                              int64_t stride_b, float beta, float* C, int64_t ldc, int64_t stride_c, int64_t batch,
                              const float* bias, cudaStream_t stream) {
  check_args(M, N, K, batch);
  if (M == 0 || N == 0 || batch == 0) return;
  const dim3 grid(blocks_for(N, kBN), blocks_for(M, kBM), unsigned(batch));
  TESSERA_LAUNCH(sgemm_tiled_kernel, grid, kThreadsF32, 0, stream)(trans_a, trans_b, M, N, K, alpha, A, lda, stride_a,
                                                                   B, ldb, stride_b, beta, C, ldc, stride_c, bias);
  TESSERA_CUDA_CHECK_LAUNCH();
}

void gemm_f32(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
              const float* B, int64_t ldb, float beta, float* C, int64_t ldc, const float* bias,
              cudaStream_t stream) {
  gemm_f32_strided_batched(trans_a, trans_b, M, N, K, alpha, A, lda, 0, B, ldb, 0, beta, C, ldc, 0, 1, bias, stream);
}

void gemm_bf16_strided_batched(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha,
                               const __nv_bfloat16* A, int64_t lda, int64_t stride_a, const __nv_bfloat16* B,
                               int64_t ldb, int64_t stride_b, float beta, float* C, int64_t ldc, int64_t stride_c,
                               int64_t batch, const float* bias, cudaStream_t stream) {
  launch_wmma<__nv_bfloat16>(trans_a, trans_b, M, N, K, alpha, A, lda, stride_a, B, ldb, stride_b, beta, C, ldc,
                             stride_c, batch, bias, stream);
}

void gemm_bf16(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const __nv_bfloat16* A,
               int64_t lda, const __nv_bfloat16* B, int64_t ldb, float beta, float* C, int64_t ldc,
               const float* bias, cudaStream_t stream) {
  launch_wmma<__nv_bfloat16>(trans_a, trans_b, M, N, K, alpha, A, lda, 0, B, ldb, 0, beta, C, ldc, 0, 1, bias,
                             stream);
}

void gemm_f16_strided_batched(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha,
                              const __half* A, int64_t lda, int64_t stride_a, const __half* B, int64_t ldb,
                              int64_t stride_b, float beta, float* C, int64_t ldc, int64_t stride_c, int64_t batch,
                              const float* bias, cudaStream_t stream) {
  launch_wmma<__half>(trans_a, trans_b, M, N, K, alpha, A, lda, stride_a, B, ldb, stride_b, beta, C, ldc, stride_c,
                      batch, bias, stream);
}

void gemm_f16(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const __half* A,
              int64_t lda, const __half* B, int64_t ldb, float beta, float* C, int64_t ldc, const float* bias,
              cudaStream_t stream) {
  launch_wmma<__half>(trans_a, trans_b, M, N, K, alpha, A, lda, 0, B, ldb, 0, beta, C, ldc, 0, 1, bias, stream);
}

void column_sums(const float* G, int64_t rows, int64_t cols, float* out, cudaStream_t stream) {
  if (cols <= 0) return;
  constexpr int kThreads = 256;
  TESSERA_LAUNCH(column_sums_kernel, blocks_for(cols, kThreads), kThreads, 0, stream)(G, rows, cols, out);
  TESSERA_CUDA_CHECK_LAUNCH();
}

// Mirrors native/ops/matmul.cpp (2-d case). With X stored as given:
//   !ta: dA [M, K] = G @ op(B)^T         ta: dA [K, M] = op(B) @ G^T
//   !tb: dB [K, N] = op(A)^T @ G         tb: dB [N, K] = G^T @ op(A)
void matmul_backward(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, const float* A, const float* B,
                     const float* G, float* dA, float* dB, float* dbias, cudaStream_t stream) {
  const bool ta = trans_a, tb = trans_b;
  const int64_t lda = ta ? M : K, ldb = tb ? K : N;
  if (dbias) column_sums(G, M, N, dbias, stream);
  if (dA) {
    if (!ta)
      gemm_f32(false, !tb, M, K, N, 1.0f, G, N, B, ldb, 0.0f, dA, K, nullptr, stream);
    else
      gemm_f32(tb, true, K, M, N, 1.0f, B, ldb, G, N, 0.0f, dA, M, nullptr, stream);
  }
  if (dB) {
    if (!tb)
      gemm_f32(!ta, false, K, N, M, 1.0f, A, lda, G, N, 0.0f, dB, N, nullptr, stream);
    else
      gemm_f32(true, ta, N, K, M, 1.0f, G, N, A, lda, 0.0f, dB, K, nullptr, stream);
  }
}

}  // namespace cuda
}  // namespace tessera
