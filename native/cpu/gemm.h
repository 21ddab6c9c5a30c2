// Single-precision GEMM on the CPU (the `matmul` op, linear layers, conv3d).
//
//   C[i, j] = alpha * sum_k op(A)[i, k] * op(B)[k, j] + beta * C[i, j]
//             (+ bias_n[j]) (+ bias_m[i])
//
// Row-major; op(X) = X or X^T; leading dimensions in elements. When beta == 0,
// C is not read (NaN in C does not propagate).
//
// Structure (GotoBLAS / BLIS): K is cut into fixed blocks of at most KC; op(A)
// is packed into MR-row micro-panels and op(B) into NR-column micro-panels
// (k-major, zero padded), each packed once on first use and shared by all
// threads; threads compute disjoint groups of MR x NR output tiles with a
// register-blocked microkernel (AVX-512: 12 x 32, AVX2+FMA: 6 x 16, generic
// C++: 4 x 16), chosen at run time from tessera::cpu_isa().
//
// Determinism: K is never split across threads. Each C element is accumulated in
// the same order (K blocks in order; inside a block, k in order with one FMA per
// step) whatever the thread count or the task partition, so results are
// bit-identical for any TESSERA_THREADS. Different instruction sets round
// differently (FMA vs mul+add), as they must.
#pragma once
#include <cstdint>
#include <functional>

namespace tessera {
namespace cpu {

// Packs part of op(B) for the kernel: rows [k0, k0 + kc) and columns
// [j0, j0 + nc) of op(B) (a K x N matrix) into ceil(nc / nr) micro-panels of nr
// columns, one after the other:
//   dst[p * kc * nr + k * nr + j] = op(B)[k0 + k, j0 + p * nr + j]   (0 where j0 + p*nr + j >= j0 + nc)
// dst is 64-byte aligned. Calls for different column ranges may run concurrently
// on different threads. conv3d uses this to pack im2col panels straight from its
// input (implicit GEMM) without building the im2col matrix.
using GemmPackB = std::function<void(float* dst, int64_t k0, int64_t kc, int64_t j0, int64_t nc, int64_t nr)>;

// C = alpha * op(A) @ op(B) + beta * C (+ bias_n[j] per column) (+ bias_m[i] per row).
// A is M x K (K x M if trans_a), B is K x N (N x K if trans_b), C is M x N.
void sgemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
           const float* B, int64_t ldb, float beta, float* C, int64_t ldc, const float* bias_n = nullptr,
           const float* bias_m = nullptr);

// Same as sgemm with op(B) supplied by a packing function (see GemmPackB).
void sgemm_pack_b(bool trans_a, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
                  const GemmPackB& pack_b, float beta, float* C, int64_t ldc, const float* bias_n = nullptr,
                  const float* bias_m = nullptr);

// batch independent GEMMs: matrix b uses A + b * stride_a, B + b * stride_b,
// C + b * stride_c (a stride of 0 shares one matrix across the batch). Small
// matrices run one per thread, large ones one after another with every thread
// inside; the result is the same either way. The C matrices must not overlap.
void sgemm_strided_batched(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
                           int64_t lda, int64_t stride_a, const float* B, int64_t ldb, int64_t stride_b, float beta,
                           float* C, int64_t ldc, int64_t stride_c, int64_t batch, const float* bias_n = nullptr);

// The micro-panel width the running instruction set packs B with (NR), for
// callers that want to size their own buffers.
int64_t sgemm_nr();

}  // namespace cpu
}  // namespace tessera
