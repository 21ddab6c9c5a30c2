#include "core/tensor.h"

#include <cstdlib>
#include <cstring>
#include <new>
#include <sstream>

#include "backend/cuda_allocator.h"
#include "backend/cuda_backend.h"
#include "core/cpu_allocator.h"
#include "core/error.h"
#include "core/philox.h"
#include "core/threadpool.h"

namespace tessera {

const char* device_name(Device d) { return d == Device::CPU ? "cpu" : "cuda"; }

std::string shape_str(const Shape& s) {
  std::ostringstream os;
  os << "[";
  for (size_t i = 0; i < s.size(); ++i) os << (i ? ", " : "") << s[i];
  os << "]";
  return os.str();
}

int64_t shape_numel(const Shape& s) {
  int64_t n = 1;
  for (int64_t d : s) n *= d;
  return n;
}

Shape contiguous_strides(const Shape& shape) {
  Shape st(shape.size());
  int64_t acc = 1;
  for (int i = int(shape.size()) - 1; i >= 0; --i) {
    st[i] = acc;
    acc *= shape[i];
  }
  return st;
}

Storage::~Storage() {
  if (!data) return;
  if (deleter) deleter(data, capacity);
  else cpu_free(data, capacity);
}

std::shared_ptr<Storage> Storage::allocate_cpu(size_t bytes) {
  auto s = std::make_shared<Storage>();
  s->data = cpu_alloc(bytes, &s->capacity);
  if (!s->data) fail(ErrorCode::OutOfMemory, "could not allocate ", bytes, " bytes of CPU memory");
  s->bytes = bytes;
  return s;
}

static void check_shape(const Shape& shape) {
  for (int64_t d : shape)
    TS_CHECK_ARG(d >= 0, "tensor dimension ", d, " in shape ", shape_str(shape), " must be >= 0");
}

Tensor Tensor::empty(const Shape& shape, DType dtype, Device device) {
  check_shape(shape);
  Tensor t;
  t.shape_ = shape;
  t.strides_ = contiguous_strides(shape);
  t.dtype_ = dtype;
  const size_t bytes = size_t(shape_numel(shape)) * dtype_size(dtype);
  t.storage_ = device == Device::CUDA ? cuda_backend::allocate(bytes) : Storage::allocate_cpu(bytes);
  return t;
}

Tensor Tensor::zeros(const Shape& shape, DType dtype, Device device) {
  Tensor t = empty(shape, dtype, device);
  if (device == Device::CUDA) {
    if (t.nbytes())
      cuda_backend::check(cuda_backend::api().memset(t.raw_data(), 0, t.nbytes(), cuda_backend::stream()), "zeros");
  } else {
    std::memset(t.raw_data(), 0, t.nbytes());
  }
  return t;
}

Tensor Tensor::full(const Shape& shape, float value) {
  Tensor t = empty(shape);
  float* p = t.f32();
  for (int64_t i = 0, n = t.numel(); i < n; ++i) p[i] = value;
  return t;
}

Tensor Tensor::from_f32(const float* data, const Shape& shape) {
  Tensor t = empty(shape);
  std::memcpy(t.raw_data(), data, t.nbytes());
  return t;
}

Tensor Tensor::randn(const Shape& shape, uint64_t seed, uint64_t offset) {
  Tensor t = empty(shape);
  philox_randn(seed, offset, t.f32(), t.numel());
  return t;
}

Tensor Tensor::rand(const Shape& shape, uint64_t seed, uint64_t offset) {
  Tensor t = empty(shape);
  philox_uniform(seed, offset, t.f32(), t.numel());
  return t;
}

int64_t Tensor::size(int dim) const {
  int d = dim < 0 ? dim + this->dim() : dim;
  TS_CHECK_ARG(d >= 0 && d < this->dim(), "dim ", dim, " is out of range for a ", this->dim(), "-d tensor");
  return shape_[d];
}

bool Tensor::is_contiguous() const {
  int64_t acc = 1;
  for (int i = dim() - 1; i >= 0; --i) {
    if (shape_[i] != 1 && strides_[i] != acc) return false;
    acc *= shape_[i];
  }
  return true;
}

void* Tensor::raw_data() const {
  if (!storage_) return nullptr;
  return static_cast<char*>(storage_->data) + offset_ * int64_t(dtype_size(dtype_));
}

float* Tensor::f32() const {
  TS_CHECK(defined(), ErrorCode::Internal, "use of an undefined tensor");
  TS_CHECK(dtype_ == DType::F32, ErrorCode::Unsupported, "expected an f32 tensor, got ", describe());
  TS_CHECK(device() == Device::CPU, ErrorCode::Unsupported, "expected a CPU tensor, got one on ",
           device_name(device()));
  return static_cast<float*>(raw_data());
}

Tensor Tensor::reshape(const Shape& shape) const {
  Shape s = shape;
  int infer = -1;
  int64_t known = 1;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == -1) {
      TS_CHECK_ARG(infer < 0, "reshape: only one dimension may be -1, got ", shape_str(shape));
      infer = int(i);
    } else {
      TS_CHECK_ARG(s[i] >= 0, "reshape: dimension ", s[i], " must be >= 0 or -1");
      known *= s[i];
    }
  }
  if (infer >= 0) {
    TS_CHECK_SHAPE(known > 0 && numel() % known == 0, "reshape: cannot reshape ", shape_str(shape_), " to ",
                   shape_str(shape));
    s[infer] = numel() / known;
  }
  TS_CHECK_SHAPE(shape_numel(s) == numel(), "reshape: cannot reshape ", shape_str(shape_), " (", numel(),
                 " elements) to ", shape_str(s), " (", shape_numel(s), " elements)");
  Tensor src = is_contiguous() ? *this : contiguous();
  Tensor t = src;
  t.shape_ = s;
  t.strides_ = contiguous_strides(s);
  return t;
}

Tensor Tensor::permute(const std::vector<int>& dims) const {
  TS_CHECK_ARG(int(dims.size()) == dim(), "permute: got ", dims.size(), " dims for a ", dim(), "-d tensor");
  std::vector<bool> seen(dims.size(), false);
  Tensor t = *this;
  for (size_t i = 0; i < dims.size(); ++i) {
    int d = dims[i] < 0 ? dims[i] + dim() : dims[i];
    TS_CHECK_ARG(d >= 0 && d < dim() && !seen[d], "permute: dims must be a permutation of 0..", dim() - 1);
    seen[d] = true;
    t.shape_[i] = shape_[d];
    t.strides_[i] = strides_[d];
  }
  return t;
}

Tensor Tensor::transpose(int a, int b) const {
  std::vector<int> dims(dim());
  for (int i = 0; i < dim(); ++i) dims[i] = i;
  a = a < 0 ? a + dim() : a;
  b = b < 0 ? b + dim() : b;
  std::swap(dims[a], dims[b]);
  return permute(dims);
}

Tensor Tensor::slice(int dim_, int64_t start, int64_t end, int64_t step) const {
  int d = dim_ < 0 ? dim_ + dim() : dim_;
  TS_CHECK_ARG(d >= 0 && d < dim(), "slice: dim ", dim_, " out of range for ", describe());
  TS_CHECK_ARG(step >= 1, "slice: step ", step, " must be >= 1");
  int64_t n = shape_[d];
  if (start < 0) start += n;
  if (end < 0) end += n;
  TS_CHECK_ARG(start >= 0 && start <= end && end <= n, "slice: range [", start, ", ", end,
               ") is not inside dim ", d, " of size ", n);
  Tensor t = *this;
  t.offset_ += start * strides_[d];
  t.shape_[d] = (end - start + step - 1) / step;
  t.strides_[d] = strides_[d] * step;
  return t;
}

// Copies a strided view into contiguous memory, one row of the last dim at a time.
Tensor Tensor::contiguous() const {
  if (is_contiguous()) return *this;
  TS_CHECK(device() == Device::CPU, ErrorCode::Unsupported, "contiguous() on ", device_name(device()),
           " goes through the backend");
  Tensor out = empty(shape_, dtype_);
  const size_t es = dtype_size(dtype_);
  const int nd = dim();
  const int64_t inner = nd ? shape_[nd - 1] : 1;
  const int64_t inner_stride = nd ? strides_[nd - 1] : 1;
  const int64_t rows = inner ? numel() / inner : 0;
  const char* src = static_cast<const char*>(raw_data());
  char* dst = static_cast<char*>(out.raw_data());
  parallel_for(rows, 64, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      int64_t rem = r, off = 0;
      for (int d = nd - 2; d >= 0; --d) {
        off += (rem % shape_[d]) * strides_[d];
        rem /= shape_[d];
      }
      char* o = dst + size_t(r * inner) * es;
      const char* s = src + off * int64_t(es);
      if (inner_stride == 1) std::memcpy(o, s, size_t(inner) * es);
      else
        for (int64_t i = 0; i < inner; ++i) std::memcpy(o + i * es, s + i * inner_stride * int64_t(es), es);
    }
  });
  return out;
}

Tensor Tensor::clone() const {
  Tensor c = contiguous();
  if (c.storage_ != storage_) return c;
  Tensor out = empty(shape_, dtype_, device());
  if (device() == Device::CUDA) {
    if (nbytes())
      cuda_backend::check(
          cuda_backend::api().memcpy_d2d(out.raw_data(), c.raw_data(), nbytes(), cuda_backend::stream()), "clone");
  } else {
    std::memcpy(out.raw_data(), c.raw_data(), nbytes());
  }
  return out;
}

Tensor Tensor::to(DType dtype) const {
  if (dtype == dtype_) return *this;
  Tensor c = contiguous();
  Tensor out = empty(shape_, dtype);
  convert(c.raw_data(), dtype_, out.raw_data(), dtype, numel());
  return out;
}

std::string Tensor::describe() const { return std::string(dtype_name(dtype_)) + shape_str(shape_); }

}  // namespace tessera
