import { native } from './native.js';

export interface BackendInfo {
  name: 'cpu' | 'cuda';
  available: boolean;
  /** Why the backend is off, when it is. */
  reason?: string;
  /** CPU: the instruction set kernels use and the thread count. */
  isa?: string;
  threads?: number;
}

/** The compute backends and, for each that is off, why. */
export function backends(): BackendInfo[] {
  const addon = native();
  return [
    { name: 'cpu', available: true, isa: addon.cpuIsa().active, threads: addon.numThreads() },
    { name: 'cuda', available: false, reason: 'no library: this build of tessera has no CUDA backend (it is built by `npm run build:cuda` where nvcc exists)' },
  ];
}
