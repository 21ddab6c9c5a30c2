import { describe, expect, it } from 'vitest';
import {
  OBJECT_COLORS,
  OBJECT_COLOR_NAMES,
  colorDistance,
  corruptDeleteObject,
  corruptDropFrame,
  corruptNoise,
  corruptShuffle,
  corruptSwapColor,
  evaluateBatch,
  evaluateVideo,
  generateSample,
  type WorldSample,
} from '../../lib/world/index.js';

const METRICS = ['fidelity', 'permanence', 'motion', 'smoothness', 'image'] as const;
const SEEDS = Array.from({ length: 24 }, (_, i) => 500 + i);
const samples: WorldSample[] = SEEDS.map((seed) => generateSample({ seed, width: 64, height: 64, numFrames: 24, fps: 12 }));

function mean(xs: number[]): number {
  return xs.reduce((a, b) => a + b, 0) / xs.length;
}

describe('evaluator on real simulator videos', () => {
  it('scores >= 0.95 on every metric (intended state as target)', () => {
    const b = evaluateBatch(samples.map((s) => ({ video: s, target: { state: s.state } })));
    for (const m of METRICS) expect(b.mean[m], m).toBeGreaterThanOrEqual(0.95);
  });

  it('scores >= 0.95 on fidelity, permanence and image from the detailed caption alone', () => {
    const b = evaluateBatch(samples.map((s) => ({ video: s, target: { prompt: s.caption } })));
    for (const m of ['fidelity', 'permanence', 'image'] as const) expect(b.mean[m], m).toBeGreaterThanOrEqual(0.95);
    expect(b.mean.motion).toBeGreaterThanOrEqual(0.85);
    expect(b.mean.smoothness).toBeGreaterThanOrEqual(0.9);
  });

  it('scores images (one frame)', () => {
    const s = generateSample({ seed: 3, width: 64, height: 48, numFrames: 1 });
    const r = evaluateVideo(s, { state: s.state });
    expect(r.fidelity).toBeGreaterThan(0.8);
    expect(r.image).toBeGreaterThanOrEqual(0.95);
  });

  it('rejects frames of the wrong length', () => {
    expect(() => evaluateVideo({ frames: new Uint8Array(10), width: 16, height: 16, numFrames: 1 }, { prompt: 'a red ball' })).toThrow(/frames must hold/);
  });
});

describe('each corruption lowers its metric', () => {
  it('shuffled frames lower motion', () => {
    const real = mean(samples.map((s) => evaluateVideo(s, { state: s.state }).motion));
    const bad = mean(samples.map((s, i) => evaluateVideo(corruptShuffle(s, i + 1), { state: s.state }).motion));
    expect(real - bad).toBeGreaterThan(0.25);
  });

  it('a dropped frame lowers smoothness', () => {
    // moving objects (no gravity, drifting), frame dropped in the middle
    const vids = Array.from({ length: 12 }, (_, i) =>
      generateSample({ seed: 900 + i, width: 64, height: 64, numFrames: 24, fps: 12, constraints: { gravity: false, objects: [{ motion: 'drift' }] } }),
    );
    const real = mean(vids.map((s) => evaluateVideo(s, { state: s.state }).smoothness));
    const bad = mean(vids.map((s) => evaluateVideo(corruptDropFrame(s, 12), { prompt: s.caption }).smoothness));
    expect(real).toBeGreaterThanOrEqual(0.95);
    expect(real - bad).toBeGreaterThan(0.3);
  });

  it('a swapped color lowers fidelity', () => {
    const real: number[] = [];
    const bad: number[] = [];
    for (const s of samples) {
      const used = s.state.scene.objects.map((o) => o.rgb);
      const to = OBJECT_COLOR_NAMES.map((n) => OBJECT_COLORS[n]).find((c) => used.every((u) => colorDistance(u, c) > 200))!;
      real.push(evaluateVideo(s, { state: s.state }).fidelity);
      bad.push(evaluateVideo(corruptSwapColor(s, s.state.scene.objects[0].rgb, to), { state: s.state }).fidelity);
    }
    expect(mean(real) - mean(bad)).toBeGreaterThan(0.25);
  });

  it('an object deleted mid-video lowers permanence', () => {
    const pick = samples.filter((s) => s.state.tracks[0].visible.slice(8).every((v) => v >= 0.99));
    expect(pick.length).toBeGreaterThanOrEqual(4);
    const real = mean(pick.map((s) => evaluateVideo(s, { state: s.state }).permanence));
    const bad = mean(pick.map((s) => evaluateVideo(corruptDeleteObject(s, s.state, 0, 8), { state: s.state }).permanence));
    expect(real).toBeGreaterThanOrEqual(0.95);
    expect(real - bad).toBeGreaterThan(0.3);
  });

  it('noise lowers image quality', () => {
    const real = mean(samples.map((s) => evaluateVideo(s, { state: s.state }).image));
    const bad = mean(samples.map((s) => evaluateVideo(corruptNoise(s, 12), { state: s.state }).image));
    expect(real - bad).toBeGreaterThan(0.5);
  });
});
