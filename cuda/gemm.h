// cuda/gemm.h — GEMM on the GPU (the `matmul` op family, linear layers).
//
//   C[i, j] = alpha * sum_k op(A)[i, k] * op(B)[k, j] + beta * C[i, j] (+ bias[j])
//
// Row-major, op(X) = X or X^T, leading dimensions in elements, like
// tessera::cpu::sgemm (native/cpu/gemm.h). A is M x K (K x M if trans_a), B is
// K x N (N x K if trans_b), C is M x N (f32). When beta == 0, C is not read.
// Device pointers; every launcher checks the launch (throws std::runtime_error).
//   gemm_f32  : f32 inputs, shared-memory tiled, fp32 FMA.
//   gemm_bf16 / gemm_f16 : bf16 / f16 inputs on tensor cores (wmma 16x16x16),
//               fp32 accumulation, f32 output and bias.
// *_strided_batched: matrix b of the batch uses A + b * stride_a, B + b * stride_b,
// C + b * stride_c (a stride of 0 shares one matrix); the C matrices must not overlap.
#pragma once
#include <cstdint>

#include "launch.h"

namespace tessera {
namespace cuda {

void gemm_f32(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
              const float* B, int64_t ldb, float beta, float* C, int64_t ldc, const float* bias,
              cudaStream_t stream);
void gemm_f32_strided_batched(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha,
                              const float* A, int64_t lda, int64_t stride_a, const float* B, int64_t ldb,
                              int64_t stride_b, float beta, float* C, int64_t ldc, int64_t stride_c, int64_t batch,
                              const float* bias, cudaStream_t stream);

void gemm_bf16(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const __nv_bfloat16* A,
               int64_t lda, const __nv_bfloat16* B, int64_t ldb, float beta, float* C, int64_t ldc,
               const float* bias, cudaStream_t stream);
void gemm_bf16_strided_batched(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha,
                               const __nv_bfloat16* A, int64_t lda, int64_t stride_a, const __nv_bfloat16* B,
                               int64_t ldb, int64_t stride_b, float beta, float* C, int64_t ldc, int64_t stride_c,
                               int64_t batch, const float* bias, cudaStream_t stream);

void gemm_f16(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const __half* A,
              int64_t lda, const __half* B, int64_t ldb, float beta, float* C, int64_t ldc, const float* bias,
              cudaStream_t stream);
void gemm_f16_strided_batched(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha,
                              const __half* A, int64_t lda, int64_t stride_a, const __half* B, int64_t ldb,
                              int64_t stride_b, float beta, float* C, int64_t ldc, int64_t stride_c, int64_t batch,
                              const float* bias, cudaStream_t stream);

// Column sums: out[j] = sum_i G[i, j] over the rows in order, accumulated in double
// (deterministic; the `matmul` op's dbias). G is rows x cols, contiguous.
void column_sums(const float* G, int64_t rows, int64_t cols, float* out, cudaStream_t stream);

// Backward of the 2-d `matmul` op (native/ops/matmul.cpp): out = op(A) @ op(B) (+ bias),
// A stored [M, K] ([K, M] if trans_a), B stored [K, N] ([N, K] if trans_b), G = dout [M, N].
//   d op(A) = G @ op(B)^T,  d op(B) = op(A)^T @ G,  dbias = column sums of G.
// dA / dB / dbias are overwritten; any of them may be nullptr to skip it.
void matmul_backward(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, const float* A, const float* B,
                     const float* G, float* dA, float* dB, float* dbias, cudaStream_t stream);

}  // namespace cuda
}  // namespace tessera
