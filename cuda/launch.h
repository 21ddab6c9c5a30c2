// cuda/launch.h — the one header every kernel file in cuda/ includes.
//
// It makes the same .cu source compile two ways:
//   * under nvcc (__CUDACC__): the CUDA runtime, `__shared__`, `<<<>>>`;
//   * under a host compiler (g++/clang, CI without a GPU): cuda/emu/emu.h, which
//     runs every block's threads as cooperative fibers on the CPU.
// A third mode is for host-only code that calls the launchers of an nvcc-built
// library on a real GPU (the parity tests and benchmarks of benchmarks/gpu/run.sh):
// with TESSERA_CUDA_HOST defined, a host compiler gets the real CUDA runtime
// headers and no emulator (no kernels may be defined in such a file).
//
// Rules for kernels (see cuda/emu/README.md):
//   * launch only through TESSERA_LAUNCH(kernel, grid, block, shared_bytes, stream)(args...);
//     a template kernel with commas in its name goes in parentheses:
//     TESSERA_LAUNCH((k<float, 128>), grid, block, 0, stream)(args...);
//   * static shared memory only through TESSERA_SHARED / TESSERA_SHARED_2D /
//     TESSERA_SHARED_VAR, dynamic shared memory only through TESSERA_DYNAMIC_SHARED;
//   * inline PTX and Hopper-only code only inside `#if TESSERA_SM90` with a portable
//     path in the `#else` branch (the emulator always takes the portable path).
#pragma once

#if defined(__CUDACC__)

#include <cuda_runtime.h>
#include <cuda_fp16.h>
#include <cuda_bf16.h>
#include <mma.h>  // nvcuda::wmma (emulated in cuda/emu/wmma.h)

#define TESSERA_EMU 0

// kernel<<<grid, block, shared_bytes, stream>>>(args...)
#define TESSERA_LAUNCH(kernel, grid, block, shared_bytes, stream) \
  kernel<<<(grid), (block), (shared_bytes), (stream)>>>

#define TESSERA_SHARED(T, name, count) __shared__ T name[count]
#define TESSERA_SHARED_2D(T, name, rows, cols) __shared__ T name[rows][cols]
#define TESSERA_SHARED_VAR(T, name) __shared__ T name
// One extern array for the whole translation unit (nvcc rejects the same extern
// __shared__ name declared with different types), reinterpreted per kernel.
#define TESSERA_DYNAMIC_SHARED(T, name)                                           \
  extern __shared__ __align__(16) unsigned char tessera_dynamic_smem_[];         \
  T* name = reinterpret_cast<T*>(tessera_dynamic_smem_)

// True only in the device pass for sm_90+ (Hopper: TMA, wgmma, clusters, inline PTX).
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
#define TESSERA_SM90 1
#else
#define TESSERA_SM90 0
#endif

#elif defined(TESSERA_CUDA_HOST)  // host code against the real runtime (GPU machines)

#include <cuda_runtime.h>
#include <cuda_fp16.h>
#include <cuda_bf16.h>

#define TESSERA_EMU 0
#define TESSERA_SM90 0

#else  // host compiler: CPU emulation

#include "emu/emu.h"  // defines TESSERA_EMU 1, TESSERA_LAUNCH, TESSERA_SHARED...
#define TESSERA_SM90 0

#endif
