#include "core/dtype.h"

#include <cstring>

#include "core/error.h"
#include "core/threadpool.h"

namespace tessera {

const char* dtype_name(DType t) {
  switch (t) {
    case DType::F32: return "f32";
    case DType::F16: return "f16";
    case DType::BF16: return "bf16";
  }
  return "?";
}

DType dtype_from_name(const char* name) {
  if (!std::strcmp(name, "f32") || !std::strcmp(name, "float32")) return DType::F32;
  if (!std::strcmp(name, "f16") || !std::strcmp(name, "float16")) return DType::F16;
  if (!std::strcmp(name, "bf16") || !std::strcmp(name, "bfloat16")) return DType::BF16;
  fail(ErrorCode::InvalidArgument, "dtype '", name, "' is not one of f32, f16, bf16");
}

// IEEE binary16, round to nearest even, with subnormals, infinities and NaN.
uint16_t f32_to_f16(float f) {
  uint32_t u = f32_bits(f);
  uint32_t sign = (u >> 16) & 0x8000u;
  uint32_t a = u & 0x7fffffffu;
  if (a > 0x7f800000u) return uint16_t(sign | 0x7e00u);  // NaN
  if (a >= 0x477ff000u) return uint16_t(sign | 0x7c00u);  // rounds to >= 65520: inf
  if (a < 0x38800000u) {                                    // subnormal or zero in f16
    // value = a_float; f16 subnormal unit = 2^-24. Use float arithmetic for exact rounding.
    float v = bits_f32(a) * 16777216.0f;  // scale by 2^24, exact
    // round half to even (default FP rounding mode does this in the conversion below)
    uint32_t q = uint32_t(__builtin_nearbyintf(v));
    return uint16_t(sign | q);
  }
  uint32_t mant_round = a + 0x0fffu + ((a >> 13) & 1u);
  return uint16_t(sign | ((mant_round - 0x38000000u) >> 13));
}

float f16_to_f32(uint16_t h) {
  uint32_t sign = uint32_t(h & 0x8000u) << 16;
  uint32_t exp = (h >> 10) & 0x1fu;
  uint32_t mant = h & 0x3ffu;
  if (exp == 0) {
    float v = float(mant) * (1.0f / 16777216.0f);
    return bits_f32(f32_bits(v) | sign);
  }
  if (exp == 31) return bits_f32(sign | 0x7f800000u | (mant << 13));
  return bits_f32(sign | ((exp + 112u) << 23) | (mant << 13));
}

void convert(const void* src, DType st, void* dst, DType dt, int64_t n) {
  if (st == dt) {
    std::memcpy(dst, src, size_t(n) * dtype_size(st));
    return;
  }
  parallel_for(n, 1 << 15, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) {
      float v;
      switch (st) {
        case DType::F32: v = static_cast<const float*>(src)[i]; break;
        case DType::F16: v = f16_to_f32(static_cast<const uint16_t*>(src)[i]); break;
        default: v = bf16_to_f32(static_cast<const uint16_t*>(src)[i]); break;
      }
      switch (dt) {
        case DType::F32: static_cast<float*>(dst)[i] = v; break;
        case DType::F16: static_cast<uint16_t*>(dst)[i] = f32_to_f16(v); break;
        default: static_cast<uint16_t*>(dst)[i] = f32_to_bf16(v); break;
      }
    }
  });
}

}  // namespace tessera
