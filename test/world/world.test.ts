import { mkdtempSync, readFileSync, readdirSync, existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Command } from 'commander';
import { describe, expect, it } from 'vitest';
import {
  FunctionExpander,
  GRAVITY,
  Rng,
  TemplateExpander,
  encodeGif,
  expandPrompt,
  generateSample,
  getDefaultExpander,
  parsePrompt,
  renderFrames,
  sampleOptionsAt,
  sampleScene,
  setDefaultExpander,
  simulate,
  worldDataset,
  writeGif,
  type SceneConstraints,
  type WorldSample,
} from '../../lib/world/index.js';
import { parseWorldSampleOptions, registerWorldCommands } from '../../lib/cli/world.js';

function findSample(cons: SceneConstraints, pred: (s: WorldSample) => boolean, numFrames = 48, tries = 80): WorldSample {
  for (let seed = 1; seed <= tries; seed++) {
    const s = generateSample({ seed, width: 64, height: 64, numFrames, fps: 12, constraints: cons, render: false });
    if (pred(s)) return s;
  }
  throw new Error('no sample found');
}

describe('simulator and renderer', () => {
  it('is deterministic from the seed', () => {
    const a = generateSample({ seed: 42, width: 64, height: 48, numFrames: 12 });
    const b = generateSample({ seed: 42, width: 64, height: 48, numFrames: 12 });
    const c = generateSample({ seed: 43, width: 64, height: 48, numFrames: 12 });
    expect(Buffer.from(a.frames).equals(Buffer.from(b.frames))).toBe(true);
    expect(a.caption).toBe(b.caption);
    expect(Buffer.from(a.frames).equals(Buffer.from(c.frames))).toBe(false);
  });

  it('renders any multiple-of-8 size from 16 to 512, any aspect, any frame count', () => {
    for (const [w, h, n] of [[16, 16, 1], [512, 16, 3], [40, 24, 5], [64, 48, 1], [16, 512, 2], [96, 64, 9]]) {
      const s = generateSample({ seed: w * 7 + h, width: w, height: h, numFrames: n });
      expect(s.frames.length).toBe(w * h * 3 * n);
      expect(s.state.tracks[0].x.length).toBe(n);
    }
  });

  it('validates sizes with errors that name the value and the rule', () => {
    expect(() => generateSample({ seed: 1, width: 100 })).toThrow('width must be a multiple of 8 between 16 and 512, got 100');
    expect(() => generateSample({ seed: 1, height: 8 })).toThrow('height must be a multiple of 8 between 16 and 512, got 8');
    expect(() => generateSample({ seed: 1, numFrames: 0 })).toThrow(/numFrames must be an integer between 1 and/);
  });

  it('anti-aliases edges (intermediate colors between object and background)', () => {
    const s = generateSample({ seed: 5, width: 64, height: 64, numFrames: 1, constraints: { gradient: false, objects: [{ shape: 'ball', size: 'large' }], numObjects: 1, occluder: false } });
    const o = s.state.scene.objects[0];
    const bg = s.state.scene.background.rgb;
    let full = 0, mid = 0;
    for (let i = 0; i < 64 * 64 * 3; i += 3) {
      const t = (s.frames[i] - bg[0]) / (o.rgb[0] - bg[0] || 1);
      if (Math.abs(s.frames[i] - o.rgb[0]) <= 1 && Math.abs(s.frames[i + 1] - o.rgb[1]) <= 1) full++;
      else if (t > 0.1 && t < 0.9 && Math.abs(o.rgb[0] - bg[0]) > 40) mid++;
    }
    expect(full).toBeGreaterThan(50);
    expect(mid).toBeGreaterThan(8);
  });

  it('gravity: constant downward acceleration between bounces, and floor bounces', () => {
    const s = findSample({ gravity: true, bounce: 'elastic', objects: [{ shape: 'ball', motion: 'drop' }], numObjects: 1, pan: 'none' }, (x) => x.state.events.some((e) => e.type === 'bounce_floor'));
    const tr = s.state.tracks[0];
    const first = s.state.events.find((e) => e.type === 'bounce_floor')!.frame;
    for (let f = 1; f < first - 1; f++) {
      const ay = (tr.y[f + 1] - 2 * tr.y[f] + tr.y[f - 1]) * 144;
      expect(ay).toBeCloseTo(GRAVITY, 5);
    }
    // elastic: the ball goes back up to about its starting height
    const minAfter = Math.min(...tr.y.slice(first + 1));
    expect(minAfter).toBeLessThan(tr.y[0] + 0.08);
  });

  it('damped bounces lose height', () => {
    const s = findSample({ gravity: true, bounce: 'damped', objects: [{ shape: 'square', motion: 'drop' }], numObjects: 1 }, (x) => x.state.events.filter((e) => e.type === 'bounce_floor').length >= 2, 64);
    expect(s.state.scene.restitution).toBeLessThan(1);
    const tr = s.state.tracks[0];
    const b = s.state.events.filter((e) => e.type === 'bounce_floor').map((e) => e.frame);
    const apex1 = Math.min(...tr.y.slice(b[0], b[1]));
    expect(apex1).toBeGreaterThan(tr.y[0] + 0.02);
  });

  it('walls, collisions, leaving the frame and coming back, occluder, camera pan', () => {
    const wall = findSample({ sides: 'walls', gravity: false, objects: [{ motion: 'drift' }] }, (x) => x.state.events.some((e) => e.type === 'bounce_wall'));
    const e = wall.state.events.find((ev) => ev.type === 'bounce_wall')!;
    const vx = wall.state.tracks[e.object].vx;
    expect(Math.sign(vx[e.frame])).toBe(-Math.sign(vx[e.frame - 1]));

    const coll = findSample({ numObjects: 3 }, (x) => x.state.events.some((ev) => ev.type === 'collision'));
    const c = coll.state.events.find((ev) => ev.type === 'collision')!;
    expect(c.other).toBeDefined();

    const wrap = findSample({ sides: 'wrap', gravity: false, numObjects: 1, objects: [{ motion: 'drift', direction: 'right' }] }, (x) => x.state.events.some((ev) => ev.type === 'exit') && x.state.events.some((ev) => ev.type === 'enter'));
    const exit = wrap.state.events.find((ev) => ev.type === 'exit')!;
    const enter = wrap.state.events.find((ev) => ev.type === 'enter' && ev.frame > exit.frame)!;
    expect(enter).toBeDefined();
    expect(wrap.state.tracks[0].visible[exit.frame]).toBe(0);

    const occ = findSample({ occluder: 'black', gravity: false, numObjects: 1, objects: [{ size: 'small', motion: 'drift' }] }, (x) => x.state.events.some((ev) => ev.type === 'hidden') && x.state.events.some((ev) => ev.type === 'emerged'), 64, 200);
    expect(occ.caption).toMatch(/behind the black/);

    const pan = generateSample({ seed: 9, width: 64, height: 64, numFrames: 8, constraints: { pan: 'right' } });
    expect(pan.state.scene.pan).toBeGreaterThan(0);
    expect(pan.state.scene.sides).toBe('wrap');
    expect(pan.caption).toMatch(/(camera pans|view drifts)[a-z ]*right/);
    // The background slides: a background row differs between the first and the last frame.
    const row = 1 * 64 * 3;
    const f0 = pan.frames.subarray(row, row + 64 * 3);
    const f7 = pan.frames.subarray(7 * 64 * 64 * 3 + row, 7 * 64 * 64 * 3 + row + 64 * 3);
    expect(Buffer.from(f0).equals(Buffer.from(f7))).toBe(false);
  });

  it('simulate and renderFrames are usable directly', () => {
    const scene = sampleScene(new Rng(3), 1, { numObjects: 2 });
    const st = simulate(scene, { numFrames: 4, fps: 8, width: 32, height: 32 });
    expect(renderFrames(st).length).toBe(4 * 32 * 32 * 3);
  });
});

describe('captions', () => {
  it('are distinct for >= 95% of 10,000 samples', () => {
    const seen = new Set<string>();
    const N = 10000;
    for (let i = 0; i < N; i++) seen.add(generateSample({ ...sampleOptionsAt({ seed: 11 }, i), render: false }).caption);
    expect(seen.size / N).toBeGreaterThanOrEqual(0.95);
  });

  it('name every object (color and shape) and parse back to the state', () => {
    let ok = 0;
    const N = 300;
    for (let i = 0; i < N; i++) {
      const s = generateSample({ seed: 7000 + i, numFrames: 16, render: false });
      const p = parsePrompt(s.caption);
      const want = s.state.scene.objects.map((o) => `${o.color} ${o.shape}`).sort();
      const got = p.objects.map((o) => `${o.color} ${o.shape}`).sort();
      if (JSON.stringify(want) === JSON.stringify(got) && p.background === s.state.scene.background.color) ok++;
      for (const o of s.state.scene.objects) expect(s.caption).toContain(o.color);
    }
    expect(ok / N).toBeGreaterThanOrEqual(0.97);
  });

  it('have a short form', () => {
    const s = generateSample({ seed: 1, constraints: { numObjects: 1, objects: [{ color: 'red', shape: 'ball', motion: 'drop' }] }, numFrames: 32 });
    expect(s.shortCaption).toMatch(/^a red ball (bouncing|falling)/);
  });
});

describe('prompt expander', () => {
  it('fills unspecified attributes by sampling and keeps the specified ones', async () => {
    const a = await expandPrompt('a red ball bouncing', { seed: 1 });
    const b = await expandPrompt('a red ball bouncing', { seed: 2 });
    expect(a.caption).not.toBe(b.caption);
    for (const x of [a, b]) {
      expect(x.scene!.objects[0].color).toBe('red');
      expect(x.scene!.objects[0].shape).toBe('ball');
      expect(x.scene!.gravity).toBe(true);
      expect(x.caption).toMatch(/red (ball|circle|disc)/);
    }
    const c = await expandPrompt('a small blue square sliding left behind a black bar, no gravity', { seed: 3 });
    expect(c.scene!.objects[0]).toMatchObject({ color: 'blue', shape: 'square', size: 'small' });
    expect(c.scene!.occluder?.color).toBe('black');
  });

  it('is pluggable', async () => {
    const prev = getDefaultExpander();
    try {
      setDefaultExpander(new FunctionExpander(async (p) => `LM says: ${p}`));
      expect((await expandPrompt('a cat')).caption).toBe('LM says: a cat');
      expect((await expandPrompt('a cat', { expander: new TemplateExpander() })).caption).not.toContain('LM says');
    } finally {
      setDefaultExpander(prev);
    }
  });
});

describe('dataset', () => {
  it('yields a seeded mix of images and videos of varied sizes', async () => {
    const sizes = new Set<string>();
    let images = 0, videos = 0;
    const caps: string[] = [];
    for await (const s of worldDataset({ seed: 5, count: 60 })) {
      expect(s.frames.length).toBe(s.width * s.height * 3 * s.numFrames);
      expect(s.width % 8).toBe(0);
      sizes.add(`${s.width}x${s.height}`);
      if (s.numFrames === 1) images++;
      else videos++;
      caps.push(s.caption);
    }
    expect(images).toBeGreaterThan(3);
    expect(videos).toBeGreaterThan(30);
    expect(sizes.size).toBeGreaterThan(5);
    const again: string[] = [];
    for await (const s of worldDataset({ seed: 5, count: 60 })) again.push(s.caption);
    expect(again).toEqual(caps);
  });
});

describe('gif and cli', () => {
  it('encodes GIFs', async () => {
    const s = generateSample({ seed: 2, width: 32, height: 24, numFrames: 4 });
    const g = encodeGif(s.frames, 32, 24, 4, 12);
    expect(Buffer.from(g.subarray(0, 6)).toString()).toBe('GIF89a');
    const dir = mkdtempSync(path.join(os.tmpdir(), 'world-gif-'));
    await writeGif(path.join(dir, 'a.gif'), s.frames, 32, 24, 4, 12);
    expect(readdirSync(dir)).toEqual(['a.gif']);
  });

  it('`world sample` writes GIFs, captions and states', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'world-cli-'));
    const program = new Command().exitOverride();
    const lines: string[] = [];
    const write = process.stdout.write.bind(process.stdout);
    process.stdout.write = ((l: string) => (lines.push(l), true)) as typeof process.stdout.write;
    try {
      registerWorldCommands(program);
      await program.parseAsync(['node', 'tessera', 'world', 'sample', '--n', '2', '--out', dir, '--frames', '6', '--width', '48', '--height', '32']);
    } finally {
      process.stdout.write = write;
    }
    for (const f of ['sample_0000.gif', 'sample_0000.txt', 'sample_0000.json', 'sample_0001.gif']) expect(existsSync(path.join(dir, f))).toBe(true);
    const meta = JSON.parse(readFileSync(path.join(dir, 'sample_0001.json'), 'utf8'));
    expect(meta).toMatchObject({ width: 48, height: 32, numFrames: 6 });
    expect(readFileSync(path.join(dir, 'sample_0001.txt'), 'utf8').trim()).toBe(meta.caption);
    expect(lines.join('')).toMatch(/frames\/s/);
  });

  it('validates CLI options with clear errors', () => {
    expect(() => parseWorldSampleOptions({ out: 'x', width: '100' })).toThrow('--width must be a multiple of 8 between 16 and 512, got 100');
    expect(() => parseWorldSampleOptions({ out: 'x', n: '0' })).toThrow('--n must be an integer between 1 and 100000, got 0');
    expect(() => parseWorldSampleOptions({ out: 'x', frames: 'abc' })).toThrow(/--frames must be an integer between 1 and \d+, got abc/);
    expect(() => parseWorldSampleOptions({ out: 'x', fps: '0' })).toThrow('--fps must be a number between 1 and 60, got 0');
    const program = new Command().exitOverride().configureOutput({ writeErr: () => {} });
    registerWorldCommands(program);
    return expect(program.parseAsync(['node', 'tessera', 'world', 'sample', '--height', '20'])).rejects.toThrow('--height must be a multiple of 8 between 16 and 512, got 20');
  });
});
