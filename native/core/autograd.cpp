#include "core/autograd.h"

#include "backend/cuda_backend.h"
#include "core/error.h"
#include "core/threadpool.h"

namespace tessera {
namespace {

struct TapeEntry {
  const OpDef* op;
  OpParams params;
  std::vector<std::shared_ptr<VarImpl>> inputs;  // null for undefined optional inputs
  std::vector<std::shared_ptr<VarImpl>> outputs;
  std::vector<Tensor> saved;
};

thread_local std::vector<TapeEntry> tl_tape;
thread_local bool tl_grad_enabled = true;

// a + b for same-shape f32 tensors, into a fresh tensor.
Tensor add_same_shape(const Tensor& a, const Tensor& b) {
  TS_CHECK(a.shape() == b.shape(), ErrorCode::Internal, "gradient shape ", shape_str(b.shape()),
           " does not match ", shape_str(a.shape()));
  if (a.device() != Device::CPU) return run_op("add", {a, b}, {})[0];  // the backend's kernel
  Tensor ac = a.contiguous(), bc = b.contiguous();
  Tensor out = Tensor::empty(a.shape());
  const float* pa = ac.f32();
  const float* pb = bc.f32();
  float* po = out.f32();
  parallel_for(out.numel(), 1 << 14, [&](int64_t s, int64_t e) {
    for (int64_t i = s; i < e; ++i) po[i] = pa[i] + pb[i];
  });
  return out;
}

void accumulate(VarImpl& v, const Tensor& g) {
  if (!g.defined()) return;
  TS_CHECK(g.shape() == v.value.shape(), ErrorCode::Internal, "gradient of shape ", shape_str(g.shape()),
           " for a variable of shape ", shape_str(v.value.shape()));
  v.grad = v.grad.defined() ? add_same_shape(v.grad, g) : g;
}

}  // namespace

Var::Var(Tensor value, bool requires_grad) : impl_(std::make_shared<VarImpl>()) {
  impl_->value = std::move(value);
  impl_->requires_grad = requires_grad;
}

const Tensor& Var::value() const {
  TS_CHECK(impl_, ErrorCode::Internal, "use of an undefined variable");
  return impl_->value;
}

const Tensor& Var::grad() const {
  TS_CHECK(impl_, ErrorCode::Internal, "use of an undefined variable");
  return impl_->grad;
}

void Var::set_value(Tensor t) {
  TS_CHECK(impl_, ErrorCode::Internal, "use of an undefined variable");
  impl_->value = std::move(t);
}

void Var::zero_grad() {
  if (impl_) impl_->grad = Tensor();
}

bool grad_enabled() { return tl_grad_enabled; }
NoGradGuard::NoGradGuard() : previous_(tl_grad_enabled) { tl_grad_enabled = false; }
NoGradGuard::~NoGradGuard() { tl_grad_enabled = previous_; }

std::vector<Var> apply(const std::string& name, const std::vector<Var>& inputs, const OpParams& params) {
  const OpDef& def = OpRegistry::get().find(name);
  std::vector<Tensor> in;
  in.reserve(inputs.size());
  bool any_grad = false;
  for (const Var& v : inputs) {
    in.push_back(v.defined() ? v.value() : Tensor());
    any_grad = any_grad || v.requires_grad();
  }
  // Trailing undefined optional inputs are dropped so arity checks see what was given.
  while (!in.empty() && !in.back().defined() && int(in.size()) > def.min_inputs) in.pop_back();
  TS_CHECK_ARG(int(in.size()) >= def.min_inputs && (def.max_inputs < 0 || int(in.size()) <= def.max_inputs),
               "op '", name, "' got ", in.size(), " inputs");
  const bool record = tl_grad_enabled && any_grad && bool(def.backward);
  OpContext ctx;
  ctx.needs_backward = record;
  std::vector<Tensor> out = op_forward(def, in, params, ctx);
  std::vector<Var> result;
  result.reserve(out.size());
  for (Tensor& t : out) {
    Var v(std::move(t), record);
    if (record) v.impl()->is_leaf = false;
    result.push_back(std::move(v));
  }
  if (record) {
    TapeEntry e;
    e.op = &def;
    e.params = params;
    for (size_t i = 0; i < in.size(); ++i) e.inputs.push_back(inputs[i].defined() ? inputs[i].impl() : nullptr);
    for (const Var& v : result) e.outputs.push_back(v.impl());
    e.saved = std::move(ctx.saved);
    tl_tape.push_back(std::move(e));
  }
  return result;
}

Var apply1(const std::string& op, const std::vector<Var>& inputs, const OpParams& params) {
  std::vector<Var> out = apply(op, inputs, params);
  TS_CHECK(!out.empty(), ErrorCode::Internal, "op '", op, "' returned no outputs");
  return out[0];
}

void backward(const Var& loss, const Tensor& seed) {
  TS_CHECK_ARG(loss.defined(), "backward: the loss is undefined");
  TS_CHECK_ARG(loss.requires_grad(), "backward: the loss does not depend on any variable that requires a gradient");
  Tensor s = seed;
  if (!s.defined()) {
    TS_CHECK_ARG(loss.value().numel() == 1, "backward: the loss must be a scalar (got ", loss.value().describe(),
                 ") unless a seed gradient is given");
    s = Tensor::full(loss.value().shape(), 1.0f);
    if (loss.value().device() != Device::CPU) s = cuda_backend::to_device(s, loss.value().device());
  }
  accumulate(*loss.impl(), s);
  std::vector<TapeEntry> tape;
  tape.swap(tl_tape);  // the tape is consumed even if a backward throws
  for (auto it = tape.rbegin(); it != tape.rend(); ++it) {
    TapeEntry& e = *it;
    std::vector<Tensor> gouts(e.outputs.size());
    bool any = false;
    for (size_t i = 0; i < e.outputs.size(); ++i) {
      gouts[i] = e.outputs[i]->grad;
      any = any || gouts[i].defined();
    }
    if (!any) continue;
    std::vector<Tensor> in(e.inputs.size()), out(e.outputs.size());
    for (size_t i = 0; i < e.inputs.size(); ++i)
      if (e.inputs[i]) in[i] = e.inputs[i]->value;
    for (size_t i = 0; i < e.outputs.size(); ++i) out[i] = e.outputs[i]->value;
    std::vector<Tensor> gin = op_backward(*e.op, in, out, e.saved, gouts, e.params);
    TS_CHECK(gin.size() == in.size(), ErrorCode::Internal, "op '", e.op->name, "' backward returned ", gin.size(),
             " gradients for ", in.size(), " inputs");
    for (size_t i = 0; i < e.inputs.size(); ++i)
      if (e.inputs[i] && e.inputs[i]->requires_grad) accumulate(*e.inputs[i], gin[i]);
    for (auto& o : e.outputs)  // intermediate gradients are no longer needed
      if (!o->is_leaf) o->grad = Tensor();
    e.saved.clear();
  }
}

size_t tape_size() { return tl_tape.size(); }
void clear_tape() { tl_tape.clear(); }

}  // namespace tessera
