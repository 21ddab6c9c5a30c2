// Resampling (upsample / downsample), forward and backward.
//
// One axis (align_corners = False, scale = 1 / scale_factor):
//   nearest: y[o] = x[min(floor(o * scale), in - 1)]
//   linear:  s = max(scale * (o + 0.5) - 0.5, 0), i0 = floor(s), i1 = min(i0 + 1, in - 1),
//            y[o] = (1 - (s - i0)) * x[i0] + (s - i0) * x[i1]
// Three axes: the tensor product of the three 1-d operators,
//   y[p, od, oh, ow] = sum_{a, b, c} Wd[od, a] Wh[oh, b] Ww[ow, c] x[p, a, b, c].
// Backward is the transpose, dx = Wd^T Wh^T Ww^T dy, applied one axis at a time.
#include "cpu/resample.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "core/cpu_features.h"
#include "core/threadpool.h"

namespace tessera {
namespace cpu {

ResampleAxis make_resample_axis(int64_t in_size, int64_t out_size, float scale, bool linear) {
  ResampleAxis a;
  a.in_size = in_size;
  a.out_size = out_size;
  a.identity = in_size == out_size;
  a.taps = (linear && !a.identity) ? 2 : 1;
  a.i0.resize(size_t(out_size));
  a.i1.resize(size_t(out_size));
  a.w0.resize(size_t(out_size));
  a.w1.resize(size_t(out_size));
  for (int64_t o = 0; o < out_size; ++o) {
    int64_t i0 = o, i1 = o;
    float w0 = 1.0f, w1 = 0.0f;
    if (!a.identity && !linear) {
      i0 = i1 = std::min(int64_t(std::floor(float(o) * scale)), in_size - 1);
    } else if (!a.identity) {
      float s = scale * (float(o) + 0.5f) - 0.5f;
      if (s < 0.0f) s = 0.0f;
      i0 = std::min(int64_t(s), in_size - 1);
      i1 = i0 + (i0 < in_size - 1 ? 1 : 0);
      w1 = std::min(std::max(s - float(i0), 0.0f), 1.0f);
      w0 = 1.0f - w1;
    }
    a.i0[size_t(o)] = int32_t(i0);
    a.i1[size_t(o)] = int32_t(i1);
    a.w0[size_t(o)] = w0;
    a.w1[size_t(o)] = w1;
  }
  return a;
}

namespace {

struct Dims {
  int64_t planes;
  const ResampleAxis *d, *h, *w;
};

// ---- forward ----

// Output rows [r0, r1) of y (row r = (p, od, oh)). For each: combine the (up to
// four) input rows the D and H taps name into tmp[Win], then interpolate along W.
template <Isa I>
TESSERA_INLINE void forward_rows_impl(const float* x, float* y, const Dims* dims, int64_t r0, int64_t r1,
                                      float* tmp) {
  const ResampleAxis& D = *dims->d;
  const ResampleAxis& H = *dims->h;
  const ResampleAxis& W = *dims->w;
  const int64_t Win = W.in_size, Wout = W.out_size, Hin = H.in_size, Hout = H.out_size, Din = D.in_size;
  const int64_t Dout = D.out_size;
  const int32_t* __restrict wi0 = W.i0.data();
  const int32_t* __restrict wi1 = W.i1.data();
  const float* __restrict ww0 = W.w0.data();
  const float* __restrict ww1 = W.w1.data();
  for (int64_t r = r0; r < r1; ++r) {
    const int64_t oh = r % Hout, od = (r / Hout) % Dout, p = r / (Hout * Dout);
    const float* rows[4] = {nullptr, nullptr, nullptr, nullptr};
    float wts[4] = {0.0f, 0.0f, 0.0f, 0.0f};
    int n = 0;
    for (int a = 0; a < D.taps; ++a) {
      const int64_t id = a ? D.i1[size_t(od)] : D.i0[size_t(od)];
      const float wd = a ? D.w1[size_t(od)] : D.w0[size_t(od)];
      for (int b = 0; b < H.taps; ++b) {
        const int64_t ih = b ? H.i1[size_t(oh)] : H.i0[size_t(oh)];
        const float wh = b ? H.w1[size_t(oh)] : H.w0[size_t(oh)];
        rows[n] = x + ((p * Din + id) * Hin + ih) * Win;
        wts[n] = wd * wh;
        ++n;
      }
    }
    const float* __restrict src = rows[0];
    float* __restrict t = tmp;
    if (n == 2) {
      const float* __restrict a0 = rows[0];
      const float* __restrict a1 = rows[1];
      const float c0 = wts[0], c1 = wts[1];
      for (int64_t i = 0; i < Win; ++i) t[i] = c0 * a0[i] + c1 * a1[i];
      src = tmp;
    } else if (n == 4) {
      const float* __restrict a0 = rows[0];
      const float* __restrict a1 = rows[1];
      const float* __restrict a2 = rows[2];
      const float* __restrict a3 = rows[3];
      const float c0 = wts[0], c1 = wts[1], c2 = wts[2], c3 = wts[3];
      for (int64_t i = 0; i < Win; ++i) t[i] = (c0 * a0[i] + c1 * a1[i]) + (c2 * a2[i] + c3 * a3[i]);
      src = tmp;
    }
    // n == 1: a single row with weight 1 (nearest, or identity D and H axes).
    float* __restrict out = y + r * Wout;
    if (W.identity) {
      std::memcpy(out, src, size_t(Wout) * sizeof(float));
    } else if (W.taps == 1) {
      for (int64_t o = 0; o < Wout; ++o) out[o] = src[wi0[o]];
    } else {
      for (int64_t o = 0; o < Wout; ++o) out[o] = ww0[o] * src[wi0[o]] + ww1[o] * src[wi1[o]];
    }
  }
}
TESSERA_ISA_DISPATCH(forward_rows, forward_rows_impl,
                     (const float* x, float* y, const Dims* dims, int64_t r0, int64_t r1, float* tmp),
                     (x, y, dims, r0, r1, tmp))

// ---- backward ----

// Adjoint along the last axis, rows [r0, r1) of g [rows, out] -> dst [rows, in]:
//   dst[r, :] = 0; for o in order: dst[r, i0[o]] += w0[o] g[r, o]; dst[r, i1[o]] += w1[o] g[r, o]
template <Isa I>
TESSERA_INLINE void last_adjoint_impl(const float* g, float* dst, const ResampleAxis* axis, int64_t r0, int64_t r1) {
  const ResampleAxis& A = *axis;
  const int64_t in = A.in_size, out = A.out_size;
  const int32_t* __restrict i0 = A.i0.data();
  const int32_t* __restrict i1 = A.i1.data();
  const float* __restrict w0 = A.w0.data();
  const float* __restrict w1 = A.w1.data();
  for (int64_t r = r0; r < r1; ++r) {
    float* d = dst + r * in;
    const float* s = g + r * out;
    for (int64_t i = 0; i < in; ++i) d[i] = 0.0f;
    if (A.taps == 1) {
      for (int64_t o = 0; o < out; ++o) d[i0[o]] += s[o];
    } else {
      for (int64_t o = 0; o < out; ++o) {
        d[i0[o]] += w0[o] * s[o];
        d[i1[o]] += w1[o] * s[o];
      }
    }
  }
}
TESSERA_ISA_DISPATCH(last_adjoint, last_adjoint_impl,
                     (const float* g, float* dst, const ResampleAxis* axis, int64_t r0, int64_t r1),
                     (g, dst, axis, r0, r1))

// The transpose of one axis as lists: for input index i, the (output, weight)
// pairs that read it, in increasing output order.
struct AdjointLists {
  std::vector<int32_t> offsets, index;
  std::vector<float> weight;
};

AdjointLists adjoint_lists(const ResampleAxis& a) {
  AdjointLists l;
  std::vector<int32_t> count(size_t(a.in_size) + 1, 0);
  for (int64_t o = 0; o < a.out_size; ++o)
    for (int t = 0; t < a.taps; ++t) ++count[size_t(t ? a.i1[size_t(o)] : a.i0[size_t(o)]) + 1];
  l.offsets.assign(size_t(a.in_size) + 1, 0);
  for (int64_t i = 0; i < a.in_size; ++i) l.offsets[size_t(i) + 1] = l.offsets[size_t(i)] + count[size_t(i) + 1];
  l.index.resize(size_t(l.offsets.back()));
  l.weight.resize(size_t(l.offsets.back()));
  std::vector<int32_t> fill(l.offsets.begin(), l.offsets.end() - 1);
  for (int64_t o = 0; o < a.out_size; ++o)
    for (int t = 0; t < a.taps; ++t) {
      int32_t i = t ? a.i1[size_t(o)] : a.i0[size_t(o)];
      l.index[size_t(fill[size_t(i)])] = int32_t(o);
      l.weight[size_t(fill[size_t(i)])] = t ? a.w1[size_t(o)] : a.w0[size_t(o)];
      ++fill[size_t(i)];
    }
  return l;
}

struct MiddleAdjoint {
  const AdjointLists* lists;
  int64_t lout, lin, inner, chunk, nchunks;  // src [Q, lout, inner] -> dst [Q, lin, inner]
};

// Adjoint along a middle axis, tasks [t0, t1) with t = ((q * lin) + i) * nchunks + c:
//   dst[q, i, cols of c] = sum over (o, w) in lists[i], in order, of w * src[q, o, cols of c]
template <Isa I>
TESSERA_INLINE void middle_adjoint_impl(const float* src, float* dst, const MiddleAdjoint* m, int64_t t0,
                                        int64_t t1) {
  const AdjointLists& L = *m->lists;
  for (int64_t t = t0; t < t1; ++t) {
    const int64_t c = t % m->nchunks, qi = t / m->nchunks;
    const int64_t i = qi % m->lin, q = qi / m->lin;
    const int64_t c0 = c * m->chunk, n = std::min(m->chunk, m->inner - c0);
    float* __restrict d = dst + qi * m->inner + c0;
    const int32_t b = L.offsets[size_t(i)], e = L.offsets[size_t(i) + 1];
    if (b == e) {
      for (int64_t j = 0; j < n; ++j) d[j] = 0.0f;
      continue;
    }
    {
      const float* __restrict s = src + (q * m->lout + L.index[size_t(b)]) * m->inner + c0;
      const float w = L.weight[size_t(b)];
      for (int64_t j = 0; j < n; ++j) d[j] = w * s[j];
    }
    for (int32_t k = b + 1; k < e; ++k) {
      const float* __restrict s = src + (q * m->lout + L.index[size_t(k)]) * m->inner + c0;
      const float w = L.weight[size_t(k)];
      for (int64_t j = 0; j < n; ++j) d[j] += w * s[j];
    }
  }
}
TESSERA_ISA_DISPATCH(middle_adjoint, middle_adjoint_impl,
                     (const float* src, float* dst, const MiddleAdjoint* m, int64_t t0, int64_t t1),
                     (src, dst, m, t0, t1))

// One middle-axis adjoint pass over src [Q, axis.out, inner] into dst [Q, axis.in, inner].
void middle_adjoint_pass(const float* src, float* dst, int64_t Q, const ResampleAxis& axis, int64_t inner) {
  AdjointLists lists = adjoint_lists(axis);
  MiddleAdjoint m;
  m.lists = &lists;
  m.lout = axis.out_size;
  m.lin = axis.in_size;
  m.inner = inner;
  m.chunk = std::min<int64_t>(inner, 4096);
  m.nchunks = (inner + m.chunk - 1) / m.chunk;
  const int64_t tasks = Q * m.lin * m.nchunks;
  parallel_for(tasks, std::max<int64_t>(1, 16384 / m.chunk),
               [&](int64_t t0, int64_t t1) { middle_adjoint(src, dst, &m, t0, t1); });
}

}  // namespace

void resample_forward(const float* x, float* y, int64_t planes, const ResampleAxis& d, const ResampleAxis& h,
                      const ResampleAxis& w) {
  const int64_t rows = planes * d.out_size * h.out_size;
  if (rows == 0 || w.out_size == 0) return;
  Dims dims{planes, &d, &h, &w};
  parallel_for(rows, std::max<int64_t>(1, 16384 / std::max(w.out_size, w.in_size)), [&](int64_t r0, int64_t r1) {
    std::vector<float> tmp(size_t(w.in_size));
    forward_rows(x, y, &dims, r0, r1, tmp.data());
  });
}

void resample_backward(const float* gy, float* gx, int64_t planes, const ResampleAxis& d, const ResampleAxis& h,
                       const ResampleAxis& w) {
  const int64_t P = planes;
  const int64_t total_in = P * d.in_size * h.in_size * w.in_size;
  if (total_in == 0) return;
  if (d.identity && h.identity && w.identity) {
    std::memcpy(gx, gy, size_t(total_in) * sizeof(float));
    return;
  }
  // Passes W, H, D (skipping identity axes); the last pass writes gx.
  const bool need_h = !h.identity, need_d = !d.identity;
  std::vector<float> buf_w, buf_h;
  const float* cur = gy;
  if (!w.identity) {
    const int64_t rows = P * d.out_size * h.out_size;
    float* dst = gx;
    if (need_h || need_d) {
      buf_w.resize(size_t(rows * w.in_size));
      dst = buf_w.data();
    }
    parallel_for(rows, std::max<int64_t>(1, 16384 / w.out_size),
                 [&](int64_t r0, int64_t r1) { last_adjoint(cur, dst, &w, r0, r1); });
    cur = dst;
  }
  if (need_h) {
    float* dst = gx;
    if (need_d) {
      buf_h.resize(size_t(P * d.out_size * h.in_size * w.in_size));
      dst = buf_h.data();
    }
    middle_adjoint_pass(cur, dst, P * d.out_size, h, w.in_size);
    cur = dst;
  }
  if (need_d) middle_adjoint_pass(cur, gx, P, d, h.in_size * w.in_size);
}

}  // namespace cpu
}  // namespace tessera
