// Shared pieces of the N-API glue: JS errors with a `code`, C++ exceptions turned
// into (code, message), and tensors to and from {data: Float32Array, shape}.
#pragma once
#include <napi.h>

#include <new>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/tensor.h"

namespace tessera_js {

Napi::Error make_error(Napi::Env env, const char* code, const std::string& message);

// Runs `body` and converts C++ exceptions into (code, message).
template <class F>
bool guarded(F&& body, std::string* code, std::string* message) {
  try {
    body();
    return true;
  } catch (const tessera::Error& e) {
    *code = e.code_name();
    *message = e.what();
  } catch (const std::bad_alloc&) {
    *code = "ERR_TESSERA_OUT_OF_MEMORY";
    *message = "out of memory";
  } catch (const std::exception& e) {
    *code = "ERR_TESSERA_INTERNAL";
    *message = e.what();
  }
  return false;
}

// {data: Float32Array, shape: number[]} -> Tensor (copied: JS may reuse its buffer).
tessera::Tensor tensor_from_js(const Napi::Value& v, const std::string& what);
// Tensor (any dtype, any device) -> {data: Float32Array, shape}; undefined -> null.
Napi::Value tensor_to_js(Napi::Env env, const tessera::Tensor& t);
std::vector<tessera::Tensor> tensors_from_js(const Napi::Value& v, const std::string& what, bool allow_null);

// The VAE classes (addon/vae.cpp).
void register_vae(Napi::Env env, Napi::Object exports);

}  // namespace tessera_js
