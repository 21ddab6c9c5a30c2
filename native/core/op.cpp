#include "core/op.h"

#include <mutex>

#include "core/error.h"

namespace tessera {

void register_all_ops(OpRegistry& r);  // native/ops/register.cpp

const ParamValue* OpParams::find(const std::string& name) const {
  auto it = values_.find(name);
  return it == values_.end() ? nullptr : &it->second;
}

int64_t OpParams::get_int(const std::string& name, int64_t fallback) const {
  const ParamValue* v = find(name);
  if (!v) return fallback;
  if (auto b = std::get_if<bool>(v)) return *b ? 1 : 0;
  const double* d = std::get_if<double>(v);
  TS_CHECK_ARG(d, "parameter '", name, "' must be an integer");
  TS_CHECK_ARG(*d == double(int64_t(*d)), "parameter '", name, "' must be an integer, got ", *d);
  return int64_t(*d);
}

int64_t OpParams::get_int(const std::string& name) const {
  TS_CHECK_ARG(has(name), "parameter '", name, "' is required");
  return get_int(name, 0);
}

double OpParams::get_float(const std::string& name, double fallback) const {
  const ParamValue* v = find(name);
  if (!v) return fallback;
  const double* d = std::get_if<double>(v);
  TS_CHECK_ARG(d, "parameter '", name, "' must be a number");
  return *d;
}

bool OpParams::get_bool(const std::string& name, bool fallback) const {
  const ParamValue* v = find(name);
  if (!v) return fallback;
  if (auto d = std::get_if<double>(v)) return *d != 0;
  const bool* b = std::get_if<bool>(v);
  TS_CHECK_ARG(b, "parameter '", name, "' must be a boolean");
  return *b;
}

std::string OpParams::get_str(const std::string& name, const std::string& fallback) const {
  const ParamValue* v = find(name);
  if (!v) return fallback;
  const std::string* s = std::get_if<std::string>(v);
  TS_CHECK_ARG(s, "parameter '", name, "' must be a string");
  return *s;
}

std::vector<int64_t> OpParams::get_ints(const std::string& name, const std::vector<int64_t>& fallback) const {
  const ParamValue* v = find(name);
  if (!v) return fallback;
  if (auto d = std::get_if<double>(v)) return {int64_t(*d)};
  const auto* s = std::get_if<std::vector<int64_t>>(v);
  TS_CHECK_ARG(s, "parameter '", name, "' must be an array of integers");
  return *s;
}

std::vector<int64_t> OpParams::get_ints(const std::string& name) const {
  TS_CHECK_ARG(has(name), "parameter '", name, "' is required");
  return get_ints(name, {});
}

OpRegistry& OpRegistry::get() {
  static OpRegistry reg;
  static std::once_flag once;
  std::call_once(once, [] { register_all_ops(reg); });
  return reg;
}

void OpRegistry::add(OpDef def) {
  TS_CHECK(!ops_.count(def.name), ErrorCode::Internal, "op '", def.name, "' registered twice");
  std::string name = def.name;
  ops_.emplace(std::move(name), std::move(def));
}

void OpRegistry::set_cuda(const std::string& name, ForwardFn forward, BackwardFn backward) {
  auto it = ops_.find(name);
  TS_CHECK(it != ops_.end(), ErrorCode::Internal, "CUDA implementation for unknown op '", name, "'");
  it->second.cuda_forward = std::move(forward);
  it->second.cuda_backward = std::move(backward);
}
bool OpRegistry::has(const std::string& name) const { return ops_.count(name) != 0; }

const OpDef& OpRegistry::find(const std::string& name) const {
  auto it = ops_.find(name);
  TS_CHECK_ARG(it != ops_.end(), "unknown op '", name, "'");
  return it->second;
}

std::vector<std::string> OpRegistry::names() const {
  std::vector<std::string> out;
  for (auto& kv : ops_) out.push_back(kv.first);
  return out;
}

static void check_arity(const OpDef& def, size_t n) {
  TS_CHECK_ARG(int(n) >= def.min_inputs && (def.max_inputs < 0 || int(n) <= def.max_inputs), "op '", def.name,
               "' takes ", def.min_inputs,
               def.max_inputs == def.min_inputs ? std::string("")
                                                : (def.max_inputs < 0 ? std::string(" or more")
                                                                      : " to " + std::to_string(def.max_inputs)),
               " inputs, got ", n);
}

// Errors from parameter getters and shared helpers do not know the op: prefix its name.
template <class F>
static auto naming_op(const std::string& name, F&& body) -> decltype(body()) {
  try {
    return body();
  } catch (const Error& e) {
    std::string msg = e.what();
    if (msg.compare(0, name.size(), name) == 0) throw;
    throw Error(e.code(), name + ": " + msg);
  }
}

Device op_device(const OpDef& def, const std::vector<Tensor>& inputs, const OpParams& params) {
  int first = -1;
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (!inputs[i].defined()) continue;
    if (first < 0) {
      first = int(i);
      continue;
    }
    TS_CHECK_ARG(inputs[i].device() == inputs[first].device(), "op '", def.name, "': input ", i, " is on ",
                 device_name(inputs[i].device()), " but input ", first, " is on ",
                 device_name(inputs[first].device()), "; all inputs must be on one device");
  }
  if (first >= 0) return inputs[first].device();
  const std::string dev = params.get_str("device", "cpu");
  TS_CHECK_ARG(dev == "cpu" || dev == "cuda", "op '", def.name, "': device must be 'cpu' or 'cuda', got '", dev, "'");
  return dev == "cuda" ? Device::CUDA : Device::CPU;
}

std::vector<Tensor> op_forward(const OpDef& def, const std::vector<Tensor>& inputs, const OpParams& params,
                               OpContext& ctx) {
  if (op_device(def, inputs, params) == Device::CPU) return def.forward(inputs, params, ctx);
  TS_CHECK(bool(def.cuda_forward), ErrorCode::Unsupported, "op '", def.name, "' has no CUDA kernel");
  return def.cuda_forward(inputs, params, ctx);
}

std::vector<Tensor> op_backward(const OpDef& def, const std::vector<Tensor>& inputs,
                                const std::vector<Tensor>& outputs, const std::vector<Tensor>& saved,
                                const std::vector<Tensor>& grad_outputs, const OpParams& params) {
  if (op_device(def, inputs, params) == Device::CPU) {
    TS_CHECK(bool(def.backward), ErrorCode::Unsupported, "op '", def.name, "' has no backward");
    return def.backward(inputs, outputs, saved, grad_outputs, params);
  }
  TS_CHECK(bool(def.cuda_backward), ErrorCode::Unsupported, "op '", def.name, "' has no CUDA backward");
  return def.cuda_backward(inputs, outputs, saved, grad_outputs, params);
}

std::vector<Tensor> run_op(const std::string& name, const std::vector<Tensor>& inputs, const OpParams& params) {
  const OpDef& def = OpRegistry::get().find(name);
  check_arity(def, inputs.size());
  return naming_op(name, [&] {
    OpContext ctx;
    return op_forward(def, inputs, params, ctx);
  });
}

std::vector<Tensor> run_op_backward(const std::string& name, const std::vector<Tensor>& inputs,
                                    const OpParams& params, const std::vector<Tensor>& grad_outputs,
                                    std::vector<Tensor>* outputs_out) {
  const OpDef& def = OpRegistry::get().find(name);
  check_arity(def, inputs.size());
  TS_CHECK(bool(def.backward), ErrorCode::Unsupported, "op '", name, "' has no backward");
  return naming_op(name, [&] {
    OpContext ctx;
    ctx.needs_backward = true;
    std::vector<Tensor> outputs = op_forward(def, inputs, params, ctx);
    TS_CHECK_ARG(grad_outputs.size() <= outputs.size(), "op '", name, "' has ", outputs.size(),
                 " outputs but got ", grad_outputs.size(), " output gradients");
    std::vector<Tensor> gouts(outputs.size());
    for (size_t i = 0; i < grad_outputs.size(); ++i) {
      if (!grad_outputs[i].defined()) continue;
      TS_CHECK_SHAPE(grad_outputs[i].shape() == outputs[i].shape(), "op '", name, "': gradient for output ", i,
                     " has shape ", shape_str(grad_outputs[i].shape()), " but the output has ",
                     shape_str(outputs[i].shape()));
      gouts[i] = grad_outputs[i].contiguous();
    }
    std::vector<Tensor> grads = op_backward(def, inputs, outputs, ctx.saved, gouts, params);
    TS_CHECK(grads.size() == inputs.size(), ErrorCode::Internal, "op '", name, "' backward returned ",
             grads.size(), " gradients for ", inputs.size(), " inputs");
    if (outputs_out) *outputs_out = outputs;
    return grads;
  });
}

void set_forward(OpDef& def, DeviceForwardFn fn) {
  def.forward = [fn](const std::vector<Tensor>& in, const OpParams& p, OpContext& ctx) {
    return fn(Device::CPU, in, p, ctx);
  };
  def.cuda_forward = [fn](const std::vector<Tensor>& in, const OpParams& p, OpContext& ctx) {
    return fn(Device::CUDA, in, p, ctx);
  };
}

void set_backward(OpDef& def, DeviceBackwardFn fn) {
  def.backward = [fn](const std::vector<Tensor>& in, const std::vector<Tensor>& out, const std::vector<Tensor>& saved,
                      const std::vector<Tensor>& gout, const OpParams& p) {
    return fn(Device::CPU, in, out, saved, gout, p);
  };
  def.cuda_backward = [fn](const std::vector<Tensor>& in, const std::vector<Tensor>& out,
                           const std::vector<Tensor>& saved, const std::vector<Tensor>& gout, const OpParams& p) {
    return fn(Device::CUDA, in, out, saved, gout, p);
  };
}

Tensor contiguous_f32(const Tensor& t, Device device, const char* op, const char* what) {
  if (device == Device::CPU) return contiguous_f32(t, op, what);
  TS_CHECK_ARG(t.defined(), op, ": ", what, " is missing");
  TS_CHECK(t.dtype() == DType::F32, ErrorCode::Unsupported, op, ": ", what, " must be f32 on cuda, got ",
           t.describe());
  TS_CHECK_ARG(t.device() == Device::CUDA, op, ": ", what, " must be on cuda, got one on ", device_name(t.device()));
  TS_CHECK(t.is_contiguous(), ErrorCode::Unsupported, op, ": ", what, " must be contiguous on cuda, got ",
           t.describe());
  return t;
}

Tensor optional_f32(const Tensor& t, Device device, const char* op, const char* what) {
  return t.defined() ? contiguous_f32(t, device, op, what) : Tensor();
}

const Tensor& require_f32_cpu(const Tensor& t, const char* op, const char* what) {
  TS_CHECK_ARG(t.defined(), op, ": ", what, " is missing");
  TS_CHECK(t.dtype() == DType::F32, ErrorCode::Unsupported, op, ": ", what, " must be f32, got ", t.describe());
  TS_CHECK(t.device() == Device::CPU, ErrorCode::Unsupported, op, ": ", what, " must be on the CPU");
  return t;
}

Tensor contiguous_f32(const Tensor& t, const char* op, const char* what) {
  TS_CHECK_ARG(t.defined(), op, ": ", what, " is missing");
  Tensor c = t.dtype() == DType::F32 ? t.contiguous() : t.to(DType::F32);
  return require_f32_cpu(c, op, what);
}

}  // namespace tessera
