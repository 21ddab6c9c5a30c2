// cuda/random.h — Philox4x32-10 fills on the device, bit-identical to the CPU
// (core/philox.h: Tensor::randn / Tensor::rand).
#pragma once
#include <cstdint>

#include "launch.h"

namespace tessera {
namespace cuda {

// out[i] = philox_normal_at(seed, offset + i), i < n (standard normals).
void randn_fill(float* out, int64_t n, uint64_t seed, uint64_t offset, cudaStream_t stream);
// out[i] = philox_uniform_at(seed, offset + i), i < n (uniform in (0, 1)).
void uniform_fill(float* out, int64_t n, uint64_t seed, uint64_t offset, cudaStream_t stream);

}  // namespace cuda
}  // namespace tessera
