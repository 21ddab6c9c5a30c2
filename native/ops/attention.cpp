// Op family 'attention' (docs/OPS.md):
//   attention(q [B, H, Nq, Dh], k [B, H, Nk, Dh], v [B, H, Nk, Dh], mask [Bm, Hm, Nq, Nk]?; scale)
//     -> o [B, H, Nq, Dh] = softmax(scale q k^T + mask) v   (torch F.scaled_dot_product_attention)
//   attention_varlen(q [Tq, H, Dh], k [Tk, H, Dh], v [Tk, H, Dh]; cuSeqlensQ, cuSeqlensK, scale)
//     -> o [Tq, H, Dh], each packed sequence attending only to its own keys (flash-attn varlen).
// Forward saves the per-row log-sum-exp; backward recomputes probabilities from it
// (cpu/attention.h). Rows whose scores are all -inf give o = 0 and zero gradient.
#include <algorithm>
#include <cmath>

#include "backend/cuda_allocator.h"
#include "backend/cuda_ops.h"
#include "core/error.h"
#include "core/op.h"
#include "cpu/attention.h"

namespace tessera {

namespace {

float read_scale(const char* op, const OpParams& params, int64_t dh) {
  const double scale = params.get_float("scale", dh > 0 ? 1.0 / std::sqrt(double(dh)) : 1.0);
  TS_CHECK_ARG(std::isfinite(scale), op, ": scale must be a finite number, got ", scale);
  return float(scale);
}

// ---- dense ----------------------------------------------------------------------

struct DensePlan {
  cpu::AttentionShape shape;
  Tensor mask;  // contiguous f32, or undefined
};

DensePlan plan_dense(Device dev, const std::vector<Tensor>& in, const OpParams& params, const Tensor& q,
                     const Tensor& k, const Tensor& v) {
  const char* op = "attention";
  TS_CHECK_SHAPE(q.dim() == 4, op, ": q must be 4-d [B, H, Nq, Dh], got ", q.describe());
  TS_CHECK_SHAPE(k.dim() == 4, op, ": k must be 4-d [B, H, Nk, Dh], got ", k.describe());
  TS_CHECK_SHAPE(v.dim() == 4, op, ": v must be 4-d [B, H, Nk, Dh], got ", v.describe());
  const int64_t B = q.size(0), H = q.size(1), Nq = q.size(2), Dh = q.size(3), Nk = k.size(2);
  TS_CHECK_SHAPE(k.size(0) == B && k.size(1) == H && k.size(3) == Dh, op, ": k must be [B, H, Nk, Dh] = [", B,
                 ", ", H, ", Nk, ", Dh, "] to match q ", shape_str(q.shape()), ", got ", shape_str(k.shape()));
  TS_CHECK_SHAPE(v.shape() == k.shape(), op, ": v must have the shape of k ", shape_str(k.shape()), ", got ",
                 shape_str(v.shape()));
  DensePlan p;
  p.shape.batch = B;
  p.shape.heads = H;
  p.shape.head_dim = Dh;
  p.shape.nq = Nq;
  p.shape.nk = Nk;
  p.shape.scale = read_scale(op, params, Dh);
  if (in.size() > 3 && in[3].defined()) {
    p.mask = contiguous_f32(in[3], dev, op, "mask");
    const Shape& ms = p.mask.shape();
    TS_CHECK_SHAPE(p.mask.dim() == 4, op, ": mask must be 4-d [Bm, Hm, Nq, Nk], got ", p.mask.describe());
    TS_CHECK_SHAPE((ms[0] == 1 || ms[0] == B) && (ms[1] == 1 || ms[1] == H) && (ms[2] == 1 || ms[2] == Nq) &&
                       ms[3] == Nk,
                   op, ": mask must be [Bm, Hm, Nq, Nk] with Bm in {1, ", B, "}, Hm in {1, ", H, "}, Nq = ", Nq,
                   " (or 1), Nk = ", Nk, "; got ", shape_str(ms));
    p.shape.mask = data_f32(p.mask);
    p.shape.mask_i = ms[2] == 1 ? 0 : Nk;
    p.shape.mask_h = ms[1] == 1 ? 0 : ms[2] * Nk;
    p.shape.mask_b = ms[0] == 1 ? 0 : ms[1] * ms[2] * Nk;
  }
  return p;
}

// ---- both devices ---------------------------------------------------------------

// Offsets of packed sequences as the CUDA kernels read them: a device int64 array.
struct DeviceOffsets {
  std::shared_ptr<Storage> q, k;
};

TsAttentionShape device_shape(const cpu::AttentionShape& s, const DeviceOffsets& offs, int64_t total_q) {
  TsAttentionShape d{};
  d.batch = s.batch;
  d.heads = s.heads;
  d.head_dim = s.head_dim;
  d.nq = s.nq;
  d.nk = s.nk;
  d.mask = s.mask;
  d.mask_b = s.mask_b;
  d.mask_h = s.mask_h;
  d.mask_i = s.mask_i;
  d.scale = s.scale;
  d.total_q = total_q;
  if (s.cu_q) {
    d.cu_q = static_cast<const int64_t*>(offs.q->data);
    d.cu_k = static_cast<const int64_t*>(offs.k->data);
    for (int64_t b = 0; b < s.batch; ++b) {
      d.max_seqlen_q = std::max(d.max_seqlen_q, s.cu_q[b + 1] - s.cu_q[b]);
      d.max_seqlen_k = std::max(d.max_seqlen_k, s.cu_k[b + 1] - s.cu_k[b]);
    }
  }
  return d;
}

DeviceOffsets upload_offsets(const cpu::AttentionShape& s) {
  DeviceOffsets o;
  if (!s.cu_q) return o;
  const size_t bytes = size_t(s.batch + 1) * sizeof(int64_t);
  o.q = cuda_backend::allocate(bytes);
  o.k = cuda_backend::allocate(bytes);
  TS_CUDA("attention_varlen", memcpy_h2d, o.q->data, s.cu_q, bytes);
  TS_CUDA("attention_varlen", memcpy_h2d, o.k->data, s.cu_k, bytes);
  return o;
}

void forward_on(Device dev, const char* op, const cpu::AttentionShape& s, const Tensor& q, const Tensor& k,
                const Tensor& v, const Tensor& o, const Tensor& lse) {
  if (dev == Device::CPU) return cpu::attention_forward(s, q.f32(), k.f32(), v.f32(), o.f32(), lse.f32());
  const DeviceOffsets offs = upload_offsets(s);
  const TsAttentionShape d = device_shape(s, offs, q.size(0));
  TS_CUDA(op, attention_forward, &d, data_f32(q), data_f32(k), data_f32(v), data_f32(o), data_f32(lse));
}

void backward_on(Device dev, const char* op, const cpu::AttentionShape& s, const Tensor& q, const Tensor& k,
                 const Tensor& v, const Tensor& o, const Tensor& lse, const Tensor& g, const std::vector<Tensor>& gr) {
  if (dev == Device::CPU)
    return cpu::attention_backward(s, q.f32(), k.f32(), v.f32(), o.f32(), lse.f32(), g.f32(), gr[0].f32(),
                                   gr[1].f32(), gr[2].f32());
  const DeviceOffsets offs = upload_offsets(s);
  const TsAttentionShape d = device_shape(s, offs, q.size(0));
  Tensor ws = empty_f32({std::max<int64_t>(1, cuda_backend::api().attention_backward_workspace_floats(&d))}, dev);
  TS_CUDA(op, attention_backward, &d, data_f32(q), data_f32(k), data_f32(v), data_f32(o), data_f32(lse), data_f32(g),
          data_f32(gr[0]), data_f32(gr[1]), data_f32(gr[2]), data_f32(ws));
}

std::vector<Tensor> attention_forward(Device dev, const std::vector<Tensor>& in, const OpParams& params,
                                      OpContext& ctx) {
  Tensor q = contiguous_f32(in[0], dev, "attention", "q");
  Tensor k = contiguous_f32(in[1], dev, "attention", "k");
  Tensor v = contiguous_f32(in[2], dev, "attention", "v");
  DensePlan p = plan_dense(dev, in, params, q, k, v);
  Tensor o = empty_f32(q.shape(), dev);
  Tensor lse = empty_f32({p.shape.batch, p.shape.heads, p.shape.nq}, dev);
  forward_on(dev, "attention", p.shape, q, k, v, o, lse);
  ctx.save(lse);
  return {o};
}

std::vector<Tensor> attention_backward(Device dev, const std::vector<Tensor>& in, const std::vector<Tensor>& out,
                                       const std::vector<Tensor>& saved, const std::vector<Tensor>& gout,
                                       const OpParams& params) {
  Tensor q = contiguous_f32(in[0], dev, "attention", "q");
  Tensor k = contiguous_f32(in[1], dev, "attention", "k");
  Tensor v = contiguous_f32(in[2], dev, "attention", "v");
  std::vector<Tensor> grads(in.size());
  if (!gout[0].defined()) {
    grads[0] = zeros_f32(q.shape(), dev);
    grads[1] = zeros_f32(k.shape(), dev);
    grads[2] = zeros_f32(v.shape(), dev);
    return grads;
  }
  DensePlan p = plan_dense(dev, in, params, q, k, v);
  Tensor g = contiguous_f32(gout[0], dev, "attention", "grad");
  TS_CHECK_SHAPE(g.shape() == q.shape(), "attention: gradient has shape ", shape_str(g.shape()), ", expected ",
                 shape_str(q.shape()));
  TS_CHECK_ARG(saved.size() == 1, "attention: backward needs the saved log-sum-exp (run forward with grad)");
  Tensor o = contiguous_f32(out[0], dev, "attention", "o");
  Tensor lse = contiguous_f32(saved[0], dev, "attention", "lse");
  grads[0] = zeros_f32(q.shape(), dev);
  grads[1] = zeros_f32(k.shape(), dev);
  grads[2] = zeros_f32(v.shape(), dev);
  backward_on(dev, "attention", p.shape, q, k, v, o, lse, g, grads);
  return grads;
}

// ---- varlen ---------------------------------------------------------------------

struct VarlenPlan {
  cpu::AttentionShape shape;
  std::vector<int64_t> cu_q, cu_k;
};

void check_cu_seqlens(const char* name, const std::vector<int64_t>& cu, int64_t total, const char* tname) {
  const char* op = "attention_varlen";
  TS_CHECK_ARG(cu.size() >= 1, op, ": ", name, " must be [0, ..., ", tname, "] with at least one entry, got []");
  TS_CHECK_ARG(cu.front() == 0, op, ": ", name, " must start at 0, got ", cu.front());
  for (size_t i = 1; i < cu.size(); ++i)
    TS_CHECK_ARG(cu[i] >= cu[i - 1], op, ": ", name, " must be non-decreasing, got ", cu[i - 1], " then ", cu[i],
                 " at index ", i);
  TS_CHECK_ARG(cu.back() == total, op, ": ", name, " must end at ", tname, " = ", total, ", got ", cu.back());
}

VarlenPlan plan_varlen(const OpParams& params, const Tensor& q, const Tensor& k, const Tensor& v) {
  const char* op = "attention_varlen";
  TS_CHECK_SHAPE(q.dim() == 3, op, ": q must be 3-d [Tq, H, Dh], got ", q.describe());
  TS_CHECK_SHAPE(k.dim() == 3, op, ": k must be 3-d [Tk, H, Dh], got ", k.describe());
  TS_CHECK_SHAPE(v.dim() == 3, op, ": v must be 3-d [Tk, H, Dh], got ", v.describe());
  const int64_t Tq = q.size(0), H = q.size(1), Dh = q.size(2), Tk = k.size(0);
  TS_CHECK_SHAPE(k.size(1) == H && k.size(2) == Dh, op, ": k must be [Tk, H, Dh] = [Tk, ", H, ", ", Dh,
                 "] to match q ", shape_str(q.shape()), ", got ", shape_str(k.shape()));
  TS_CHECK_SHAPE(v.shape() == k.shape(), op, ": v must have the shape of k ", shape_str(k.shape()), ", got ",
                 shape_str(v.shape()));
  VarlenPlan p;
  TS_CHECK_ARG(params.has("cuSeqlensQ"), op, ": cuSeqlensQ is required ([0, ..., Tq] sequence offsets)");
  p.cu_q = params.get_ints("cuSeqlensQ");
  p.cu_k = params.get_ints("cuSeqlensK", p.cu_q);
  check_cu_seqlens("cuSeqlensQ", p.cu_q, Tq, "Tq");
  check_cu_seqlens("cuSeqlensK", p.cu_k, Tk, "Tk");
  TS_CHECK_ARG(p.cu_q.size() == p.cu_k.size(), op, ": cuSeqlensQ and cuSeqlensK must have the same length (one "
               "entry per sequence plus one), got ", p.cu_q.size(), " and ", p.cu_k.size());
  p.shape.batch = int64_t(p.cu_q.size()) - 1;
  p.shape.heads = H;
  p.shape.head_dim = Dh;
  p.shape.scale = read_scale(op, params, Dh);
  p.shape.cu_q = p.cu_q.data();
  p.shape.cu_k = p.cu_k.data();
  return p;
}

std::vector<Tensor> varlen_forward(Device dev, const std::vector<Tensor>& in, const OpParams& params,
                                   OpContext& ctx) {
  Tensor q = contiguous_f32(in[0], dev, "attention_varlen", "q");
  Tensor k = contiguous_f32(in[1], dev, "attention_varlen", "k");
  Tensor v = contiguous_f32(in[2], dev, "attention_varlen", "v");
  VarlenPlan p = plan_varlen(params, q, k, v);
  Tensor o = zeros_f32(q.shape(), dev);
  Tensor lse = empty_f32({p.shape.heads, q.size(0)}, dev);
  forward_on(dev, "attention_varlen", p.shape, q, k, v, o, lse);
  ctx.save(lse);
  return {o};
}

std::vector<Tensor> varlen_backward(Device dev, const std::vector<Tensor>& in, const std::vector<Tensor>& out,
                                    const std::vector<Tensor>& saved, const std::vector<Tensor>& gout,
                                    const OpParams& params) {
  Tensor q = contiguous_f32(in[0], dev, "attention_varlen", "q");
  Tensor k = contiguous_f32(in[1], dev, "attention_varlen", "k");
  Tensor v = contiguous_f32(in[2], dev, "attention_varlen", "v");
  std::vector<Tensor> grads{zeros_f32(q.shape(), dev), zeros_f32(k.shape(), dev), zeros_f32(v.shape(), dev)};
  if (!gout[0].defined()) return grads;
  VarlenPlan p = plan_varlen(params, q, k, v);
  Tensor g = contiguous_f32(gout[0], dev, "attention_varlen", "grad");
  TS_CHECK_SHAPE(g.shape() == q.shape(), "attention_varlen: gradient has shape ", shape_str(g.shape()),
                 ", expected ", shape_str(q.shape()));
  TS_CHECK_ARG(saved.size() == 1, "attention_varlen: backward needs the saved log-sum-exp (run forward with grad)");
  Tensor o = contiguous_f32(out[0], dev, "attention_varlen", "o");
  Tensor lse = contiguous_f32(saved[0], dev, "attention_varlen", "lse");
  backward_on(dev, "attention_varlen", p.shape, q, k, v, o, lse, g, grads);
  return grads;
}

}  // namespace

void register_attention_ops(OpRegistry& r) {
  OpDef a;
  a.name = "attention";
  a.min_inputs = 3;
  a.max_inputs = 4;
  set_forward(a, attention_forward);
  set_backward(a, attention_backward);
  a.doc = "attention(q [B, H, Nq, Dh], k [B, H, Nk, Dh], v [B, H, Nk, Dh], mask [Bm, Hm, Nq, Nk]?; scale = "
          "1/sqrt(Dh)) -> softmax(scale q k^T + mask) v [B, H, Nq, Dh]";
  r.add(std::move(a));
  OpDef vl;
  vl.name = "attention_varlen";
  vl.min_inputs = vl.max_inputs = 3;
  set_forward(vl, varlen_forward);
  set_backward(vl, varlen_backward);
  vl.doc = "attention_varlen(q [Tq, H, Dh], k [Tk, H, Dh], v [Tk, H, Dh]; cuSeqlensQ, cuSeqlensK = cuSeqlensQ, "
           "scale = 1/sqrt(Dh)) -> o [Tq, H, Dh], attention within each packed sequence";
  r.add(std::move(vl));
}

}  // namespace tessera
