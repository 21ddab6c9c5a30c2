#include "addon/js.h"

#include <cstring>

#include "backend/cuda_backend.h"

namespace tessera_js {

using tessera::Tensor;

Napi::Error make_error(Napi::Env env, const char* code, const std::string& message) {
  Napi::Error err = Napi::Error::New(env, message);
  err.Set("code", Napi::String::New(env, code));
  return err;
}

// {data: Float32Array, shape: number[]} -> Tensor (copied: JS may reuse its buffer).
tessera::Tensor tensor_from_js(const Napi::Value& v, const std::string& what) {
  Napi::Env env = v.Env();
  if (!v.IsObject()) throw Napi::TypeError::New(env, what + " must be an object {data, shape}");
  Napi::Object o = v.As<Napi::Object>();
  Napi::Value data = o.Get("data");
  Napi::Value shape = o.Get("shape");
  if (!data.IsTypedArray() || data.As<Napi::TypedArray>().TypedArrayType() != napi_float32_array)
    throw Napi::TypeError::New(env, what + ".data must be a Float32Array");
  if (!shape.IsArray()) throw Napi::TypeError::New(env, what + ".shape must be an array");
  Napi::Array sa = shape.As<Napi::Array>();
  tessera::Shape s(sa.Length());
  for (uint32_t i = 0; i < sa.Length(); ++i) {
    Napi::Value d = sa.Get(i);
    if (!d.IsNumber()) throw Napi::TypeError::New(env, what + ".shape[" + std::to_string(i) + "] must be a number");
    double x = d.As<Napi::Number>().DoubleValue();
    if (!(x >= 0) || x != double(int64_t(x)))
      throw Napi::RangeError::New(env, what + ".shape[" + std::to_string(i) + "] must be a non-negative integer");
    s[i] = int64_t(x);
  }
  Napi::Float32Array fa = data.As<Napi::Float32Array>();
  if (int64_t(fa.ElementLength()) != tessera::shape_numel(s))
    throw Napi::RangeError::New(env, what + ".data has " + std::to_string(fa.ElementLength()) +
                                         " elements but shape " + tessera::shape_str(s) + " needs " +
                                         std::to_string(tessera::shape_numel(s)));
  return Tensor::from_f32(fa.Data(), s);
}

Napi::Value tensor_to_js(Napi::Env env, const tessera::Tensor& t) {
  if (!t.defined()) return env.Null();
  const Tensor host = t.device() == tessera::Device::CPU ? t : tessera::cuda_backend::to_device(t, tessera::Device::CPU);
  Tensor c = host.to(tessera::DType::F32).contiguous();
  Napi::Float32Array fa = Napi::Float32Array::New(env, size_t(c.numel()));
  if (c.numel()) std::memcpy(fa.Data(), c.raw_data(), c.nbytes());
  Napi::Array shape = Napi::Array::New(env, c.shape().size());
  for (size_t i = 0; i < c.shape().size(); ++i) shape.Set(uint32_t(i), Napi::Number::New(env, double(c.shape()[i])));
  Napi::Object o = Napi::Object::New(env);
  o.Set("data", fa);
  o.Set("shape", shape);
  return o;
}

std::vector<tessera::Tensor> tensors_from_js(const Napi::Value& v, const std::string& what, bool allow_null) {
  Napi::Env env = v.Env();
  if (v.IsUndefined() || v.IsNull()) return {};
  if (!v.IsArray()) throw Napi::TypeError::New(env, what + " must be an array");
  Napi::Array a = v.As<Napi::Array>();
  std::vector<Tensor> out;
  for (uint32_t i = 0; i < a.Length(); ++i) {
    Napi::Value e = a.Get(i);
    if (allow_null && (e.IsNull() || e.IsUndefined())) out.emplace_back();
    else out.push_back(tensor_from_js(e, what + "[" + std::to_string(i) + "]"));
  }
  return out;
}

}  // namespace tessera_js
