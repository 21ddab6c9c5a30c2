// cuda/resample.cu — nearest / trilinear resampling, forward and backward.
//
// Forward: one thread per output element (W fastest: coalesced stores). It
// combines the D and H taps (up to four input rows) at the one or two W taps it
// needs, in the CPU's order, then interpolates along W.
//
// Backward: a gather, one thread per input-gradient element (coalesced stores, no
// atomics). It walks the few outputs that read it along D, H, W (candidates from
// the scale, filtered by recomputing each output's taps) and evaluates
//   gx = sum_od wd (sum_oh wh (sum_ow ww gy))
// with outputs ascending and tap 0 before tap 1 — the CPU's W, H, D adjoint passes
// as one nested sum, so no intermediate buffers are needed.
#include "resample.h"
#include "check.h"

#include <stdexcept>
#include <string>

namespace tessera {
namespace cuda {

namespace {

constexpr int kThreads = 256;

struct Taps {
  int64_t i0, i1;
  float w0, w1;
  int n;  // 1 or 2
};

// The taps of output o along one axis (make_resample_axis of native/cpu/resample.cpp;
// _rn intrinsics keep nvcc from contracting into an FMA, so s is bit-identical).
__device__ __forceinline__ Taps axis_taps(const ResampleDim& a, bool linear, int64_t o) {
  Taps t{o, o, 1.0f, 0.0f, 1};
  if (a.in == a.out) return t;  // identity
  if (!linear) {
    int64_t i = int64_t(floorf(__fmul_rn(float(o), a.scale)));
    t.i0 = t.i1 = i < a.in - 1 ? i : a.in - 1;
    return t;
  }
  float s = __fsub_rn(__fmul_rn(a.scale, __fadd_rn(float(o), 0.5f)), 0.5f);
  if (s < 0.0f) s = 0.0f;
  int64_t i0 = int64_t(s);
  if (i0 > a.in - 1) i0 = a.in - 1;
  t.i0 = i0;
  t.i1 = i0 + (i0 < a.in - 1 ? 1 : 0);
  t.w1 = fminf(fmaxf(__fsub_rn(s, float(i0)), 0.0f), 1.0f);
  t.w0 = 1.0f - t.w1;
  t.n = 2;
  return t;
}

// Outputs that may read input i along an axis: [lo, hi] (a superset; callers filter).
// Linear: o in [(i - 0.5)/scale - 0.5, (i + 1.5)/scale - 0.5); nearest: [i/scale, (i+1)/scale);
// the last input also takes every output clamped onto it.
__device__ __forceinline__ void axis_range(const ResampleDim& a, int64_t i, int64_t& lo, int64_t& hi) {
  if (a.in == a.out) {
    lo = hi = i;
    return;
  }
  const float inv = 1.0f / a.scale;
  lo = int64_t(floorf(float(i - 1) * inv)) - 1;
  hi = int64_t(ceilf(float(i + 2) * inv)) + 1;
  if (lo < 0) lo = 0;
  if (i == a.in - 1 || hi > a.out - 1) hi = a.out - 1;
}

// y[p, od, oh, ow]: rows r_k = x[p, id_k, ih_k, :] with weights c_k = wd wh (k over
// D taps x H taps, D outer); t(c) = r_0[c] (one row), c0 r0[c] + c1 r1[c] (two),
// (c0 r0[c] + c1 r1[c]) + (c2 r2[c] + c3 r3[c]) (four);
// y = t(iw0) (nearest / identity W) or ww0 t(iw0) + ww1 t(iw1).
__global__ void resample_fwd_kernel(const float* __restrict__ x, float* __restrict__ y, int64_t total,
                                    ResampleDim D, ResampleDim H, ResampleDim W, bool linear) {
  const int64_t e = int64_t(blockIdx.x) * kThreads + threadIdx.x;
  if (e >= total) return;
  const int64_t ow = e % W.out, oh = (e / W.out) % H.out, od = (e / (W.out * H.out)) % D.out;
  const int64_t p = e / (W.out * H.out * D.out);
  const Taps td = axis_taps(D, linear, od), th = axis_taps(H, linear, oh), tw = axis_taps(W, linear, ow);
  const float* rows[4];
  float c[4];
  int n = 0;
  for (int a = 0; a < td.n; ++a) {
    const int64_t id = a ? td.i1 : td.i0;
    const float wd = a ? td.w1 : td.w0;
    for (int b = 0; b < th.n; ++b) {
      const int64_t ih = b ? th.i1 : th.i0;
      const float wh = b ? th.w1 : th.w0;
      rows[n] = x + ((p * D.in + id) * H.in + ih) * W.in;
      c[n] = wd * wh;
      ++n;
    }
  }
  float t[2];
  for (int k = 0; k < tw.n; ++k) {
    const int64_t iw = k ? tw.i1 : tw.i0;
    if (n == 1)
      t[k] = rows[0][iw];
    else if (n == 2)
      t[k] = c[0] * rows[0][iw] + c[1] * rows[1][iw];
    else
      t[k] = (c[0] * rows[0][iw] + c[1] * rows[1][iw]) + (c[2] * rows[2][iw] + c[3] * rows[3][iw]);
  }
  y[e] = tw.n == 1 ? t[0] : tw.w0 * t[0] + tw.w1 * t[1];
}

// Sum over the outputs o (ascending, tap 0 then tap 1) of an axis that read input i,
// of w(o, tap) f(o). Identity axes give f(i).
template <class F>
__device__ __forceinline__ float axis_gather(const ResampleDim& a, bool linear, int64_t i, F f) {
  if (a.in == a.out) return f(i);
  int64_t lo, hi;
  axis_range(a, i, lo, hi);
  float acc = 0.0f;
  for (int64_t o = lo; o <= hi; ++o) {
    const Taps t = axis_taps(a, linear, o);
    if (t.i0 == i) acc += t.w0 * f(o);
    if (t.n == 2 && t.i1 == i) acc += t.w1 * f(o);
  }
  return acc;
}

// gx[p, id, ih, iw] = sum_od wd (sum_oh wh (sum_ow ww gy[p, od, oh, ow]))
__global__ void resample_bwd_kernel(const float* __restrict__ gy, float* __restrict__ gx, int64_t total,
                                    ResampleDim D, ResampleDim H, ResampleDim W, bool linear) {
  const int64_t e = int64_t(blockIdx.x) * kThreads + threadIdx.x;
  if (e >= total) return;
  const int64_t iw = e % W.in, ih = (e / W.in) % H.in, id = (e / (W.in * H.in)) % D.in;
  const int64_t p = e / (W.in * H.in * D.in);
  const float* g = gy + p * D.out * H.out * W.out;
  gx[e] = axis_gather(D, linear, id, [&](int64_t od) {
    return axis_gather(H, linear, ih, [&](int64_t oh) {
      const float* row = g + (od * H.out + oh) * W.out;
      return axis_gather(W, linear, iw, [&](int64_t ow) { return row[ow]; });
    });
  });
}

void check_dims(const ResampleDim& a) {
  if (a.in <= 0 || a.out <= 0 || !(a.scale > 0.0f))
    throw std::invalid_argument("resample: sizes must be positive and scale > 0");
}

}  // namespace

void resample_forward(const float* x, float* y, int64_t planes, ResampleDim d, ResampleDim h, ResampleDim w,
                      bool linear, cudaStream_t stream) {
  if (planes <= 0) return;
  check_dims(d), check_dims(h), check_dims(w);
  const int64_t total = planes * d.out * h.out * w.out;
  TESSERA_LAUNCH(resample_fwd_kernel, unsigned((total + kThreads - 1) / kThreads), kThreads, 0, stream)(
      x, y, total, d, h, w, linear);
  TESSERA_CUDA_CHECK_LAUNCH();
}

void resample_backward(const float* gy, float* gx, int64_t planes, ResampleDim d, ResampleDim h, ResampleDim w,
                       bool linear, cudaStream_t stream) {
  if (planes <= 0) return;
  check_dims(d), check_dims(h), check_dims(w);
  const int64_t total = planes * d.in * h.in * w.in;
  TESSERA_LAUNCH(resample_bwd_kernel, unsigned((total + kThreads - 1) / kThreads), kThreads, 0, stream)(
      gy, gx, total, d, h, w, linear);
  TESSERA_CUDA_CHECK_LAUNCH();
}

}  // namespace cuda
}  // namespace tessera
