import { promises as fs } from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import { generateSample, mixSeed, writeFileAtomic, writeGif, MAX_FRAMES } from '../world/index.js';
import { intOption } from './options.js';

export interface WorldSampleOptions {
  n: number;
  out: string;
  seed: number;
  width: number;
  height: number;
  frames: number;
  fps: number;
}


/** Validate raw CLI option values (strings or numbers); errors name the option, the rule and the value. */
export function parseWorldSampleOptions(raw: Record<string, unknown>): WorldSampleOptions {
  const side = (name: string, v: unknown): number => intOption(name, v, 'a multiple of 8 between 16 and 512', (x) => x >= 16 && x <= 512 && x % 8 === 0);
  const out = raw.out;
  if (typeof out !== 'string' || out.trim() === '') throw new RangeError(`--out must be a directory path, got ${String(out)}`);
  const fpsRaw = String(raw.fps ?? 12).trim();
  const fps = /^\d+(\.\d+)?$/.test(fpsRaw) ? Number(fpsRaw) : NaN;
  if (!(fps >= 1 && fps <= 60)) throw new RangeError(`--fps must be a number between 1 and 60, got ${String(raw.fps)}`);
  return {
    n: intOption('--n', raw.n ?? 4, 'an integer between 1 and 100000', (x) => x >= 1 && x <= 100000),
    out,
    seed: intOption('--seed', raw.seed ?? 0, 'an integer between 0 and 4294967295', (x) => x >= 0 && x <= 4294967295),
    width: side('--width', raw.width ?? 64),
    height: side('--height', raw.height ?? 64),
    frames: intOption('--frames', raw.frames ?? 24, `an integer between 1 and ${MAX_FRAMES}`, (x) => x >= 1 && x <= MAX_FRAMES),
    fps,
  };
}

/** Write n samples (GIF + caption .txt + state .json) into opts.out. Returns the file stems written. */
export async function writeWorldSamples(opts: WorldSampleOptions, log: (line: string) => void = () => {}): Promise<string[]> {
  await fs.mkdir(opts.out, { recursive: true });
  const stems: string[] = [];
  let frames = 0;
  let genMs = 0;
  for (let i = 0; i < opts.n; i++) {
    const seed = mixSeed(opts.seed, i);
    const t0 = performance.now();
    const s = generateSample({ seed, width: opts.width, height: opts.height, numFrames: opts.frames, fps: opts.fps });
    genMs += performance.now() - t0;
    frames += s.numFrames;
    const stem = path.join(opts.out, `sample_${String(i).padStart(4, '0')}`);
    await writeGif(`${stem}.gif`, s.frames, s.width, s.height, s.numFrames, s.fps);
    await writeFileAtomic(`${stem}.txt`, `${s.caption}\n`);
    const meta = { seed, width: s.width, height: s.height, numFrames: s.numFrames, fps: s.fps, caption: s.caption, shortCaption: s.shortCaption, state: s.state };
    await writeFileAtomic(`${stem}.json`, JSON.stringify(meta));
    stems.push(stem);
    log(`${stem}.gif  ${s.shortCaption}`);
  }
  log(`${opts.n} samples, ${frames} frames, generated at ${Math.round(frames / Math.max(genMs / 1000, 1e-9))} frames/s`);
  return stems;
}

/** Add `world sample` to a commander program. */
export function registerWorldCommands(program: Command): Command {
  const world = program.command('world').description('the procedural physics world: samples, captions, evaluation');
  world
    .command('sample')
    .description('write sample videos as GIFs with their captions (.txt) and states (.json)')
    .option('--n <count>', 'number of samples', '4')
    .option('--out <dir>', 'output directory', 'world-samples')
    .option('--seed <int>', 'dataset seed', '0')
    .option('--width <px>', 'frame width, a multiple of 8 in [16, 512]', '64')
    .option('--height <px>', 'frame height, a multiple of 8 in [16, 512]', '64')
    .option('--frames <count>', 'frames per sample (1 = an image)', '24')
    .option('--fps <rate>', 'frames per second', '12')
    .action(async (raw: Record<string, unknown>, cmd: Command) => {
      let opts: WorldSampleOptions;
      try {
        opts = parseWorldSampleOptions(raw);
      } catch (e) {
        cmd.error(`error: ${(e as Error).message}`, { exitCode: 2, code: 'tessera.invalidOption' });
        return;
      }
      await writeWorldSamples(opts, (l) => process.stdout.write(l + '\n'));
    });
  return world;
}
