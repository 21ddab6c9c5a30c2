import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cropGeometry, folderClips, listMedia, loadImage, loadVideo, mediaKind, probeVideo, type Clip } from '../../lib/data/index.js';
import { FFMPEG } from '../helpers/ffmpeg.js';

const tmp = mkdtempSync(path.join(os.tmpdir(), 'tessera-folder-'));
const dir = path.join(tmp, 'media');
const p = (name: string) => path.join(dir, name);
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** RGB bytes of a w x h image: left half red, right half blue. */
function halves(w: number, h: number): Buffer {
  const b = Buffer.alloc(w * h * 3);
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++) b.set(x < w / 2 ? [255, 0, 0] : [0, 0, 255], (y * w + x) * 3);
  return b;
}

beforeAll(async () => {
  mkdirSync(path.join(dir, 'sub'), { recursive: true });
  mkdirSync(path.join(dir, '.hidden'));
  await sharp(halves(40, 30), { raw: { width: 40, height: 30, channels: 3 } }).png().toFile(p('a-halves.png'));
  // grayscale, 20 x 60, a vertical ramp
  const gray = Buffer.from(Array.from({ length: 20 * 60 }, (_, i) => Math.floor(i / 20) * 4));
  await sharp(gray, { raw: { width: 20, height: 60, channels: 1 } }).png().toFile(p('b-gray.png'));
  // RGBA: top half opaque white, bottom half transparent
  const rgba = Buffer.alloc(16 * 16 * 4);
  for (let i = 0; i < 16 * 8; i++) rgba.set([255, 255, 255, 255], i * 4);
  await sharp(rgba, { raw: { width: 16, height: 16, channels: 4 } }).png().toFile(p('sub/c-alpha.png'));
  await sharp(halves(24, 24), { raw: { width: 24, height: 24, channels: 3 } }).jpeg({ quality: 95 }).toFile(p('sub/d.JPG'));
  writeFileSync(p('notes.txt'), 'not media');
  writeFileSync(p('.hidden/e.png'), 'skipped');
  if (FFMPEG) {
    const ff = (...args: string[]) => execFileSync('ffmpeg', ['-v', 'error', '-y', ...args], { stdio: 'ignore' });
    ff('-f', 'lavfi', '-i', 'testsrc=size=64x48:rate=8', '-frames:v', '9', '-pix_fmt', 'yuv420p', p('x.mp4'));
    ff('-f', 'lavfi', '-i', 'testsrc=size=32x32:rate=8', '-frames:v', '6', p('sub/y.gif'));
  }
});

function inRange(c: Clip) {
  for (const v of c.x.data) if (!(v >= -1 && v <= 1)) throw new Error(`value ${v} outside [-1, 1]`);
}
/** Channel c at (t, y, x) of a [3, T, H, W] clip. */
const at = (c: Clip, ch: number, t: number, y: number, x: number) => {
  const [, T, H, W] = c.x.shape;
  return c.x.data[((ch * T + t) * H + y) * W + x];
};

describe('listMedia', () => {
  it('lists images and videos in path order, recursively, skipping hidden files and other extensions', async () => {
    const files = await listMedia(dir);
    const names = files.map((f) => `${path.relative(dir, f.path)}:${f.kind}`);
    expect(names).toEqual([
      'a-halves.png:image',
      'b-gray.png:image',
      'sub/c-alpha.png:image',
      'sub/d.JPG:image',
      ...(FFMPEG ? ['sub/y.gif:video'] : []),
      ...(FFMPEG ? ['x.mp4:video'] : []),
    ]);
    expect((await listMedia(dir, { recursive: false })).every((f) => !f.path.includes('/sub/'))).toBe(true);
    expect(mediaKind('a/b.WEBM')).toBe('video');
    expect(mediaKind('a/b.tiff')).toBeUndefined();
    await expect(listMedia(path.join(tmp, 'nope'))).rejects.toThrow(/an existing folder/);
  });
});

describe('loadImage', () => {
  it('resizes to cover and crops; cropX moves the window', async () => {
    expect(cropGeometry(40, 30, 16, 16)).toEqual({ rw: 21, rh: 16, left: 3, top: 0 });
    const c = await loadImage(p('a-halves.png'), { height: 16, width: 16 });
    expect(c.x.shape).toEqual([3, 1, 16, 16]);
    expect(c.meta).toEqual({ source: 'folder', path: p('a-halves.png'), start: 0 });
    inRange(c);
    expect(at(c, 0, 0, 8, 0)).toBe(1); // red at the left
    expect(at(c, 2, 0, 8, 0)).toBe(-1);
    expect(at(c, 2, 0, 8, 15)).toBe(1); // blue at the right
    const left = await loadImage(p('a-halves.png'), { height: 16, width: 16, cropX: 0 });
    const right = await loadImage(p('a-halves.png'), { height: 16, width: 16, cropX: 1 });
    const redCols = (x: Clip) => Array.from({ length: 16 }, (_, i) => at(x, 0, 0, 8, i)).filter((v) => v > 0).length;
    expect(redCols(left)).toBeGreaterThan(redCols(c));
    expect(redCols(right)).toBeLessThan(redCols(c));
    const fill = await loadImage(p('a-halves.png'), { height: 16, width: 16, fit: 'fill' });
    expect(redCols(fill)).toBe(8);
  });

  it('expands grayscale to three equal channels and flattens transparency onto black (-1)', async () => {
    const g = await loadImage(p('b-gray.png'), { height: 24, width: 8 });
    expect(g.x.shape).toEqual([3, 1, 24, 8]);
    inRange(g);
    const plane = 24 * 8;
    expect(g.x.data.subarray(plane, 2 * plane)).toEqual(g.x.data.subarray(0, plane));
    expect(at(g, 0, 0, 23, 4)).toBeGreaterThan(at(g, 0, 0, 0, 4)); // the ramp goes down
    const a = await loadImage(p('sub/c-alpha.png'), { height: 16, width: 16 });
    expect(at(a, 1, 0, 2, 8)).toBe(1);
    expect(at(a, 1, 0, 13, 8)).toBe(-1);
    const j = await loadImage(p('sub/d.JPG'), { height: 8, width: 8 });
    expect(at(j, 0, 0, 4, 0)).toBeGreaterThan(0.8);
  });

  it('checks options and reports undecodable files', async () => {
    await expect(loadImage(p('a-halves.png'), { height: 0, width: 8 })).rejects.toThrow('Expected an integer between 1 and 8192 for height but received 0');
    await expect(loadImage(p('a-halves.png'), { height: 8, width: 8, fit: 'contain' as 'cover' })).rejects.toThrow("Expected one of 'cover', 'fill' for fit");
    await expect(loadImage(p('notes.txt'), { height: 8, width: 8 })).rejects.toMatchObject({
      code: 'ERR_TESSERA_DECODE',
      message: expect.stringContaining(`cannot decode image ${p('notes.txt')}`),
    });
  });
});

describe.skipIf(!FFMPEG)('loadVideo (ffmpeg)', () => {
  it('probes and decodes all frames of an mp4 and a gif', async () => {
    expect(await probeVideo(p('x.mp4'))).toEqual({ width: 64, height: 48, frames: 9, fps: 8 });
    const v = await loadVideo(p('x.mp4'), { height: 48, width: 64 });
    expect(v.x.shape).toEqual([3, 9, 48, 64]);
    expect(v.meta).toEqual({ source: 'folder', path: p('x.mp4'), start: 0, fps: 8 });
    inRange(v);
    const frame = (c: Clip, t: number) => {
      const [, T, H, W] = c.x.shape;
      return c.x.data.subarray(t * H * W, (t + 1) * H * W); // channel 0
    };
    expect(frame(v, 0)).not.toEqual(frame(v, 8)); // testsrc moves
    const g = await loadVideo(p('sub/y.gif'), { height: 16, width: 16 });
    expect(g.x.shape).toEqual([3, 6, 16, 16]);
    inRange(g);
  });

  it('takes a window of frames, resized and cropped', async () => {
    const all = await loadVideo(p('x.mp4'), { height: 32, width: 32 });
    const win = await loadVideo(p('x.mp4'), { height: 32, width: 32, start: 2, frames: 5 });
    expect(win.x.shape).toEqual([3, 5, 32, 32]);
    expect(win.meta.start).toBe(2);
    // frames 2..6 of the whole decode, channel by channel
    for (let ch = 0; ch < 3; ch++) {
      const a = all.x.data.subarray((ch * 9 + 2) * 1024, (ch * 9 + 7) * 1024);
      const b = win.x.data.subarray(ch * 5 * 1024, (ch + 1) * 5 * 1024);
      expect(b).toEqual(a);
    }
    await expect(loadVideo(p('x.mp4'), { height: 32, width: 32, start: 6, frames: 5 })).rejects.toThrow(
      `Expected frames <= 3 (${p('x.mp4')} has 9 frames, start 6) for frames but received 5`,
    );
  });

  it('names the file and the fix when ffmpeg is missing', async () => {
    const err = await loadVideo(p('x.mp4'), { height: 8, width: 8, ffmpeg: '/nonexistent/bin/ffmpeg' }).catch((e) => e);
    expect(err.code).toBe('ERR_TESSERA_FFMPEG');
    expect(err.path).toBe(p('x.mp4'));
    expect(err.message).toContain(`cannot decode video ${p('x.mp4')}: ffprobe was not found (tried '/nonexistent/bin/ffprobe')`);
    expect(err.message).toContain('apt-get install ffmpeg');
    const err2 = await loadVideo(p('sub/y.gif'), { height: 8, width: 8, ffmpeg: 'no-such-ffmpeg' }).catch((e) => e);
    expect(err2.message).toContain(`cannot decode video ${p('sub/y.gif')}: ffmpeg was not found (tried 'no-such-ffmpeg')`);
  });

  it('reports a broken video', async () => {
    writeFileSync(path.join(tmp, 'broken.mp4'), 'not a video');
    await expect(loadVideo(path.join(tmp, 'broken.mp4'), { height: 8, width: 8 })).rejects.toMatchObject({
      code: 'ERR_TESSERA_DECODE',
      message: expect.stringContaining(`cannot decode video ${path.join(tmp, 'broken.mp4')}: ffprobe failed`),
    });
  });
});

describe('folderClips', () => {
  it('yields every file as a clip in order', async () => {
    const clips: Clip[] = [];
    for await (const c of folderClips(dir, { height: 16, width: 24, frames: FFMPEG ? 5 : undefined })) clips.push(c);
    expect(clips.map((c) => path.relative(dir, c.meta.path!))).toEqual(
      ['a-halves.png', 'b-gray.png', 'sub/c-alpha.png', 'sub/d.JPG', ...(FFMPEG ? ['sub/y.gif', 'x.mp4'] : [])],
    );
    expect(clips.map((c) => c.x.shape[1])).toEqual([1, 1, 1, 1, ...(FFMPEG ? [5, 5] : [])]);
    clips.forEach(inRange);
    const images: Clip[] = [];
    for await (const c of folderClips(dir, { height: 8, width: 8, imagesOnly: true })) images.push(c);
    expect(images.length).toBe(4);
  });
});
