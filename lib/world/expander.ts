import { Rng } from './rng.js';
import { parsePrompt } from './prompt.js';
import { sampleScene } from './scene.js';
import { simulate } from './physics.js';
import { detailedCaption, shortCaption } from './caption.js';
import type { SceneSpec, WorldState } from './types.js';

export interface ExpandOptions {
  seed?: number;
  width?: number;
  height?: number;
  numFrames?: number;
  fps?: number;
}

export interface ExpandedPrompt {
  /** The detailed caption, in the training captions' style. */
  caption: string;
  /** The scene the caption describes, when the expander knows it (the template expander does; a language model need not). */
  scene?: SceneSpec;
  state?: WorldState;
}

/**
 * Turns a short user prompt into a detailed caption like the training captions (the report uses a
 * language model for this). Pluggable: anything with this shape can replace the default.
 */
export interface PromptExpander {
  expand(prompt: string, opts?: ExpandOptions): ExpandedPrompt | Promise<ExpandedPrompt>;
}

/**
 * The default expander: parses what the prompt pins down (objects, colors, shapes, sizes, motion,
 * background, occluder, camera), samples everything else, simulates the result and captions it.
 */
export class TemplateExpander implements PromptExpander {
  expand(prompt: string, opts: ExpandOptions = {}): ExpandedPrompt {
    const width = opts.width ?? 64;
    const height = opts.height ?? 64;
    const numFrames = opts.numFrames ?? 24;
    const fps = opts.fps ?? 12;
    const seed = opts.seed ?? 0;
    const rng = new Rng(seed);
    const cons = parsePrompt(prompt);
    const scene = sampleScene(rng, width / height, cons);
    const state = simulate(scene, { numFrames, fps, width, height, seed });
    return { caption: detailedCaption(state, rng), scene, state };
  }
}

/** Wrap any text-to-text function (e.g. a call to a real language model) as an expander. */
export class FunctionExpander implements PromptExpander {
  constructor(private readonly fn: (prompt: string, opts: ExpandOptions) => string | Promise<string>) {}
  async expand(prompt: string, opts: ExpandOptions = {}): Promise<ExpandedPrompt> {
    return { caption: await this.fn(prompt, opts) };
  }
}

let defaultExpander: PromptExpander = new TemplateExpander();

export function setDefaultExpander(e: PromptExpander): void {
  defaultExpander = e;
}

export function getDefaultExpander(): PromptExpander {
  return defaultExpander;
}

/** Expand a short prompt with the given expander (default: the current default expander). */
export async function expandPrompt(prompt: string, opts: ExpandOptions & { expander?: PromptExpander } = {}): Promise<ExpandedPrompt> {
  const e = opts.expander ?? defaultExpander;
  return await e.expand(prompt, opts);
}

export { shortCaption };
