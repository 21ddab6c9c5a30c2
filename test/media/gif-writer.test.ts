// GifWriter (lib/video-writer.ts): frames streamed in chunks come back from a GIF
// decoder (sharp / libvips) with their colours, including colours that first appear in
// a later chunk (each chunk has its own palette), and no temporary file is left behind.
import { mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { GifWriter } from '../../lib/index.js';

const W = 12, H = 8;

// `count` frames, each split into two solid halves: left colour a, right colour b.
function frames(count: number, a: number[], b: number[]): Uint8Array {
  const out = new Uint8Array(count * W * H * 3);
  for (let f = 0; f < count; f++)
    for (let y = 0; y < H; y++)
      for (let x = 0; x < W; x++) out.set(x < W / 2 ? a : b, ((f * H + y) * W + x) * 3);
  return out;
}

describe('GifWriter', () => {
  it('keeps the colours of every chunk, the later ones too', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tessera-gif-'));
    const path = join(dir, 'out.gif');
    const gif = new GifWriter(path, W, H, 10);
    const red = [200, 30, 40], green = [20, 180, 60], blue = [30, 50, 210], yellow = [230, 220, 20];
    await gif.write(frames(3, red, green), 3);
    await gif.write(frames(2, blue, yellow), 2); // colours the first chunk never had
    await gif.close();
    expect(readdirSync(dir)).toEqual(['out.gif']);

    const { data, info } = await sharp(path, { animated: true }).removeAlpha().raw().toBuffer({ resolveWithObject: true });
    expect(info.pages).toBe(5);
    const pixel = (f: number, x: number) => Array.from(data.subarray(((f * H + 3) * W + x) * 3, ((f * H + 3) * W + x) * 3 + 3));
    const close = (got: number[], want: number[]) => got.every((v, i) => Math.abs(v - want[i]!) <= 8);
    for (const f of [0, 2]) expect(close(pixel(f, 1), red) && close(pixel(f, W - 2), green), `frame ${f}: ${pixel(f, 1)} ${pixel(f, W - 2)}`).toBe(true);
    for (const f of [3, 4]) expect(close(pixel(f, 1), blue) && close(pixel(f, W - 2), yellow), `frame ${f}: ${pixel(f, 1)} ${pixel(f, W - 2)}`).toBe(true);
  });
});
