// Shared pieces of the CUDA parity tests: random host data from the Philox
// stream and a device buffer that owns its memory (cudaMalloc, emulated on the
// CPU under cuda/emu).
#pragma once
#include <algorithm>
#include <cstdint>
#include <vector>

#include "core/tensor.h"
#include "launch.h"

namespace tessera_parity {

// n standard normals (Philox, `seed`), as scale * z + shift.
inline std::vector<float> randv(int64_t n, uint64_t seed, float scale = 1.0f, float shift = 0.0f) {
  if (n == 0) return {};
  tessera::Tensor t = tessera::Tensor::randn({n}, seed);
  std::vector<float> v(t.f32(), t.f32() + n);
  for (auto& e : v) e = e * scale + shift;
  return v;
}

template <class T>
struct DeviceBuffer {
  T* p = nullptr;
  size_t n = 0;
  explicit DeviceBuffer(size_t count) : n(count) {
    cudaMalloc(reinterpret_cast<void**>(&p), std::max<size_t>(count, 1) * sizeof(T));
  }
  explicit DeviceBuffer(const std::vector<T>& h) : DeviceBuffer(h.size()) {
    cudaMemcpy(p, h.data(), n * sizeof(T), cudaMemcpyHostToDevice);
  }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  ~DeviceBuffer() { cudaFree(p); }
  std::vector<T> get() const {
    std::vector<T> h(n);
    cudaMemcpy(h.data(), p, n * sizeof(T), cudaMemcpyDeviceToHost);
    return h;
  }
};

using Dev = DeviceBuffer<float>;

// The elements of a contiguous f32 CPU tensor.
inline std::vector<float> host(const tessera::Tensor& t) { return std::vector<float>(t.f32(), t.f32() + t.numel()); }

}  // namespace tessera_parity
