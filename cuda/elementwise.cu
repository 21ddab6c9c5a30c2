// cuda/elementwise.cu — SiLU, GELU, exp, clamp, adaLN modulate, residual gate (fwd + bwd).
//
// Pointwise kernels: one grid-stride loop, coalesced loads/stores, fp32 math
// with the CUDA fast-path-free libm (expf, erff, tanhf).
// Broadcast backward (modulate, gate): one block per (b, 32-wide c tile); its
// 32 x 8 threads walk T (ty = t mod 8) with coalesced rows of 32 channels,
// accumulate per-thread fp32 partial sums, then thread row 0 adds the 8
// partials in fixed order: the result does not depend on scheduling.
#include "elementwise.h"
#include "check.h"

#include <stdexcept>
#include <string>

namespace tessera {
namespace cuda {

namespace {

constexpr int kThreads = 256;
constexpr int kTileC = 32;  // channels per block (one warp wide)
constexpr int kRowsT = 8;   // threads along T per block

constexpr float kSqrt1_2 = 0.70710678118654752440f;     // 1 / sqrt(2)
constexpr float kInvSqrt2Pi = 0.39894228040143267794f;  // 1 / sqrt(2 pi)
constexpr float kSqrt2OverPi = 0.79788456080286535588f; // sqrt(2 / pi)
constexpr float kKappa = 0.044715f;

__device__ __forceinline__ float sigmoidf_(float x) { return 1.0f / (1.0f + expf(-x)); }

// y = x * sigmoid(x)
__global__ void silu_fwd_kernel(const float* __restrict__ x, float* __restrict__ y, int64_t n) {
  const int64_t stride = int64_t(gridDim.x) * blockDim.x;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride) {
    const float v = x[i];
    y[i] = v * sigmoidf_(v);
  }
}

// gx = gy * s * (1 + x (1 - s)),  s = sigmoid(x)
__global__ void silu_bwd_kernel(const float* __restrict__ x, const float* __restrict__ gy, float* __restrict__ gx,
                                int64_t n) {
  const int64_t stride = int64_t(gridDim.x) * blockDim.x;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride) {
    const float v = x[i];
    const float s = sigmoidf_(v);
    gx[i] = gy[i] * (s * (1.0f + v * (1.0f - s)));
  }
}

// erf:  y = 0.5 x (1 + erf(x / sqrt 2))
// tanh: y = 0.5 x (1 + tanh(u)),  u = sqrt(2/pi) (x + 0.044715 x^3)
__global__ void gelu_fwd_kernel(const float* __restrict__ x, float* __restrict__ y, int64_t n, bool use_tanh) {
  const int64_t stride = int64_t(gridDim.x) * blockDim.x;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride) {
    const float v = x[i];
    if (use_tanh) {
      const float u = kSqrt2OverPi * (v + kKappa * v * v * v);
      y[i] = 0.5f * v * (1.0f + tanhf(u));
    } else {
      y[i] = 0.5f * v * (1.0f + erff(v * kSqrt1_2));
    }
  }
}

// erf:  gx = gy (0.5 (1 + erf(x / sqrt 2)) + x exp(-x^2 / 2) / sqrt(2 pi))
// tanh: gx = gy (0.5 (1 + t) + 0.5 x (1 - t^2) sqrt(2/pi) (1 + 3 * 0.044715 x^2)),  t = tanh(u)
__global__ void gelu_bwd_kernel(const float* __restrict__ x, const float* __restrict__ gy, float* __restrict__ gx,
                                int64_t n, bool use_tanh) {
  const int64_t stride = int64_t(gridDim.x) * blockDim.x;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride) {
    const float v = x[i];
    float d;
    if (use_tanh) {
      const float v2 = v * v;
      const float t = tanhf(kSqrt2OverPi * (v + kKappa * v2 * v));
      d = 0.5f * (1.0f + t) + 0.5f * v * (1.0f - t * t) * kSqrt2OverPi * (1.0f + 3.0f * kKappa * v2);
    } else {
      const float cdf = 0.5f * (1.0f + erff(v * kSqrt1_2));
      const float pdf = expf(-0.5f * v * v) * kInvSqrt2Pi;
      d = cdf + v * pdf;
    }
    gx[i] = gy[i] * d;
  }
}

// y = exp(x)
__global__ void exp_fwd_kernel(const float* __restrict__ x, float* __restrict__ y, int64_t n) {
  const int64_t stride = int64_t(gridDim.x) * blockDim.x;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride) y[i] = expf(x[i]);
}

// gx = gy * y
__global__ void exp_bwd_kernel(const float* __restrict__ y, const float* __restrict__ gy, float* __restrict__ gx,
                               int64_t n) {
  const int64_t stride = int64_t(gridDim.x) * blockDim.x;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride) gx[i] = gy[i] * y[i];
}

// y = x < lo ? lo : (x > hi ? hi : x): NaN fails both comparisons and passes through
// (fminf / fmaxf would replace it by the bound). Same selects as the CPU kernel: bit-identical.
__global__ void clamp_fwd_kernel(const float* __restrict__ x, float* __restrict__ y, int64_t n, float lo,
                                 float hi) {
  const int64_t stride = int64_t(gridDim.x) * blockDim.x;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride) {
    const float v = x[i];
    y[i] = v < lo ? lo : (v > hi ? hi : v);
  }
}

// gx = gy where lo <= x <= hi, else 0 (a select: a non-finite gy outside the range still gives 0)
__global__ void clamp_bwd_kernel(const float* __restrict__ x, const float* __restrict__ gy, float* __restrict__ gx,
                                 int64_t n, float lo, float hi) {
  const int64_t stride = int64_t(gridDim.x) * blockDim.x;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride) {
    const float v = x[i];
    gx[i] = (v >= lo && v <= hi) ? gy[i] : 0.0f;
  }
}

// y[b,t,c] = x[b,t,c] * (1 + scale[b,c]) + shift[b,c]
__global__ void modulate_fwd_kernel(const float* __restrict__ x, const float* __restrict__ scale,
                                    const float* __restrict__ shift, float* __restrict__ y, int64_t n, int64_t T,
                                    int64_t C) {
  const int64_t stride = int64_t(gridDim.x) * blockDim.x;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride) {
    const int64_t c = i % C, b = i / (T * C);
    const int64_t bc = b * C + c;
    y[i] = x[i] * (1.0f + scale[bc]) + shift[bc];
  }
}

// y[b,t,c] = x[b,t,c] + gate[b,c] * h[b,t,c]
__global__ void gate_fwd_kernel(const float* __restrict__ x, const float* __restrict__ gate,
                                const float* __restrict__ h, float* __restrict__ y, int64_t n, int64_t T,
                                int64_t C) {
  const int64_t stride = int64_t(gridDim.x) * blockDim.x;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride) {
    const int64_t c = i % C, b = i / (T * C);
    y[i] = x[i] + gate[b * C + c] * h[i];
  }
}

// Block (c tile, b), threads (32 along c, 8 along t):
//   gx[b,t,c] = gy (1 + scale[b,c])
//   gscale[b,c] = sum_t gy[b,t,c] x[b,t,c],  gshift[b,c] = sum_t gy[b,t,c]
// partial sums per ty over t = ty, ty + 8, ...; then summed over ty = 0..7 in order.
__global__ void modulate_bwd_kernel(const float* __restrict__ x, const float* __restrict__ scale,
                                    const float* __restrict__ gy, float* __restrict__ gx, float* __restrict__ gscale,
                                    float* __restrict__ gshift, int64_t T, int64_t C) {
  TESSERA_SHARED_2D(float, part_scale, kRowsT, kTileC);
  TESSERA_SHARED_2D(float, part_shift, kRowsT, kTileC);
  const int tx = threadIdx.x, ty = threadIdx.y;
  const int64_t b = blockIdx.y;
  const int64_t c = int64_t(blockIdx.x) * kTileC + tx;
  float acc_scale = 0.0f, acc_shift = 0.0f;
  if (c < C) {
    const float s1 = 1.0f + scale[b * C + c];
    for (int64_t t = ty; t < T; t += kRowsT) {
      const int64_t i = (b * T + t) * C + c;
      const float g = gy[i];
      gx[i] = g * s1;
      acc_scale += g * x[i];
      acc_shift += g;
    }
  }
  part_scale[ty][tx] = acc_scale;
  part_shift[ty][tx] = acc_shift;
  __syncthreads();
  if (ty == 0 && c < C) {
    float s = 0.0f, h = 0.0f;
    for (int r = 0; r < kRowsT; ++r) {
      s += part_scale[r][tx];
      h += part_shift[r][tx];
    }
    gscale[b * C + c] = s;
    gshift[b * C + c] = h;
  }
}

// Block (c tile, b), threads (32 along c, 8 along t):
//   gx = gy,  gh = gy gate[b,c],  ggate[b,c] = sum_t gy[b,t,c] h[b,t,c]  (fixed order as above)
__global__ void gate_bwd_kernel(const float* __restrict__ gate, const float* __restrict__ h,
                                const float* __restrict__ gy, float* __restrict__ gx, float* __restrict__ gh,
                                float* __restrict__ ggate, int64_t T, int64_t C) {
  TESSERA_SHARED_2D(float, part_gate, kRowsT, kTileC);
  const int tx = threadIdx.x, ty = threadIdx.y;
  const int64_t b = blockIdx.y;
  const int64_t c = int64_t(blockIdx.x) * kTileC + tx;
  float acc = 0.0f;
  if (c < C) {
    const float gt = gate[b * C + c];
    for (int64_t t = ty; t < T; t += kRowsT) {
      const int64_t i = (b * T + t) * C + c;
      const float g = gy[i];
      gx[i] = g;
      gh[i] = g * gt;
      acc += g * h[i];
    }
  }
  part_gate[ty][tx] = acc;
  __syncthreads();
  if (ty == 0 && c < C) {
    float s = 0.0f;
    for (int r = 0; r < kRowsT; ++r) s += part_gate[r][tx];
    ggate[b * C + c] = s;
  }
}

unsigned grid_for(int64_t n) {
  int64_t blocks = (n + kThreads - 1) / kThreads;
  if (blocks > 65535) blocks = 65535;
  return unsigned(blocks < 1 ? 1 : blocks);
}

}  // namespace

void silu_forward(const float* x, float* y, int64_t n, cudaStream_t stream) {
  if (n <= 0) return;
  TESSERA_LAUNCH(silu_fwd_kernel, grid_for(n), kThreads, 0, stream)(x, y, n);
  TESSERA_CUDA_CHECK_LAUNCH();
}

void silu_backward(const float* x, const float* gy, float* gx, int64_t n, cudaStream_t stream) {
  if (n <= 0) return;
  TESSERA_LAUNCH(silu_bwd_kernel, grid_for(n), kThreads, 0, stream)(x, gy, gx, n);
  TESSERA_CUDA_CHECK_LAUNCH();
}

void gelu_forward(const float* x, float* y, int64_t n, bool approximate_tanh, cudaStream_t stream) {
  if (n <= 0) return;
  TESSERA_LAUNCH(gelu_fwd_kernel, grid_for(n), kThreads, 0, stream)(x, y, n, approximate_tanh);
  TESSERA_CUDA_CHECK_LAUNCH();
}

void gelu_backward(const float* x, const float* gy, float* gx, int64_t n, bool approximate_tanh,
                   cudaStream_t stream) {
  if (n <= 0) return;
  TESSERA_LAUNCH(gelu_bwd_kernel, grid_for(n), kThreads, 0, stream)(x, gy, gx, n, approximate_tanh);
  TESSERA_CUDA_CHECK_LAUNCH();
}

void exp_forward(const float* x, float* y, int64_t n, cudaStream_t stream) {
  if (n <= 0) return;
  TESSERA_LAUNCH(exp_fwd_kernel, grid_for(n), kThreads, 0, stream)(x, y, n);
  TESSERA_CUDA_CHECK_LAUNCH();
}

void exp_backward(const float* y, const float* gy, float* gx, int64_t n, cudaStream_t stream) {
  if (n <= 0) return;
  TESSERA_LAUNCH(exp_bwd_kernel, grid_for(n), kThreads, 0, stream)(y, gy, gx, n);
  TESSERA_CUDA_CHECK_LAUNCH();
}

void clamp_forward(const float* x, float* y, int64_t n, float lo, float hi, cudaStream_t stream) {
  if (n <= 0) return;
  TESSERA_LAUNCH(clamp_fwd_kernel, grid_for(n), kThreads, 0, stream)(x, y, n, lo, hi);
  TESSERA_CUDA_CHECK_LAUNCH();
}

void clamp_backward(const float* x, const float* gy, float* gx, int64_t n, float lo, float hi,
                    cudaStream_t stream) {
  if (n <= 0) return;
  TESSERA_LAUNCH(clamp_bwd_kernel, grid_for(n), kThreads, 0, stream)(x, gy, gx, n, lo, hi);
  TESSERA_CUDA_CHECK_LAUNCH();
}

void modulate_forward(const float* x, const float* scale, const float* shift, float* y, int64_t B, int64_t T,
                      int64_t C, cudaStream_t stream) {
  const int64_t n = B * T * C;
  if (n <= 0) return;
  TESSERA_LAUNCH(modulate_fwd_kernel, grid_for(n), kThreads, 0, stream)(x, scale, shift, y, n, T, C);
  TESSERA_CUDA_CHECK_LAUNCH();
}

void modulate_backward(const float* x, const float* scale, const float* gy, float* gx, float* gscale,
                       float* gshift, int64_t B, int64_t T, int64_t C, cudaStream_t stream) {
  if (B <= 0 || C <= 0) return;
  const dim3 grid(unsigned((C + kTileC - 1) / kTileC), unsigned(B));
  const dim3 block(kTileC, kRowsT);
  TESSERA_LAUNCH(modulate_bwd_kernel, grid, block, 0, stream)(x, scale, gy, gx, gscale, gshift, T, C);
  TESSERA_CUDA_CHECK_LAUNCH();
}

void gate_forward(const float* x, const float* gate, const float* h, float* y, int64_t B, int64_t T, int64_t C,
                  cudaStream_t stream) {
  const int64_t n = B * T * C;
  if (n <= 0) return;
  TESSERA_LAUNCH(gate_fwd_kernel, grid_for(n), kThreads, 0, stream)(x, gate, h, y, n, T, C);
  TESSERA_CUDA_CHECK_LAUNCH();
}

void gate_backward(const float* gate, const float* h, const float* gy, float* gx, float* gh, float* ggate,
                   int64_t B, int64_t T, int64_t C, cudaStream_t stream) {
  if (B <= 0 || C <= 0) return;
  const dim3 grid(unsigned((C + kTileC - 1) / kTileC), unsigned(B));
  const dim3 block(kTileC, kRowsT);
  TESSERA_LAUNCH(gate_bwd_kernel, grid, block, 0, stream)(gate, h, gy, gx, gh, ggate, T, C);
  TESSERA_CUDA_CHECK_LAUNCH();
}

}  // namespace cuda
}  // namespace tessera
