// Pointwise activations on contiguous f32: SiLU and GELU (erf and tanh forms).
// Forward and backward are elementwise, so any thread count gives the same bits.
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

}  // namespace cpu
}  // namespace tessera
