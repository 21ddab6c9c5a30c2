// cuda/softmax.cu — row softmax, one warp per row (4 rows per 128-thread block).
//
// Each lane walks columns j = lane, lane + 32, ... (coalesced), keeps fp32 partial
// max / sums, and the warp combines them with an xor butterfly of shuffles, so
// every lane holds the same, schedule-independent row value. No block barriers:
// a warp whose row is past the end skips the row as a whole.
#include "softmax.h"
#include "check.h"

#include <stdexcept>
#include <string>

namespace tessera {
namespace cuda {

namespace {

constexpr int kWarp = 32;
constexpr int kWarpsPerBlock = 4;

__device__ __forceinline__ float warp_max(float v) {
  for (int o = kWarp / 2; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
  return v;
}
__device__ __forceinline__ float warp_sum(float v) {
  for (int o = kWarp / 2; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

// m = max_j x[j];  e[j] = exp(x[j] - m);  y[j] = e[j] / sum_k e[k]
// (m = -inf for an all -inf row: x - m = NaN, so the row is NaN as on the CPU)
__global__ void softmax_fwd_kernel(const float* __restrict__ x, float* __restrict__ y, int64_t rows, int64_t cols) {
  const int lane = threadIdx.x % kWarp;
  const int64_t row = int64_t(blockIdx.x) * kWarpsPerBlock + threadIdx.x / kWarp;
  if (row >= rows) return;  // whole warp leaves together; no barriers below
  const float* xr = x + row * cols;
  float* yr = y + row * cols;
  float m = -INFINITY;
  for (int64_t j = lane; j < cols; j += kWarp) m = fmaxf(m, xr[j]);
  m = warp_max(m);
  float s = 0.0f;
  for (int64_t j = lane; j < cols; j += kWarp) {
    const float e = expf(xr[j] - m);
    yr[j] = e;
    s += e;
  }
  s = warp_sum(s);
  const float inv = 1.0f / s;
  for (int64_t j = lane; j < cols; j += kWarp) yr[j] *= inv;
}

// d = sum_k gy[k] y[k];  gx[j] = y[j] (gy[j] - d)
__global__ void softmax_bwd_kernel(const float* __restrict__ y, const float* __restrict__ gy, float* __restrict__ gx,
                                   int64_t rows, int64_t cols) {
  const int lane = threadIdx.x % kWarp;
  const int64_t row = int64_t(blockIdx.x) * kWarpsPerBlock + threadIdx.x / kWarp;
  if (row >= rows) return;
  const float* yr = y + row * cols;
  const float* gr = gy + row * cols;
  float* out = gx + row * cols;
  float d = 0.0f;
  for (int64_t j = lane; j < cols; j += kWarp) d += gr[j] * yr[j];
  d = warp_sum(d);
  for (int64_t j = lane; j < cols; j += kWarp) out[j] = yr[j] * (gr[j] - d);
}

}  // namespace

void softmax_forward(const float* x, float* y, int64_t rows, int64_t cols, cudaStream_t stream) {
  if (rows <= 0 || cols <= 0) return;
  const unsigned grid = unsigned((rows + kWarpsPerBlock - 1) / kWarpsPerBlock);
  TESSERA_LAUNCH(softmax_fwd_kernel, grid, kWarp * kWarpsPerBlock, 0, stream)(x, y, rows, cols);
  TESSERA_CUDA_CHECK_LAUNCH();
}

void softmax_backward(const float* y, const float* gy, float* gx, int64_t rows, int64_t cols, cudaStream_t stream) {
  if (rows <= 0 || cols <= 0) return;
  const unsigned grid = unsigned((rows + kWarpsPerBlock - 1) / kWarpsPerBlock);
  TESSERA_LAUNCH(softmax_bwd_kernel, grid, kWarp * kWarpsPerBlock, 0, stream)(y, gy, gx, rows, cols);
  TESSERA_CUDA_CHECK_LAUNCH();
}

}  // namespace cuda
}  // namespace tessera
