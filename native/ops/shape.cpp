// Op family 'shape' (docs/OPS.md): reshape, permute, slice, concat, pad.
//
//   reshape: y = x viewed with a new shape (one entry may be -1)       dx = dy reshaped back
//   permute: y[i_p0, ..., i_pn] = x[i_0, ..., i_n] (contiguous copy)    dx = dy permuted by the inverse
//   slice:   y[.., j, ..] = x[.., start + j * step, ..] (Python clamping) dx = zeros with dy scattered in
//   concat:  y = [x0 | x1 | ...] along dim                               dxk = the k-th block of dy
//   pad:     y = value outside, x inside (F.pad constant mode)          dx = the inner block of dy
//
// Every copy goes through strided_copy, which merges dimensions that are
// contiguous in both source and destination, copies contiguous inner runs with
// memcpy, transposes in cache tiles when the innermost dimensions differ, and
// runs in parallel over outer rows (each output element written once, so the
// result does not depend on the thread count).
#include <algorithm>
#include <cstring>

#include "backend/cuda_ops.h"
#include "core/error.h"
#include "core/op.h"
#include "core/threadpool.h"

namespace tessera {

namespace {

// dst[sum_d i_d * dst_st[d]] = src[sum_d i_d * src_st[d]] for every index i of `shape`.
void strided_copy_cpu(const float* src, const Shape& src_st, float* dst, const Shape& dst_st, const Shape& shape) {
  for (int64_t s : shape)
    if (s == 0) return;
  // Drop size-1 dims and merge dims that are contiguous in both tensors.
  Shape sz, ss, ds;
  for (size_t d = 0; d < shape.size(); ++d) {
    if (shape[d] == 1) continue;
    if (!sz.empty() && ss.back() == src_st[d] * shape[d] && ds.back() == dst_st[d] * shape[d]) {
      sz.back() *= shape[d];
      ss.back() = src_st[d];
      ds.back() = dst_st[d];
    } else {
      sz.push_back(shape[d]);
      ss.push_back(src_st[d]);
      ds.push_back(dst_st[d]);
    }
  }
  const int n = int(sz.size());
  if (n == 0) {
    dst[0] = src[0];
    return;
  }
  const int64_t len = sz[size_t(n - 1)];
  const int64_t sl = ss[size_t(n - 1)], dl = ds[size_t(n - 1)];

  // Tiled transpose when the innermost dim is strided on one side and another
  // dim k is unit-stride there.
  int k = -1;
  if (n >= 2 && !(sl == 1 && dl == 1)) {
    for (int d = 0; d < n - 1; ++d)
      if ((dl == 1 && ss[size_t(d)] == 1) || (sl == 1 && ds[size_t(d)] == 1)) k = d;
  }
  if (k >= 0) {
    constexpr int64_t kTile = 32;
    const int64_t kn = sz[size_t(k)], sk = ss[size_t(k)], dk = ds[size_t(k)];
    const int64_t ktiles = (kn + kTile - 1) / kTile;
    int64_t outer = 1;
    for (int d = 0; d < n - 1; ++d)
      if (d != k) outer *= sz[size_t(d)];
    parallel_for(outer * ktiles, std::max<int64_t>(1, 16384 / (kTile * len)), [&](int64_t t0, int64_t t1) {
      for (int64_t t = t0; t < t1; ++t) {
        int64_t kt = t % ktiles, rem = t / ktiles, so = 0, dof = 0;
        for (int d = n - 2; d >= 0; --d) {
          if (d == k) continue;
          int64_t i = rem % sz[size_t(d)];
          rem /= sz[size_t(d)];
          so += i * ss[size_t(d)];
          dof += i * ds[size_t(d)];
        }
        const int64_t a0 = kt * kTile, a1 = std::min(kn, a0 + kTile);
        for (int64_t b0 = 0; b0 < len; b0 += kTile) {
          const int64_t b1 = std::min(len, b0 + kTile);
          if (dl == 1) {  // gather: read columns of the tile, write rows
            for (int64_t a = a0; a < a1; ++a) {
              const float* s = src + so + a * sk;
              float* o = dst + dof + a * dk;
              for (int64_t b = b0; b < b1; ++b) o[b] = s[b * sl];
            }
          } else {  // scatter: read rows of the tile, write columns
            for (int64_t b = b0; b < b1; ++b) {
              const float* s = src + so + b * sl;
              float* o = dst + dof + b * dl;
              for (int64_t a = a0; a < a1; ++a) o[a * dk] = s[a];
            }
          }
        }
      }
    });
    return;
  }

  // Row by row over the last dim: memcpy when both sides are contiguous there.
  int64_t rows = 1;
  for (int d = 0; d < n - 1; ++d) rows *= sz[size_t(d)];
  parallel_for(rows, std::max<int64_t>(1, 16384 / len), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      int64_t rem = r, so = 0, dof = 0;
      for (int d = n - 2; d >= 0; --d) {
        int64_t i = rem % sz[size_t(d)];
        rem /= sz[size_t(d)];
        so += i * ss[size_t(d)];
        dof += i * ds[size_t(d)];
      }
      if (sl == 1 && dl == 1) {
        std::memcpy(dst + dof, src + so, size_t(len) * sizeof(float));
      } else {
        const float* s = src + so;
        float* o = dst + dof;
        if (dl == 1) {
          for (int64_t b = 0; b < len; ++b) o[b] = s[b * sl];
        } else {
          for (int64_t b = 0; b < len; ++b) o[b * dl] = s[b * sl];
        }
      }
    }
  });
}

// The same copy on either device (cuda/copy.cu on the GPU). Pointers are the
// tensors' data (device pointers on CUDA).
void strided_copy(Device dev, const float* src, const Shape& src_st, float* dst, const Shape& dst_st,
                  const Shape& shape) {
  if (dev == Device::CPU) return strided_copy_cpu(src, src_st, dst, dst_st, shape);
  if (shape_numel(shape) == 0) return;
  TS_CUDA("copy", strided_copy, src, src_st.data(), dst, dst_st.data(), shape.data(), int(shape.size()));
}

int normalize_dim(const char* op, const char* what, int64_t dim, int nd) {
  TS_CHECK_ARG(dim >= -nd && dim < nd, op, ": ", what, " ", dim, " is out of range for a ", nd,
               "-d tensor (must be in [", -nd, ", ", nd - 1, "])");
  return int(dim < 0 ? dim + nd : dim);
}

// ---- reshape ----

std::vector<Tensor> reshape_forward(Device dev, const std::vector<Tensor>& in, const OpParams& params, OpContext&) {
  Tensor x = contiguous_f32(in[0], dev, "reshape", "x");
  return {x.reshape(params.get_ints("shape"))};
}

std::vector<Tensor> reshape_backward(Device dev, const std::vector<Tensor>& in, const std::vector<Tensor>&,
                                     const std::vector<Tensor>&, const std::vector<Tensor>& gout,
                                     const OpParams&) {
  if (!gout[0].defined()) return {zeros_f32(in[0].shape(), dev)};
  return {contiguous_f32(gout[0], dev, "reshape", "grad").reshape(in[0].shape()).clone()};
}

// ---- permute ----

std::vector<int> permutation(const Tensor& x, const OpParams& params) {
  std::vector<int64_t> dims = params.get_ints("dims");
  const int nd = x.dim();
  TS_CHECK_ARG(int(dims.size()) == nd, "permute: dims has ", dims.size(), " entries for a ", nd,
               "-d tensor ", x.describe(), " (it must list every dim once)");
  std::vector<int> perm(static_cast<size_t>(nd));
  std::vector<bool> seen(size_t(nd), false);
  for (int i = 0; i < nd; ++i) {
    int d = normalize_dim("permute", "dims entry", dims[size_t(i)], nd);
    TS_CHECK_ARG(!seen[size_t(d)], "permute: dim ", dims[size_t(i)], " appears more than once in dims");
    seen[size_t(d)] = true;
    perm[size_t(i)] = d;
  }
  return perm;
}

Tensor permute_copy(Device dev, const Tensor& x, const std::vector<int>& perm) {
  const int nd = x.dim();
  Shape shape(static_cast<size_t>(nd)), src_st(static_cast<size_t>(nd));
  for (int i = 0; i < nd; ++i) {
    shape[size_t(i)] = x.shape()[size_t(perm[size_t(i)])];
    src_st[size_t(i)] = x.strides()[size_t(perm[size_t(i)])];
  }
  Tensor out = empty_f32(shape, dev);
  strided_copy(dev, data_f32(x), src_st, data_f32(out), out.strides(), shape);
  return out;
}

std::vector<Tensor> permute_forward(Device dev, const std::vector<Tensor>& in, const OpParams& params, OpContext&) {
  Tensor x = contiguous_f32(in[0], dev, "permute", "x");
  return {permute_copy(dev, x, permutation(x, params))};
}

std::vector<Tensor> permute_backward(Device dev, const std::vector<Tensor>& in, const std::vector<Tensor>&,
                                     const std::vector<Tensor>&, const std::vector<Tensor>& gout,
                                     const OpParams& params) {
  if (!gout[0].defined()) return {zeros_f32(in[0].shape(), dev)};
  std::vector<int> perm = permutation(in[0], params), inverse(perm.size());
  for (size_t i = 0; i < perm.size(); ++i) inverse[size_t(perm[i])] = int(i);
  return {permute_copy(dev, contiguous_f32(gout[0], dev, "permute", "grad"), inverse)};
}

// ---- slice ----

struct SliceSpec {
  int dim;
  int64_t start, step, count;
};

SliceSpec slice_spec(const Tensor& x, const OpParams& params) {
  const int nd = x.dim();
  TS_CHECK_ARG(nd > 0, "slice: x must have at least one dim, got ", x.describe());
  SliceSpec s;
  s.dim = normalize_dim("slice", "dim", params.get_int("dim"), nd);
  const int64_t n = x.shape()[size_t(s.dim)];
  s.step = params.get_int("step", 1);
  TS_CHECK_ARG(s.step >= 1, "slice: step ", s.step, " must be >= 1");
  // Python slice semantics: negative bounds count from the end, then clamp to [0, n].
  auto clamp = [n](int64_t v) {
    if (v < 0) v += n;
    return std::min(std::max<int64_t>(v, 0), n);
  };
  int64_t start = clamp(params.get_int("start", 0));
  int64_t end = params.has("end") ? clamp(params.get_int("end")) : n;
  s.start = start;
  s.count = end > start ? (end - start + s.step - 1) / s.step : 0;
  return s;
}

std::vector<Tensor> slice_forward(Device dev, const std::vector<Tensor>& in, const OpParams& params, OpContext&) {
  Tensor x = contiguous_f32(in[0], dev, "slice", "x");
  SliceSpec s = slice_spec(x, params);
  Shape shape = x.shape(), src_st = x.strides();
  shape[size_t(s.dim)] = s.count;
  src_st[size_t(s.dim)] *= s.step;
  Tensor out = empty_f32(shape, dev);
  if (out.numel() == 0) return {out};
  strided_copy(dev, data_f32(x) + s.start * x.strides()[size_t(s.dim)], src_st, data_f32(out), out.strides(), shape);
  return {out};
}

std::vector<Tensor> slice_backward(Device dev, const std::vector<Tensor>& in, const std::vector<Tensor>&,
                                   const std::vector<Tensor>&, const std::vector<Tensor>& gout,
                                   const OpParams& params) {
  Tensor gx = zeros_f32(in[0].shape(), dev);
  if (!gout[0].defined()) return {gx};
  SliceSpec s = slice_spec(in[0], params);
  Tensor g = contiguous_f32(gout[0], dev, "slice", "grad");
  Shape dst_st = gx.strides();
  dst_st[size_t(s.dim)] *= s.step;
  if (g.numel() == 0) return {gx};
  strided_copy(dev, data_f32(g), g.strides(), data_f32(gx) + s.start * gx.strides()[size_t(s.dim)], dst_st,
               g.shape());
  return {gx};
}

// ---- concat ----

int concat_dim(const std::vector<Tensor>& in, const OpParams& params) {
  TS_CHECK_ARG(!in.empty(), "concat: needs at least one input");
  const Tensor& x0 = in[0];
  TS_CHECK_ARG(x0.defined(), "concat: x0 is missing");
  const int nd = x0.dim();
  TS_CHECK_ARG(nd > 0, "concat: inputs must have at least one dim, got x0 ", x0.describe());
  int dim = normalize_dim("concat", "dim", params.get_int("dim", 0), nd);
  for (size_t i = 1; i < in.size(); ++i) {
    TS_CHECK_ARG(in[i].defined(), "concat: x", i, " is missing");
    bool ok = in[i].dim() == nd;
    for (int d = 0; ok && d < nd; ++d)
      if (d != dim && in[i].shape()[size_t(d)] != x0.shape()[size_t(d)]) ok = false;
    TS_CHECK_SHAPE(ok, "concat: x", i, " ", in[i].describe(), " does not match x0 ", x0.describe(),
                   " in every dim except dim ", dim);
  }
  return dim;
}

std::vector<Tensor> concat_forward(Device dev, const std::vector<Tensor>& in, const OpParams& params, OpContext&) {
  const int dim = concat_dim(in, params);
  Shape shape = in[0].shape();
  shape[size_t(dim)] = 0;
  for (const Tensor& x : in) shape[size_t(dim)] += x.shape()[size_t(dim)];
  Tensor out = empty_f32(shape, dev);
  int64_t offset = 0;
  for (size_t i = 0; i < in.size(); ++i) {
    std::string name = "x" + std::to_string(i);
    Tensor x = contiguous_f32(in[i], dev, "concat", name.c_str());
    if (x.numel() > 0)
      strided_copy(dev, data_f32(x), x.strides(), data_f32(out) + offset * out.strides()[size_t(dim)], out.strides(),
                   x.shape());
    offset += x.shape()[size_t(dim)];
  }
  return {out};
}

std::vector<Tensor> concat_backward(Device dev, const std::vector<Tensor>& in, const std::vector<Tensor>&,
                                    const std::vector<Tensor>&, const std::vector<Tensor>& gout,
                                    const OpParams& params) {
  const int dim = concat_dim(in, params);
  std::vector<Tensor> grads;
  Tensor g = gout[0].defined() ? contiguous_f32(gout[0], dev, "concat", "grad") : Tensor();
  int64_t offset = 0;
  for (const Tensor& x : in) {
    Tensor gx = g.defined() ? empty_f32(x.shape(), dev) : zeros_f32(x.shape(), dev);
    if (g.defined() && gx.numel() > 0)
      strided_copy(dev, data_f32(g) + offset * g.strides()[size_t(dim)], g.strides(), data_f32(gx), gx.strides(),
                   x.shape());
    offset += x.shape()[size_t(dim)];
    grads.push_back(gx);
  }
  return grads;
}

// ---- pad ----

struct PadSpec {
  Shape before, after, out_shape;
  float value;
};

PadSpec pad_spec(const Tensor& x, const OpParams& params) {
  std::vector<int64_t> pads = params.get_ints("pads");
  const int nd = x.dim();
  TS_CHECK_ARG(pads.size() % 2 == 0, "pad: pads must have an even number of entries ([before_last, after_last, ",
               "before_2nd_last, ...]), got ", pads.size());
  TS_CHECK_ARG(int(pads.size()) <= 2 * nd, "pad: pads has ", pads.size(), " entries but a ", nd,
               "-d tensor allows at most ", 2 * nd);
  PadSpec p;
  p.before.assign(size_t(nd), 0);
  p.after.assign(size_t(nd), 0);
  for (size_t i = 0; i < pads.size(); ++i) {
    TS_CHECK_ARG(pads[i] >= 0, "pad: pads[", i, "] = ", pads[i],
                 " is negative; negative padding (cropping) is not supported, use slice");
    int d = nd - 1 - int(i / 2);
    (i % 2 ? p.after : p.before)[size_t(d)] = pads[i];
  }
  p.out_shape = x.shape();
  for (int d = 0; d < nd; ++d) p.out_shape[size_t(d)] += p.before[size_t(d)] + p.after[size_t(d)];
  p.value = float(params.get_float("value", 0.0));
  return p;
}

std::vector<Tensor> pad_forward(Device dev, const std::vector<Tensor>& in, const OpParams& params, OpContext&) {
  Tensor x = contiguous_f32(in[0], dev, "pad", "x");
  PadSpec p = pad_spec(x, params);
  Tensor out = empty_f32(p.out_shape, dev);
  const int nd = x.dim();
  if (out.numel() == 0) return {out};
  if (dev == Device::CUDA) {
    const std::vector<int64_t> pads = params.get_ints("pads");
    TS_CUDA("pad", pad_forward, data_f32(x), x.shape().data(), nd, pads.data(), int(pads.size()), p.value,
            data_f32(out));
    return {out};
  }
  if (nd == 0) {
    out.f32()[0] = x.f32()[0];
    return {out};
  }
  const float* xp = x.f32();
  float* op_ = out.f32();
  const Shape& xs = x.shape();
  const int64_t olen = p.out_shape[size_t(nd - 1)], xlen = xs[size_t(nd - 1)];
  const int64_t b = p.before[size_t(nd - 1)], a = p.after[size_t(nd - 1)];
  const int64_t rows = out.numel() / olen;
  const float v = p.value;
  // One pass over output rows: a row outside x is all `value`; a row inside is
  // value * b, then x's row, then value * a.
  parallel_for(rows, std::max<int64_t>(1, 16384 / olen), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      float* o = op_ + r * olen;
      int64_t rem = r, src = 0, stride = xlen;
      bool inside = true;
      for (int d = nd - 2; d >= 0 && inside; --d) {
        int64_t i = rem % p.out_shape[size_t(d)] - p.before[size_t(d)];
        rem /= p.out_shape[size_t(d)];
        if (i < 0 || i >= xs[size_t(d)]) inside = false;
        src += i * stride;
        stride *= xs[size_t(d)];
      }
      if (!inside || xlen == 0) {
        for (int64_t j = 0; j < olen; ++j) o[j] = v;
        continue;
      }
      for (int64_t j = 0; j < b; ++j) o[j] = v;
      std::memcpy(o + b, xp + src, size_t(xlen) * sizeof(float));
      for (int64_t j = b + xlen; j < b + xlen + a; ++j) o[j] = v;
    }
  });
  return {out};
}

std::vector<Tensor> pad_backward(Device dev, const std::vector<Tensor>& in, const std::vector<Tensor>&,
                                 const std::vector<Tensor>&, const std::vector<Tensor>& gout,
                                 const OpParams& params) {
  const Tensor& x = in[0];
  if (!gout[0].defined()) return {zeros_f32(x.shape(), dev)};
  PadSpec p = pad_spec(x, params);
  Tensor g = contiguous_f32(gout[0], dev, "pad", "grad");
  Tensor gx = empty_f32(x.shape(), dev);
  if (gx.numel() == 0) return {gx};
  int64_t offset = 0;
  for (int d = 0; d < x.dim(); ++d) offset += p.before[size_t(d)] * g.strides()[size_t(d)];
  strided_copy(dev, data_f32(g) + offset, g.strides(), data_f32(gx), gx.strides(), x.shape());
  return {gx};
}

}  // namespace

void register_shape_ops(OpRegistry& r) {
  auto add = [&r](const char* name, int min_inputs, int max_inputs, DeviceForwardFn fwd, DeviceBackwardFn bwd,
                  const char* doc) {
    OpDef d;
    d.name = name;
    d.min_inputs = min_inputs;
    d.max_inputs = max_inputs;
    set_forward(d, std::move(fwd));
    set_backward(d, std::move(bwd));
    d.doc = doc;
    r.add(std::move(d));
  };
  add("reshape", 1, 1, reshape_forward, reshape_backward,
      "reshape(x; shape with at most one -1) -> x with the new shape");
  add("permute", 1, 1, permute_forward, permute_backward,
      "permute(x; dims) -> contiguous copy with dim i = x's dim dims[i]");
  add("slice", 1, 1, slice_forward, slice_backward,
      "slice(x; dim, start = 0, end = size, step = 1) -> x[start:end:step] along dim (Python bounds)");
  add("concat", 1, -1, concat_forward, concat_backward, "concat(x0, x1, ...; dim = 0) -> inputs joined along dim");
  add("pad", 1, 1, pad_forward, pad_backward,
      "pad(x; pads [before_last, after_last, ...], value = 0) -> constant padding as F.pad");
}

}  // namespace tessera
