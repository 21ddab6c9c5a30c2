// What the TypeScript VAE tests share: the tiny config (x4 spatial, x2 temporal, 4 latent
// channels; a training step takes milliseconds) and worldCheck for the committed models.
import { blockMeans, data, ndarray, psnr, meanClipPsnr, type NdArray, type Vae, type VaeConfig } from '../../lib/index.js';

export const TINY: VaeConfig = {
  latentChannels: 4,
  baseChannels: 8,
  channelMult: [1, 2, 2],
  numResBlocks: 1,
  spatialDown: 4,
  temporalDown: 2,
  normGroups: 4,
};

/** What a committed model does on held-out world clips (see worldCheck). */
export interface WorldCheck {
  x: NdArray;
  mean: NdArray;
  /** PSNR of the model and of the block means: per-clip mean (bench:vae's) and pooled. */
  model: number;
  floor: number;
  pooledModel: number;
  pooledFloor: number;
  /** max |decode(mean, chunks of 2) - decode(mean)|. */
  chunkedDiff: number;
}

/**
 * Encodes and decodes 4 held-out world clips 64x64x17 (sampler seed 2,000,000: never drawn
 * in training) with a committed model, against the block means of its x8 / x4 cells, and
 * decodes again in chunks of 2 latent frames.
 */
export async function worldCheck(vae: Vae): Promise<WorldCheck> {
  const batch = await data
    .clipSampler({ source: 'world', frames: 17, sizes: [[64, 64]], batchSize: 4, imageFraction: 0, seed: 2_000_000 })
    .batch(0);
  const x = ndarray(batch.x.data, batch.x.shape);
  const { mean } = await vae.encode(x);
  const y = await vae.decode(mean);
  const blocks = blockMeans(x, 8, 4);
  const chunked = await vae.decode(mean, { chunkFrames: 2 });
  let chunkedDiff = 0;
  for (let i = 0; i < y.data.length; i++) chunkedDiff = Math.max(chunkedDiff, Math.abs(chunked.data[i]! - y.data[i]!));
  return {
    x, mean, chunkedDiff,
    model: meanClipPsnr(x, y), floor: meanClipPsnr(x, blocks), pooledModel: psnr(x, y), pooledFloor: psnr(x, blocks),
  };
}
