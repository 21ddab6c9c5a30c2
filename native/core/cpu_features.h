// Instruction-set detection for run-time kernel choice.
//
// Hot CPU kernels are compiled once per instruction set (AVX-512, AVX2+FMA,
// baseline x86-64) with GCC/Clang target attributes and chosen at run time from
// cpuid. Env TESSERA_ISA=avx512|avx2|generic forces a lower level (tests use it
// to run every path on one machine); asking for more than the CPU has is an error.
#pragma once

namespace tessera {

enum class Isa : int { Generic = 0, Avx2 = 1, Avx512 = 2 };

Isa detected_isa();   // what the CPU supports
Isa cpu_isa();        // what kernels use (detected, or the override)
void set_cpu_isa(Isa isa);  // throws if the CPU lacks it
const char* isa_name(Isa isa);

}  // namespace tessera

// Function attributes that compile a function for one instruction set. Inline
// helpers without attributes that such a function calls are compiled with it.
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define TESSERA_TARGET_AVX512 \
  __attribute__((target("avx512f,avx512vl,avx512bw,avx512dq,avx2,fma,f16c,bmi2,prefer-vector-width=512")))
#define TESSERA_TARGET_AVX2 __attribute__((target("avx2,fma,f16c,bmi2")))
#define TESSERA_X86 1
#else
#define TESSERA_TARGET_AVX512
#define TESSERA_TARGET_AVX2
#define TESSERA_X86 0
#endif
#define TESSERA_INLINE inline __attribute__((always_inline))

// TESSERA_ISA_DISPATCH(name, impl, (params), (args)) defines
//   void name params
// which calls impl<Isa>(args) compiled for the chosen instruction set. impl is a
// template on `tessera::Isa` marked TESSERA_INLINE so each instance is
// compiled inside its target-attributed wrapper.
#if TESSERA_X86
#define TESSERA_ISA_DISPATCH(name, impl, params, args)                                                    \
  static TESSERA_TARGET_AVX512 void name##_avx512 params { impl<::tessera::Isa::Avx512> args; }           \
  static TESSERA_TARGET_AVX2 void name##_avx2 params { impl<::tessera::Isa::Avx2> args; }                 \
  static void name##_generic params { impl<::tessera::Isa::Generic> args; }                               \
  void name params {                                                                                      \
    switch (::tessera::cpu_isa()) {                                                                       \
      case ::tessera::Isa::Avx512: name##_avx512 args; break;                                             \
      case ::tessera::Isa::Avx2: name##_avx2 args; break;                                                 \
      default: name##_generic args; break;                                                                \
    }                                                                                                     \
  }
#else
#define TESSERA_ISA_DISPATCH(name, impl, params, args) \
  void name params { impl<::tessera::Isa::Generic> args; }
#endif
