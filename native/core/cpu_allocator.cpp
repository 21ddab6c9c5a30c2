#include "core/cpu_allocator.h"

#include <cstdlib>
#include <map>
#include <mutex>
#include <vector>

namespace tessera {
namespace {

size_t size_class(size_t bytes) {
  if (bytes <= 4096) return (bytes + 63) / 64 * 64;
  size_t p = 4096;
  while (p * 2 <= bytes) p *= 2;
  size_t quarter = p / 4;
  return (bytes + quarter - 1) / quarter * quarter;
}

size_t cache_limit() {
  static size_t limit = [] {
    const char* env = std::getenv("TESSERA_CPU_CACHE_MB");
    long mb = env ? std::atol(env) : 1024;
    return size_t(mb < 0 ? 0 : mb) << 20;
  }();
  return limit;
}

struct Cache {
  std::mutex mu;
  std::map<size_t, std::vector<void*>> free_blocks;
  size_t cached = 0;
};

Cache& cache() {
  static Cache* c = new Cache();  // never destroyed: storages may be freed during exit
  return *c;
}

}  // namespace

void* cpu_alloc(size_t bytes, size_t* capacity) {
  size_t cls = size_class(bytes ? bytes : 1);
  *capacity = cls;
  {
    Cache& c = cache();
    std::lock_guard<std::mutex> lk(c.mu);
    auto it = c.free_blocks.find(cls);
    if (it != c.free_blocks.end() && !it->second.empty()) {
      void* p = it->second.back();
      it->second.pop_back();
      c.cached -= cls;
      return p;
    }
  }
  void* p = std::aligned_alloc(64, cls);
  if (!p) {
    cpu_empty_cache();
    p = std::aligned_alloc(64, cls);
  }
  return p;
}

void cpu_free(void* p, size_t capacity) {
  if (!p) return;
  Cache& c = cache();
  {
    std::lock_guard<std::mutex> lk(c.mu);
    if (c.cached + capacity <= cache_limit()) {
      c.free_blocks[capacity].push_back(p);
      c.cached += capacity;
      return;
    }
  }
  std::free(p);
}

void cpu_empty_cache() {
  Cache& c = cache();
  std::lock_guard<std::mutex> lk(c.mu);
  for (auto& kv : c.free_blocks)
    for (void* p : kv.second) std::free(p);
  c.free_blocks.clear();
  c.cached = 0;
}

size_t cpu_cached_bytes() {
  Cache& c = cache();
  std::lock_guard<std::mutex> lk(c.mu);
  return c.cached;
}

}  // namespace tessera
