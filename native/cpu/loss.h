// Mean-reduced regression losses on contiguous f32: MSE and L1.
//
// Forward sums are deterministic for any thread count: fixed blocks of
// kLossBlock elements; inside a block, segments of 256 elements are summed in 16
// float lanes (lanes added in order in double); segment and block sums are added
// in order in double.
#pragma once
#include <cstdint>

namespace tessera {
namespace cpu {

constexpr int64_t kLossBlock = 16384;

// sum_i (x[i] - y[i])^2
double mse_sum(const float* x, const float* y, int64_t n);
// sum_i |x[i] - y[i]|
double l1_sum(const float* x, const float* y, int64_t n);

// loss = (1/n) sum (x - y)^2, upstream gradient g (a scalar):
//   gx[i] = (2/n) (x[i] - y[i]) g,  gy[i] = -gx[i]   (either output may be null)
void mse_backward(const float* x, const float* y, float g, float* gx, float* gy, int64_t n);
// loss = (1/n) sum |x - y|:
//   gx[i] = sign(x[i] - y[i]) g / n (sign(0) = 0, NaN stays NaN),  gy[i] = -gx[i]
void l1_backward(const float* x, const float* y, float g, float* gx, float* gy, int64_t n);

}  // namespace cpu
}  // namespace tessera
