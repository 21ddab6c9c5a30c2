// Op family 'attention' (docs/OPS.md):
//   attention(q [B, H, Nq, Dh], k [B, H, Nk, Dh], v [B, H, Nk, Dh], mask [Bm, Hm, Nq, Nk]?; scale)
//     -> o [B, H, Nq, Dh] = softmax(scale q k^T + mask) v   (torch F.scaled_dot_product_attention)
//   attention_varlen(q [Tq, H, Dh], k [Tk, H, Dh], v [Tk, H, Dh]; cuSeqlensQ, cuSeqlensK, scale)
//     -> o [Tq, H, Dh], each packed sequence attending only to its own keys (flash-attn varlen).
// Forward saves the per-row log-sum-exp; backward recomputes probabilities from it
// (cpu/attention.h). Rows whose scores are all -inf give o = 0 and zero gradient.
#include <cmath>

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

DensePlan plan_dense(const std::vector<Tensor>& in, const OpParams& params, const Tensor& q, const Tensor& k,
                     const Tensor& v) {
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
    p.mask = contiguous_f32(in[3], op, "mask");
    const Shape& ms = p.mask.shape();
    TS_CHECK_SHAPE(p.mask.dim() == 4, op, ": mask must be 4-d [Bm, Hm, Nq, Nk], got ", p.mask.describe());
    TS_CHECK_SHAPE((ms[0] == 1 || ms[0] == B) && (ms[1] == 1 || ms[1] == H) && (ms[2] == 1 || ms[2] == Nq) &&
                       ms[3] == Nk,
                   op, ": mask must be [Bm, Hm, Nq, Nk] with Bm in {1, ", B, "}, Hm in {1, ", H, "}, Nq = ", Nq,
                   " (or 1), Nk = ", Nk, "; got ", shape_str(ms));
    p.shape.mask = p.mask.f32();
    p.shape.mask_i = ms[2] == 1 ? 0 : Nk;
    p.shape.mask_h = ms[1] == 1 ? 0 : ms[2] * Nk;
    p.shape.mask_b = ms[0] == 1 ? 0 : ms[1] * ms[2] * Nk;
  }
  return p;
}

std::vector<Tensor> attention_forward(const std::vector<Tensor>& in, const OpParams& params, OpContext& ctx) {
  Tensor q = contiguous_f32(in[0], "attention", "q");
  Tensor k = contiguous_f32(in[1], "attention", "k");
  Tensor v = contiguous_f32(in[2], "attention", "v");
  DensePlan p = plan_dense(in, params, q, k, v);
  Tensor o = Tensor::empty(q.shape());
  Tensor lse = Tensor::empty({p.shape.batch, p.shape.heads, p.shape.nq});
  cpu::attention_forward(p.shape, q.f32(), k.f32(), v.f32(), o.f32(), lse.f32());
  ctx.save(lse);
  return {o};
}

std::vector<Tensor> attention_backward(const std::vector<Tensor>& in, const std::vector<Tensor>& out,
                                       const std::vector<Tensor>& saved, const std::vector<Tensor>& gout,
                                       const OpParams& params) {
  Tensor q = contiguous_f32(in[0], "attention", "q");
  Tensor k = contiguous_f32(in[1], "attention", "k");
  Tensor v = contiguous_f32(in[2], "attention", "v");
  std::vector<Tensor> grads(in.size());
  if (!gout[0].defined()) {
    grads[0] = Tensor::zeros(q.shape());
    grads[1] = Tensor::zeros(k.shape());
    grads[2] = Tensor::zeros(v.shape());
    return grads;
  }
  DensePlan p = plan_dense(in, params, q, k, v);
  Tensor g = contiguous_f32(gout[0], "attention", "grad");
  TS_CHECK_SHAPE(g.shape() == q.shape(), "attention: gradient has shape ", shape_str(g.shape()), ", expected ",
                 shape_str(q.shape()));
  TS_CHECK_ARG(saved.size() == 1, "attention: backward needs the saved log-sum-exp (run forward with grad)");
  Tensor o = contiguous_f32(out[0], "attention", "o");
  Tensor lse = contiguous_f32(saved[0], "attention", "lse");
  grads[0] = Tensor::zeros(q.shape());
  grads[1] = Tensor::zeros(k.shape());
  grads[2] = Tensor::zeros(v.shape());
  cpu::attention_backward(p.shape, q.f32(), k.f32(), v.f32(), o.f32(), lse.f32(), g.f32(), grads[0].f32(),
                          grads[1].f32(), grads[2].f32());
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

std::vector<Tensor> varlen_forward(const std::vector<Tensor>& in, const OpParams& params, OpContext& ctx) {
  Tensor q = contiguous_f32(in[0], "attention_varlen", "q");
  Tensor k = contiguous_f32(in[1], "attention_varlen", "k");
  Tensor v = contiguous_f32(in[2], "attention_varlen", "v");
  VarlenPlan p = plan_varlen(params, q, k, v);
  Tensor o = Tensor::zeros(q.shape());
  Tensor lse = Tensor::empty({p.shape.heads, q.size(0)});
  cpu::attention_forward(p.shape, q.f32(), k.f32(), v.f32(), o.f32(), lse.f32());
  ctx.save(lse);
  return {o};
}

std::vector<Tensor> varlen_backward(const std::vector<Tensor>& in, const std::vector<Tensor>& out,
                                    const std::vector<Tensor>& saved, const std::vector<Tensor>& gout,
                                    const OpParams& params) {
  Tensor q = contiguous_f32(in[0], "attention_varlen", "q");
  Tensor k = contiguous_f32(in[1], "attention_varlen", "k");
  Tensor v = contiguous_f32(in[2], "attention_varlen", "v");
  std::vector<Tensor> grads{Tensor::zeros(q.shape()), Tensor::zeros(k.shape()), Tensor::zeros(v.shape())};
  if (!gout[0].defined()) return grads;
  VarlenPlan p = plan_varlen(params, q, k, v);
  Tensor g = contiguous_f32(gout[0], "attention_varlen", "grad");
  TS_CHECK_SHAPE(g.shape() == q.shape(), "attention_varlen: gradient has shape ", shape_str(g.shape()),
                 ", expected ", shape_str(q.shape()));
  TS_CHECK_ARG(saved.size() == 1, "attention_varlen: backward needs the saved log-sum-exp (run forward with grad)");
  Tensor o = contiguous_f32(out[0], "attention_varlen", "o");
  Tensor lse = contiguous_f32(saved[0], "attention_varlen", "lse");
  cpu::attention_backward(p.shape, q.f32(), k.f32(), v.f32(), o.f32(), lse.f32(), g.f32(), grads[0].f32(),
                          grads[1].f32(), grads[2].f32());
  return grads;
}

}  // namespace

void register_attention_ops(OpRegistry& r) {
  r.add(OpDef{"attention", 3, 4, attention_forward, attention_backward,
              "attention(q [B, H, Nq, Dh], k [B, H, Nk, Dh], v [B, H, Nk, Dh], mask [Bm, Hm, Nq, Nk]?; scale = "
              "1/sqrt(Dh)) -> softmax(scale q k^T + mask) v [B, H, Nq, Dh]"});
  r.add(OpDef{"attention_varlen", 3, 3, varlen_forward, varlen_backward,
              "attention_varlen(q [Tq, H, Dh], k [Tk, H, Dh], v [Tk, H, Dh]; cuSeqlensQ, cuSeqlensK = cuSeqlensQ, "
              "scale = 1/sqrt(Dh)) -> o [Tq, H, Dh], attention within each packed sequence"});
}

}  // namespace tessera
