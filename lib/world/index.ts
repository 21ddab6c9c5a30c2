export { Rng, mixSeed } from './rng.js';
export * from './palette.js';
export * from './types.js';
export { sampleScene, WRAP_MARGIN, type SceneConstraints, type ObjectConstraint, type Direction } from './scene.js';
export { simulate, occluderScreenX } from './physics.js';
export { renderFrames } from './render.js';
export { detailedCaption, shortCaption } from './caption.js';
export { parsePrompt, type ParsedPrompt, type ParsedObject } from './prompt.js';
export {
  TemplateExpander,
  FunctionExpander,
  expandPrompt,
  setDefaultExpander,
  getDefaultExpander,
  type PromptExpander,
  type ExpandedPrompt,
  type ExpandOptions,
} from './expander.js';
export * from './dataset.js';
export { encodeGif, writeGif, writeFileAtomic } from './gif.js';
export * from './eval.js';
