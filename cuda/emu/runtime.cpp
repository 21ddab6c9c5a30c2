// cuda/emu/runtime.cpp — the emulator's scheduler, collectives and launcher.
//
// Model
//   launch_raw() hands the grid's blocks (in inorder / reverse / random order) to a
//   pool of OS threads ("workers"; the launching thread is one of them). A worker
//   runs one block at a time, start to finish: it primes one fiber per CUDA thread
//   (pooled, guarded stacks from fiber.cpp), fills the shared-memory arena with the
//   poison pattern, and switches to the first fiber of the run queue.
//
//   Fibers switch directly to each other (no trip through the worker's own stack):
//   a fiber that has to wait (barrier, warp collective, exit) pops the next ready
//   fiber from the block's run queue and switches to it. Only when the queue is
//   empty is something special: if all threads sit in __syncthreads the barrier has
//   already been released eagerly by the last arrival, so an empty queue with live
//   threads is a deadlock, reported with every thread's state. When the last thread
//   exits, it switches back to the worker.
//
//   __syncthreads: the last of the block's n threads to arrive releases the barrier
//   and queues all n threads in the schedule's order (inorder, reverse or a seeded
//   shuffle). If some thread exited instead, the barrier never completes -> deadlock
//   report (CUDA leaves that undefined; it hangs or corrupts on real hardware).
//   Warp collectives: each lane deposits (op, mask, value, arg); the last lane of the
//   mask to arrive computes every lane's result and queues the others. Lanes named
//   in the mask that do not exist (partial last warp) are left out; reading from
//   them yields all-ones bits (NaN / -1). A lane that exited while named in a mask
//   is reported.
//
// Sanitizers
//   * ThreadSanitizer (TESSERA_EMU_TSAN=1; this file itself is compiled WITHOUT
//     -fsanitize=thread so the scheduler's bookkeeping, shared by a block's fibers,
//     is invisible to it): every fiber is a TSan fiber and switches pass
//     __tsan_switch_to_fiber_no_sync, so TSan sees the threads of a block as
//     concurrent. Happens-before exists only where CUDA guarantees it: barrier
//     arrival releases / departure acquires (one sync object per barrier-generation
//     parity), warp collectives release per-lane "arrive" objects that the
//     completing lane acquires, which then releases each lane's "depart" object.
//     Block start/end synchronise with the worker (which poisons shared memory).
//   * AddressSanitizer (__SANITIZE_ADDRESS__): stack switches are announced with
//     __sanitizer_start/finish_switch_fiber; shared memory outside the live
//     allocations (and 32-byte red zones between them) is ASan-poisoned.
#include "emu.h"
#include "fiber.h"

#include <pthread.h>
#include <sys/mman.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <sstream>
#include <thread>
#include <vector>

#if defined(__SANITIZE_ADDRESS__)
#define TESSERA_EMU_ASAN 1
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#else
#define TESSERA_EMU_ASAN 0
#endif
#ifndef TESSERA_EMU_TSAN
#define TESSERA_EMU_TSAN 0
#endif
#if TESSERA_EMU_TSAN
#include <sanitizer/tsan_interface.h>
#endif

namespace tessera_emu {

__thread const ThreadView* t_view = nullptr;

namespace {

// ---------------------------------------------------------------- configuration

constexpr unsigned kMaxThreadsPerBlock = 1024;
constexpr size_t kMaxDynamicShared = 227 * 1024;  // sm_90 opt-in maximum
constexpr size_t kArenaBytes = 512 * 1024;        // dynamic + static + red zones
constexpr size_t kRedZone = 32;

struct Config {
  Order order = Order::InOrder;
  unsigned long long seed = 1;
  unsigned threads = 1;
  size_t stack_bytes = 64 * 1024;
  unsigned char poison = 0xFF;
};

Config load_config() {
  Config c;
  if (const char* o = getenv("TESSERA_EMU_ORDER")) {
    std::string s(o);
    if (s == "inorder" || s.empty()) c.order = Order::InOrder;
    else if (s == "reverse") c.order = Order::Reverse;
    else if (s == "random") c.order = Order::Random;
    else {
      fprintf(stderr, "tessera-emu: TESSERA_EMU_ORDER=%s is not inorder|reverse|random\n", o);
      abort();
    }
  }
  if (const char* s = getenv("TESSERA_EMU_SEED")) c.seed = strtoull(s, nullptr, 0);
  unsigned hw = std::max(1u, std::thread::hardware_concurrency());
  c.threads = std::min(hw, 8u);
  if (const char* s = getenv("TESSERA_EMU_THREADS")) c.threads = std::max(1, atoi(s));
#if TESSERA_EMU_ASAN || TESSERA_EMU_TSAN
  c.stack_bytes = 256 * 1024;  // instrumented frames are much larger
#endif
  if (const char* s = getenv("TESSERA_EMU_STACK_KB")) c.stack_bytes = (size_t)std::max(16, atoi(s)) * 1024;
  if (const char* s = getenv("TESSERA_EMU_POISON")) c.poison = (unsigned char)strtoul(s, nullptr, 0);
  return c;
}
Config& config() {
  static Config c = load_config();
  return c;
}
std::mutex g_sched_mu;  // guards schedule changes vs. launches

unsigned long long splitmix(unsigned long long& x) {
  unsigned long long z = (x += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

// ---------------------------------------------------------------- data structures

enum class St : unsigned char { Ready, Running, Sync, Warp, Exited };

struct Ctx {  // something we can switch to: a fiber or a worker's own stack
  void* sp = nullptr;
  void* tsan = nullptr;       // TSan fiber handle
  void* asan_fake = nullptr;  // ASan fake-stack save slot
  const void* stack_lo = nullptr;
  size_t stack_size = 0;
};

struct Fiber : Ctx {
  ThreadView view{};
  unsigned id = 0;  // linear thread index in the block
  St st = St::Ready;
  // pending warp collective
  WarpOp op{};
  unsigned mask = 0;
  int arg = 0, width = 32;
  unsigned long long val = 0, result = 0;
  const char* what = "";
  // pending barrier
  unsigned sync_parity = 0;
  Stack stack;
  // TSan sync objects (their addresses are what matters)
  char tsan_arrive = 0, tsan_depart = 0;
};

struct Job;

struct Worker {
  Ctx main;
  std::vector<std::unique_ptr<Fiber>> fibers;  // pool, grows to the largest block seen
  Fiber* cur = nullptr;
  // current block
  Job* job = nullptr;
  unsigned n = 0, nwarps = 0;
  unsigned warp_exist[kMaxThreadsPerBlock / 32] = {};
  std::vector<unsigned> queue;  // ring buffer of fiber ids
  unsigned qhead = 0, qcount = 0;
  unsigned at_sync = 0, exited = 0, sync_count = 0, sync_result = 0, sync_gen = 0;
  unsigned long long rng = 0;
  uint3 block{};
  bool failed = false;
  std::string error;
  // shared memory arena
  char* arena = nullptr;
  size_t arena_used = 0, arena_high = 0;
  char* dyn = nullptr;
  unsigned long long epoch = 0;
  // TSan sync objects
  char tsan_start = 0, tsan_end = 0, tsan_sync[2] = {0, 0};

  Worker();
  ~Worker();
};

struct Job {
  const char* kernel;
  dim3 grid, block;
  size_t shared_bytes;
  void (*entry)(void*);
  void* ctx;
  Schedule sched;
  unsigned long long launch_no;
  unsigned long long nblocks;
  std::vector<unsigned long long> perm;  // random order of blocks
  std::atomic<unsigned long long> next{0};
  std::atomic<bool> failed{false};
  std::mutex err_mu;
  std::string error;
};

__thread Worker* t_worker = nullptr;

Worker& worker() {
  static thread_local std::unique_ptr<Worker> w;  // destroyed (stacks unmapped) at thread exit
  if (!w) {
    w.reset(new Worker());
    t_worker = w.get();
  }
  return *w;
}

Worker::Worker() {
  void* m = mmap(nullptr, kArenaBytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (m == MAP_FAILED) throw std::bad_alloc();
  arena = static_cast<char*>(m);
  memset(arena, config().poison, kArenaBytes);
#if TESSERA_EMU_TSAN
  main.tsan = __tsan_get_current_fiber();
#endif
#if TESSERA_EMU_ASAN
  pthread_attr_t attr;
  if (pthread_getattr_np(pthread_self(), &attr) == 0) {
    void* lo;
    size_t sz;
    pthread_attr_getstack(&attr, &lo, &sz);
    main.stack_lo = lo;
    main.stack_size = sz;
    pthread_attr_destroy(&attr);
  }
#endif
}

Worker::~Worker() {
  for (auto& f : fibers) {
#if TESSERA_EMU_TSAN
    if (f->tsan) __tsan_destroy_fiber(f->tsan);
#endif
    stack_free(f->stack);
  }
#if TESSERA_EMU_ASAN
  ASAN_UNPOISON_MEMORY_REGION(arena, kArenaBytes);
#endif
  munmap(arena, kArenaBytes);
  if (t_worker == this) t_worker = nullptr;
}

// ---------------------------------------------------------------- switching

inline void switch_to(Worker& w, Ctx* from, Fiber* to_fiber, bool from_dies) {
  Ctx* to = to_fiber ? static_cast<Ctx*>(to_fiber) : &w.main;
  w.cur = to_fiber;
  t_view = to_fiber ? &to_fiber->view : nullptr;
#if TESSERA_EMU_TSAN
  __tsan_switch_to_fiber(to->tsan, __tsan_switch_to_fiber_no_sync);
#endif
#if TESSERA_EMU_ASAN
  __sanitizer_start_switch_fiber(from_dies ? nullptr : &from->asan_fake, to->stack_lo, to->stack_size);
#else
  (void)from_dies;
#endif
  tessera_emu_swap(&from->sp, to->sp);
#if TESSERA_EMU_ASAN
  __sanitizer_finish_switch_fiber(from->asan_fake, nullptr, nullptr);
#endif
}

inline void tsan_release(void* a) {
#if TESSERA_EMU_TSAN
  __tsan_release(a);
#else
  (void)a;
#endif
}
inline void tsan_acquire(void* a) {
#if TESSERA_EMU_TSAN
  __tsan_acquire(a);
#else
  (void)a;
#endif
}

// ---------------------------------------------------------------- run queue

void push(Worker& w, Fiber* f) {
  f->st = St::Ready;
  w.queue[(w.qhead + w.qcount) % w.n] = f->id;
  ++w.qcount;
}
Fiber* pop(Worker& w) {
  if (w.qcount == 0) return nullptr;
  Fiber* f = w.fibers[w.queue[w.qhead]].get();
  w.qhead = (w.qhead + 1) % w.n;
  --w.qcount;
  return f;
}
// Queue `ids` in the schedule's order.
void push_ordered(Worker& w, unsigned* ids, unsigned k) {
  switch (w.job->sched.order) {
    case Order::InOrder: break;
    case Order::Reverse: std::reverse(ids, ids + k); break;
    case Order::Random:
      for (unsigned i = k; i > 1; --i) std::swap(ids[i - 1], ids[splitmix(w.rng) % i]);
      break;
  }
  for (unsigned i = 0; i < k; ++i) push(w, w.fibers[ids[i]].get());
}

// ---------------------------------------------------------------- errors

std::string block_name(const Worker& w) {
  std::ostringstream o;
  o << "kernel '" << w.job->kernel << "' block (" << w.block.x << "," << w.block.y << "," << w.block.z
    << ") [grid (" << w.job->grid.x << "," << w.job->grid.y << "," << w.job->grid.z << "), block ("
    << w.job->block.x << "," << w.job->block.y << "," << w.job->block.z
    << "), TESSERA_EMU_ORDER=" << order_name(w.job->sched.order) << " TESSERA_EMU_SEED=" << w.job->sched.seed << "]";
  return o.str();
}

std::string describe(const Fiber& f) {
  char buf[160];
  switch (f.st) {
    case St::Sync: return "waiting at __syncthreads";
    case St::Exited: return "exited";
    case St::Ready: return "ready";
    case St::Running: return "running";
    case St::Warp:
      snprintf(buf, sizeof buf, "waiting at %s(mask=0x%08x) in warp %u", f.what, f.mask, f.view.warp);
      return buf;
  }
  return "?";
}

// "threads 0-31: waiting at ..., threads 32-63: exited" (runs of equal states)
std::string thread_states(const Worker& w) {
  std::string out;
  unsigned i = 0;
  while (i < w.n) {
    std::string d = describe(*w.fibers[i]);
    unsigned j = i + 1;
    while (j < w.n && describe(*w.fibers[j]) == d) ++j;
    char r[64];
    if (j - i == 1) snprintf(r, sizeof r, "  thread %u: ", i);
    else snprintf(r, sizeof r, "  threads %u-%u: ", i, j - 1);
    out += r + d + "\n";
    i = j;
  }
  return out;
}

// Abandon the current block: record the error and return to the worker for good.
[[noreturn]] void fail_block(Worker& w, const std::string& what) {
  w.failed = true;
  w.error = "tessera-emu: " + what + " in " + block_name(w) + "\n" + thread_states(w);
  tsan_release(&w.tsan_end);
  Fiber* self = w.cur;
  switch_to(w, self, nullptr, true);
  __builtin_unreachable();
}

// ---------------------------------------------------------------- scheduling core

// The current fiber cannot continue (it waits or has exited): run the next ready one.
void schedule(Worker& w, Fiber* self, bool self_dies) {
  // Everything this fiber did so far happens-before the worker's return from the
  // block, even if the block is abandoned (deadlock) while this fiber is suspended.
  tsan_release(&w.tsan_end);
  Fiber* next = pop(w);
  if (!next) {
    fail_block(w, self_dies && w.exited < w.n ? "deadlock: a thread exited while others wait"
                                             : "deadlock: no thread can make progress");
  }
  if (next == self) {
    self->st = St::Running;
    return;
  }
  next->st = St::Running;
  switch_to(w, self, next, self_dies);
}

void fiber_main(void* p) {
  Fiber* f = static_cast<Fiber*>(p);
#if TESSERA_EMU_ASAN
  __sanitizer_finish_switch_fiber(nullptr, nullptr, nullptr);
#endif
  Worker& w = *t_worker;
  tsan_acquire(&w.tsan_start);
  try {
    w.job->entry(w.job->ctx);
  } catch (const std::exception& e) {
    fail_block(w, std::string("thread ") + std::to_string(f->id) + " threw: " + e.what());
  } catch (...) {
    fail_block(w, "thread " + std::to_string(f->id) + " threw a non-std exception");
  }
  tsan_release(&w.tsan_end);
  f->st = St::Exited;
  ++w.exited;
  if (w.exited == w.n) switch_to(w, f, nullptr, true);  // block done
  schedule(w, f, true);                                  // never comes back
  __builtin_unreachable();
}

Fiber* current(const char* what) {
  Worker* w = t_worker;
  if (!w || !w->cur) {
    fprintf(stderr, "tessera-emu: %s called outside a kernel\n", what);
    abort();
  }
  return w->cur;
}

// ---------------------------------------------------------------- one block

void run_block(Worker& w, Job& job, unsigned long long b) {
  const unsigned n = job.block.x * job.block.y * job.block.z;
  w.job = &job;
  w.n = n;
  w.nwarps = (n + 31) / 32;
  w.block = make_uint3((unsigned)(b % job.grid.x), (unsigned)((b / job.grid.x) % job.grid.y),
                       (unsigned)(b / ((unsigned long long)job.grid.x * job.grid.y)));
  w.failed = false;
  w.error.clear();
  w.at_sync = w.exited = w.sync_count = w.sync_result = w.sync_gen = 0;
  w.qhead = w.qcount = 0;
  if (w.queue.size() < n) w.queue.resize(n);
  unsigned long long s = job.sched.seed ^ (job.launch_no * 0xD1B54A32D192ED03ull);
  s ^= splitmix(s) ^ b;
  w.rng = splitmix(s);
  for (unsigned k = 0; k < w.nwarps; ++k) {
    unsigned lanes = std::min(32u, n - 32 * k);
    w.warp_exist[k] = lanes == 32 ? 0xffffffffu : ((1u << lanes) - 1);
  }

  // shared memory: poison what the previous block used, lay out dynamic first
  const Config& cfg = config();
#if TESSERA_EMU_ASAN
  ASAN_UNPOISON_MEMORY_REGION(w.arena, kArenaBytes);
#endif
  memset(w.arena, cfg.poison, std::max(w.arena_high, w.arena_used));
  w.arena_high = 0;
  w.dyn = w.arena;
  w.arena_used = ((job.shared_bytes + 15) & ~size_t(15)) + kRedZone;
  ++w.epoch;
#if TESSERA_EMU_ASAN
  ASAN_POISON_MEMORY_REGION(w.arena, kArenaBytes);
  ASAN_UNPOISON_MEMORY_REGION(w.dyn, job.shared_bytes);
#endif

  // fibers
  while (w.fibers.size() < n) {
    auto f = std::make_unique<Fiber>();
    f->id = (unsigned)w.fibers.size();
    f->stack = stack_alloc(cfg.stack_bytes);
    f->stack_lo = f->stack.lo;
    f->stack_size = (size_t)(f->stack.hi - f->stack.lo);
#if TESSERA_EMU_TSAN
    f->tsan = __tsan_create_fiber(0);
#endif
    w.fibers.push_back(std::move(f));
  }
  std::vector<unsigned> ids(n);
  for (unsigned i = 0; i < n; ++i) {
    Fiber& f = *w.fibers[i];
    f.view.thread_idx = make_uint3(i % job.block.x, (i / job.block.x) % job.block.y, i / (job.block.x * job.block.y));
    f.view.block_idx = w.block;
    f.view.block_dim = job.block;
    f.view.grid_dim = job.grid;
    f.view.lane = i % 32;
    f.view.warp = i / 32;
    f.st = St::Ready;
    f.asan_fake = nullptr;
#if TESSERA_EMU_ASAN
    ASAN_UNPOISON_MEMORY_REGION(f.stack.lo, f.stack_size);  // stale frames of an abandoned block
#endif
    f.sp = stack_prime(f.stack, &fiber_main, &f);
    ids[i] = i;
  }
  push_ordered(w, ids.data(), n);

  tsan_release(&w.tsan_start);
  Fiber* first = pop(w);
  first->st = St::Running;
  switch_to(w, &w.main, first, false);
  // back on the worker's stack: the block finished or failed
  tsan_acquire(&w.tsan_end);
  w.cur = nullptr;
  t_view = nullptr;
  w.arena_high = std::max(w.arena_high, w.arena_used);
#if TESSERA_EMU_TSAN
  if (w.failed) {
    // Abandoned fibers never reached tsan_end, so their shared-memory accesses are not
    // ordered before the next block's poisoning: remap the arena (clears TSan shadow).
    munmap(w.arena, kArenaBytes);
    void* m = mmap(nullptr, kArenaBytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED) abort();
    w.arena = static_cast<char*>(m);
    memset(w.arena, config().poison, kArenaBytes);
    w.arena_high = w.arena_used = 0;
  }
#endif
}

void run_blocks(Job& job) {
  Worker& w = worker();
  while (!job.failed.load(std::memory_order_relaxed)) {
    unsigned long long i = job.next.fetch_add(1);
    if (i >= job.nblocks) break;
    unsigned long long b = i;
    if (job.sched.order == Order::Reverse) b = job.nblocks - 1 - i;
    else if (job.sched.order == Order::Random) b = job.perm[i];
    run_block(w, job, b);
    if (w.failed) {
      std::lock_guard<std::mutex> lk(job.err_mu);
      if (!job.failed) job.error = w.error;
      job.failed = true;
    }
  }
  w.job = nullptr;
}

// ---------------------------------------------------------------- worker pool

class Pool {
 public:
  explicit Pool(unsigned n) {
    for (unsigned i = 1; i < n; ++i) threads_.emplace_back([this] { loop(); });
  }
  ~Pool() {
    {
      std::lock_guard<std::mutex> lk(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    for (auto& t : threads_) t.join();
  }
  void run(Job& job) {
    if (threads_.empty() || job.nblocks == 1) {
      run_blocks(job);
      return;
    }
    {
      std::lock_guard<std::mutex> lk(mu_);
      job_ = &job;
      ++gen_;
      active_ = (unsigned)threads_.size();
    }
    cv_.notify_all();
    run_blocks(job);
    std::unique_lock<std::mutex> lk(mu_);
    done_.wait(lk, [this] { return active_ == 0; });
    job_ = nullptr;
  }

 private:
  void loop() {
    unsigned long long seen = 0;
    std::unique_lock<std::mutex> lk(mu_);
    for (;;) {
      cv_.wait(lk, [&] { return stop_ || gen_ != seen; });
      if (stop_) return;
      seen = gen_;
      Job* j = job_;
      lk.unlock();
      run_blocks(*j);
      lk.lock();
      if (--active_ == 0) done_.notify_all();
    }
  }
  std::vector<std::thread> threads_;
  std::mutex mu_;
  std::condition_variable cv_, done_;
  Job* job_ = nullptr;
  unsigned long long gen_ = 0;
  unsigned active_ = 0;
  bool stop_ = false;
};

std::mutex g_launch_mu;
unsigned long long g_launch_no = 0;

}  // namespace

// ================================================================ public API

const char* order_name(Order o) {
  switch (o) {
    case Order::InOrder: return "inorder";
    case Order::Reverse: return "reverse";
    case Order::Random: return "random";
  }
  return "?";
}

Schedule schedule() {
  std::lock_guard<std::mutex> lk(g_sched_mu);
  return Schedule{config().order, config().seed};
}
void set_schedule(Schedule s) {
  std::lock_guard<std::mutex> lk(g_sched_mu);
  config().order = s.order;
  config().seed = s.seed;
}

void launch_raw(const char* kernel, dim3 grid, dim3 block, size_t shared_bytes, void (*entry)(void*), void* ctx) {
  if (t_worker && t_worker->cur) throw KernelError(std::string("tessera-emu: kernel '") + kernel +
                                                   "' launched from inside a kernel (dynamic parallelism is not emulated)");
  const unsigned long long threads = (unsigned long long)block.x * block.y * block.z;
  const unsigned long long nblocks = (unsigned long long)grid.x * grid.y * grid.z;
  char buf[256];
  if (threads == 0 || threads > kMaxThreadsPerBlock || block.z > 64 || nblocks == 0 || grid.y > 65535 || grid.z > 65535) {
    snprintf(buf, sizeof buf, "tessera-emu: kernel '%s': invalid configuration grid (%u,%u,%u) block (%u,%u,%u)", kernel,
             grid.x, grid.y, grid.z, block.x, block.y, block.z);
    throw KernelError(buf);
  }
  if (shared_bytes > kMaxDynamicShared) {
    snprintf(buf, sizeof buf, "tessera-emu: kernel '%s': %zu bytes of dynamic shared memory exceed %zu", kernel,
             shared_bytes, kMaxDynamicShared);
    throw KernelError(buf);
  }
  std::lock_guard<std::mutex> lk(g_launch_mu);  // one launch at a time (a single in-order "device")
  Job job;
  job.kernel = kernel;
  job.grid = grid;
  job.block = block;
  job.shared_bytes = shared_bytes;
  job.entry = entry;
  job.ctx = ctx;
  job.sched = schedule();
  job.launch_no = ++g_launch_no;
  job.nblocks = nblocks;
  if (job.sched.order == Order::Random) {
    job.perm.resize(nblocks);
    for (unsigned long long i = 0; i < nblocks; ++i) job.perm[i] = i;
    unsigned long long s = job.sched.seed + job.launch_no;
    for (unsigned long long i = nblocks; i > 1; --i) std::swap(job.perm[i - 1], job.perm[splitmix(s) % i]);
  }
  static Pool pool(config().threads);
  pool.run(job);
  if (job.failed) throw KernelError(job.error);
}

int block_barrier(int predicate, BarrierOp op) {
  Fiber* f = current("__syncthreads");
  Worker& w = *t_worker;
  f->st = St::Sync;
  f->sync_parity = w.sync_gen & 1;
  tsan_release(&w.tsan_sync[f->sync_parity]);
  ++w.at_sync;
  w.sync_count += predicate != 0;
  if (w.at_sync == w.n) {  // last arrival releases everyone (nobody exited, nobody elsewhere)
    w.sync_result = w.sync_count;
    w.at_sync = w.sync_count = 0;
    ++w.sync_gen;
    unsigned ids[kMaxThreadsPerBlock];
    for (unsigned i = 0; i < w.n; ++i) ids[i] = i;
    push_ordered(w, ids, w.n);
  }
  schedule(w, f, false);
  tsan_acquire(&w.tsan_sync[f->sync_parity]);
  const unsigned count = w.sync_result;  // stable until this thread reaches the next barrier
  switch (op) {
    case BarrierOp::Plain: return 0;
    case BarrierOp::Count: return (int)count;
    case BarrierOp::And: return count == w.n;
    case BarrierOp::Or: return count != 0;
  }
  return 0;
}

unsigned active_mask() {
  Fiber* f = current("__activemask");
  Worker& w = *t_worker;
  unsigned m = 0, base = f->view.warp * 32;
  for (unsigned l = 0; l < 32; ++l)
    if ((w.warp_exist[f->view.warp] >> l & 1) && w.fibers[base + l]->st != St::Exited) m |= 1u << l;
  return m;
}

unsigned long long warp_collective(WarpOp op, unsigned mask, unsigned long long value, int arg, int width,
                                   const char* what) {
  Fiber* f = current(what);
  Worker& w = *t_worker;
  const unsigned lane = f->view.lane, warp = f->view.warp, base = warp * 32;
  const unsigned exist = w.warp_exist[warp];
  const unsigned eff = mask & exist;
  char buf[256];
  if (!(mask >> lane & 1)) {
    snprintf(buf, sizeof buf, "%s(mask=0x%08x) called by lane %u of warp %u, which is not in its own mask", what, mask,
             lane, warp);
    fail_block(w, buf);
  }
  if (op == WarpOp::Wmma && exist != 0xffffffffu) {
    snprintf(buf, sizeof buf, "%s needs a full warp; warp %u has lanes 0x%08x", what, warp, exist);
    fail_block(w, buf);
  }
  if (op <= WarpOp::ShflXor && (width <= 0 || width > 32 || (width & (width - 1)))) {
    snprintf(buf, sizeof buf, "%s: width %d is not a power of two in [1, 32]", what, width);
    fail_block(w, buf);
  }
  for (unsigned m = eff; m; m &= m - 1) {
    unsigned l = __builtin_ctz(m);
    if (w.fibers[base + l]->st == St::Exited) {
      snprintf(buf, sizeof buf, "%s(mask=0x%08x) by lane %u of warp %u names lane %u, which has exited", what, mask,
               lane, warp, l);
      fail_block(w, buf);
    }
  }
  f->st = St::Warp;
  f->op = op;
  f->mask = mask;
  f->val = value;
  f->arg = arg;
  f->width = width;
  f->what = what;
  tsan_release(&f->tsan_arrive);

  bool complete = true;
  for (unsigned m = eff; m && complete; m &= m - 1) {
    const Fiber& g = *w.fibers[base + __builtin_ctz(m)];
    complete = g.st == St::Warp && g.mask == mask;
  }
  if (!complete) {
    schedule(w, f, false);
    tsan_acquire(&f->tsan_depart);
    return f->result;
  }

  // last arrival: check that everybody is at the same collective, compute results
  for (unsigned m = eff; m; m &= m - 1) {
    Fiber& g = *w.fibers[base + __builtin_ctz(m)];
    if (g.op != op || g.width != width) {
      snprintf(buf, sizeof buf, "lanes of warp %u met at different warp collectives: lane %u at %s, lane %u at %s (mask=0x%08x)",
               warp, lane, what, g.view.lane, g.what, mask);
      fail_block(w, buf);
    }
    tsan_acquire(&g.tsan_arrive);
  }
  unsigned long long all = ~0ull, any = 0, sum = 0, umin = ~0ull, umax = 0;
  long long imin = 0x7fffffff, imax = -0x7fffffffll - 1;
  unsigned ballot = 0;
  for (unsigned m = eff; m; m &= m - 1) {
    const unsigned l = __builtin_ctz(m);
    const unsigned long long v = w.fibers[base + l]->val;
    all &= (v != 0) ? ~0ull : 0;
    any |= v != 0;
    if (v) ballot |= 1u << l;
    sum += (unsigned)v;
    umin = std::min(umin, v & 0xffffffffull);
    umax = std::max(umax, v & 0xffffffffull);
    imin = std::min(imin, (long long)(int)(unsigned)v);
    imax = std::max(imax, (long long)(int)(unsigned)v);
  }
  unsigned ids[32], k = 0;
  for (unsigned m = eff; m; m &= m - 1) {
    const unsigned l = __builtin_ctz(m);
    Fiber& g = *w.fibers[base + l];
    const int wd = g.width;
    unsigned src = l;
    switch (op) {
      case WarpOp::ShflIdx: src = (l & ~unsigned(wd - 1)) + ((unsigned)g.arg & unsigned(wd - 1)); break;
      case WarpOp::ShflUp: src = (int)(l % wd) - g.arg >= 0 ? l - g.arg : l; break;
      case WarpOp::ShflDown: src = (l % wd) + (unsigned)g.arg < (unsigned)wd ? l + g.arg : l; break;
      case WarpOp::ShflXor:
        src = l ^ ((unsigned)g.arg & 31u);
        if (src >= (l / wd + 1) * wd) src = l;  // later groups are out of reach: own value
        break;
      default: break;
    }
    switch (op) {
      case WarpOp::ShflIdx:
      case WarpOp::ShflUp:
      case WarpOp::ShflDown:
      case WarpOp::ShflXor: g.result = (eff >> src & 1) ? w.fibers[base + src]->val : ~0ull; break;
      case WarpOp::All: g.result = all ? 1 : 0; break;
      case WarpOp::Any: g.result = any; break;
      case WarpOp::Ballot: g.result = ballot; break;
      case WarpOp::ReduceAddU: g.result = sum & 0xffffffffull; break;
      case WarpOp::ReduceMinU: g.result = umin; break;
      case WarpOp::ReduceMaxU: g.result = umax; break;
      case WarpOp::ReduceMinI: g.result = (unsigned)(int)imin; break;
      case WarpOp::ReduceMaxI: g.result = (unsigned)(int)imax; break;
      case WarpOp::SyncWarp:
      case WarpOp::Wmma: g.result = 0; break;
    }
    tsan_release(&g.tsan_depart);
    if (&g != f || w.job->sched.order == Order::Random) ids[k++] = l;
  }
  for (unsigned i = 0; i < k; ++i) ids[i] += base;
  push_ordered(w, ids, k);
  if (w.job->sched.order == Order::Random) {
    schedule(w, f, false);  // the completing lane queues behind the others in random mode
  } else {
    f->st = St::Running;
  }
  tsan_acquire(&f->tsan_depart);
  return f->result;
}

void* shared_static(SharedSlot* slot, size_t bytes, size_t align, const char* name) {
  current("TESSERA_SHARED");
  Worker& w = *t_worker;
  if (slot->epoch == w.epoch) return slot->ptr;  // another thread of this block got here first
  align = std::max<size_t>(align, 16);
  size_t off = (w.arena_used + align - 1) & ~(align - 1);
  if (off + bytes + kRedZone > kArenaBytes) {
    fail_block(w, std::string("shared memory arena exhausted by TESSERA_SHARED '") + name + "' (" +
                      std::to_string(bytes) + " bytes)");
  }
  slot->epoch = w.epoch;
  slot->ptr = w.arena + off;
  w.arena_used = off + bytes + kRedZone;
#if TESSERA_EMU_ASAN
  ASAN_UNPOISON_MEMORY_REGION(slot->ptr, bytes);
#endif
  return slot->ptr;
}

void* shared_dynamic() {
  current("TESSERA_DYNAMIC_SHARED");
  return t_worker->dyn;
}

void trap(const char* what) {
  Fiber* f = current(what);
  fail_block(*t_worker, std::string(what) + " by thread " + std::to_string(f->id));
}

double measure_switch_ns(long round_trips) {
  // Two contexts ping-pong through switch_to: the worker's stack and one fiber.
  Worker& w = worker();
  struct Bench {
    Worker* w;
    Fiber f;
  };
  static thread_local Bench* bp;
  Bench b;
  b.w = &w;
  bp = &b;
  b.f.stack = stack_alloc(64 * 1024);
  b.f.stack_lo = b.f.stack.lo;
  b.f.stack_size = (size_t)(b.f.stack.hi - b.f.stack.lo);
#if TESSERA_EMU_TSAN
  b.f.tsan = __tsan_create_fiber(0);
#endif
  b.f.sp = stack_prime(
      b.f.stack,
      [](void*) {
#if TESSERA_EMU_ASAN
        __sanitizer_finish_switch_fiber(nullptr, nullptr, nullptr);
#endif
        for (;;) switch_to(*bp->w, &bp->f, nullptr, false);
      },
      nullptr);
  switch_to(w, &w.main, &b.f, false);  // warm up
  auto t0 = std::chrono::steady_clock::now();
  for (long i = 0; i < round_trips; ++i) switch_to(w, &w.main, &b.f, false);
  auto t1 = std::chrono::steady_clock::now();
  w.cur = nullptr;
  t_view = nullptr;
#if TESSERA_EMU_TSAN
  __tsan_destroy_fiber(b.f.tsan);
#endif
  stack_free(b.f.stack);
  return std::chrono::duration<double, std::nano>(t1 - t0).count() / (2.0 * round_trips);
}

}  // namespace tessera_emu

// ================================================================ CUDA runtime subset
// "Device memory" is host memory: enough for tests that allocate, copy, launch and
// read back. Functions are the toolkit's declarations (cuda_runtime_api.h).
namespace {
thread_local cudaError_t g_last_error = cudaSuccess;
}
extern "C" {
cudaError_t cudaMalloc(void** p, size_t n) {
  *p = malloc(n ? n : 1);
  return *p ? cudaSuccess : (g_last_error = cudaErrorMemoryAllocation);
}
cudaError_t cudaMallocHost(void** p, size_t n) { return cudaMalloc(p, n); }
cudaError_t cudaFree(void* p) {
  free(p);
  return cudaSuccess;
}
cudaError_t cudaFreeHost(void* p) { return cudaFree(p); }
cudaError_t cudaMemcpy(void* d, const void* s, size_t n, cudaMemcpyKind) {
  memmove(d, s, n);
  return cudaSuccess;
}
cudaError_t cudaMemcpyAsync(void* d, const void* s, size_t n, cudaMemcpyKind k, cudaStream_t) {
  return cudaMemcpy(d, s, n, k);
}
// __constant__ is an ordinary global here, so a symbol is just its address.
cudaError_t cudaMemcpyToSymbol(const void* sym, const void* src, size_t n, size_t off, cudaMemcpyKind) {
  memcpy(static_cast<char*>(const_cast<void*>(sym)) + off, src, n);
  return cudaSuccess;
}
cudaError_t cudaMemcpyFromSymbol(void* dst, const void* sym, size_t n, size_t off, cudaMemcpyKind) {
  memcpy(dst, static_cast<const char*>(sym) + off, n);
  return cudaSuccess;
}
cudaError_t cudaMemcpyToSymbolAsync(const void* sym, const void* src, size_t n, size_t off, cudaMemcpyKind k,
                                    cudaStream_t) {
  return cudaMemcpyToSymbol(sym, src, n, off, k);
}
cudaError_t cudaMemset(void* d, int v, size_t n) {
  memset(d, v, n);
  return cudaSuccess;
}
cudaError_t cudaMemsetAsync(void* d, int v, size_t n, cudaStream_t) { return cudaMemset(d, v, n); }
cudaError_t cudaDeviceSynchronize(void) { return cudaSuccess; }
cudaError_t cudaStreamSynchronize(cudaStream_t) { return cudaSuccess; }
cudaError_t cudaGetLastError(void) {
  cudaError_t e = g_last_error;
  g_last_error = cudaSuccess;
  return e;
}
cudaError_t cudaPeekAtLastError(void) { return g_last_error; }
const char* cudaGetErrorString(cudaError_t e) {
  switch (e) {
    case cudaSuccess: return "no error";
    case cudaErrorMemoryAllocation: return "out of memory";
    case cudaErrorInvalidValue: return "invalid argument";
    case cudaErrorInvalidDevice: return "invalid device ordinal";
    default: return "tessera-emu error";
  }
}

// One emulated device; streams are tokens (every launch and copy is synchronous).
cudaError_t cudaGetDeviceCount(int* count) {
  *count = 1;
  return cudaSuccess;
}
cudaError_t cudaSetDevice(int device) { return device == 0 ? cudaSuccess : (g_last_error = cudaErrorInvalidDevice); }
cudaError_t cudaGetDevice(int* device) {
  *device = 0;
  return cudaSuccess;
}
cudaError_t cudaGetDeviceProperties(cudaDeviceProp* p, int device) {
  if (device != 0) return g_last_error = cudaErrorInvalidDevice;
  memset(p, 0, sizeof(*p));
  snprintf(p->name, sizeof(p->name), "tessera-emu (CUDA kernels on the CPU)");
  p->totalGlobalMem = size_t(1) << 32;
  p->major = 9;
  p->minor = 0;
  p->multiProcessorCount = 1;
  // (warpSize stays 0 here: the emulator's warpSize macro shadows the field name)
  p->maxThreadsPerBlock = 1024;
  p->sharedMemPerBlock = 48 * 1024;
  return cudaSuccess;
}
cudaError_t cudaMemGetInfo(size_t* free_bytes, size_t* total_bytes) {
  *free_bytes = *total_bytes = size_t(1) << 32;
  return cudaSuccess;
}
cudaError_t cudaStreamCreateWithFlags(cudaStream_t* s, unsigned int) {
  static char token;
  *s = reinterpret_cast<cudaStream_t>(&token);
  return cudaSuccess;
}
cudaError_t cudaStreamCreate(cudaStream_t* s) { return cudaStreamCreateWithFlags(s, 0); }
cudaError_t cudaStreamDestroy(cudaStream_t) { return cudaSuccess; }
}
