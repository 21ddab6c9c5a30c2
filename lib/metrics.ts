// Reconstruction quality of videos in [-1, 1] ([N, C, T, H, W] or any layout
// whose last two dims are H and W): PSNR and SSIM, as the VAE benchmark reports them.
import type { NdArray } from './ops.js';

function sameShape(a: NdArray, b: NdArray): void {
  if (a.shape.length !== b.shape.length || a.shape.some((d, i) => d !== b.shape[i]))
    throw new RangeError(`shapes differ: [${a.shape.join(', ')}] and [${b.shape.join(', ')}]`);
}

/** Peak signal-to-noise ratio in dB for data in [-1, 1] (peak-to-peak 2): 10 log10(4 / MSE). */
export function psnr(a: NdArray, b: NdArray): number {
  sameShape(a, b);
  let se = 0;
  for (let i = 0; i < a.data.length; i++) {
    const d = a.data[i]! - b.data[i]!;
    se += d * d;
  }
  const mse = se / Math.max(1, a.data.length);
  return mse > 0 ? 10 * Math.log10(4 / mse) : Infinity;
}

/**
 * PSNR as bench:vae reports it, as codec benchmarks do: each clip's own PSNR (clips along
 * dim 0), capped at `cap` dB (default 99, so a perfect clip does not make the mean
 * infinite), then the mean over clips. It weighs every clip alike; `psnr` of the whole
 * batch (the pooled error) weighs the clips with the largest errors more.
 */
export function meanClipPsnr(a: NdArray, b: NdArray, cap = 99): number {
  sameShape(a, b);
  const n = a.shape[0] ?? 1;
  if (n < 1) throw new RangeError(`meanClipPsnr needs at least one clip along dim 0, got shape [${a.shape.join(', ')}]`);
  const size = a.data.length / n;
  let sum = 0;
  for (let k = 0; k < n; k++) {
    let se = 0;
    for (let i = k * size; i < (k + 1) * size; i++) {
      const d = a.data[i]! - b.data[i]!;
      se += d * d;
    }
    const mse = se / Math.max(1, size);
    sum += mse > 0 ? Math.min(cap, 10 * Math.log10(4 / mse)) : cap;
  }
  return sum / n;
}

const WINDOW = (() => {
  // 11-tap Gaussian, sigma 1.5 (Wang et al. 2004), normalized.
  const w = new Float64Array(11);
  let s = 0;
  for (let i = 0; i < 11; i++) s += w[i] = Math.exp(-((i - 5) ** 2) / (2 * 1.5 * 1.5));
  return w.map((v) => v / s);
})();

/**
 * Mean structural similarity over every H x W plane (each frame of each channel),
 * computed as for images in [0, 1] (values mapped by (v + 1) / 2, as an 8-bit image
 * would be scaled; SSIM's luminance term is not shift-invariant, so the mapping
 * matters): Gaussian window 11 / sigma 1.5, C1 = 0.01^2, C2 = 0.03^2, 'valid'
 * windows only (planes smaller than 11 use one uniform window of their size).
 */
export function ssim(a: NdArray, b: NdArray): number {
  sameShape(a, b);
  const nd = a.shape.length;
  const H = a.shape[nd - 2]!, W = a.shape[nd - 1]!;
  const planes = a.data.length / (H * W);
  const C1 = 0.01 ** 2, C2 = 0.03 ** 2;
  let total = 0, count = 0;
  const k = Math.min(11, H, W);
  const win = k === 11 ? WINDOW : new Float64Array(k).fill(1 / k);
  for (let p = 0; p < planes; p++) {
    const off = p * H * W;
    for (let y = 0; y + k <= H; y++)
      for (let x = 0; x + k <= W; x++) {
        let ma = 0, mb = 0, saa = 0, sbb = 0, sab = 0;
        for (let i = 0; i < k; i++)
          for (let j = 0; j < k; j++) {
            const w = win[i]! * win[j]!;
            const va = (a.data[off + (y + i) * W + x + j]! + 1) / 2, vb = (b.data[off + (y + i) * W + x + j]! + 1) / 2;
            ma += w * va;
            mb += w * vb;
            saa += w * va * va;
            sbb += w * vb * vb;
            sab += w * va * vb;
          }
        const va = saa - ma * ma, vb = sbb - mb * mb, cov = sab - ma * mb;
        total += ((2 * ma * mb + C1) * (2 * cov + C2)) / ((ma * ma + mb * mb + C1) * (va + vb + C2));
        count++;
      }
  }
  return count ? total / count : 1;
}

/**
 * The block-mean video of x [..., T, H, W]: each latent cell's block (frame 0 alone, then
 * groups of temporalDown frames; spatialDown x spatialDown pixels) filled with its mean.
 * What a VAE's mean shortcut alone reconstructs: the floor its learned path builds on.
 */
export function blockMeans(x: NdArray, spatialDown: number, temporalDown: number): NdArray {
  const nd = x.shape.length;
  if (nd < 3) throw new RangeError(`blockMeans: x must be [..., T, H, W], got [${x.shape.join(', ')}]`);
  const [t, h, w] = x.shape.slice(nd - 3) as [number, number, number];
  if (h % spatialDown || w % spatialDown || (t - 1) % temporalDown)
    throw new RangeError(`blockMeans: T = ${t}, H = ${h}, W = ${w} do not fit blocks of ${temporalDown} frames and ${spatialDown}x${spatialDown} pixels`);
  const planes = x.data.length / (t * h * w);
  const out = new Float32Array(x.data.length);
  const groups: [number, number][] = [[0, 1]];
  for (let f = 1; f < t; f += temporalDown) groups.push([f, f + temporalDown]);
  const sd = spatialDown;
  const at = (p: number, f: number, y: number) => ((p * t + f) * h + y) * w;
  for (let p = 0; p < planes; p++)
    for (const [f0, f1] of groups)
      for (let by = 0; by < h; by += sd)
        for (let bx = 0; bx < w; bx += sd) {
          let sum = 0;
          for (let f = f0; f < f1; f++)
            for (let y = by; y < by + sd; y++) for (let xx = bx; xx < bx + sd; xx++) sum += x.data[at(p, f, y) + xx]!;
          const m = sum / ((f1 - f0) * sd * sd);
          for (let f = f0; f < f1; f++) for (let y = by; y < by + sd; y++) out.fill(m, at(p, f, y) + bx, at(p, f, y) + bx + sd);
        }
  return { data: out, shape: [...x.shape] };
}
