// The op table: every op tessera has, by name, with its forward and backward.
//
// An op is a pair of functions over tensors:
//   forward(inputs, params, ctx)               -> outputs   (ctx.save(...) keeps tensors for backward)
//   backward(inputs, outputs, saved, grad_outputs, params) -> grad_inputs
// grad_inputs has one entry per input; an undefined Tensor means "no gradient"
// (the input is an index, a mask, or not differentiable). grad_outputs entries may
// be undefined for outputs that received no gradient (treated as zeros).
// Backward functions return fresh tensors; the autograd tape accumulates them.
//
// The table is what the autograd tape, the JS `ops` namespace, the fixture tests
// and the benchmarks all call, so an op is defined once.
#pragma once
#include <functional>
#include <map>
#include <string>
#include <variant>
#include <vector>

#include "core/tensor.h"

namespace tessera {

using ParamValue = std::variant<double, bool, std::string, std::vector<int64_t>>;

class OpParams {
 public:
  OpParams() = default;
  OpParams(std::initializer_list<std::pair<const std::string, ParamValue>> init) : values_(init) {}
  void set(const std::string& name, ParamValue v) { values_[name] = std::move(v); }
  bool has(const std::string& name) const { return values_.count(name) != 0; }
  // Getters check the type and name the parameter in the error.
  int64_t get_int(const std::string& name, int64_t fallback) const;
  int64_t get_int(const std::string& name) const;
  double get_float(const std::string& name, double fallback) const;
  bool get_bool(const std::string& name, bool fallback) const;
  std::string get_str(const std::string& name, const std::string& fallback) const;
  std::vector<int64_t> get_ints(const std::string& name, const std::vector<int64_t>& fallback) const;
  std::vector<int64_t> get_ints(const std::string& name) const;
  const std::map<std::string, ParamValue>& values() const { return values_; }

 private:
  const ParamValue* find(const std::string& name) const;
  std::map<std::string, ParamValue> values_;
};

struct OpContext {
  bool needs_backward = false;  // false in no-grad mode: save nothing
  std::vector<Tensor> saved;
  void save(const Tensor& t) {
    if (needs_backward) saved.push_back(t);
  }
};

using ForwardFn = std::function<std::vector<Tensor>(const std::vector<Tensor>& inputs, const OpParams& params,
                                                    OpContext& ctx)>;
using BackwardFn = std::function<std::vector<Tensor>(
    const std::vector<Tensor>& inputs, const std::vector<Tensor>& outputs, const std::vector<Tensor>& saved,
    const std::vector<Tensor>& grad_outputs, const OpParams& params)>;

struct OpDef {
  std::string name;
  int min_inputs = 1;
  int max_inputs = 1;  // -1: any number (concat)
  ForwardFn forward;
  BackwardFn backward;  // empty: not differentiable
  std::string doc;      // one line: inputs, params, outputs
  // The same op on CUDA tensors (native/backend/cuda_ops_*.cpp); run when the
  // inputs live on the GPU. Same contract as forward / backward.
  ForwardFn cuda_forward;
  BackwardFn cuda_backward;
};

class OpRegistry {
 public:
  static OpRegistry& get();  // filled on first use by register_all_ops
  void add(OpDef def);
  // Attaches the CUDA implementation to an op added before.
  void set_cuda(const std::string& name, ForwardFn forward, BackwardFn backward);
  const OpDef& find(const std::string& name) const;  // throws InvalidArgument listing nothing, naming the op
  bool has(const std::string& name) const;
  std::vector<std::string> names() const;

 private:
  std::map<std::string, OpDef> ops_;
};

// The device an op runs on: that of its defined inputs (CPU when there are none,
// or params "device": "cuda" for ops without tensor inputs such as randn).
// Inputs on different devices are an error naming the first that differs.
Device op_device(const OpDef& def, const std::vector<Tensor>& inputs, const OpParams& params);

// Forward / backward of `def` on the inputs' device (CPU or CUDA); an op without a
// CUDA implementation given CUDA tensors is ERR_TESSERA_UNSUPPORTED.
std::vector<Tensor> op_forward(const OpDef& def, const std::vector<Tensor>& inputs, const OpParams& params,
                               OpContext& ctx);
std::vector<Tensor> op_backward(const OpDef& def, const std::vector<Tensor>& inputs,
                                const std::vector<Tensor>& outputs, const std::vector<Tensor>& saved,
                                const std::vector<Tensor>& grad_outputs, const OpParams& params);

// Runs forward (checking the input count) without recording anything.
std::vector<Tensor> run_op(const std::string& name, const std::vector<Tensor>& inputs, const OpParams& params);

// Runs forward with saving, then backward with the given output gradients;
// returns the input gradients. Used by tests to check gradients op by op.
std::vector<Tensor> run_op_backward(const std::string& name, const std::vector<Tensor>& inputs,
                                    const OpParams& params, const std::vector<Tensor>& grad_outputs,
                                    std::vector<Tensor>* outputs_out = nullptr);

// One body for both devices: an op family writes forward / backward once, taking
// the device, and branches only at the kernel call (cpu:: kernel or TS_CUDA).
using DeviceForwardFn = std::function<std::vector<Tensor>(Device, const std::vector<Tensor>& inputs,
                                                          const OpParams& params, OpContext& ctx)>;
using DeviceBackwardFn = std::function<std::vector<Tensor>(
    Device, const std::vector<Tensor>& inputs, const std::vector<Tensor>& outputs, const std::vector<Tensor>& saved,
    const std::vector<Tensor>& grad_outputs, const OpParams& params)>;
void set_forward(OpDef& def, DeviceForwardFn fn);    // sets forward and cuda_forward
void set_backward(OpDef& def, DeviceBackwardFn fn);  // sets backward and cuda_backward

// Helpers for op definitions.
const Tensor& require_f32_cpu(const Tensor& t, const char* op, const char* what);
Tensor contiguous_f32(const Tensor& t, const char* op, const char* what);  // converts f16/bf16, makes contiguous
// On the CPU as contiguous_f32; on CUDA a defined contiguous f32 tensor on the GPU.
Tensor contiguous_f32(const Tensor& t, Device device, const char* op, const char* what);
// Optional input: undefined stays undefined.
Tensor optional_f32(const Tensor& t, Device device, const char* op, const char* what);
// Fresh f32 tensors on a device.
inline Tensor empty_f32(const Shape& shape, Device device) { return Tensor::empty(shape, DType::F32, device); }
inline Tensor zeros_f32(const Shape& shape, Device device) { return Tensor::zeros(shape, DType::F32, device); }
// Data pointer of an f32 tensor on either device (a device pointer on CUDA: never
// dereferenced on the host; CPU kernels keep using Tensor::f32()).
inline float* data_f32(const Tensor& t) { return t.defined() ? static_cast<float*>(t.raw_data()) : nullptr; }

}  // namespace tessera
