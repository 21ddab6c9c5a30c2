// cuda/emu/tests/test_kernels.h — host entry points of the emulator's test kernels.
// good.cu and bugs.cu are valid CUDA (cuda/emu/run-tests.sh compiles them with nvcc -c);
// each wrapper launches one kernel through TESSERA_LAUNCH on "device" pointers (host
// pointers under the emulator). test_emu.cpp (emulator only) drives them.
#pragma once
#include <cuda_fp16.h>
#include <cuda_bf16.h>

// ---- correct kernels: must pass in every schedule and sanitizer build ----
void block_sum_shfl(const float* in, float* block_sums, int n, int threads);  // one sum per block
void warp_scan(const int* in, int* out, int n);                               // inclusive scan per warp (shfl_up)
void warp_broadcast_xor(const float* in, float* out, int n);                  // __shfl_sync + __shfl_xor_sync
void matmul_tiled(const float* a, const float* b, float* c, int m, int n, int k);  // 16x16 smem tiles
void wmma_gemm_half(const __half* a, const __half* b, float* c, int m, int n, int k);  // row-major, multiples of 16
void wmma_gemm_bf16(const __nv_bfloat16* a, const __nv_bfloat16* b, float* c, int m, int n, int k);
void votes(const int* in, unsigned* ballot, int* all, int* any, int* count, int n);  // per warp; count per block
void reverse_dynamic_smem(const float* in, float* out, int n, int threads);  // TESSERA_DYNAMIC_SHARED
void histogram_atomic(const int* in, unsigned* hist, int n, int bins);        // shared atomicAdd
void partial_warp_sum(const float* in, float* out, int threads);              // 1 block, blockDim % 32 != 0
void affine_constant(const float* in, float* out, int n, float scale, float shift);  // __constant__ + cudaMemcpyToSymbol

// ---- planted bugs: the emulator's modes must notice each one ----
void bug_reduce_missing_sync(const float* in, float* block_sums, int n);  // no barrier after smem load
void bug_histogram_plus_equals(const int* in, unsigned* hist, int n, int bins);  // smem += instead of atomicAdd
void bug_oob_global_store(float* out, int n);  // writes out[n]
void bug_oob_shared_store(float* out);         // writes one past a TESSERA_SHARED array
void bug_barrier_after_exit(float* out);       // half the block returns before __syncthreads
void bug_shfl_exited_lane(float* out);         // shuffle names a lane that has returned
void bug_mixed_collectives(float* out);        // lanes at __syncwarp vs __shfl_sync
void bug_stack_overflow(float* out);           // unbounded recursion on the fiber stack
