// The tiny VAE the TypeScript VAE tests share: x4 spatial, x2 temporal, 4 latent
// channels; a training step takes milliseconds.
import type { VaeConfig } from '../../lib/index.js';

export const TINY: VaeConfig = {
  latentChannels: 4,
  baseChannels: 8,
  channelMult: [1, 2, 2],
  numResBlocks: 1,
  spatialDown: 4,
  temporalDown: 2,
  normGroups: 4,
};
