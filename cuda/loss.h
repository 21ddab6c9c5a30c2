// cuda/loss.h — mean-reduced regression losses on contiguous f32, forward and
// backward (semantics and summation order of native/cpu/loss.h and
// native/ops/loss.cpp).
//
//   mse_loss: L = (1/n) sum_i (x_i - t_i)^2     gx_i = (2/n) (x_i - t_i) g,   gt_i = -gx_i
//   l1_loss:  L = (1/n) sum_i |x_i - t_i|       gx_i = sign(x_i - t_i) g / n,  gt_i = -gx_i
// with sign(0) = 0 (gx_i = 0 * c, a signed zero, where x_i == t_i) and NaN staying
// NaN; n = 0 gives L = NaN. g is the upstream gradient, a device scalar.
//
// Forward order (deterministic, the CPU's): fixed blocks of kLossBlock = 16384
// elements; inside a block, segments of 256 elements are summed in 16 float lanes
// (lane l takes elements l mod 16, in order), the lanes added in order in double;
// segment sums added in order in double; block sums (in the caller's workspace)
// added in order in double by a second kernel, then L = float(sum / double(n)).
// mse's lane update lane += d * d is a fused multiply-add, as the CPU's AVX2 /
// AVX-512 kernels compile it (bit-identical there; TESSERA_ISA=generic rounds d*d
// first: within a few ulp). The backward is elementwise and exact.
#pragma once
#include <cstdint>

#include "launch.h"

namespace tessera {
namespace cuda {

constexpr int64_t kLossBlock = 16384;  // as cpu::kLossBlock

// Workspace (floats, 8-byte aligned: it holds one double per block) for the forward:
// 2 ceil(n / 16384).
int64_t mse_loss_workspace_floats(int64_t n);
int64_t l1_loss_workspace_floats(int64_t n);

// out: one float (device). workspace: mse/l1_loss_workspace_floats(n) floats.
void mse_loss_forward(const float* x, const float* target, float* out, float* workspace, int64_t n,
                      cudaStream_t stream);
void l1_loss_forward(const float* x, const float* target, float* out, float* workspace, int64_t n,
                     cudaStream_t stream);

// gout: the upstream gradient, one float (device). gx / gt may be null (not wanted);
// they are overwritten.
//   mse: c = float(2 / double(n)) * g;  gx = c (x - t);  gt = -(c (x - t))
//   l1:  c = g / float(n);  d = x - t;  gx = d > 0 ? c : d < 0 ? -c : d c;  gt = -gx
void mse_loss_backward(const float* x, const float* target, const float* gout, float* gx, float* gt, int64_t n,
                       cudaStream_t stream);
void l1_loss_backward(const float* x, const float* target, const float* gout, float* gx, float* gt, int64_t n,
                      cudaStream_t stream);

}  // namespace cuda
}  // namespace tessera
