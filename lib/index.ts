// tessera: video generation as the Sora technical report describes it.
export * as ops from './ops.js';
export type { NdArray } from './ops.js';
export { ndarray } from './ops.js';
export { backends, cudaMemory, cudaEmptyCache, type BackendInfo, type CudaDevice, type CudaOffReason } from './backends.js';
export * as world from './world/index.js';
export * as data from './data/index.js';
export {
  Vae,
  VaeTrainer,
  SMALL_VAE_CONFIG,
  VAE_STREAM_DEFAULTS,
  VAE_FILE_DTYPES,
  type VaeConfig,
  type VaeFileDtype,
  type VaeTrainOptions,
  type VaeStepStats,
  type VaeInfo,
  type VaeDecodeOptions,
  type VaeEncodeOptions,
  type VaeDecodeSummary,
  type VaeFramesCallback,
  type VaeFramesInfo,
  type VaeTileOption,
  type VaeShortcutFit,
} from './vae.js';
export { saveLatent, loadLatent, serializeLatent, parseLatent, LATENT_FORMAT, type LatentFile } from './latent.js';
export { framesToRgb, videoWriter, GifWriter, RawRgbWriter, type VideoWriter } from './video-writer.js';
export { trainVae, type TrainVaeOptions, type TrainVaeResult } from './vae-train.js';
export { blockMeans, meanClipPsnr, psnr, ssim } from './metrics.js';
