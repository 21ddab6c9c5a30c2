// 3-d convolution (the `conv3d` op) as implicit GEMM on cpu::sgemm.
//
//   y[n, co, od, oh, ow] = bias[co] + sum_{ci, a, b, c} w[co, ci, a, b, c] *
//                          x[n, ci, od*sD - pF + a, oh*sH - pH + b, ow*sW - pW + c]   (0 outside x)
// pF / pB: temporal padding before / after (pD, pD; or kD - 1, 0 when causal).
#pragma once
#include <cstdint>

namespace tessera {
namespace cpu {

struct Conv3dShape {
  int64_t N = 1, Cin = 1, D = 1, H = 1, W = 1;  // input
  int64_t Cout = 1, kD = 1, kH = 1, kW = 1;     // weight [Cout, Cin, kD, kH, kW]
  int64_t sD = 1, sH = 1, sW = 1;               // stride
  int64_t pF = 0, pB = 0, pH = 0, pW = 0;       // padding: depth front / back, height and width both sides
  int64_t Do = 1, Ho = 1, Wo = 1;               // output
};

// Fills Do/Ho/Wo from the rest: Do = (D + pF + pB - kD) / sD + 1 (and alike).
// Inline: the CUDA backend library (cuda/conv3d.cu) uses it without linking the core.
inline void conv3d_output_size(Conv3dShape& s) {
  s.Do = (s.D + s.pF + s.pB - s.kD) / s.sD + 1;
  s.Ho = (s.H + 2 * s.pH - s.kH) / s.sH + 1;
  s.Wo = (s.W + 2 * s.pW - s.kW) / s.sW + 1;
}

// y = conv3d(x, w) + bias. bias may be null. All tensors contiguous.
// Per sample: y[n] (Cout x P) = w (Cout x Cin*kD*kH*kW) @ im2col(x[n]), with the
// im2col panels packed straight from a zero-padded copy of x[n] by the GEMM's
// B-packing hook (the im2col matrix is never built).
void conv3d_forward(const float* x, const float* w, const float* bias, float* y, const Conv3dShape& s);

// Gradients of conv3d_forward; any of dx, dw, dbias may be null (not wanted).
//   dx = transposed convolution of dy: for each sample, an implicit GEMM
//        dx[n] (Cin x D*H*W) = w' (Cin x Cout*kD*kH*kW) @ im2col'(dy[n]),
//        w'[ci, co, a, b, c] = w[co, ci, kD-1-a, kH-1-b, kW-1-c], im2col' read from
//        dy[n] dilated by the stride and padded by (k - 1 - p) (a stride-1 convolution).
//   dw = sum_n dy[n] (Cout x P) @ im2col(x[n])^T   (K dimension = output positions,
//        in fixed chunks and blocks, added in order; samples added in order)
//   dbias[co] = sum_{n, positions} dy[n, co, ...]   (in order, double accumulation)
// All results are independent of the thread count.
void conv3d_backward(const float* x, const float* w, const float* dy, float* dx, float* dw, float* dbias,
                     const Conv3dShape& s);

}  // namespace cpu
}  // namespace tessera
