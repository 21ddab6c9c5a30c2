// Streaming VAE inference from TypeScript (docs/VAE.md, "Inference"): decode() in chunks
// hands frames to onFrames in order with the right shapes and equals the whole decode
// exactly; a slow consumer holds the decoder back; a failing callback stops it; encode()
// in chunks is exact; option rules; latent files round-trip; `tessera decode` writes a GIF
// and `tessera encode` reads a folder of frames and a video file.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { FFMPEG } from '../helpers/ffmpeg.js';
import { TINY } from '../helpers/vae.js';
import { data, loadLatent, ndarray, parseLatent, psnr, saveLatent, serializeLatent, Vae, type NdArray } from '../../lib/index.js';

const root = join(import.meta.dirname, '..', '..');

function random(shape: number[], seed = 1, scale = 1): NdArray {
  const n = shape.reduce((a, b) => a * b, 1);
  const data = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    data[i] = ((s >>> 8) / 2 ** 24 - 0.5) * 2 * scale;
  }
  return ndarray(data, shape);
}

function video(n: number, t: number, h: number, w: number, phase = 0): NdArray {
  const data = new Float32Array(n * 3 * t * h * w);
  let i = 0;
  for (let b = 0; b < n; b++)
    for (let c = 0; c < 3; c++)
      for (let f = 0; f < t; f++)
        for (let y = 0; y < h; y++)
          for (let x = 0; x < w; x++) data[i++] = 0.8 * Math.sin(0.4 * (x + f) + 0.7 * c + b + phase) * Math.cos(0.3 * y - 0.2 * f);
  return ndarray(data, [n, 3, t, h, w]);
}

/** Frames [N, C, T, H, W] joined along T. */
function joinFrames(parts: NdArray[]): NdArray {
  const [N, C, , H, W] = parts[0]!.shape as number[];
  const T = parts.reduce((a, p) => a + p.shape[2]!, 0);
  const out = new Float32Array(N! * C! * T * H! * W!);
  const plane = H! * W!;
  let t0 = 0;
  for (const p of parts) {
    const t = p.shape[2]!;
    for (let nc = 0; nc < N! * C!; nc++) out.set(p.data.subarray(nc * t * plane, (nc + 1) * t * plane), (nc * T + t0) * plane);
    t0 += t;
  }
  return ndarray(out, [N!, C!, T, H!, W!]);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('Vae.decode streaming', () => {
  it('hands each chunk to onFrames in order, with the right shapes, and equals the whole decode exactly', async () => {
    const vae = await Vae.create(TINY, { seed: 3 });
    const z = random([2, 4, 7, 4, 5], 7);
    const whole = await vae.decode(z, { chunkFrames: 100 });
    expect(whole.shape).toEqual([2, 3, 13, 16, 20]);
    const seen: { first: number; chunk: number; shape: number[] }[] = [];
    const parts: NdArray[] = [];
    const r = await vae.decode(z, {
      chunkFrames: 3,
      onFrames: (frames, info) => {
        seen.push({ first: info.firstFrame, chunk: info.chunk, shape: frames.shape });
        parts.push(frames);
      },
    });
    // 7 latent frames in chunks of 3, 3, 1: 1 + 2*2 = 5 frames, then 2*3 = 6, then 2
    expect(seen).toEqual([
      { first: 0, chunk: 0, shape: [2, 3, 5, 16, 20] },
      { first: 5, chunk: 1, shape: [2, 3, 6, 16, 20] },
      { first: 11, chunk: 2, shape: [2, 3, 2, 16, 20] },
    ]);
    expect(r).toEqual({ shape: [2, 3, 13, 16, 20], frames: 13, chunks: 3 });
    expect(Array.from(joinFrames(parts).data)).toEqual(Array.from(whole.data));
    // the default options give the same video too
    expect(Array.from((await vae.decode(z)).data)).toEqual(Array.from(whole.data));
  });

  it('calls a slow consumer one chunk at a time and finishes every chunk before resolving', async () => {
    const vae = await Vae.create(TINY, { seed: 4 });
    const z = random([1, 4, 9, 2, 2], 8);
    let pending = 0, maxPending = 0, done = 0;
    const firsts: number[] = [];
    const r = await vae.decode(z, {
      chunkFrames: 1,
      onFrames: async (frames, info) => {
        firsts.push(info.firstFrame);
        maxPending = Math.max(maxPending, ++pending);
        await sleep(15);
        pending--;
        done++;
      },
    });
    expect(r.chunks).toBe(9);
    expect(done).toBe(9); // every callback's promise settled before decode() resolved
    expect(firsts).toEqual([0, 1, 3, 5, 7, 9, 11, 13, 15]);
    expect(maxPending).toBe(1); // one call at a time
  });

  it('stops when onFrames throws or rejects, rejecting with that error', async () => {
    const vae = await Vae.create(TINY, { seed: 5 });
    const z = random([1, 4, 8, 2, 2], 9);
    let calls = 0;
    await expect(
      vae.decode(z, {
        chunkFrames: 1,
        onFrames: () => {
          if (++calls === 2) throw new Error('disk full');
        },
      }),
    ).rejects.toThrow('disk full');
    expect(calls).toBeLessThanOrEqual(3); // stopped, not all 8
    let calls2 = 0;
    await expect(
      vae.decode(z, {
        chunkFrames: 1,
        onFrames: async () => {
          calls2++;
          throw new Error('writer closed');
        },
      }),
    ).rejects.toThrow('writer closed');
    expect(calls2).toBeLessThanOrEqual(3);
    // the model still works afterwards
    expect((await vae.decode(z, { chunkFrames: 4 })).shape).toEqual([1, 3, 15, 8, 8]);
  });

  it('tiles large frames: same shape, close to the untiled decode, one covering tile is exact', async () => {
    const vae = await Vae.create(TINY, { seed: 6 });
    const x = video(1, 5, 48, 64);
    const { mean } = await vae.encode(x);
    expect(mean.shape).toEqual([1, 4, 3, 12, 16]);
    const untiled = await vae.decode(mean, { tile: 0 });
    const tiled = await vae.decode(mean, { tile: 10, overlap: 4 });
    expect(tiled.shape).toEqual(untiled.shape);
    expect(psnr(tiled, untiled)).toBeGreaterThan(20);
    const one = await vae.decode(mean, { tile: 16, overlap: 4 });
    expect(Array.from(one.data)).toEqual(Array.from(untiled.data));
  });
});

describe('Vae.encode in chunks', () => {
  it('gives the same latents for any chunk size', async () => {
    const vae = await Vae.create(TINY, { seed: 7 });
    const x = video(2, 13, 16, 12, 0.3);
    const ref = await vae.encode(x, { chunkFrames: 100 });
    expect(ref.mean.shape).toEqual([2, 4, 7, 4, 3]);
    for (const chunkFrames of [1, 2, 3, 5]) {
      const r = await vae.encode(x, { chunkFrames });
      expect(Array.from(r.mean.data)).toEqual(Array.from(ref.mean.data));
      expect(Array.from(r.logvar.data)).toEqual(Array.from(ref.logvar.data));
    }
  });
});

describe('streaming option rules', () => {
  it('names the option, the rule and the value', async () => {
    const vae = await Vae.create(TINY);
    const z = random([1, 4, 2, 4, 4]);
    await expect(vae.decode(z, { chunkFrames: 0 })).rejects.toThrow(/an integer >= 1 for chunkFrames but received 0/);
    await expect(vae.decode(z, { chunkFrames: 1.5 })).rejects.toThrow(/an integer for chunkFrames but received 1\.5/);
    await expect(vae.decode(z, { tile: -1 })).rejects.toThrow(/an integer >= 0 for tile but received -1/);
    await expect(vae.decode(z, { tile: 'big' as unknown as number })).rejects.toThrow(/'auto', 0 \(no tiling\) or an integer >= 1.*for tile but received 'big'/);
    await expect(vae.decode(z, { tile: 8, overlap: 8 })).rejects.toThrow(/an integer between 0 and 7 \(less than tile = 8\) for overlap but received 8/);
    await expect(vae.decode(z, { onFrames: 3 as unknown as () => void })).rejects.toThrow(/a function .* for onFrames but received 3/);
    await expect(vae.decode(z, { chunk: 2 } as unknown as { chunkFrames: number })).rejects.toThrow(/options\.chunk/);
    await expect(vae.encode(video(1, 5, 8, 8), { chunkFrames: -2 })).rejects.toThrow(/an integer >= 1 for chunkFrames but received -2/);
    // a small tile with the default overlap (8) takes a quarter of the tile instead
    expect((await vae.decode(z, { tile: 2 })).shape).toEqual([1, 3, 3, 16, 16]);
  });
});

describe('latent files', () => {
  it('round-trips the latent and its metadata, atomically; corrupt or foreign files are clear errors', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tessera-latent-'));
    const z = random([2, 4, 5, 3, 7], 11, 3);
    const path = join(dir, 'z.safetensors');
    await saveLatent(path, z, { fps: 12, prompt: 'a red ball "bounces"', ok: true });
    const back = await loadLatent(path);
    expect(back.latent.shape).toEqual([2, 4, 5, 3, 7]);
    expect(Array.from(back.latent.data)).toEqual(Array.from(z.data));
    expect(back.meta).toEqual({ fps: '12', prompt: 'a red ball "bounces"', ok: 'true', format: 'tessera.latent' });
    expect(readdirSync(dir)).toEqual(['z.safetensors']); // no temporary file left behind
    // the header is padded to 8 bytes, so the data is aligned
    const bytes = readFileSync(path);
    expect(Number(bytes.readBigUInt64LE(0)) % 8).toBe(0);
    // errors
    writeFileSync(join(dir, 'short.safetensors'), Buffer.from([1, 2, 3]));
    await expect(loadLatent(join(dir, 'short.safetensors'))).rejects.toThrow(/short\.safetensors: 3 bytes is too short/);
    await expect(loadLatent(join(dir, 'missing.safetensors'))).rejects.toThrow(/cannot read latent file .*missing\.safetensors/);
    const foreign = serializeLatent(z);
    const text = Buffer.from(foreign).toString('latin1').replace('tessera.latent', 'tessera.xxxxxx');
    expect(() => parseLatent(Buffer.from(text, 'latin1'), 'f.safetensors')).toThrow(/f\.safetensors: not a tessera latent file .*got "tessera.xxxxxx"/);
    const cut = foreign.subarray(0, foreign.length - 4);
    expect(() => parseLatent(cut, 'cut')).toThrow(/cut: tensor latent data_offsets \[0, 3360\] do not fit shape \[2, 4, 5, 3, 7\]/);
    await expect(saveLatent(path, ndarray(new Float32Array(6), [2, 3]))).rejects.toThrow(/latent\.shape/);
  });
});

describe('tessera decode / encode', () => {
  it('encodes a folder of frames, decodes the latent to a GIF streaming frames, and checks its options', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tessera-decode-cli-'));
    const model = join(dir, 'vae.safetensors');
    await (await Vae.create(TINY, { seed: 12 })).save(model);
    // 6 PNG frames of 24x16 (the encoder takes the first 5: T = 1 + 2k)
    const frames = join(dir, 'frames');
    mkdirSync(frames);
    for (let f = 0; f < 6; f++) {
      const px = Buffer.alloc(24 * 16 * 3);
      for (let i = 0; i < 24 * 16; i++) {
        px[i * 3] = (i * 7 + f * 20) % 256;
        px[i * 3 + 1] = (i * 3) % 256;
        px[i * 3 + 2] = f * 40;
      }
      await sharp(px, { raw: { width: 24, height: 16, channels: 3 } }).png().toFile(join(frames, `f${f}.png`));
    }
    const cli = join(root, 'dist', 'cli.js');
    const latent = join(dir, 'z.safetensors');
    const enc = spawnSync(process.execPath, [cli, 'encode', '--model', model, '--video', frames, '--out', latent], { encoding: 'utf8' });
    expect(enc.status, enc.stderr).toBe(0);
    expect(enc.stdout).toMatch(/wrote .*z\.safetensors: latent \[1, 4, 3, 4, 6\] from 5 frames/);
    expect(enc.stderr).toMatch(/used the first 5 of 6 images/);
    const { meta } = await loadLatent(latent);
    expect(meta.frames).toBe('5');

    const gif = join(dir, 'out.gif');
    const dec = spawnSync(process.execPath, [cli, 'decode', '--model', model, '--latent', latent, '--out', gif, '--fps', '10', '--chunk-frames', '1'], { encoding: 'utf8' });
    expect(dec.status, dec.stderr).toBe(0);
    expect(dec.stdout).toMatch(/wrote .*out\.gif: 5 frames of 24x16 at 10 fps \(3 chunks/);
    const bytes = readFileSync(gif);
    expect(bytes.subarray(0, 6).toString('latin1')).toBe('GIF89a');
    expect(bytes.readUInt16LE(6)).toBe(24);
    expect(bytes.readUInt16LE(8)).toBe(16);
    expect(bytes[bytes.length - 1]).toBe(0x3b); // trailer
    let images = 0;
    for (let i = 0; i + 1 < bytes.length; i++) if (bytes[i] === 0x21 && bytes[i + 1] === 0xf9 && bytes[i + 2] === 4) images++;
    expect(images).toBe(5); // one graphic control extension per frame
    expect(readdirSync(dir).filter((f) => f.endsWith('.tmp'))).toEqual([]);

    // raw frames decode to the same count of bytes
    const raw = join(dir, 'out.rgb');
    const decRaw = spawnSync(process.execPath, [cli, 'decode', '--model', model, '--latent', latent, '--out', raw], { encoding: 'utf8' });
    expect(decRaw.status, decRaw.stderr).toBe(0);
    expect(readFileSync(raw).length).toBe(5 * 24 * 16 * 3);

    const bad = spawnSync(process.execPath, [cli, 'decode', '--model', model, '--latent', latent, '--out', join(dir, 'x.mp4')], { encoding: 'utf8' });
    expect(bad.status).not.toBe(0);
    expect(bad.stderr).toMatch(/--out must end in \.gif .* or \.rgb .*got .*x\.mp4/);
    const badChunk = spawnSync(process.execPath, [cli, 'decode', '--model', model, '--latent', latent, '--out', gif, '--chunk-frames', '0'], { encoding: 'utf8' });
    expect(badChunk.stderr).toMatch(/--chunk-frames must be an integer >= 1, got 0/);
    const badIndex = spawnSync(process.execPath, [cli, 'decode', '--model', model, '--latent', latent, '--out', gif, '--index', '1'], { encoding: 'utf8' });
    expect(badIndex.stderr).toMatch(/--index must be an integer between 0 and 0 .*got 1/);
  });

  it.skipIf(!FFMPEG)('encodes a video file (ffmpeg): frames rounded to the rule, --size, the fps kept', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tessera-encode-cli-'));
    const model = join(dir, 'vae.safetensors');
    const vae = await Vae.create(TINY, { seed: 12 });
    await vae.save(model);
    // 8 frames of a moving test pattern, 32x24 at 10 fps, lossless (FFV1)
    const video = join(dir, 'clip.mkv');
    execFileSync('ffmpeg', ['-v', 'error', '-y', '-f', 'lavfi', '-i', 'testsrc=size=32x24:rate=10', '-frames:v', '8', '-c:v', 'ffv1', video]);
    const cli = join(root, 'dist', 'cli.js');
    const latent = join(dir, 'z.safetensors');
    const enc = spawnSync(process.execPath, [cli, 'encode', '--model', model, '--video', video, '--out', latent], { encoding: 'utf8' });
    expect(enc.status, enc.stderr).toBe(0);
    expect(enc.stdout).toMatch(/wrote .*z\.safetensors: latent \[1, 4, 4, 6, 8\] from 7 frames/);
    expect(enc.stderr).toMatch(/used the first 7 of 8 frames \(T = 1 \+ 2k\)/);
    const { latent: z, meta } = await loadLatent(latent);
    expect(meta).toMatchObject({ frames: '7', height: '24', width: '32', fps: '10' });
    // the same numbers as encoding the decoded frames in TypeScript
    const clip = await data.loadVideo(video, { height: 24, width: 32, frames: 7 });
    const want = (await vae.encode(ndarray(clip.x.data, [1, ...clip.x.shape]))).mean;
    expect(psnr(z, want)).toBeGreaterThan(60);

    const resized = join(dir, 'small.safetensors');
    const enc2 = spawnSync(process.execPath, [cli, 'encode', '--model', model, '--video', video, '--out', resized, '--size', '16x16', '--frames', '5'], { encoding: 'utf8' });
    expect(enc2.status, enc2.stderr).toBe(0);
    expect(enc2.stdout).toMatch(/latent \[1, 4, 3, 4, 4\] from 5 frames/);
    const badSize = spawnSync(process.execPath, [cli, 'encode', '--model', model, '--video', video, '--out', resized, '--size', '18x16'], { encoding: 'utf8' });
    expect(badSize.status).not.toBe(0);
    expect(badSize.stderr).toMatch(/--size must be multiples of spatialDown = 4, got 18x16/);
  });
});
