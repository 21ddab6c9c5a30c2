#include "backend/cuda_allocator.h"

#include <map>
#include <mutex>

#include "backend/cuda_backend.h"
#include "core/error.h"

namespace tessera {
namespace cuda_backend {

namespace {

constexpr size_t kSmall = size_t(1) << 20;     // below: 512-byte granules
constexpr size_t kLargeGranule = size_t(2) << 20;

size_t round_size(size_t bytes) {
  if (bytes == 0) bytes = 1;
  if (bytes < kSmall) return (bytes + 511) / 512 * 512;
  return (bytes + kLargeGranule - 1) / kLargeGranule * kLargeGranule;
}

struct Cache {
  std::mutex mu;
  std::multimap<size_t, void*> free_blocks;  // rounded size -> block
  MemoryStats stats;
};

Cache& cache() {
  static Cache* c = new Cache();  // never destroyed: tensors may outlive static destruction
  return *c;
}

void release_cached_locked(Cache& c) {
  for (auto& kv : c.free_blocks) api().free(kv.second);  // errors while freeing are not actionable
  c.free_blocks.clear();
  c.stats.cached = 0;
}

void give_back(void* data, size_t capacity) {
  Cache& c = cache();
  std::lock_guard<std::mutex> lock(c.mu);
  c.free_blocks.emplace(capacity, data);
  c.stats.in_use -= capacity;
  c.stats.cached += capacity;
}

}  // namespace

std::shared_ptr<Storage> allocate(size_t bytes) {
  const size_t size = round_size(bytes);
  Cache& c = cache();
  void* p = nullptr;
  size_t capacity = size;
  {
    std::lock_guard<std::mutex> lock(c.mu);
    // Exact size class first; large blocks may also take a cached block up to 2x
    // the request rather than allocate (bounded slack).
    auto it = c.free_blocks.lower_bound(size);
    if (it != c.free_blocks.end() && (it->first == size || (size >= kSmall && it->first <= 2 * size))) {
      p = it->second;
      capacity = it->first;
      c.free_blocks.erase(it);
      c.stats.cached -= capacity;
    } else {
      TsCudaStatus err = api().malloc(&p, size);
      if (err) {
        release_cached_locked(c);
        err = api().malloc(&p, size);
      }
      if (err)
        fail(ErrorCode::OutOfMemory, "could not allocate ", bytes, " bytes of CUDA device memory (", c.stats.in_use,
             " bytes in use by tensors): ", err);
      c.stats.device_allocs++;
    }
    c.stats.in_use += capacity;
    if (c.stats.in_use > c.stats.peak_in_use) c.stats.peak_in_use = c.stats.in_use;
  }
  auto s = std::make_shared<Storage>();
  s->data = p;
  s->bytes = bytes;
  s->capacity = capacity;
  s->device = Device::CUDA;
  s->deleter = give_back;
  return s;
}

MemoryStats memory_stats() {
  Cache& c = cache();
  std::lock_guard<std::mutex> lock(c.mu);
  return c.stats;
}

void reset_peak() {
  Cache& c = cache();
  std::lock_guard<std::mutex> lock(c.mu);
  c.stats.peak_in_use = c.stats.in_use;
}

void empty_cache() {
  if (!available()) return;
  synchronize();
  Cache& c = cache();
  std::lock_guard<std::mutex> lock(c.mu);
  release_cached_locked(c);
}

}  // namespace cuda_backend
}  // namespace tessera
