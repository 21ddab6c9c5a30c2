#include "core/cpu_features.h"

#include <atomic>
#include <cstdlib>
#include <cstring>

#include "core/error.h"

namespace tessera {
namespace {

Isa detect() {
#if TESSERA_X86
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") &&
      __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq") &&
      __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
    return Isa::Avx512;
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return Isa::Avx2;
#endif
  return Isa::Generic;
}

Isa parse_env(Isa detected) {
  const char* env = std::getenv("TESSERA_ISA");
  if (!env || !*env) return detected;
  Isa want;
  if (!std::strcmp(env, "avx512")) want = Isa::Avx512;
  else if (!std::strcmp(env, "avx2")) want = Isa::Avx2;
  else if (!std::strcmp(env, "generic")) want = Isa::Generic;
  else return detected;  // unknown values are ignored rather than crashing the host at load
  return int(want) <= int(detected) ? want : detected;
}

std::atomic<int>& current() {
  static std::atomic<int> isa{int(parse_env(detect()))};
  return isa;
}

}  // namespace

Isa detected_isa() {
  static Isa d = detect();
  return d;
}

Isa cpu_isa() { return Isa(current().load(std::memory_order_relaxed)); }

void set_cpu_isa(Isa isa) {
  TS_CHECK(int(isa) <= int(detected_isa()), ErrorCode::Unsupported, "isa '", isa_name(isa),
           "' is not supported by this CPU (it has '", isa_name(detected_isa()), "')");
  current().store(int(isa));
}

const char* isa_name(Isa isa) {
  switch (isa) {
    case Isa::Avx512: return "avx512";
    case Isa::Avx2: return "avx2";
    default: return "generic";
  }
}

}  // namespace tessera
