// N-API glue: argument checks, async workers, JS errors with a `code`.
// No math here: every call goes to the op table or the core.
#include <napi.h>

#include "addon/js.h"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <new>

#include "backend/cuda_allocator.h"
#include "backend/cuda_backend.h"
#include "core/cpu_features.h"
#include "core/error.h"
#include "core/op.h"
#include "core/threadpool.h"

namespace {

using tessera::Tensor;
using tessera_js::guarded;
using tessera_js::make_error;
using tessera_js::tensor_from_js;
using tessera_js::tensor_to_js;
using tessera_js::tensors_from_js;

tessera::OpParams params_from_js(const Napi::Value& v) {
  tessera::OpParams p;
  Napi::Env env = v.Env();
  if (v.IsUndefined() || v.IsNull()) return p;
  if (!v.IsObject()) throw Napi::TypeError::New(env, "params must be an object");
  Napi::Object o = v.As<Napi::Object>();
  Napi::Array keys = o.GetPropertyNames();
  for (uint32_t i = 0; i < keys.Length(); ++i) {
    std::string k = keys.Get(i).As<Napi::String>().Utf8Value();
    Napi::Value val = o.Get(k);
    if (val.IsUndefined()) continue;
    if (val.IsNumber()) p.set(k, val.As<Napi::Number>().DoubleValue());
    else if (val.IsBoolean()) p.set(k, val.As<Napi::Boolean>().Value());
    else if (val.IsString()) p.set(k, val.As<Napi::String>().Utf8Value());
    else if (val.IsArray()) {
      Napi::Array a = val.As<Napi::Array>();
      std::vector<int64_t> ints(a.Length());
      for (uint32_t j = 0; j < a.Length(); ++j) {
        Napi::Value e = a.Get(j);
        if (!e.IsNumber()) throw Napi::TypeError::New(env, "params." + k + " must be an array of numbers");
        double x = e.As<Napi::Number>().DoubleValue();
        if (x != double(int64_t(x)))
          throw Napi::TypeError::New(env, "params." + k + "[" + std::to_string(j) + "] must be an integer");
        ints[j] = int64_t(x);
      }
      p.set(k, ints);
    } else {
      throw Napi::TypeError::New(env, "params." + k + " must be a number, boolean, string or array of integers");
    }
  }
  return p;
}

// Runs an op (and optionally its backward, or a timing loop) off the JS thread.
class OpWorker : public Napi::AsyncWorker {
 public:
  enum class Mode { Forward, Backward, Bench };

  OpWorker(Napi::Env env, Mode mode, std::string name, std::vector<Tensor> inputs, tessera::OpParams params,
           std::vector<Tensor> grad_outputs, int iterations)
      : Napi::AsyncWorker(env),
        deferred_(Napi::Promise::Deferred::New(env)),
        mode_(mode),
        name_(std::move(name)),
        inputs_(std::move(inputs)),
        params_(std::move(params)),
        grad_outputs_(std::move(grad_outputs)),
        iterations_(iterations) {}

  Napi::Promise promise() { return deferred_.Promise(); }

  void Execute() override {
    ok_ = guarded(
        [&] {
          // params.__device = "cuda": inputs go to the GPU, outputs come back.
          const std::string device = params_.get_str("__device", "cpu");
          TS_CHECK_ARG(device == "cpu" || device == "cuda", "device must be 'cpu' or 'cuda', got '", device, "'");
          const bool on_cuda = device == "cuda";
          if (on_cuda) {
            tessera::cuda_backend::api();  // the reason CUDA is off, before any work
            bool any_input = false;
            for (auto* list : {&inputs_, &grad_outputs_})
              for (Tensor& t : *list)
                if (t.defined()) {
                  t = tessera::cuda_backend::to_device(t, tessera::Device::CUDA);
                  any_input = true;
                }
            if (!any_input) params_.set("device", std::string("cuda"));
          }
          run(on_cuda);
          if (on_cuda) {
            for (auto* list : {&outputs_, &grads_})
              for (Tensor& t : *list)
                if (t.defined()) t = tessera::cuda_backend::to_device(t, tessera::Device::CPU);
          }
        },
        &code_, &message_);
    inputs_.clear();
    grad_outputs_.clear();
  }

  // The op (or its timing loop) on already-placed tensors.
  void run(bool on_cuda) {
    switch (mode_) {
      case Mode::Forward: outputs_ = tessera::run_op(name_, inputs_, params_); break;
      case Mode::Backward: grads_ = tessera::run_op_backward(name_, inputs_, params_, grad_outputs_, &outputs_); break;
      case Mode::Bench: {
        const bool backward = params_.get_bool("__backward", false);
        tessera::OpParams p = params_;
        for (int i = 0; i < iterations_; ++i) {
          auto t0 = std::chrono::steady_clock::now();
          if (backward) tessera::run_op_backward(name_, inputs_, p, grad_outputs_);
          else tessera::run_op(name_, inputs_, p);
          if (on_cuda) tessera::cuda_backend::synchronize();  // time the kernels, not the launches
          auto t1 = std::chrono::steady_clock::now();
          times_ms_.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
        }
        break;
      }
    }
  }

  void OnOK() override {
    Napi::Env env = Env();
    if (!ok_) {
      deferred_.Reject(make_error(env, code_.c_str(), message_).Value());
      return;
    }
    if (mode_ == Mode::Bench) {
      Napi::Array a = Napi::Array::New(env, times_ms_.size());
      for (size_t i = 0; i < times_ms_.size(); ++i) a.Set(uint32_t(i), Napi::Number::New(env, times_ms_[i]));
      deferred_.Resolve(a);
      return;
    }
    Napi::Array outs = Napi::Array::New(env, outputs_.size());
    for (size_t i = 0; i < outputs_.size(); ++i) outs.Set(uint32_t(i), tensor_to_js(env, outputs_[i]));
    if (mode_ == Mode::Forward) {
      deferred_.Resolve(outs);
      return;
    }
    Napi::Array grads = Napi::Array::New(env, grads_.size());
    for (size_t i = 0; i < grads_.size(); ++i) grads.Set(uint32_t(i), tensor_to_js(env, grads_[i]));
    Napi::Object r = Napi::Object::New(env);
    r.Set("outputs", outs);
    r.Set("grads", grads);
    deferred_.Resolve(r);
  }

  void OnError(const Napi::Error& e) override { deferred_.Reject(e.Value()); }

 private:
  Napi::Promise::Deferred deferred_;
  Mode mode_;
  std::string name_;
  std::vector<Tensor> inputs_;
  tessera::OpParams params_;
  std::vector<Tensor> grad_outputs_;
  int iterations_;
  std::vector<Tensor> outputs_, grads_;
  std::vector<double> times_ms_;
  bool ok_ = false;
  std::string code_, message_;
};

// runOp(name, inputs, params) -> Promise<{data, shape}[]>
// runOpBackward(name, inputs, params, gradOutputs) -> Promise<{outputs, grads}>
// benchOp(name, inputs, params, iterations, gradOutputs?) -> Promise<number[]> (ms per iteration)
Napi::Value start_op(const Napi::CallbackInfo& info, OpWorker::Mode mode) {
  Napi::Env env = info.Env();
  if (!info[0].IsString()) throw Napi::TypeError::New(env, "op name must be a string");
  std::string name = info[0].As<Napi::String>().Utf8Value();
  std::vector<Tensor> inputs = tensors_from_js(info[1], "inputs", true);
  tessera::OpParams params = params_from_js(info[2]);
  std::vector<Tensor> gouts;
  int iterations = 1;
  if (mode == OpWorker::Mode::Backward) gouts = tensors_from_js(info[3], "gradOutputs", true);
  if (mode == OpWorker::Mode::Bench) {
    if (!info[3].IsNumber()) throw Napi::TypeError::New(env, "iterations must be a number");
    iterations = std::max(1, info[3].As<Napi::Number>().Int32Value());
    gouts = tensors_from_js(info[4], "gradOutputs", true);
  }
  auto* w = new OpWorker(env, mode, std::move(name), std::move(inputs), std::move(params), std::move(gouts), iterations);
  Napi::Promise p = w->promise();
  w->Queue();
  return p;
}

Napi::Value RunOp(const Napi::CallbackInfo& info) { return start_op(info, OpWorker::Mode::Forward); }
Napi::Value RunOpBackward(const Napi::CallbackInfo& info) { return start_op(info, OpWorker::Mode::Backward); }
Napi::Value BenchOp(const Napi::CallbackInfo& info) { return start_op(info, OpWorker::Mode::Bench); }

Napi::Value OpNames(const Napi::CallbackInfo& info) {
  auto names = tessera::OpRegistry::get().names();
  Napi::Array a = Napi::Array::New(info.Env(), names.size());
  for (size_t i = 0; i < names.size(); ++i) a.Set(uint32_t(i), Napi::String::New(info.Env(), names[i]));
  return a;
}

Napi::Value SetThreads(const Napi::CallbackInfo& info) {
  if (!info[0].IsNumber()) throw Napi::TypeError::New(info.Env(), "threads must be a number");
  tessera::set_num_threads(info[0].As<Napi::Number>().Int32Value());
  return info.Env().Undefined();
}

Napi::Value NumThreads(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), tessera::num_threads()); }

Napi::Value CpuIsa(const Napi::CallbackInfo& info) {
  Napi::Object o = Napi::Object::New(info.Env());
  o.Set("active", tessera::isa_name(tessera::cpu_isa()));
  o.Set("detected", tessera::isa_name(tessera::detected_isa()));
  return o;
}

Napi::Value SetIsa(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsString()) throw Napi::TypeError::New(env, "isa must be a string");
  std::string s = info[0].As<Napi::String>().Utf8Value();
  tessera::Isa isa;
  if (s == "avx512") isa = tessera::Isa::Avx512;
  else if (s == "avx2") isa = tessera::Isa::Avx2;
  else if (s == "generic") isa = tessera::Isa::Generic;
  else throw Napi::RangeError::New(env, "isa '" + s + "' is not one of avx512, avx2, generic");
  std::string code, message;
  if (!guarded([&] { tessera::set_cpu_isa(isa); }, &code, &message)) throw make_error(env, code.c_str(), message);
  return env.Undefined();
}

Napi::Object cuda_status_to_js(Napi::Env env, const tessera::cuda_backend::Status& st) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("available", st.available);
  o.Set("reason", st.reason);
  o.Set("detail", st.detail);
  o.Set("library", st.library);
  o.Set("emulated", st.emulated);
  Napi::Array devs = Napi::Array::New(env, st.devices.size());
  for (size_t i = 0; i < st.devices.size(); ++i) {
    const auto& d = st.devices[i];
    Napi::Object od = Napi::Object::New(env);
    od.Set("name", d.name);
    od.Set("totalMemory", double(d.total_memory));
    od.Set("computeCapability", std::to_string(d.cc_major) + "." + std::to_string(d.cc_minor));
    od.Set("multiprocessors", d.multiprocessors);
    devs.Set(uint32_t(i), od);
  }
  o.Set("devices", devs);
  return o;
}

// cudaLoad(candidates: string[], force?: boolean) -> status (loads at most once unless forced after a failure)
Napi::Value CudaLoad(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::vector<std::string> candidates;
  if (info[0].IsArray()) {
    Napi::Array a = info[0].As<Napi::Array>();
    for (uint32_t i = 0; i < a.Length(); ++i) {
      if (!a.Get(i).IsString()) throw Napi::TypeError::New(env, "candidates must be strings");
      candidates.push_back(a.Get(i).As<Napi::String>().Utf8Value());
    }
  }
  const bool force = info[1].IsBoolean() && info[1].As<Napi::Boolean>().Value();
  return cuda_status_to_js(env, tessera::cuda_backend::load(candidates, force));
}

// cudaMemory() -> {inUse, cached, peakInUse, deviceAllocs}; cudaEmptyCache()
Napi::Value CudaMemory(const Napi::CallbackInfo& info) {
  const auto s = tessera::cuda_backend::memory_stats();
  Napi::Object o = Napi::Object::New(info.Env());
  o.Set("inUse", double(s.in_use));
  o.Set("cached", double(s.cached));
  o.Set("peakInUse", double(s.peak_in_use));
  o.Set("deviceAllocs", double(s.device_allocs));
  return o;
}

Napi::Value CudaEmptyCache(const Napi::CallbackInfo& info) {
  std::string code, message;
  if (!guarded([&] { tessera::cuda_backend::empty_cache(); }, &code, &message))
    throw make_error(info.Env(), code.c_str(), message);
  return info.Env().Undefined();
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  tessera_js::register_vae(env, exports);
  exports.Set("cudaLoad", Napi::Function::New(env, CudaLoad));
  exports.Set("cudaMemory", Napi::Function::New(env, CudaMemory));
  exports.Set("cudaEmptyCache", Napi::Function::New(env, CudaEmptyCache));
  exports.Set("runOp", Napi::Function::New(env, RunOp));
  exports.Set("runOpBackward", Napi::Function::New(env, RunOpBackward));
  exports.Set("benchOp", Napi::Function::New(env, BenchOp));
  exports.Set("opNames", Napi::Function::New(env, OpNames));
  exports.Set("setThreads", Napi::Function::New(env, SetThreads));
  exports.Set("numThreads", Napi::Function::New(env, NumThreads));
  exports.Set("cpuIsa", Napi::Function::New(env, CpuIsa));
  exports.Set("setIsa", Napi::Function::New(env, SetIsa));
  return exports;
}

}  // namespace

NODE_API_MODULE(tessera, Init)
