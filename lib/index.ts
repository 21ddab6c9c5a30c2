// tessera: video generation as the Sora technical report describes it.
export * as ops from './ops.js';
export type { NdArray } from './ops.js';
export { ndarray } from './ops.js';
export { backends, cudaMemory, cudaEmptyCache, type BackendInfo, type CudaDevice, type CudaOffReason } from './backends.js';
export * as world from './world/index.js';
