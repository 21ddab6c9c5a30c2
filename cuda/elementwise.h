// cuda/elementwise.h — fused pointwise ops: SiLU, GELU (erf / tanh), exp, clamp,
// adaLN modulate and the residual gate, forward and backward. Device pointers,
// contiguous f32; backward launchers overwrite (do not accumulate into) outputs.
#pragma once
#include <cstdint>

#include "launch.h"

namespace tessera {
namespace cuda {

// y = x * sigmoid(x)
void silu_forward(const float* x, float* y, int64_t n, cudaStream_t stream);
// gx = gy * s * (1 + x (1 - s)),  s = sigmoid(x)
void silu_backward(const float* x, const float* gy, float* gx, int64_t n, cudaStream_t stream);
// approximate_tanh = false: y = 0.5 x (1 + erf(x / sqrt 2));
// true: y = 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))
void gelu_forward(const float* x, float* y, int64_t n, bool approximate_tanh, cudaStream_t stream);
void gelu_backward(const float* x, const float* gy, float* gx, int64_t n, bool approximate_tanh,
                   cudaStream_t stream);

// y = exp(x)  (expf: <= 2 ulp; +inf / 0 past the range ends, NaN -> NaN)
void exp_forward(const float* x, float* y, int64_t n, cudaStream_t stream);
// gx = gy * y, from the forward's output y
void exp_backward(const float* y, const float* gy, float* gx, int64_t n, cudaStream_t stream);

// y = min(max(x, lo), hi), NaN stays NaN; an absent bound is -inf / +inf, lo <= hi.
void clamp_forward(const float* x, float* y, int64_t n, float lo, float hi, cudaStream_t stream);
// gx = gy where lo <= x <= hi (bounds included), else 0 (also for NaN x)
void clamp_backward(const float* x, const float* gy, float* gx, int64_t n, float lo, float hi,
                    cudaStream_t stream);

// adaLN modulate: x, y [B, T, C]; scale, shift [B, C] broadcast over T.
//   y[b,t,c] = x[b,t,c] * (1 + scale[b,c]) + shift[b,c]
void modulate_forward(const float* x, const float* scale, const float* shift, float* y, int64_t B, int64_t T,
                      int64_t C, cudaStream_t stream);
//   gx = gy (1 + scale);  gscale[b,c] = sum_t gy x;  gshift[b,c] = sum_t gy   (deterministic order)
void modulate_backward(const float* x, const float* scale, const float* gy, float* gx, float* gscale,
                       float* gshift, int64_t B, int64_t T, int64_t C, cudaStream_t stream);

// Residual gate: x, h, y [B, T, C]; gate [B, C] broadcast over T.
//   y[b,t,c] = x[b,t,c] + gate[b,c] * h[b,t,c]
void gate_forward(const float* x, const float* gate, const float* h, float* y, int64_t B, int64_t T, int64_t C,
                  cudaStream_t stream);
//   gx = gy;  gh = gy gate;  ggate[b,c] = sum_t gy h   (deterministic order)
void gate_backward(const float* gate, const float* h, const float* gy, float* gx, float* gh, float* ggate,
                   int64_t B, int64_t T, int64_t C, cudaStream_t stream);

}  // namespace cuda
}  // namespace tessera
