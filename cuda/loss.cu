// cuda/loss.cu — MSE and L1 loss (mean reduction), forward and backward.
//
// Forward, stage 1: one 256-thread block per 16384-element block of the input.
// The block is 64 segments of 256 elements; thread t is lane t % 16 of half-warp
// t / 16, which handles segments h, h + 16, h + 32, h + 48: the lane's float sum
// over elements l, l + 16, ... of the segment (a half-warp reads 64 contiguous
// bytes per step). Lane sums go to shared memory; thread s < 64 adds segment s's
// 16 lane sums in order in double; thread 0 adds the 64 segment sums in order and
// writes the block sum to the workspace. Stage 2: one block adds the block sums in
// order (thread 0, staged through shared memory 256 at a time) and writes
// float(sum / n). Same order as the CPU, no atomics: schedule-independent.
// Backward: one thread per element (grid-stride), exact.
#include "loss.h"
#include "check.h"

#include <algorithm>
#include <cstdint>
#include <stdexcept>
#include <string>

namespace tessera {
namespace cuda {

namespace {

constexpr int kThreads = 256;
constexpr int kLanes = 16;
constexpr int64_t kSegment = 256;
constexpr int kSegments = int(kLossBlock / kSegment);  // 64 per block
constexpr int kGroups = kThreads / kLanes;             // 16 half-warps
constexpr int64_t kMaxGrid = int64_t(1) << 18;

// Block b, elements [b 16384, min(n, (b + 1) 16384)):
//   d = x - t;  lane l of segment s: L = sum_{j = l mod 16} (d_j^2 via fmaf | |d_j|)  (float)
//   seg_s = sum_{l = 0..15} double(L_l);  partial[b] = sum_s seg_s   (double, in order)
template <bool kSquare>
__global__ void loss_block_kernel(const float* __restrict__ x, const float* __restrict__ t,
                                  double* __restrict__ partial, int64_t n) {
  TESSERA_SHARED(float, lanes, kSegments * kLanes);
  TESSERA_SHARED(double, segs, kSegments);
  const int64_t begin = int64_t(blockIdx.x) * kLossBlock;
  const int64_t len = n - begin < kLossBlock ? n - begin : kLossBlock;
  const int nseg = int((len + kSegment - 1) / kSegment);
  const int group = threadIdx.x / kLanes, lane = threadIdx.x % kLanes;
  for (int s = group; s < kSegments; s += kGroups) {
    float acc = 0.0f;
    if (s < nseg) {
      const int64_t j0 = begin + s * kSegment;
      const int64_t m = len - s * kSegment < kSegment ? len - s * kSegment : kSegment;
      for (int64_t j = lane; j < m; j += kLanes) {
        const float d = x[j0 + j] - t[j0 + j];
        if (kSquare) acc = fmaf(d, d, acc);
        else acc += d < 0.0f ? -d : d;
      }
    }
    lanes[s * kLanes + lane] = acc;
  }
  __syncthreads();
  if (threadIdx.x < kSegments) {
    double s = 0.0;
    for (int l = 0; l < kLanes; ++l) s += double(lanes[threadIdx.x * kLanes + l]);
    segs[threadIdx.x] = s;
  }
  __syncthreads();
  if (threadIdx.x == 0) {
    double s = 0.0;
    for (int k = 0; k < nseg; ++k) s += segs[k];
    partial[blockIdx.x] = s;
  }
}

// out = nblk ? float((sum_{b ascending} partial[b]) / double(n)) : NaN   (one block)
__global__ void loss_final_kernel(const double* __restrict__ partial, float* __restrict__ out, int64_t nblk,
                                  int64_t n) {
  TESSERA_SHARED(double, stage, kThreads);
  double s = 0.0;
  for (int64_t b0 = 0; b0 < nblk; b0 += kThreads) {
    const int64_t cnt = nblk - b0 < kThreads ? nblk - b0 : kThreads;
    if (threadIdx.x < cnt) stage[threadIdx.x] = partial[b0 + threadIdx.x];
    __syncthreads();
    if (threadIdx.x == 0)
      for (int64_t k = 0; k < cnt; ++k) s += stage[k];
    __syncthreads();
  }
  if (threadIdx.x == 0) out[0] = n ? float(s / double(n)) : __int_as_float(0x7fc00000);
}

// mse: c = two_over_n * g;  gx = c (x - t);  gt = -(c (x - t))
__global__ void mse_bwd_kernel(const float* __restrict__ x, const float* __restrict__ t,
                               const float* __restrict__ gout, float two_over_n, float* __restrict__ gx,
                               float* __restrict__ gt, int64_t n) {
  const float c = two_over_n * gout[0];
  const int64_t stride = int64_t(gridDim.x) * blockDim.x;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride) {
    const float v = c * (x[i] - t[i]);
    if (gx) gx[i] = v;
    if (gt) gt[i] = -v;
  }
}

// l1: c = g / nf;  d = x - t;  gx = d > 0 ? c : (d < 0 ? -c : d c);  gt = -gx
__global__ void l1_bwd_kernel(const float* __restrict__ x, const float* __restrict__ t,
                              const float* __restrict__ gout, float nf, float* __restrict__ gx,
                              float* __restrict__ gt, int64_t n) {
  const float c = gout[0] / nf;
  const int64_t stride = int64_t(gridDim.x) * blockDim.x;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride) {
    const float d = x[i] - t[i];
    const float v = d > 0.0f ? c : (d < 0.0f ? -c : d * c);
    if (gx) gx[i] = v;
    if (gt) gt[i] = -v;
  }
}

int64_t blocks_for(int64_t n) { return (n + kLossBlock - 1) / kLossBlock; }

void check_n(const char* fn, int64_t n) {
  if (n < 0) throw std::invalid_argument(std::string(fn) + ": n = " + std::to_string(n) + " must be >= 0");
}

template <bool kSquare>
void loss_forward(const char* fn, const float* x, const float* t, float* out, float* workspace, int64_t n,
                  cudaStream_t stream) {
  check_n(fn, n);
  if (!out) throw std::invalid_argument(std::string(fn) + ": out must be a device pointer to one float");
  const int64_t nblk = blocks_for(n);
  if (nblk > 0) {
    if (!workspace)
      throw std::invalid_argument(std::string(fn) + ": workspace is null; n = " + std::to_string(n) + " needs " +
                                  std::to_string(2 * nblk) + " floats (*_loss_workspace_floats)");
    if (reinterpret_cast<uintptr_t>(workspace) % alignof(double) != 0)
      throw std::invalid_argument(std::string(fn) + ": workspace must be 8-byte aligned (it holds doubles)");
    if (nblk > int64_t(INT32_MAX))
      throw std::invalid_argument(std::string(fn) + ": n = " + std::to_string(n) + " is too large (at most " +
                                  std::to_string(int64_t(INT32_MAX) * kLossBlock) + ")");
  }
  double* partial = reinterpret_cast<double*>(workspace);
  if (nblk > 0) {
    TESSERA_LAUNCH(loss_block_kernel<kSquare>, unsigned(nblk), kThreads, 0, stream)(x, t, partial, n);
    TESSERA_CUDA_CHECK_LAUNCH();
  }
  TESSERA_LAUNCH(loss_final_kernel, 1, kThreads, 0, stream)(partial, out, nblk, n);
  TESSERA_CUDA_CHECK_LAUNCH();
}

unsigned grid_for(int64_t n) {
  return unsigned(std::max<int64_t>(1, std::min<int64_t>((n + kThreads - 1) / kThreads, kMaxGrid)));
}

}  // namespace

int64_t mse_loss_workspace_floats(int64_t n) { return 2 * blocks_for(std::max<int64_t>(n, 0)); }
int64_t l1_loss_workspace_floats(int64_t n) { return 2 * blocks_for(std::max<int64_t>(n, 0)); }

void mse_loss_forward(const float* x, const float* target, float* out, float* workspace, int64_t n,
                      cudaStream_t stream) {
  loss_forward<true>("mse_loss_forward", x, target, out, workspace, n, stream);
}

void l1_loss_forward(const float* x, const float* target, float* out, float* workspace, int64_t n,
                     cudaStream_t stream) {
  loss_forward<false>("l1_loss_forward", x, target, out, workspace, n, stream);
}

void mse_loss_backward(const float* x, const float* target, const float* gout, float* gx, float* gt, int64_t n,
                       cudaStream_t stream) {
  check_n("mse_loss_backward", n);
  if (n == 0 || (!gx && !gt)) return;
  if (!gout) throw std::invalid_argument("mse_loss_backward: gout must be a device pointer to one float");
  const float two_over_n = float(2.0 / double(n));
  TESSERA_LAUNCH(mse_bwd_kernel, grid_for(n), kThreads, 0, stream)(x, target, gout, two_over_n, gx, gt, n);
  TESSERA_CUDA_CHECK_LAUNCH();
}

void l1_loss_backward(const float* x, const float* target, const float* gout, float* gx, float* gt, int64_t n,
                      cudaStream_t stream) {
  check_n("l1_loss_backward", n);
  if (n == 0 || (!gx && !gt)) return;
  if (!gout) throw std::invalid_argument("l1_loss_backward: gout must be a device pointer to one float");
  TESSERA_LAUNCH(l1_bwd_kernel, grid_for(n), kThreads, 0, stream)(x, target, gout, float(n), gx, gt, n);
  TESSERA_CUDA_CHECK_LAUNCH();
}

}  // namespace cuda
}  // namespace tessera
