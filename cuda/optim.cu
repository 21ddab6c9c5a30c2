// cuda/optim.cu — AdamW step and deterministic global gradient norm.
#include "optim.h"
#include "check.h"

#include <cmath>
#include <stdexcept>
#include <string>

namespace tessera {
namespace cuda {

namespace {

constexpr int kThreads = 256;
constexpr int kNormBlocks = 128;  // fixed grid per tensor for the partial sums

// Elementwise, per i (scalars precomputed on the host), rounding exactly as the CPU
// kernel compiled with FMA contraction (fma in the m and v updates, none elsewhere):
//   p' = p decay;  m = fma(w1, g - m, m);  v = fma(v, b2, w2 g g)
//   p = p' + neg_step * m / (sqrt(v) / bc2_sqrt + eps)
// decay = 1 - lr wd, w1 = 1 - b1, w2 = 1 - b2, bc2_sqrt = sqrt(1 - b2^t), neg_step = -lr / (1 - b1^t)
__global__ void adamw_kernel(float* __restrict__ p, const float* __restrict__ g, float* __restrict__ m,
                             float* __restrict__ v, int64_t n, float decay, float w1, float b2, float w2,
                             float bc2_sqrt, float eps, float neg_step) {
  const int64_t stride = int64_t(gridDim.x) * blockDim.x;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride) {
    const float gi = g[i];
    const float pi = __fmul_rn(p[i], decay);  // never contracted into the add below
    const float mi = fmaf(w1, gi - m[i], m[i]);  // explicit fma: as the CPU's contracted lerp
    const float vi = fmaf(v[i], b2, w2 * gi * gi);
    const float denom = sqrtf(vi) / bc2_sqrt + eps;
    m[i] = mi;
    v[i] = vi;
    p[i] = pi + neg_step * mi / denom;
  }
}

// partial[blockIdx.x] = sum over i = blockIdx.x*256 + tid (grid stride) of x[i]^2;
// per-thread fp32 sums, then a shared-memory tree (fixed pairing) per block.
__global__ void sumsq_partial_kernel(const float* __restrict__ x, int64_t n, float* __restrict__ partial) {
  TESSERA_SHARED(float, red, kThreads);
  const int tid = threadIdx.x;
  float s = 0.0f;
  const int64_t stride = int64_t(gridDim.x) * blockDim.x;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + tid; i < n; i += stride) s += x[i] * x[i];
  red[tid] = s;
  __syncthreads();
  for (int w = kThreads / 2; w > 0; w >>= 1) {
    if (tid < w) red[tid] += red[tid + w];
    __syncthreads();
  }
  if (tid == 0) partial[blockIdx.x] = red[0];
}

// out = sqrt(sum_k partial[k]): thread t adds k = t, t + 256, ... in double, then a
// fixed shared-memory tree; one block only.
__global__ void norm_final_kernel(const float* __restrict__ partial, int64_t count, float* __restrict__ out) {
  TESSERA_SHARED(double, red, kThreads);
  const int tid = threadIdx.x;
  double s = 0.0;
  for (int64_t k = tid; k < count; k += kThreads) s += double(partial[k]);
  red[tid] = s;
  __syncthreads();
  for (int w = kThreads / 2; w > 0; w >>= 1) {
    if (tid < w) red[tid] += red[tid + w];
    __syncthreads();
  }
  if (tid == 0) out[0] = float(sqrt(red[0]));
}

}  // namespace

void adamw_step(float* p, const float* g, float* m, float* v, int64_t n, double lr, double beta1, double beta2,
                double eps, double weight_decay, int64_t step, cudaStream_t stream) {
  if (n <= 0) return;
  const double bc1 = 1.0 - std::pow(beta1, double(step));
  const double bc2 = 1.0 - std::pow(beta2, double(step));
  const float decay = float(1.0 - lr * weight_decay);
  const float w1 = float(1.0 - beta1);
  const float b2 = float(beta2);
  const float w2 = float(1.0 - beta2);
  const float bc2_sqrt = float(std::sqrt(bc2));
  const float eps_f = float(eps);
  const float neg_step = float(-(lr / bc1));
  int64_t blocks = (n + kThreads - 1) / kThreads;
  if (blocks > 65535) blocks = 65535;
  TESSERA_LAUNCH(adamw_kernel, unsigned(blocks), kThreads, 0, stream)(p, g, m, v, n, decay, w1, b2, w2, bc2_sqrt,
                                                                      eps_f, neg_step);
  TESSERA_CUDA_CHECK_LAUNCH();
}

int64_t global_norm_workspace_floats(int64_t num_tensors) { return (num_tensors > 0 ? num_tensors : 1) * kNormBlocks; }

void global_norm(const std::vector<const float*>& data, const std::vector<int64_t>& sizes, float* workspace,
                 float* out, cudaStream_t stream) {
  if (data.size() != sizes.size()) throw std::invalid_argument("global_norm: data and sizes differ in length");
  for (size_t t = 0; t < data.size(); ++t) {
    // sizes[t] == 0 still launches: it writes zeros into its partial slots
    TESSERA_LAUNCH(sumsq_partial_kernel, kNormBlocks, kThreads, 0, stream)(data[t], sizes[t],
                                                                             workspace + int64_t(t) * kNormBlocks);
    TESSERA_CUDA_CHECK_LAUNCH();
  }
  TESSERA_LAUNCH(norm_final_kernel, 1, kThreads, 0, stream)(workspace, int64_t(data.size()) * kNormBlocks, out);
  TESSERA_CUDA_CHECK_LAUNCH();
}

}  // namespace cuda
}  // namespace tessera
