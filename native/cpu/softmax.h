// Softmax over the last dimension of a contiguous f32 [rows, cols] array.
// Each row is handled by one thread in a fixed order, so results do not depend
// on the thread count.
#pragma once
#include <cstdint>

namespace tessera {
namespace cpu {

// y[r, j] = exp(x[r, j] - m_r) / sum_k exp(x[r, k] - m_r),  m_r = max_k x[r, k]
void softmax_forward(const float* x, float* y, int64_t rows, int64_t cols);
// gx[r, j] = y[r, j] * (gy[r, j] - sum_k gy[r, k] y[r, k])
void softmax_backward(const float* y, const float* gy, float* gx, int64_t rows, int64_t cols);

}  // namespace cpu
}  // namespace tessera
