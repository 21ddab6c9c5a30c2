// A caching allocator for CPU tensor storage.
//
// Training and sampling allocate the same sizes every step. Returning a block to
// the OS and faulting fresh pages in again costs more than many kernels (about
// 2,000 page faults for an 8 MB tensor), so freed blocks are kept in per-size
// free lists and reused. Sizes are rounded up to one of four classes per power of
// two (at most 25% slack); at most `cache_limit` bytes are kept (env
// TESSERA_CPU_CACHE_MB, default 1024); beyond that blocks go back to the OS.
// All blocks are 64-byte aligned.
#pragma once
#include <cstddef>

namespace tessera {

void* cpu_alloc(size_t bytes, size_t* capacity);  // capacity: the rounded size actually reserved
void cpu_free(void* p, size_t capacity);
void cpu_empty_cache();            // returns every cached block to the OS
size_t cpu_cached_bytes();

}  // namespace tessera
