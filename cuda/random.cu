// cuda/random.cu — Philox randn / uniform fills.
//
// Every element is computed independently with the host/device inline functions
// of core/philox.h (Philox4x32-10 + our own double-precision log/sin/cos written
// with explicit fma), so the device produces exactly the CPU's floats for any
// (seed, offset, n). A grid-stride loop keeps stores coalesced.
#include "random.h"
#include "check.h"

#include "core/philox.h"
#include <stdexcept>
#include <string>

namespace tessera {
namespace cuda {

namespace {

constexpr int kThreads = 256;

// out[i] = normal(seed, offset + i) where, with (r0..r3) = philox(block (offset+i)/4, seed),
// lane l = (offset+i) % 4, pair p = l / 2, u1 = u(r[2p]), u2 = u(r[2p+1]):
//   out[i] = sqrt(-2 ln u1) * (l odd ? sin(2 pi u2) : cos(2 pi u2)),   u(x) = ((x >> 8) + 0.5) 2^-24
__global__ void randn_kernel(float* out, int64_t n, uint64_t seed, uint64_t offset) {
  const int64_t stride = int64_t(gridDim.x) * blockDim.x;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride)
    out[i] = philox_normal_at(seed, offset + uint64_t(i));
}

// out[i] = u(r[(offset+i) % 4]) with r = philox(block (offset+i)/4, seed)
__global__ void uniform_kernel(float* out, int64_t n, uint64_t seed, uint64_t offset) {
  const int64_t stride = int64_t(gridDim.x) * blockDim.x;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride)
    out[i] = philox_uniform_at(seed, offset + uint64_t(i));
}

unsigned grid_for(int64_t n) {
  int64_t blocks = (n + kThreads - 1) / kThreads;
  if (blocks > 65535) blocks = 65535;
  return unsigned(blocks < 1 ? 1 : blocks);
}

}  // namespace

void randn_fill(float* out, int64_t n, uint64_t seed, uint64_t offset, cudaStream_t stream) {
  if (n <= 0) return;
  TESSERA_LAUNCH(randn_kernel, grid_for(n), kThreads, 0, stream)(out, n, seed, offset);
  TESSERA_CUDA_CHECK_LAUNCH();
}

void uniform_fill(float* out, int64_t n, uint64_t seed, uint64_t offset, cudaStream_t stream) {
  if (n <= 0) return;
  TESSERA_LAUNCH(uniform_kernel, grid_for(n), kThreads, 0, stream)(out, n, seed, offset);
  TESSERA_CUDA_CHECK_LAUNCH();
}

}  // namespace cuda
}  // namespace tessera
