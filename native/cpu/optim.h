// Optimizer kernels on contiguous f32, in place: the AdamW update and global
// gradient-norm clipping. Used by the `adamw` and `clip_grad_norm` ops and called
// directly by the C++ optimizer (core/optimizer.cpp).
#pragma once
#include <cstdint>
#include <vector>

#include "core/optimizer.h"  // AdamWConfig

namespace tessera {
namespace cpu {

// One AdamW step (torch.optim.AdamW, decoupled weight decay), step >= 1:
//   p = p (1 - lr wd)
//   m = m + (1 - b1) (g - m)                      (= b1 m + (1 - b1) g, torch's lerp)
//   v = b2 v + (1 - b2) g^2
//   p = p - (lr / (1 - b1^t)) m / (sqrt(v) / sqrt(1 - b2^t) + eps)
// Scalars are formed in double and rounded to float once, as torch does.
// Elementwise, so any thread count gives the same bits.
void adamw_step(float* p, const float* g, float* m, float* v, int64_t n, AdamWConfig cfg, int64_t step);

// sum_i x[i]^2 in a fixed order: blocks of 16384 elements, each reduced with
// vm::dot (cpu/vec_math.h), block sums added in order in double.
double sum_of_squares(const float* x, int64_t n);

// Global L2 norm of several tensors: sqrt(sum over tensors, in order, of sum_of_squares).
double global_norm(const std::vector<const float*>& data, const std::vector<int64_t>& sizes);

// torch.nn.utils.clip_grad_norm_'s factor: min(1, max_norm / (total_norm + 1e-6)), in float.
float clip_coefficient(double total_norm, double max_norm);

// x *= s
void scale_inplace(float* x, int64_t n, float s);

}  // namespace cpu
}  // namespace tessera
