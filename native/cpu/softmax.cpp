// Numerically stable softmax over the last dimension, forward and backward
// (formulas in softmax.h). Row sums use the fixed-order lane reductions of
// cpu/vec_math.h; exp is vm::exp (<= 1 ulp), vectorized per instruction set.
#include "cpu/softmax.h"

#include <algorithm>

#include "core/cpu_features.h"
#include "core/threadpool.h"
#include "cpu/vec_math.h"

namespace tessera {
namespace cpu {

namespace {

constexpr int64_t kGrainElems = 16384;

template <Isa I>
TESSERA_INLINE void softmax_rows_impl(const float* x, float* y, int64_t cols, int64_t r0, int64_t r1) {
  for (int64_t r = r0; r < r1; ++r) {
    const float* __restrict xr = x + r * cols;
    float* __restrict yr = y + r * cols;
    const float m = vm::max(xr, cols);
    for (int64_t j = 0; j < cols; ++j) yr[j] = vm::exp(xr[j] - m);
    const float inv = float(1.0 / vm::sum(yr, cols));
    for (int64_t j = 0; j < cols; ++j) yr[j] *= inv;
  }
}
TESSERA_ISA_DISPATCH(softmax_rows, softmax_rows_impl,
                     (const float* x, float* y, int64_t cols, int64_t r0, int64_t r1), (x, y, cols, r0, r1))

template <Isa I>
TESSERA_INLINE void softmax_bwd_rows_impl(const float* y, const float* gy, float* gx, int64_t cols, int64_t r0,
                                          int64_t r1) {
  for (int64_t r = r0; r < r1; ++r) {
    const float* __restrict yr = y + r * cols;
    const float* __restrict gr = gy + r * cols;
    float* __restrict out = gx + r * cols;
    const float d = float(vm::dot(gr, yr, cols));
    for (int64_t j = 0; j < cols; ++j) out[j] = yr[j] * (gr[j] - d);
  }
}
TESSERA_ISA_DISPATCH(softmax_bwd_rows, softmax_bwd_rows_impl,
                     (const float* y, const float* gy, float* gx, int64_t cols, int64_t r0, int64_t r1),
                     (y, gy, gx, cols, r0, r1))

}  // namespace

void softmax_forward(const float* x, float* y, int64_t rows, int64_t cols) {
  if (cols == 0) return;
  parallel_for(rows, std::max<int64_t>(1, kGrainElems / cols),
               [&](int64_t r0, int64_t r1) { softmax_rows(x, y, cols, r0, r1); });
}

void softmax_backward(const float* y, const float* gy, float* gx, int64_t rows, int64_t cols) {
  if (cols == 0) return;
  parallel_for(rows, std::max<int64_t>(1, kGrainElems / cols),
               [&](int64_t r0, int64_t r1) { softmax_bwd_rows(y, gy, gx, cols, r0, r1); });
}

}  // namespace cpu
}  // namespace tessera
