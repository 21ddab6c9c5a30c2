// cuda/emu/emu.h — run CUDA kernels on the CPU (tests in CI, no GPU needed).
//
// How it works
//   A kernel source (.cu) includes cuda/launch.h. Under a host compiler that header
//   includes this file, which
//     * includes the toolkit's own host-compilable headers (cuda_runtime.h for dim3,
//       float4, cudaError_t...; cuda_fp16.h / cuda_bf16.h for __half / __nv_bfloat16),
//     * turns threadIdx/blockIdx/blockDim/gridDim into reads of the *current fiber's*
//       state (one __thread pointer, switched with the fiber),
//     * declares the collectives (__syncthreads, shuffles, votes, __syncwarp, wmma)
//       as calls into the runtime (runtime.cpp), which runs every emulated CUDA thread
//       as a cooperative fiber: a thread runs until it reaches a barrier or warp
//       collective, then the scheduler resumes another thread of the same block;
//     * makes TESSERA_LAUNCH(kernel, grid, block, shared_bytes, stream)(args...) call
//       the runtime's launcher, which runs the grid's blocks on a pool of OS threads
//       (each block entirely on one OS thread, its fibers never migrate).
//   Static shared memory (TESSERA_SHARED*) and dynamic shared memory
//   (TESSERA_DYNAMIC_SHARED) come from a per-OS-thread arena that is filled with a
//   poison pattern (0xFF bytes: NaN for every float type, -1 for integers) before
//   every block, and ASan-poisoned outside the live allocations.
//   Plain `__shared__` is a compile error here on purpose: it could not be poisoned.
//
// Atomics use __atomic builtins (seq_cst), so they are real atomics for blocks that
// run in parallel and for ThreadSanitizer. Everything else a kernel does is ordinary
// C++ on host memory: "device pointers" are host pointers (see cudaMalloc below).
#pragma once

#if defined(__CUDACC__)
#error "cuda/emu/emu.h is for host compilers; nvcc uses the real CUDA runtime (cuda/launch.h)"
#endif
#if !defined(__x86_64__)
#error "tessera CUDA emulator: x86-64 only (it has a hand-written context switch)"
#endif

#include <cuda_runtime.h>
#include <cuda_fp16.h>
#include <cuda_bf16.h>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>

#define TESSERA_EMU 1

// ---- CUDA keywords -----------------------------------------------------------------
// crt/host_defines.h already expands __global__/__device__/__host__/__constant__ to
// nothing for host compilers; restate it so the contract is visible here.
#undef __global__
#undef __device__
#undef __host__
#undef __constant__
#undef __shared__
#define __global__
#define __device__
#define __host__
#define __constant__
#define __shared__                                                                      \
  _Pragma("GCC error \"tessera-emu: plain __shared__ is not supported; use TESSERA_SHARED / TESSERA_SHARED_2D / TESSERA_SHARED_VAR / TESSERA_DYNAMIC_SHARED (cuda/emu/README.md)\"")
#ifndef __launch_bounds__
#define __launch_bounds__(...)
#endif
#ifndef __grid_constant__
#define __grid_constant__
#endif
// __forceinline__, __align__, __restrict__ come from host_defines.h / g++ itself.

namespace tessera_emu {

// The current emulated thread's built-in variables (valid only inside a kernel).
struct ThreadView {
  uint3 thread_idx;
  uint3 block_idx;
  dim3 block_dim;
  dim3 grid_dim;
  unsigned lane;  // linear thread index % 32
  unsigned warp;  // linear thread index / 32
};
extern __thread const ThreadView* t_view;

// Thrown by TESSERA_LAUNCH when a kernel deadlocks, misuses a collective, exceeds
// launch limits, or throws; the message names the kernel, block and thread states.
struct KernelError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// ---- runtime entry points (runtime.cpp) ----
enum class WarpOp : unsigned char {
  ShflIdx, ShflUp, ShflDown, ShflXor, All, Any, Ballot, SyncWarp, Wmma,
  ReduceAddU, ReduceMinU, ReduceMaxU, ReduceMinI, ReduceMaxI,
};
enum class BarrierOp : unsigned char { Plain, Count, And, Or };

int block_barrier(int predicate, BarrierOp op);
unsigned long long warp_collective(WarpOp op, unsigned mask, unsigned long long value,
                                   int arg, int width, const char* what);
unsigned active_mask();
struct SharedSlot {
  unsigned long long epoch;
  void* ptr;
};
void* shared_static(SharedSlot* slot, size_t bytes, size_t align, const char* name);
void* shared_dynamic();
[[noreturn]] void trap(const char* what);
void launch_raw(const char* kernel, dim3 grid, dim3 block, size_t shared_bytes,
                void (*entry)(void*), void* ctx);

// Scheduling: the order in which a block's threads are resumed at the start, after
// every __syncthreads and after every warp collective. Initialised from
// TESSERA_EMU_ORDER=inorder|reverse|random and TESSERA_EMU_SEED; tests may change it.
enum class Order { InOrder, Reverse, Random };
struct Schedule {
  Order order;
  unsigned long long seed;
};
Schedule schedule();
void set_schedule(Schedule s);
const char* order_name(Order o);

// Diagnostics for benchmarks: nanoseconds per fiber switch (ping-pong of two fibers
// through the same path the scheduler uses).
double measure_switch_ns(long round_trips);

// ---- launch plumbing ----
template <class... P>
struct Launch {
  void (*kernel)(P...);
  const char* name;
  dim3 grid, block;
  size_t shared_bytes;

  template <class... A>
  void operator()(A&&... a) const {
    static_assert(sizeof...(A) == sizeof...(P), "TESSERA_LAUNCH: wrong number of kernel arguments");
    struct Ctx {
      void (*k)(P...);
      std::tuple<std::decay_t<P>...> args;
    };
    Ctx c{kernel, std::tuple<std::decay_t<P>...>(std::forward<A>(a)...)};
    launch_raw(name, grid, block, shared_bytes,
               [](void* p) {
                 auto* c = static_cast<Ctx*>(p);
                 auto args = c->args;  // every thread gets its own copy of the parameters
                 std::apply(c->k, args);
               },
               &c);
  }
};
template <class... P>
Launch<P...> make_launch(void (*k)(P...), const char* name, dim3 grid, dim3 block, size_t shared_bytes) {
  return Launch<P...>{k, name, grid, block, shared_bytes};
}

template <class T>
inline unsigned long long to_bits(T v) {
  static_assert(std::is_trivially_copyable<T>::value && sizeof(T) <= 8,
                "warp shuffles move values of at most 8 bytes");
  unsigned long long b = 0;
  std::memcpy(&b, &v, sizeof(T));
  return b;
}
template <class T>
inline T from_bits(unsigned long long b, T like) {
  std::memcpy(static_cast<void*>(&like), &b, sizeof(T));
  return like;
}

template <class T, class U, class F>
inline T cas_loop(T* addr, F f) {  // atomic read-modify-write of a non-integer T through its bits
  static_assert(sizeof(T) == sizeof(U), "cas_loop size");
  U* p = reinterpret_cast<U*>(addr);
  U old = __atomic_load_n(p, __ATOMIC_SEQ_CST);
  for (;;) {
    T o;
    std::memcpy(static_cast<void*>(&o), &old, sizeof o);
    T n = f(o);
    U nb;
    std::memcpy(&nb, static_cast<const void*>(&n), sizeof nb);
    if (__atomic_compare_exchange_n(p, &old, nb, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST)) return o;
  }
}

}  // namespace tessera_emu

// ---- built-in variables ----
#define threadIdx (::tessera_emu::t_view->thread_idx)
#define blockIdx (::tessera_emu::t_view->block_idx)
#define blockDim (::tessera_emu::t_view->block_dim)
#define gridDim (::tessera_emu::t_view->grid_dim)
#define warpSize 32

// ---- launch and shared memory macros (see cuda/launch.h for the nvcc side) ----
#define TESSERA_LAUNCH(kernel, grid, block, shared_bytes, stream) \
  ((void)(stream), ::tessera_emu::make_launch(kernel, #kernel, dim3(grid), dim3(block), (size_t)(shared_bytes)))

#define TESSERA_SHARED(T, name, count)                                                  \
  static __thread ::tessera_emu::SharedSlot tessera_slot_##name;                         \
  T(&name)[count] = *reinterpret_cast<T(*)[count]>(                                      \
      ::tessera_emu::shared_static(&tessera_slot_##name, sizeof(T) * (count), alignof(T), #name))
#define TESSERA_SHARED_2D(T, name, rows, cols)                                          \
  static __thread ::tessera_emu::SharedSlot tessera_slot_##name;                         \
  T(&name)[rows][cols] = *reinterpret_cast<T(*)[rows][cols]>(                            \
      ::tessera_emu::shared_static(&tessera_slot_##name, sizeof(T) * (rows) * (cols), alignof(T), #name))
#define TESSERA_SHARED_VAR(T, name)                                                     \
  static __thread ::tessera_emu::SharedSlot tessera_slot_##name;                         \
  T& name = *reinterpret_cast<T*>(                                                       \
      ::tessera_emu::shared_static(&tessera_slot_##name, sizeof(T), alignof(T), #name))
#define TESSERA_DYNAMIC_SHARED(T, name) T* name = reinterpret_cast<T*>(::tessera_emu::shared_dynamic())

// ---- barriers, warp collectives ----
inline void __syncthreads() { ::tessera_emu::block_barrier(1, ::tessera_emu::BarrierOp::Plain); }
inline int __syncthreads_count(int p) { return ::tessera_emu::block_barrier(p, ::tessera_emu::BarrierOp::Count); }
inline int __syncthreads_and(int p) { return ::tessera_emu::block_barrier(p, ::tessera_emu::BarrierOp::And); }
inline int __syncthreads_or(int p) { return ::tessera_emu::block_barrier(p, ::tessera_emu::BarrierOp::Or); }
inline void __syncwarp(unsigned mask = 0xffffffffu) {
  ::tessera_emu::warp_collective(::tessera_emu::WarpOp::SyncWarp, mask, 0, 0, 32, "__syncwarp");
}
inline unsigned __activemask() { return ::tessera_emu::active_mask(); }

template <class T>
inline T __shfl_sync(unsigned mask, T var, int src_lane, int width = 32) {
  return ::tessera_emu::from_bits(::tessera_emu::warp_collective(::tessera_emu::WarpOp::ShflIdx, mask,
                                                                 ::tessera_emu::to_bits(var), src_lane, width, "__shfl_sync"), var);
}
template <class T>
inline T __shfl_up_sync(unsigned mask, T var, unsigned delta, int width = 32) {
  return ::tessera_emu::from_bits(::tessera_emu::warp_collective(::tessera_emu::WarpOp::ShflUp, mask,
                                                                 ::tessera_emu::to_bits(var), (int)delta, width, "__shfl_up_sync"), var);
}
template <class T>
inline T __shfl_down_sync(unsigned mask, T var, unsigned delta, int width = 32) {
  return ::tessera_emu::from_bits(::tessera_emu::warp_collective(::tessera_emu::WarpOp::ShflDown, mask,
                                                                 ::tessera_emu::to_bits(var), (int)delta, width, "__shfl_down_sync"), var);
}
template <class T>
inline T __shfl_xor_sync(unsigned mask, T var, int lane_mask, int width = 32) {
  return ::tessera_emu::from_bits(::tessera_emu::warp_collective(::tessera_emu::WarpOp::ShflXor, mask,
                                                                 ::tessera_emu::to_bits(var), lane_mask, width, "__shfl_xor_sync"), var);
}
inline int __all_sync(unsigned mask, int p) {
  return (int)::tessera_emu::warp_collective(::tessera_emu::WarpOp::All, mask, p != 0, 0, 32, "__all_sync");
}
inline int __any_sync(unsigned mask, int p) {
  return (int)::tessera_emu::warp_collective(::tessera_emu::WarpOp::Any, mask, p != 0, 0, 32, "__any_sync");
}
inline unsigned __ballot_sync(unsigned mask, int p) {
  return (unsigned)::tessera_emu::warp_collective(::tessera_emu::WarpOp::Ballot, mask, p != 0, 0, 32, "__ballot_sync");
}
inline unsigned __reduce_add_sync(unsigned mask, unsigned v) {
  return (unsigned)::tessera_emu::warp_collective(::tessera_emu::WarpOp::ReduceAddU, mask, v, 0, 32, "__reduce_add_sync");
}
inline int __reduce_add_sync(unsigned mask, int v) { return (int)__reduce_add_sync(mask, (unsigned)v); }
inline unsigned __reduce_min_sync(unsigned mask, unsigned v) {
  return (unsigned)::tessera_emu::warp_collective(::tessera_emu::WarpOp::ReduceMinU, mask, v, 0, 32, "__reduce_min_sync");
}
inline unsigned __reduce_max_sync(unsigned mask, unsigned v) {
  return (unsigned)::tessera_emu::warp_collective(::tessera_emu::WarpOp::ReduceMaxU, mask, v, 0, 32, "__reduce_max_sync");
}
inline int __reduce_min_sync(unsigned mask, int v) {
  return (int)::tessera_emu::warp_collective(::tessera_emu::WarpOp::ReduceMinI, mask, (unsigned)v, 0, 32, "__reduce_min_sync");
}
inline int __reduce_max_sync(unsigned mask, int v) {
  return (int)::tessera_emu::warp_collective(::tessera_emu::WarpOp::ReduceMaxI, mask, (unsigned)v, 0, 32, "__reduce_max_sync");
}

// ---- memory ----
inline void __threadfence() { __atomic_thread_fence(__ATOMIC_SEQ_CST); }
inline void __threadfence_block() { __atomic_thread_fence(__ATOMIC_SEQ_CST); }
inline void __threadfence_system() { __atomic_thread_fence(__ATOMIC_SEQ_CST); }
template <class T>
inline T __ldg(const T* p) { return *p; }
template <class T>
inline T __ldcs(const T* p) { return *p; }
template <class T>
inline void __stcs(T* p, T v) { *p = v; }
inline void __nanosleep(unsigned) {}
[[noreturn]] inline void __trap() { ::tessera_emu::trap("__trap()"); }
inline long long clock64() { return (long long)__builtin_ia32_rdtsc(); }

// ---- atomics (all seq_cst __atomic builtins; return the old value) ----
#define TESSERA_EMU_INT_ATOMICS(T)                                                              \
  inline T atomicAdd(T* a, T v) { return __atomic_fetch_add(a, v, __ATOMIC_SEQ_CST); }          \
  inline T atomicSub(T* a, T v) { return __atomic_fetch_sub(a, v, __ATOMIC_SEQ_CST); }          \
  inline T atomicAnd(T* a, T v) { return __atomic_fetch_and(a, v, __ATOMIC_SEQ_CST); }          \
  inline T atomicOr(T* a, T v) { return __atomic_fetch_or(a, v, __ATOMIC_SEQ_CST); }            \
  inline T atomicXor(T* a, T v) { return __atomic_fetch_xor(a, v, __ATOMIC_SEQ_CST); }          \
  inline T atomicExch(T* a, T v) { return __atomic_exchange_n(a, v, __ATOMIC_SEQ_CST); }        \
  inline T atomicCAS(T* a, T cmp, T v) {                                                        \
    __atomic_compare_exchange_n(a, &cmp, v, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);         \
    return cmp;                                                                                 \
  }                                                                                             \
  inline T atomicMax(T* a, T v) {                                                               \
    T old = __atomic_load_n(a, __ATOMIC_SEQ_CST);                                               \
    while (old < v && !__atomic_compare_exchange_n(a, &old, v, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST)) {} \
    return old;                                                                                 \
  }                                                                                             \
  inline T atomicMin(T* a, T v) {                                                               \
    T old = __atomic_load_n(a, __ATOMIC_SEQ_CST);                                               \
    while (old > v && !__atomic_compare_exchange_n(a, &old, v, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST)) {} \
    return old;                                                                                 \
  }
TESSERA_EMU_INT_ATOMICS(int)
TESSERA_EMU_INT_ATOMICS(unsigned int)
TESSERA_EMU_INT_ATOMICS(unsigned long long)
TESSERA_EMU_INT_ATOMICS(long long)
#undef TESSERA_EMU_INT_ATOMICS
inline unsigned short atomicCAS(unsigned short* a, unsigned short cmp, unsigned short v) {
  __atomic_compare_exchange_n(a, &cmp, v, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
  return cmp;
}
inline unsigned atomicInc(unsigned* a, unsigned lim) {
  return ::tessera_emu::cas_loop<unsigned, unsigned>(a, [lim](unsigned o) { return o >= lim ? 0u : o + 1; });
}
inline unsigned atomicDec(unsigned* a, unsigned lim) {
  return ::tessera_emu::cas_loop<unsigned, unsigned>(a, [lim](unsigned o) { return (o == 0 || o > lim) ? lim : o - 1; });
}
inline float atomicAdd(float* a, float v) {
  return ::tessera_emu::cas_loop<float, unsigned>(a, [v](float o) { return o + v; });
}
inline double atomicAdd(double* a, double v) {
  return ::tessera_emu::cas_loop<double, unsigned long long>(a, [v](double o) { return o + v; });
}
inline __half atomicAdd(__half* a, __half v) {
  return ::tessera_emu::cas_loop<__half, unsigned short>(a, [v](__half o) { return __float2half(__half2float(o) + __half2float(v)); });
}
inline __nv_bfloat16 atomicAdd(__nv_bfloat16* a, __nv_bfloat16 v) {
  return ::tessera_emu::cas_loop<__nv_bfloat16, unsigned short>(
      a, [v](__nv_bfloat16 o) { return __float2bfloat16(__bfloat162float(o) + __bfloat162float(v)); });
}
inline float atomicExch(float* a, float v) {
  return ::tessera_emu::cas_loop<float, unsigned>(a, [v](float) { return v; });
}
inline float atomicMax(float* a, float v) {  // not in CUDA for float; kept for completeness
  return ::tessera_emu::cas_loop<float, unsigned>(a, [v](float o) { return o < v ? v : o; });
}

// ---- math intrinsics (host equivalents; fast-math variants are exact here) ----
inline float __expf(float x) { return expf(x); }
inline float __exp10f(float x) { return exp10f(x); }
inline float __logf(float x) { return logf(x); }
inline float __log2f(float x) { return log2f(x); }
inline float __log10f(float x) { return log10f(x); }
inline float __sinf(float x) { return sinf(x); }
inline float __cosf(float x) { return cosf(x); }
inline float __tanf(float x) { return tanf(x); }
inline void __sincosf(float x, float* s, float* c) { sincosf(x, s, c); }
inline float __powf(float a, float b) { return powf(a, b); }
inline float __fdividef(float a, float b) { return a / b; }
inline float __frcp_rn(float x) { return 1.0f / x; }
inline float __fsqrt_rn(float x) { return sqrtf(x); }
inline float rsqrtf(float x) { return 1.0f / sqrtf(x); }
inline double rsqrt(double x) { return 1.0 / sqrt(x); }
inline float __saturatef(float x) { return x >= 1.0f ? 1.0f : (x > 0.0f ? x : 0.0f); }  // NaN -> 0
inline float __fadd_rn(float a, float b) { return a + b; }
inline float __fsub_rn(float a, float b) { return a - b; }
inline float __fmul_rn(float a, float b) { return a * b; }
inline float __fdiv_rn(float a, float b) { return a / b; }
inline float __fmaf_rn(float a, float b, float c) { return fmaf(a, b, c); }
inline double __fma_rn(double a, double b, double c) { return fma(a, b, c); }
inline int __float2int_rn(float x) { return (int)nearbyintf(x); }
inline int __float2int_rz(float x) { return (int)x; }
inline int __float2int_rd(float x) { return (int)floorf(x); }
inline int __float2int_ru(float x) { return (int)ceilf(x); }
inline unsigned __float2uint_rn(float x) { return (unsigned)nearbyintf(x); }
inline float __int2float_rn(int x) { return (float)x; }
inline int __float_as_int(float x) { int i; std::memcpy(&i, &x, 4); return i; }
inline unsigned __float_as_uint(float x) { unsigned i; std::memcpy(&i, &x, 4); return i; }
inline float __int_as_float(int i) { float x; std::memcpy(&x, &i, 4); return x; }
inline float __uint_as_float(unsigned i) { float x; std::memcpy(&x, &i, 4); return x; }
inline long long __double_as_longlong(double x) { long long i; std::memcpy(&i, &x, 8); return i; }
inline double __longlong_as_double(long long i) { double x; std::memcpy(&x, &i, 8); return x; }
inline int __popc(unsigned x) { return __builtin_popcount(x); }
inline int __popcll(unsigned long long x) { return __builtin_popcountll(x); }
inline int __clz(int x) { return x == 0 ? 32 : __builtin_clz((unsigned)x); }
inline int __clzll(long long x) { return x == 0 ? 64 : __builtin_clzll((unsigned long long)x); }
inline int __ffs(int x) { return __builtin_ffs(x); }
inline int __ffsll(long long x) { return __builtin_ffsll(x); }
inline unsigned __brev(unsigned x) {
  x = ((x >> 1) & 0x55555555u) | ((x & 0x55555555u) << 1);
  x = ((x >> 2) & 0x33333333u) | ((x & 0x33333333u) << 2);
  x = ((x >> 4) & 0x0F0F0F0Fu) | ((x & 0x0F0F0F0Fu) << 4);
  return __builtin_bswap32(x);
}
inline int __mul24(int a, int b) { return (int)((long long)((a << 8) >> 8) * ((b << 8) >> 8)); }
inline unsigned __umul24(unsigned a, unsigned b) { return (a & 0xFFFFFFu) * (b & 0xFFFFFFu); }
inline int __mulhi(int a, int b) { return (int)(((long long)a * b) >> 32); }
inline unsigned __umulhi(unsigned a, unsigned b) { return (unsigned)(((unsigned long long)a * b) >> 32); }
inline unsigned long long __umul64hi(unsigned long long a, unsigned long long b) {
  return (unsigned long long)(((unsigned __int128)a * b) >> 64);
}
inline unsigned __byte_perm(unsigned x, unsigned y, unsigned s) {
  unsigned long long v = ((unsigned long long)y << 32) | x;
  unsigned r = 0;
  for (int i = 0; i < 4; ++i) r |= (unsigned)((v >> (8 * ((s >> (4 * i)) & 7))) & 0xFF) << (8 * i);
  return r;
}
inline int min(int a, int b) { return a < b ? a : b; }
inline int max(int a, int b) { return a > b ? a : b; }
inline unsigned min(unsigned a, unsigned b) { return a < b ? a : b; }
inline unsigned max(unsigned a, unsigned b) { return a > b ? a : b; }
inline long long min(long long a, long long b) { return a < b ? a : b; }
inline long long max(long long a, long long b) { return a > b ? a : b; }
inline unsigned long long min(unsigned long long a, unsigned long long b) { return a < b ? a : b; }
inline unsigned long long max(unsigned long long a, unsigned long long b) { return a > b ? a : b; }
inline float min(float a, float b) { return fminf(a, b); }
inline float max(float a, float b) { return fmaxf(a, b); }
inline double min(double a, double b) { return fmin(a, b); }
inline double max(double a, double b) { return fmax(a, b); }

// ---- half / bfloat16: intrinsics the toolkit declares device-only ----
inline __half __hfma(__half a, __half b, __half c) {
  return __float2half(fmaf(__half2float(a), __half2float(b), __half2float(c)));
}
inline __half2 __hfma2(__half2 a, __half2 b, __half2 c) {
  return __halves2half2(__hfma(__low2half(a), __low2half(b), __low2half(c)),
                        __hfma(__high2half(a), __high2half(b), __high2half(c)));
}
inline __nv_bfloat16 __hfma(__nv_bfloat16 a, __nv_bfloat16 b, __nv_bfloat16 c) {
  return __float2bfloat16(fmaf(__bfloat162float(a), __bfloat162float(b), __bfloat162float(c)));
}
inline __nv_bfloat162 __hfma2(__nv_bfloat162 a, __nv_bfloat162 b, __nv_bfloat162 c) {
  return __halves2bfloat162(__hfma(__low2bfloat16(a), __low2bfloat16(b), __low2bfloat16(c)),
                            __hfma(__high2bfloat16(a), __high2bfloat16(b), __high2bfloat16(c)));
}
inline __half hexp(__half x) { return __float2half(expf(__half2float(x))); }
inline __half hsqrt(__half x) { return __float2half(sqrtf(__half2float(x))); }
inline __half hrsqrt(__half x) { return __float2half(1.0f / sqrtf(__half2float(x))); }
inline __nv_bfloat16 hexp(__nv_bfloat16 x) { return __float2bfloat16(expf(__bfloat162float(x))); }
inline __nv_bfloat16 hsqrt(__nv_bfloat16 x) { return __float2bfloat16(sqrtf(__bfloat162float(x))); }
inline __nv_bfloat16 hrsqrt(__nv_bfloat16 x) { return __float2bfloat16(1.0f / sqrtf(__bfloat162float(x))); }
inline int __half2int_rn(__half x) { return (int)nearbyintf(__half2float(x)); }

#include "wmma.h"
