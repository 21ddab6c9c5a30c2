import type { RGB } from './palette.js';
import type { WorldState } from './types.js';
import { occluderScreenX } from './physics.js';

const BAND_AMPLITUDE = 14; // additive brightness of the background bands that show a camera pan
const BANDS_PER_WORLD = 3;

function clamp01(v: number): number {
  return v < 0 ? 0 : v > 1 ? 1 : v;
}

/** Background rows (RGB per row), floor line and ground included. */
function backgroundRows(state: WorldState): Float32Array {
  const { height: H } = state;
  const { background, floor } = state.scene;
  const rows = new Float32Array(H * 3);
  const a = background.rgb;
  const b = background.rgb2 ?? background.rgb;
  for (let py = 0; py < H; py++) {
    const t = H > 1 ? py / (H - 1) : 0;
    rows[py * 3] = a[0] + (b[0] - a[0]) * t;
    rows[py * 3 + 1] = a[1] + (b[1] - a[1]) * t;
    rows[py * 3 + 2] = a[2] + (b[2] - a[2]) * t;
  }
  if (floor) {
    const fy = floor.y * H;
    const thick = Math.max(1, 0.02 * H);
    const ground: RGB = [
      (floor.rgb[0] + a[0]) * 0.5,
      (floor.rgb[1] + a[1]) * 0.5,
      (floor.rgb[2] + a[2]) * 0.5,
    ];
    for (let py = 0; py < H; py++) {
      // coverage of the row by the line [fy, fy+thick] and by the ground below it
      const line = Math.max(0, Math.min(py + 1, fy + thick) - Math.max(py, fy));
      const below = Math.max(0, py + 1 - Math.max(py, fy + thick));
      const rest = 1 - line - below;
      for (let c = 0; c < 3; c++) {
        rows[py * 3 + c] = rows[py * 3 + c] * rest + floor.rgb[c] * line + ground[c] * below;
      }
    }
  }
  return rows;
}

function blendPixel(out: Uint8Array, idx: number, rgb: RGB, cov: number): void {
  const o0 = out[idx];
  const o1 = out[idx + 1];
  const o2 = out[idx + 2];
  out[idx] = (o0 + (rgb[0] - o0) * cov + 0.5) | 0;
  out[idx + 1] = (o1 + (rgb[1] - o1) * cov + 0.5) | 0;
  out[idx + 2] = (o2 + (rgb[2] - o2) * cov + 0.5) | 0;
}

const INV_SQRT5 = 1 / Math.sqrt(5);

/** Draw one shape centered at (cx, cy) pixels with "radius" R pixels, coverage-based anti-aliasing. */
function drawShape(out: Uint8Array, base: number, W: number, H: number, shape: string, cx: number, cy: number, R: number, rgb: RGB): void {
  const x0 = Math.max(0, Math.floor(cx - R - 1));
  const x1 = Math.min(W - 1, Math.ceil(cx + R + 1));
  const y0 = Math.max(0, Math.floor(cy - R - 1));
  const y1 = Math.min(H - 1, Math.ceil(cy + R + 1));
  if (x0 > x1 || y0 > y1) return;
  if (shape === 'ball') {
    for (let py = y0; py <= y1; py++) {
      const dy = py + 0.5 - cy;
      const dy2 = dy * dy;
      let idx = base + (py * W + x0) * 3;
      for (let px = x0; px <= x1; px++, idx += 3) {
        const dx = px + 0.5 - cx;
        const cov = R - Math.sqrt(dx * dx + dy2) + 0.5;
        if (cov <= 0) continue;
        blendPixel(out, idx, rgb, cov >= 1 ? 1 : cov);
      }
    }
  } else if (shape === 'square') {
    for (let py = y0; py <= y1; py++) {
      const cyv = clamp01(R - Math.abs(py + 0.5 - cy) + 0.5);
      if (cyv <= 0) continue;
      let idx = base + (py * W + x0) * 3;
      for (let px = x0; px <= x1; px++, idx += 3) {
        const cxv = R - Math.abs(px + 0.5 - cx) + 0.5;
        if (cxv <= 0) continue;
        blendPixel(out, idx, rgb, (cxv >= 1 ? 1 : cxv) * cyv);
      }
    }
  } else {
    // Triangle: apex (cx, cy - R), base from (cx - R, cy + R) to (cx + R, cy + R).
    for (let py = y0; py <= y1; py++) {
      const qy = py + 0.5 - cy;
      const db = R - qy;
      if (db + 0.5 <= 0) continue;
      let idx = base + (py * W + x0) * 3;
      for (let px = x0; px <= x1; px++, idx += 3) {
        const qx = px + 0.5 - cx;
        const dl = (2 * (qx + R) + (qy - R)) * INV_SQRT5;
        const dr = (-2 * (qx - R) + (qy - R)) * INV_SQRT5;
        let d = db < dl ? db : dl;
        if (dr < d) d = dr;
        const cov = d + 0.5;
        if (cov <= 0) continue;
        blendPixel(out, idx, rgb, cov >= 1 ? 1 : cov);
      }
    }
  }
}

/**
 * Render every frame of a simulated world to packed RGB (numFrames x height x width x 3, uint8).
 * Optionally into a caller's buffer (for reuse).
 */
export function renderFrames(state: WorldState, into?: Uint8Array): Uint8Array {
  const { width: W, height: H, numFrames } = state;
  const frameSize = W * H * 3;
  const out = into && into.length >= frameSize * numFrames ? into : new Uint8Array(frameSize * numFrames);
  const rows = backgroundRows(state);
  const scene = state.scene;
  const S = H; // pixels per world unit
  // Static background frame (no pan): one fill, copied per frame.
  const bgFrame = new Uint8Array(frameSize);
  for (let py = 0; py < H; py++) {
    const r = (rows[py * 3] + 0.5) | 0;
    const g = (rows[py * 3 + 1] + 0.5) | 0;
    const b = (rows[py * 3 + 2] + 0.5) | 0;
    let idx = py * W * 3;
    for (let px = 0; px < W; px++, idx += 3) {
      bgFrame[idx] = r;
      bgFrame[idx + 1] = g;
      bgFrame[idx + 2] = b;
    }
  }
  const panning = scene.pan !== 0;
  const floorRow = scene.floor ? scene.floor.y * H : H;
  const bandCol = panning ? new Float32Array(W) : null;
  const period = (state.worldWidth / BANDS_PER_WORLD) * S;

  for (let f = 0; f < numFrames; f++) {
    const base = f * frameSize;
    const t = f / state.fps;
    if (!panning) {
      out.set(bgFrame, base);
    } else {
      // Soft vertical bands fixed in the world slide across the screen as the camera pans.
      const cam = (scene.pan * t + state.margin) * S;
      for (let px = 0; px < W; px++) {
        const s = Math.sin((2 * Math.PI * (px + 0.5 + cam)) / period);
        bandCol![px] = BAND_AMPLITUDE * (0.5 + 0.5 * s);
      }
      for (let py = 0; py < H; py++) {
        const r = rows[py * 3];
        const g = rows[py * 3 + 1];
        const b = rows[py * 3 + 2];
        const k = py + 0.5 < floorRow ? 1 : 0.5;
        let idx = base + py * W * 3;
        for (let px = 0; px < W; px++, idx += 3) {
          const add = bandCol![px] * k;
          const vr = r + add;
          const vg = g + add;
          const vb = b + add;
          out[idx] = vr > 255 ? 255 : (vr + 0.5) | 0;
          out[idx + 1] = vg > 255 ? 255 : (vg + 0.5) | 0;
          out[idx + 2] = vb > 255 ? 255 : (vb + 0.5) | 0;
        }
      }
    }
    for (let i = 0; i < scene.objects.length; i++) {
      const o = scene.objects[i];
      const tr = state.tracks[i];
      const R = o.radius * S;
      const cx = tr.x[f] * S;
      const cy = tr.y[f] * S;
      drawShape(out, base, W, H, o.shape, cx, cy, R, o.rgb);
      if (scene.sides === 'wrap') {
        const span = state.worldWidth * S;
        if (cx - R < 1) drawShape(out, base, W, H, o.shape, cx + span, cy, R, o.rgb);
        if (cx + R > W - 1) drawShape(out, base, W, H, o.shape, cx - span, cy, R, o.rgb);
      }
    }
    const occ = scene.occluder;
    if (occ) {
      const ox = occluderScreenX(state, f) * S;
      const half = (occ.width * S) / 2;
      const copies = scene.sides === 'wrap' ? [ox, ox - state.worldWidth * S, ox + state.worldWidth * S] : [ox];
      for (const c of copies) {
        const a0 = c - half;
        const a1 = c + half;
        const x0 = Math.max(0, Math.floor(a0));
        const x1 = Math.min(W - 1, Math.ceil(a1) - 1);
        if (x0 > x1) continue;
        for (let py = 0; py < H; py++) {
          const cy = Math.max(0, Math.min(py + 1, floorRow) - py);
          if (cy <= 0) break;
          let idx = base + (py * W + x0) * 3;
          for (let px = x0; px <= x1; px++, idx += 3) {
            const cx = Math.max(0, Math.min(px + 1, a1) - Math.max(px, a0));
            if (cx > 0) blendPixel(out, idx, occ.rgb, cx * cy);
          }
        }
      }
    }
  }
  return out;
}
