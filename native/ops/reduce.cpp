// Op family 'reduce' (docs/OPS.md): sum and mean over `dims` (default all;
// negative dims count from the end; an empty list means all, as in PyTorch),
// with `keepdim`. Backward broadcasts the output gradient back over the reduced
// dimensions (divided by the count for mean).
#include <algorithm>
#include <cmath>
#include <limits>

#include "backend/cuda_ops.h"
#include "core/error.h"
#include "core/op.h"
#include "cpu/reduce.h"

namespace tessera {

namespace {

struct ReducePlan {
  std::vector<bool> reduced_dim;   // per input dim
  Shape out_shape;                 // honours keepdim
  int64_t count = 1;               // elements folded into each output
  // The input shape as groups of adjacent dims (size-1 dims dropped) that are
  // all reduced or all kept.
  std::vector<int64_t> groups;
  std::vector<bool> group_reduced;
};

ReducePlan plan_reduce(const char* op, const Shape& shape, const OpParams& params) {
  const int nd = int(shape.size());
  std::vector<int64_t> dims = params.get_ints("dims", {});
  const bool keepdim = params.get_bool("keepdim", false);
  ReducePlan p;
  p.reduced_dim.assign(size_t(nd), dims.empty());
  if (!dims.empty()) {
    const int rank = std::max(nd, 1);  // a 0-d tensor accepts dim 0 or -1, as in PyTorch
    std::vector<bool> seen(size_t(rank), false);
    for (int64_t d : dims) {
      TS_CHECK_ARG(d >= -rank && d < rank, op, ": dims entry ", d, " is out of range for a ", nd,
                   "-d tensor (must be in [", -rank, ", ", rank - 1, "])");
      int64_t dd = d < 0 ? d + rank : d;
      TS_CHECK_ARG(!seen[size_t(dd)], op, ": dim ", d, " appears more than once in dims");
      seen[size_t(dd)] = true;
      if (nd > 0) p.reduced_dim[size_t(dd)] = true;
    }
  }
  for (int d = 0; d < nd; ++d) {
    if (p.reduced_dim[size_t(d)]) {
      p.count *= shape[size_t(d)];
      if (keepdim) p.out_shape.push_back(1);
    } else {
      p.out_shape.push_back(shape[size_t(d)]);
    }
    if (shape[size_t(d)] == 1) continue;
    bool r = p.reduced_dim[size_t(d)];
    if (!p.groups.empty() && p.group_reduced.back() == r) {
      p.groups.back() *= shape[size_t(d)];
    } else {
      p.groups.push_back(shape[size_t(d)]);
      p.group_reduced.push_back(r);
    }
  }
  return p;
}

// The CUDA kernels take the op's own dims list (cuda/reduce.h), after plan_reduce checked it.
Tensor reduce_forward_cuda(const char* op, const Tensor& x, const ReducePlan& p, const OpParams& params, bool mean) {
  const Device dev = Device::CUDA;
  const std::vector<int64_t> dims = params.get_ints("dims", {});
  Tensor out = empty_f32(p.out_shape, dev);
  if (out.numel() == 0) return out;
  const int nd = x.dim();
  const int64_t ws_floats = cuda_backend::api().reduce_workspace_floats(x.shape().data(), nd, dims.data(), int(dims.size()));
  Tensor ws = empty_f32({std::max<int64_t>(1, ws_floats)}, dev);
  TS_CUDA(op, reduce_forward, mean ? 1 : 0, data_f32(x), x.shape().data(), nd, dims.data(), int(dims.size()),
          data_f32(out), data_f32(ws));
  return out;
}

Tensor reduce_forward(Device dev, const char* op, const Tensor& x_in, const OpParams& params, bool mean) {
  Tensor x = contiguous_f32(x_in, dev, op, "x");
  ReducePlan p = plan_reduce(op, x.shape(), params);
  if (dev == Device::CUDA) return reduce_forward_cuda(op, x, p, params, mean);
  Tensor out = Tensor::empty(p.out_shape);
  const double divisor = mean ? double(p.count) : 1.0;
  if (out.numel() == 0) return out;
  if (x.numel() == 0) {  // empty reduction: 0 for sum, NaN for mean (as PyTorch)
    const float v = mean ? std::numeric_limits<float>::quiet_NaN() : 0.0f;
    float* o = out.f32();
    for (int64_t i = 0; i < out.numel(); ++i) o[i] = v;
    return out;
  }
  const auto& g = p.groups;
  const auto& gr = p.group_reduced;
  const size_t ng = g.size();
  const float* xp = x.f32();
  float* op_ = out.f32();
  if (ng == 0 || (ng == 1 && !gr[0])) {  // nothing with size > 1 is reduced
    cpu::sum_rows_forward(xp, op_, x.numel(), 1, divisor);
  } else if (ng == 1) {  // [R]
    cpu::sum_rows_forward(xp, op_, 1, g[0], divisor);
  } else if (ng == 2 && !gr[0]) {  // [K, R]
    cpu::sum_rows_forward(xp, op_, g[0], g[1], divisor);
  } else if (ng == 2) {  // [R, K]
    cpu::sum_middle_forward(xp, op_, 1, g[0], g[1], divisor);
  } else if (ng == 3 && !gr[0]) {  // [K, R, K]
    cpu::sum_middle_forward(xp, op_, g[0], g[1], g[2], divisor);
  } else if (ng == 3) {  // [R, K, R]
    cpu::sum_outer_inner_forward(xp, op_, g[0], g[1], g[2], divisor);
  } else {
    // Several reduced groups: move kept dims first (a contiguous copy), then one
    // row reduction.
    std::vector<int> perm;
    const int nd = x.dim();
    int64_t kept = 1;
    for (int d = 0; d < nd; ++d)
      if (!p.reduced_dim[size_t(d)]) {
        perm.push_back(d);
        kept *= x.shape()[size_t(d)];
      }
    for (int d = 0; d < nd; ++d)
      if (p.reduced_dim[size_t(d)]) perm.push_back(d);
    Tensor xt = x.permute(perm).contiguous();
    cpu::sum_rows_forward(xt.f32(), op_, kept, p.count, divisor);
  }
  return out;
}

std::vector<Tensor> reduce_backward(Device dev, const char* op, const std::vector<Tensor>& inputs,
                                    const std::vector<Tensor>& grad_outputs, const OpParams& params, bool mean) {
  const Tensor& x = inputs[0];
  if (!grad_outputs[0].defined()) return {zeros_f32(x.shape(), dev)};
  ReducePlan p = plan_reduce(op, x.shape(), params);
  Tensor g = contiguous_f32(grad_outputs[0], dev, op, "grad");
  TS_CHECK_SHAPE(g.shape() == p.out_shape, op, ": gradient has shape ", shape_str(g.shape()), ", expected ",
                 shape_str(p.out_shape));
  Tensor gx = empty_f32(x.shape(), dev);
  if (gx.numel() == 0) return {gx};
  if (dev == Device::CUDA) {
    const std::vector<int64_t> dims = params.get_ints("dims", {});
    TS_CUDA(op, reduce_backward, mean ? 1 : 0, data_f32(g), x.shape().data(), x.dim(), dims.data(), int(dims.size()),
            data_f32(gx));
    return {gx};
  }
  // PyTorch divides by the count as an integer-valued float (grad / N).
  const float divisor = mean ? float(p.count) : 1.0f;
  cpu::sum_broadcast_backward(g.f32(), gx.f32(), p.groups, p.group_reduced, divisor);
  return {gx};
}

}  // namespace

void register_reduce_ops(OpRegistry& r) {
  for (const bool mean : {false, true}) {
    const char* op = mean ? "mean" : "sum";
    OpDef d;
    d.name = op;
    set_forward(d, [op, mean](Device dev, const std::vector<Tensor>& in, const OpParams& params, OpContext&) {
      return std::vector<Tensor>{reduce_forward(dev, op, in[0], params, mean)};
    });
    set_backward(d, [op, mean](Device dev, const std::vector<Tensor>& in, const std::vector<Tensor>&,
                               const std::vector<Tensor>&, const std::vector<Tensor>& gout, const OpParams& params) {
      return reduce_backward(dev, op, in, gout, params, mean);
    });
    d.doc = mean ? "mean(x; dims = all, keepdim = false) -> x averaged over dims"
                 : "sum(x; dims = all, keepdim = false) -> x summed over dims";
    r.add(std::move(d));
  }
}

}  // namespace tessera
