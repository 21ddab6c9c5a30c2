// cuda/emu/tests/bugs.cu — kernels with planted bugs. cuda/emu/run-tests.sh checks that
// the emulator notices each one (wrong result under some schedule, a TSan or ASan
// report, a deadlock report or a guard-page fault). Valid CUDA: they compile with nvcc.
#include "../../launch.h"
#include "test_kernels.h"

// (1) Tree reduction in shared memory with the barrier after the load missing:
//     thread t reads sdata[t + s] before thread t + s has stored it.
__global__ void reduce_missing_sync_kernel(const float* in, float* out, int n) {
  TESSERA_SHARED(float, sdata, 256);
  const int t = threadIdx.x, i = blockIdx.x * blockDim.x + t;
  sdata[t] = i < n ? in[i] : 0.0f;
  // BUG: __syncthreads() belongs here
  for (int s = blockDim.x / 2; s > 0; s >>= 1) {
    if (t < s) sdata[t] += sdata[t + s];
    __syncthreads();
  }
  if (t == 0) out[blockIdx.x] = sdata[0];
}
void bug_reduce_missing_sync(const float* in, float* block_sums, int n) {
  TESSERA_LAUNCH(reduce_missing_sync_kernel, (n + 255) / 256, 256, 0, 0)(in, block_sums, n);
}

// (2) Shared-memory histogram with `+=` where atomicAdd belongs. Cooperative fibers
//     never interleave inside `+=`, so the result is right; only TSan can see it.
__global__ void histogram_plus_equals_kernel(const int* in, unsigned* hist, int n, int bins) {
  TESSERA_SHARED(unsigned, local, 64);
  for (int b = threadIdx.x; b < bins; b += blockDim.x) local[b] = 0;
  __syncthreads();
  for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += gridDim.x * blockDim.x)
    local[in[i] % bins] += 1;  // BUG: data race between threads of the block
  __syncthreads();
  for (int b = threadIdx.x; b < bins; b += blockDim.x) atomicAdd(&hist[b], local[b]);
}
void bug_histogram_plus_equals(const int* in, unsigned* hist, int n, int bins) {
  TESSERA_LAUNCH(histogram_plus_equals_kernel, 4, 128, 0, 0)(in, hist, n, bins);
}

// (3) Out-of-bounds stores: global (one past the allocation) and shared.
__global__ void oob_global_kernel(float* out, int n) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i <= n) out[i] = 1.0f;  // BUG: should be i < n
}
void bug_oob_global_store(float* out, int n) {
  TESSERA_LAUNCH(oob_global_kernel, (n + 1 + 63) / 64, 64, 0, 0)(out, n);
}
__global__ void oob_shared_kernel(float* out) {
  TESSERA_SHARED(float, buf, 64);
  buf[threadIdx.x + 1] = (float)threadIdx.x;  // BUG: thread 63 writes buf[64]
  __syncthreads();
  out[threadIdx.x] = buf[threadIdx.x];
}
void bug_oob_shared_store(float* out) { TESSERA_LAUNCH(oob_shared_kernel, 1, 64, 0, 0)(out); }

// (4) Barrier that half the block never reaches (undefined in CUDA; hangs or worse).
__global__ void barrier_after_exit_kernel(float* out) {
  if (threadIdx.x >= 32) return;  // BUG: early exit before a block-wide barrier
  __syncthreads();
  out[threadIdx.x] = 1.0f;
}
void bug_barrier_after_exit(float* out) { TESSERA_LAUNCH(barrier_after_exit_kernel, 1, 64, 0, 0)(out); }

// (5) Shuffle whose mask names lanes that have already returned.
__global__ void shfl_exited_lane_kernel(float* out) {
  if (threadIdx.x >= 16) return;
  out[threadIdx.x] = __shfl_down_sync(0xffffffffu, (float)threadIdx.x, 1);  // BUG: mask should be 0xffff
}
void bug_shfl_exited_lane(float* out) { TESSERA_LAUNCH(shfl_exited_lane_kernel, 1, 32, 0, 0)(out); }

// (6) Lanes of one warp at different collectives with the same mask.
__global__ void mixed_collectives_kernel(float* out) {
  float v = (float)threadIdx.x;
  if (threadIdx.x & 1) __syncwarp();  // BUG: the other half shuffles instead
  else v = __shfl_xor_sync(0xffffffffu, v, 2);
  out[threadIdx.x] = v;
}
void bug_mixed_collectives(float* out) { TESSERA_LAUNCH(mixed_collectives_kernel, 1, 32, 0, 0)(out); }

// (7) Unbounded recursion: must hit the fiber stack's guard page, not corrupt memory.
__device__ float deep(int d, float x) {
  volatile float frame[512];
  frame[d & 511] = x;
  return d > 1000000 ? frame[0] : deep(d + 1, x + 1.0f) + frame[d & 511];
}
__global__ void stack_overflow_kernel(float* out) { out[threadIdx.x] = deep(0, 0.0f); }
void bug_stack_overflow(float* out) { TESSERA_LAUNCH(stack_overflow_kernel, 1, 32, 0, 0)(out); }
