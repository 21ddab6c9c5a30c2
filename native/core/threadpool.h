// A fixed pool of worker threads for data-parallel kernels.
//
// parallel_for(n, grain, fn) calls fn(begin, end) on disjoint ranges covering
// [0, n). Kernels must make each output element's value independent of how the
// range is split (partition outputs, never split a reduction across ranges in a
// thread-count-dependent way): that is what makes every op bit-identical for any
// thread count. Nested parallel_for calls (from inside a worker) run serially.
#pragma once
#include <cstdint>
#include <functional>

namespace tessera {

// Threads used by parallel_for. Default: env TESSERA_THREADS if set, else the
// hardware concurrency. set_num_threads(0) restores the default.
int num_threads();
void set_num_threads(int n);
int hardware_threads();

void parallel_for(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& fn);

// Runs fn(begin, end) over [0, n) in ranges whose starts are multiples of
// `block`, so every element is computed by the same code path (vector body or
// remainder loop) whatever the thread count: elementwise results are then
// bit-identical for any thread count. `grain` is the minimum elements per task.
template <class Fn>
void parallel_for_blocks(int64_t n, int64_t block, int64_t grain, const Fn& fn) {
  const int64_t nblk = (n + block - 1) / block;
  const int64_t grain_blocks = grain / block > 0 ? grain / block : 1;
  parallel_for(nblk, grain_blocks, [&](int64_t b0, int64_t b1) { fn(b0 * block, b1 * block < n ? b1 * block : n); });
}

// Runs fn(t) for t in [0, tasks) — one call per task, tasks spread over threads.
inline void parallel_tasks(int64_t tasks, const std::function<void(int64_t)>& fn) {
  parallel_for(tasks, 1, [&](int64_t b, int64_t e) {
    for (int64_t t = b; t < e; ++t) fn(t);
  });
}

}  // namespace tessera
