// Which compute backends this process can use, and why one is off.
//
// The CUDA backend is a separate library, libtessera_cuda.so (built by
// `npm run build:cuda` where nvcc exists, or shipped next to a prebuild). It is
// loaded the first time CUDA is asked about, only then, and used only when the
// driver reports a device; otherwise everything runs on the CPU with no error.
import { existsSync } from 'node:fs';
import { join } from 'node:path';

import { native, packageRoot, type NativeCudaStatus } from './native.js';

export type CudaOffReason = 'disabled' | 'no library' | 'no driver' | 'no device';

export interface CudaDevice {
  name: string;
  /** bytes */
  totalMemory: number;
  /** e.g. "9.0" */
  computeCapability: string;
  multiprocessors: number;
}

export interface BackendInfo {
  name: 'cpu' | 'cuda';
  available: boolean;
  /** Why the backend is off, when it is: one of CudaOffReason for CUDA. */
  reason?: CudaOffReason;
  /** The underlying message (dlopen's or CUDA's), or where the library was looked for. */
  detail?: string;
  /** CPU: the instruction set kernels use and the thread count. */
  isa?: string;
  threads?: number;
  /** CUDA: the library in use, its devices, and whether it is the CPU emulator (tests). */
  library?: string;
  devices?: CudaDevice[];
  emulated?: boolean;
}

/**
 * Where the CUDA library may be, in order: TESSERA_CUDA_LIBRARY (a path), a
 * cmake-js build (`npm run build:cuda` -> build-cuda/), a prebuild folder.
 */
export function cudaLibraryCandidates(): string[] {
  const env = process.env.TESSERA_CUDA_LIBRARY;
  if (env) return [env];
  const root = packageRoot();
  const candidates = [
    join(root, 'build-cuda', 'Release', 'libtessera_cuda.so'),
    join(root, 'build-cuda', 'libtessera_cuda.so'),
    join(root, 'prebuilds', `${process.platform}-${process.arch}`, 'libtessera_cuda.so'),
  ];
  // Only existing paths: a missing file is reported as "no library" by the native side too.
  const present = candidates.filter((p) => existsSync(p));
  return present.length ? present : [];
}

let status: NativeCudaStatus | undefined;

/** Loads the CUDA backend if it is not loaded yet; returns its status. */
export function cudaStatus(): NativeCudaStatus {
  if (status?.available) return status;
  status = native().cudaLoad(cudaLibraryCandidates(), status !== undefined);
  return status;
}

/** The compute backends and, for each that is off, why. */
export function backends(): BackendInfo[] {
  const addon = native();
  const cuda = cudaStatus();
  const cudaInfo: BackendInfo = cuda.available
    ? { name: 'cuda', available: true, library: cuda.library, devices: cuda.devices, emulated: cuda.emulated }
    : { name: 'cuda', available: false, reason: cuda.reason as CudaOffReason, detail: cuda.detail };
  if (!cuda.available && cuda.library) cudaInfo.library = cuda.library;
  return [{ name: 'cpu', available: true, isa: addon.cpuIsa().active, threads: addon.numThreads() }, cudaInfo];
}

/** Bytes of CUDA memory held by tensors and by the caching allocator's free lists. */
export function cudaMemory(): { inUse: number; cached: number; peakInUse: number; deviceAllocs: number } {
  return native().cudaMemory();
}

/** Returns the caching allocator's free blocks to the driver (cudaFree). */
export function cudaEmptyCache(): void {
  native().cudaEmptyCache();
}
