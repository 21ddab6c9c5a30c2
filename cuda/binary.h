// cuda/binary.h — broadcasting add / sub / mul and scale on contiguous f32, forward
// and backward (semantics and summation order of native/cpu/elementwise.h and
// native/ops/elementwise.cpp).
//
//   add: y = a + b      ga = R(g)           gb = R(g)
//   sub: y = a - b      ga = R(g)           gb = -R(g)
//   mul: y = a * b      ga = R(g * b)       gb = R(g * a)
//   scale: y = alpha x  gx = alpha g
// Shapes broadcast with NumPy rules (right-aligned; each pair of sizes equal or one
// of them 1; at most kMaxBroadcastDims dims). R() sums the output gradient over the
// dimensions along which that input was broadcast (R = identity when the input
// already has the output's shape).
//
// Layout: as on the CPU, the output's dims are reduced to a BroadcastLayout (size-1
// dims dropped, adjacent dims merged where both inputs allow, per-input strides with
// 0 where broadcast); kernels receive it by value (<= 16 dims).
//
// Determinism and parity: forward is one thread per output element (exact). The
// backward reduction is a fixed-order sum with no atomics and reproduces the CPU's
// order exactly (fixed by the shapes: the CPU's blocks, 16 float lanes per
// 256-element segment when the last dim is reduced, double accumulation), so add
// and sub gradients are bit-identical to the CPU; for mul the float lane updates
// lane += g * other are fused multiply-adds, as the CPU's AVX2/AVX-512 kernels
// compile them (TESSERA_ISA=generic rounds the product first: within a few ulp).
// The reduction uses a caller-provided device workspace (8-byte aligned, sized by
// binary_backward_workspace_floats; never allocated here).
// Cost note: keeping the CPU's order means that when the last merged dim is kept
// and the CPU uses one block per task (>= 64 tasks), one thread adds a whole
// reduced range serially; fine for wide gradients (a bias over many rows splits
// into blocks), latency-bound for a narrow gradient over a very long range.
#pragma once
#include <cstdint>
#include <vector>

#include "launch.h"

namespace tessera {
namespace cuda {

enum class BinaryOp { Add, Sub, Mul };

constexpr int kMaxBroadcastDims = 16;  // as the CPU op

// The broadcast output shape of a and b; throws std::invalid_argument naming the
// dims that do not broadcast (or a rank above kMaxBroadcastDims / a negative size).
std::vector<int64_t> broadcast_shape(const int64_t* a_shape, int a_ndim, const int64_t* b_shape, int b_ndim);

// out[i] = a[ia(i)] op b[ib(i)] over the broadcast shape (out has its numel).
void binary_forward(BinaryOp op, const float* a, const int64_t* a_shape, int a_ndim, const float* b,
                    const int64_t* b_shape, int b_ndim, float* out, cudaStream_t stream);

// Workspace (floats) that binary_backward needs for these shapes (the larger of the
// two inputs' needs; 0 when no reduction needs one).
int64_t binary_backward_workspace_floats(BinaryOp op, const int64_t* a_shape, int a_ndim, const int64_t* b_shape,
                                         int b_ndim);

// ga (a's shape) and gb (b's shape) from gout (the broadcast shape); either may be
// null (not wanted). a is read only for mul's gb, b only for mul's ga. Outputs are
// overwritten (zeros when the output is empty).
void binary_backward(BinaryOp op, const float* a, const int64_t* a_shape, int a_ndim, const float* b,
                     const int64_t* b_shape, int b_ndim, const float* gout, float* ga, float* gb, float* workspace,
                     cudaStream_t stream);

// y = alpha x
void scale_forward(const float* x, float* y, int64_t n, float alpha, cudaStream_t stream);
// gx = alpha gy
void scale_backward(const float* gy, float* gx, int64_t n, float alpha, cudaStream_t stream);

}  // namespace cuda
}  // namespace tessera
