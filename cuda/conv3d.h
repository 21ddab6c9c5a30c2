// cuda/conv3d.h — 3-d convolution (the `conv3d` op) on the GPU, as implicit GEMM:
// forward (f32, and bf16 on tensor cores) and backward (dx, dw, dbias), f32.
//
// Semantics and shape: tessera::cpu::Conv3dShape and tessera::cpu::conv3d_forward /
// conv3d_backward (native/cpu/conv3d.h), which these kernels match. All tensors are
// contiguous, device pointers:
//   x [N, Cin, D, H, W], w [Cout, Cin, kD, kH, kW], bias [Cout], y / dy [N, Cout, Do, Ho, Wo]
//   y[n, co, od, oh, ow] = bias[co] + sum_{ci, a, b, c} w[co, ci, a, b, c] *
//                          x[n, ci, od*sD - pF + a, oh*sH - pH + b, ow*sW - pW + c]   (0 outside x)
// pF / pB: depth padding before / after (causal: pF = kD - 1, pB = 0); pH, pW on both
// sides; Do = (D + pF + pB - kD) / sD + 1, Ho = (H + 2 pH - kH) / sH + 1, Wo alike
// (cpu::conv3d_output_size; the launchers check that Do/Ho/Wo agree with it).
//
// The GEMM views (P = Do*Ho*Wo, DHW = D*H*W, T = kD*kH*kW, Kc = Cin*T):
//   forward  y[n]  (Cout x P)   = w (Cout x Kc) @ col(x[n]) (Kc x P),
//            col[(ci, a, b, c), (od, oh, ow)] = x[n, ci, od*sD - pF + a, oh*sH - pH + b, ow*sW - pW + c]
//   dx       dx[n] (Cin x DHW)  = w^T (Cin x Cout*T) @ colT(dy[n]) (Cout*T x DHW),
//            colT[(co, a, b, c), (id, ih, iw)] = dy[n, co, od, oh, ow] where od*sD = id + pF - a
//            (and alike for h, w) has an integer solution inside the output, else 0
//   dw       dw (Cout x Kc)     = sum_n dy[n] (Cout x P) @ col(x[n])^T (P x Kc)
//   dbias    dbias[co]          = sum_{n, p} dy[n, co, p]
// col / colT are gathered tile by tile into shared memory, never built in global memory.
//
// Determinism: every result is a fixed-order sum (no atomics); dw adds fixed splits
// of the (sample, position) range, whose number depends only on the shape, through
// the workspace in split order. Results do not depend on the device or the schedule.
// Bad arguments (negative sizes, inconsistent Do/Ho/Wo, sizes past the 32-bit index
// range of the kernels, a missing workspace) throw std::invalid_argument; a failed
// launch throws std::runtime_error.
#pragma once
#include <cstdint>

#include "cpu/conv3d.h"
#include "launch.h"

namespace tessera {
namespace cuda {

using Conv3dShape = tessera::cpu::Conv3dShape;

// y = conv3d(x, w) + bias (bias may be null). f32, fp32 accumulation.
void conv3d_forward(const float* x, const float* w, const float* bias, float* y, const Conv3dShape& s,
                    cudaStream_t stream);

// The same with bf16 x and w on tensor cores (wmma 16x16x16, fp32 accumulation);
// bias and y are f32. tile_m picks the output-channel tile: 64 or 128, or 0 (auto:
// 128 when Cout > 64 and the grid still has at least 2 blocks per SM, else 64).
void conv3d_forward_bf16(const __nv_bfloat16* x, const __nv_bfloat16* w, const float* bias, float* y,
                         const Conv3dShape& s, cudaStream_t stream, int tile_m = 0);

// Floats of device workspace conv3d_backward needs when dw is wanted (0 when dw is
// reduced in one pass): the fixed-split partial sums of dw, splits x Cout x Kc.
int64_t conv3d_backward_workspace_floats(const Conv3dShape& s);

// Gradients of conv3d_forward; dx, dw, dbias are overwritten, and any of them may be
// null (not wanted). workspace: conv3d_backward_workspace_floats(s) floats (may be
// null when that is 0 or dw is null).
void conv3d_backward(const float* x, const float* w, const float* dy, float* dx, float* dw, float* dbias,
                     const Conv3dShape& s, float* workspace, cudaStream_t stream);

}  // namespace cuda
}  // namespace tessera
