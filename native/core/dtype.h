// Element types: f32 for compute, f16 and bf16 for storage. Conversions are
// round-to-nearest-even, as on the GPU (and as torch.Tensor.to does).
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstring>

namespace tessera {

enum class DType : uint8_t { F32 = 0, F16 = 1, BF16 = 2 };

inline size_t dtype_size(DType t) { return t == DType::F32 ? 4 : 2; }
const char* dtype_name(DType t);        // "f32", "f16", "bf16"
DType dtype_from_name(const char* name);  // throws InvalidArgument

inline uint32_t f32_bits(float f) { uint32_t u; std::memcpy(&u, &f, 4); return u; }
inline float bits_f32(uint32_t u) { float f; std::memcpy(&f, &u, 4); return f; }

inline uint16_t f32_to_bf16(float f) {
  uint32_t u = f32_bits(f);
  if ((u & 0x7fffffffu) > 0x7f800000u) return uint16_t((u >> 16) | 0x40);  // quiet NaN
  u += 0x7fffu + ((u >> 16) & 1u);
  return uint16_t(u >> 16);
}
inline float bf16_to_f32(uint16_t h) { return bits_f32(uint32_t(h) << 16); }

uint16_t f32_to_f16(float f);
float f16_to_f32(uint16_t h);

// Bulk conversions (vectorized where the CPU allows).
void convert(const void* src, DType src_type, void* dst, DType dst_type, int64_t n);

}  // namespace tessera
