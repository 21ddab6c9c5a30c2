// cuda/softmax.h — softmax over the last dimension of a contiguous f32
// [rows, cols] array, forward and backward (semantics of native/cpu/softmax.h).
#pragma once
#include <cstdint>

#include "launch.h"

namespace tessera {
namespace cuda {

// y[r, j] = exp(x[r, j] - m_r) / sum_k exp(x[r, k] - m_r),  m_r = max_k x[r, k]
// (-inf entries give 0; a row of only -inf gives NaN, as on the CPU)
void softmax_forward(const float* x, float* y, int64_t rows, int64_t cols, cudaStream_t stream);
// gx[r, j] = y[r, j] * (gy[r, j] - sum_k gy[r, k] y[r, k])
void softmax_backward(const float* y, const float* gy, float* gx, int64_t rows, int64_t cols, cudaStream_t stream);

}  // namespace cuda
}  // namespace tessera
