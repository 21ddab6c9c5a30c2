// Pointwise activations on contiguous f32: SiLU, GELU (erf and tanh forms), exp
// and clamp. Forward and backward are elementwise, so any thread count gives the
// same bits.
#pragma once
#include <cstdint>

namespace tessera {
namespace cpu {

// y = x * sigmoid(x)
void silu_forward(const float* x, float* y, int64_t n);
// gx = gy * s * (1 + x (1 - s)),  s = sigmoid(x)
void silu_backward(const float* x, const float* gy, float* gx, int64_t n);

// approximate_tanh = false: y = 0.5 x (1 + erf(x / sqrt(2)))
// approximate_tanh = true:  y = 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))
void gelu_forward(const float* x, float* y, int64_t n, bool approximate_tanh);
// erf:  gx = gy * (Phi(x) + x phi(x)),  Phi = 0.5 (1 + erf(x / sqrt(2))), phi = exp(-x^2/2) / sqrt(2 pi)
// tanh: gx = gy * (0.5 (1 + t) + 0.5 x (1 - t^2) sqrt(2/pi) (1 + 3 * 0.044715 x^2)),  t = tanh(u)
void gelu_backward(const float* x, const float* gy, float* gx, int64_t n, bool approximate_tanh);

// y = exp(x) (vm::exp: <= 1.01 ulp in the normal range; 0 below -103.97, +inf above
// 88.72, NaN -> NaN)
void exp_forward(const float* x, float* y, int64_t n);
// gx = gy * y, from the forward's output y
void exp_backward(const float* y, const float* gy, float* gx, int64_t n);

// y = min(max(x, lo), hi); NaN stays NaN. An absent bound is lo = -inf / hi = +inf;
// the caller guarantees lo <= hi (neither NaN).
void clamp_forward(const float* x, float* y, int64_t n, float lo, float hi);
// gx = gy where lo <= x <= hi (the bounds themselves included, as PyTorch), else 0
// (also 0 for NaN x)
void clamp_backward(const float* x, const float* gy, float* gx, int64_t n, float lo, float hi);

}  // namespace cpu
}  // namespace tessera
