// tessera's training data: clips [3, T, H, W] float32 in [-1, 1] (an image is T = 1) from the
// procedural world, Fashion-MNIST and user folders of images and videos, and a sampler of
// batches [B, 3, T, H, W] of varied sizes for the video VAE. See docs/DATA.md.
export {
  type Clip,
  type ClipMeta,
  type DataError,
  type DataErrorCode,
  rgbClip,
  rgbToChannelsFirst,
  resizePlane,
} from './common.js';
export { parseIdx, readIdx, encodeIdx, type IdxArray, type IdxData, type IdxType, type IdxExpectation } from './idx.js';
export {
  loadFashionMnist,
  fashionMnistClip,
  FASHION_MNIST_ROOT,
  FASHION_MNIST_CLASSES,
  type FashionMnist,
  type FashionMnistOptions,
  type FashionMnistSplit,
  type FashionClipOptions,
} from './fashion-mnist.js';
export {
  listMedia,
  mediaKind,
  probeImage,
  probeVideo,
  loadImage,
  loadVideo,
  folderClips,
  cropGeometry,
  IMAGE_EXTENSIONS,
  VIDEO_EXTENSIONS,
  type MediaFile,
  type MediaKind,
  type ListMediaOptions,
  type ResizeOptions,
  type Fit,
  type Geometry,
  type ImageInfo,
  type VideoInfo,
  type FfmpegOptions,
  type LoadVideoOptions,
  type FolderClipOptions,
} from './folder.js';
export {
  clipSampler,
  DEFAULT_CLIP_SIZES,
  type ClipSampler,
  type ClipSamplerOptions,
  type ClipBatch,
  type ResolvedClipSamplerOptions,
  type SourceName,
  type WeightedSource,
} from './clips.js';
