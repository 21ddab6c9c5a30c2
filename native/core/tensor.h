// Tensor: a typed, shaped, strided view of reference-counted storage.
//
// Storage on the CPU is 64-byte aligned (one cache line, one AVX-512 vector).
// Views (reshape of contiguous data, permute, slice) share storage; kernels take
// contiguous tensors and call .contiguous() when given a view. The device field
// lets a CUDA backend hold its own storage without changing model code.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/dtype.h"

namespace tessera {

enum class Device : uint8_t { CPU = 0, CUDA = 1 };
const char* device_name(Device d);

using Shape = std::vector<int64_t>;
std::string shape_str(const Shape& s);  // "[2, 3, 4]"
int64_t shape_numel(const Shape& s);

// A block of memory on one device. Custom allocators (the CUDA caching
// allocator) install a deleter.
struct Storage {
  void* data = nullptr;
  size_t bytes = 0;
  Device device = Device::CPU;
  size_t capacity = 0;  // bytes reserved (the caching allocator's size class)
  void (*deleter)(void* data, size_t capacity) = nullptr;  // set by a backend's allocator
  ~Storage();
  static std::shared_ptr<Storage> allocate_cpu(size_t bytes);
};

class Tensor {
 public:
  Tensor() = default;  // undefined tensor (no storage)

  static Tensor empty(const Shape& shape, DType dtype = DType::F32, Device device = Device::CPU);
  static Tensor zeros(const Shape& shape, DType dtype = DType::F32, Device device = Device::CPU);
  static Tensor full(const Shape& shape, float value);
  static Tensor from_f32(const float* data, const Shape& shape);  // copies
  // Philox4x32-10 standard normal samples: element i of the result is sample
  // (offset + i) of the stream for `seed`, on every backend and thread count.
  static Tensor randn(const Shape& shape, uint64_t seed, uint64_t offset = 0);
  static Tensor rand(const Shape& shape, uint64_t seed, uint64_t offset = 0);  // uniform [0,1)

  bool defined() const { return storage_ != nullptr; }
  const Shape& shape() const { return shape_; }
  const Shape& strides() const { return strides_; }  // in elements
  int64_t size(int dim) const;                         // negative dims count from the end
  int dim() const { return int(shape_.size()); }
  int64_t numel() const { return shape_numel(shape_); }
  DType dtype() const { return dtype_; }
  Device device() const { return storage_ ? storage_->device : Device::CPU; }
  int64_t offset() const { return offset_; }
  size_t nbytes() const { return size_t(numel()) * dtype_size(dtype_); }
  bool is_contiguous() const;
  const std::shared_ptr<Storage>& storage() const { return storage_; }

  void* raw_data() const;  // pointer to element 0 of this view
  template <class T>
  T* data() const { return static_cast<T*>(raw_data()); }
  float* f32() const;  // checks dtype f32 and CPU

  // Views (share storage).
  Tensor reshape(const Shape& shape) const;  // one dim may be -1; copies if not contiguous
  Tensor permute(const std::vector<int>& dims) const;
  Tensor slice(int dim, int64_t start, int64_t end, int64_t step = 1) const;
  Tensor transpose(int a, int b) const;

  // Copies.
  Tensor contiguous() const;
  Tensor clone() const;
  Tensor to(DType dtype) const;

  std::string describe() const;  // "f32[2, 3]"

 private:
  std::shared_ptr<Storage> storage_;
  Shape shape_, strides_;
  int64_t offset_ = 0;
  DType dtype_ = DType::F32;
};

Shape contiguous_strides(const Shape& shape);

}  // namespace tessera
