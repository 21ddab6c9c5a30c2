// Caching allocator for CUDA device memory (cudaMalloc underneath, never managed
// memory). cudaMalloc / cudaFree synchronize the device and cost far more than a
// kernel, and training allocates the same sizes every step, so freed blocks are
// kept per rounded size and handed out again. Sizes round up to 512 bytes below
// 1 MiB and to 2 MiB above. A block freed to the cache may be reused at once by
// the next allocation: all tessera work runs on one stream, so stream order makes
// that safe (as in PyTorch's allocator for a single stream).
// When cudaMalloc fails, the cache is emptied and the allocation retried once;
// failing again is ERR_TESSERA_OUT_OF_MEMORY with the sizes in the message.
#pragma once
#include <cstddef>
#include <memory>

#include "core/tensor.h"

namespace tessera {
namespace cuda_backend {

std::shared_ptr<Storage> allocate(size_t bytes);

struct MemoryStats {
  size_t in_use = 0;       // bytes held by live tensors (rounded sizes)
  size_t cached = 0;       // bytes in the free lists
  size_t peak_in_use = 0;  // high-water mark of in_use since the last reset
  size_t device_allocs = 0;  // cudaMalloc calls so far
};
MemoryStats memory_stats();
void reset_peak();
void empty_cache();  // cudaFree every cached block

}  // namespace cuda_backend
}  // namespace tessera
