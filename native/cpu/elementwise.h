// Broadcasting binary ops (add, sub, mul) and scale on contiguous f32.
//
// A broadcast is described by a BroadcastLayout: the output's dimensions with
// size-1 dimensions dropped and adjacent dimensions merged wherever both inputs
// allow, plus each input's stride per dimension (0 where it is broadcast).
//
// Determinism: forward partitions outputs only. The backward reduction
// (reduce_broadcast_grad) sums every gradient element in an order fixed by the
// shapes alone (fixed segments and blocks, partial sums combined in block order
// in double), so results are bit-identical for any thread count.
#pragma once
#include <cstdint>
#include <vector>

namespace tessera {
namespace cpu {

enum class BinaryOp { Add, Sub, Mul };

struct BroadcastLayout {
  std::vector<int64_t> sizes;      // merged output dims (all > 1); empty for a one-element output
  std::vector<int64_t> a_strides;  // per merged dim, 0 where a is broadcast
  std::vector<int64_t> b_strides;
  int64_t numel = 1;
};

// a_shape and b_shape are right-aligned against out_shape (NumPy rules); the
// caller has checked that they broadcast to out_shape.
BroadcastLayout broadcast_layout(const std::vector<int64_t>& a_shape, const std::vector<int64_t>& b_shape,
                                 const std::vector<int64_t>& out_shape);

// out[i] = a[ia(i)] op b[ib(i)]   (op: +, -, *)
void binary_forward(BinaryOp op, const float* a, const float* b, float* out, const BroadcastLayout& layout);

// y = alpha * x   (backward: gx = alpha * gy, the same kernel)
void scale_forward(const float* x, float* y, int64_t n, float alpha);

// Gradient of a broadcast input. `layout` is the broadcast layout with
// a = the input whose gradient is wanted, b = the other operand:
//   grad[k] = sign * sum_{i : ia(i) = k} g[i] * (other ? other[ib(i)] : 1)
// add: other = null, sign = 1; sub's b: other = null, sign = -1; mul: other = the other factor.
// grad has as many elements as the input (its stride pattern in `layout`).
void reduce_broadcast_grad(const float* g, const float* other, float* grad, const BroadcastLayout& layout,
                           float sign);

}  // namespace cpu
}  // namespace tessera
