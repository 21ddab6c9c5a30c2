// Evaluator: scores RGB videos against a prompt (or the intended world state) for prompt fidelity,
// object permanence, motion, temporal smoothness and image quality. Definitions in docs/WORLD.md.
import { OBJECT_COLORS, OBJECT_COLOR_NAMES, OCCLUDER_COLORS, BACKGROUND_COLORS, colorDistance, type RGB } from './palette.js';
import { parsePrompt } from './prompt.js';
import { GRAVITY, SIZE_RADIUS, type Shape, type WorldState } from './types.js';

export interface VideoInput {
  frames: Uint8Array;
  width: number;
  height: number;
  numFrames: number;
}

export interface EvalTarget {
  /** A short prompt or detailed caption. */
  prompt?: string;
  /** The intended world state (stronger checks: per-frame visibility, direction and gravity from the state). */
  state?: WorldState;
}

export interface VideoScores {
  fidelity: number;
  permanence: number;
  motion: number;
  smoothness: number;
  image: number;
  /** Mean of the five metrics. */
  overall: number;
  details: {
    objects: ObjectReport[];
    noise: number;
    backgroundDrift: number;
    sharpness: number;
    background?: number;
  };
}

export interface ObjectReport {
  color?: string;
  shape?: Shape;
  detectedShape?: Shape;
  presentFrames: number;
  colorScore: number;
  shapeScore: number;
  permanenceViolations: number;
  directionScore: number;
  gravityScore: number;
  maxJumpRatio: number;
  smoothness: number;
}

/** Thresholds, exposed for tuning and documentation. */
export const EVAL = {
  fgDistance: 60, // L1 RGB distance from the row background to count as foreground
  colorDistance: 80, // L1 RGB distance to a named color to take its label
  minAreaFraction: 0.08, // of the expected object area, to count a component as the object
  jumpFloorPx: 2, // minimum speed (px/frame) a jump is compared against
  jumpOk: 1.4, // largest jump / neighbour jump ratio that scores 1
  jumpBad: 1.8, // ratio that scores 0
};

interface Intended {
  color?: string;
  rgb?: RGB;
  shape?: Shape;
  radiusPx: number;
  direction?: 'left' | 'right' | 'up' | 'down';
}

interface Comp {
  label: number;
  area: number;
  cx: number;
  cy: number;
  x0: number;
  x1: number;
  y0: number;
  y1: number;
  edge: boolean;
  adjOcc: boolean;
  adjOther: boolean;
  pixels: Int32Array;
}

interface FrameAnalysis {
  comps: Comp[];
  bgRows: Float32Array; // per-row background estimate
  bgMean: Float32Array; // per-row mean of background pixels
  fg: Uint8Array;
}

const clamp01 = (v: number): number => (v < 0 ? 0 : v > 1 ? 1 : v);

function median(a: number[]): number {
  if (!a.length) return 0;
  const s = a.slice().sort((x, y) => x - y);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

function analyseFrame(v: VideoInput, f: number, palette: RGB[], occLabel: number, objLabels: Set<number>): FrameAnalysis {
  const { width: W, height: H } = v;
  const base = f * W * H * 3;
  const px = v.frames;
  const bgRows = new Float32Array(H * 3);
  const tmp = new Uint8Array(W);
  for (let y = 0; y < H; y++) {
    for (let c = 0; c < 3; c++) {
      for (let x = 0; x < W; x++) tmp[x] = px[base + (y * W + x) * 3 + c];
      tmp.sort();
      bgRows[y * 3 + c] = tmp[W >> 1];
    }
  }
  const fg = new Uint8Array(W * H);
  const label = new Int16Array(W * H).fill(-1);
  const bgSum = new Float64Array(H * 3);
  const bgCnt = new Float64Array(H);
  for (let y = 0; y < H; y++) {
    const br = bgRows[y * 3], bgc = bgRows[y * 3 + 1], bb = bgRows[y * 3 + 2];
    for (let x = 0; x < W; x++) {
      const i = y * W + x;
      const r = px[base + i * 3], g = px[base + i * 3 + 1], b = px[base + i * 3 + 2];
      const d = Math.abs(r - br) + Math.abs(g - bgc) + Math.abs(b - bb);
      if (d > EVAL.fgDistance) {
        fg[i] = 1;
        let best = -1;
        let bestD = EVAL.colorDistance;
        for (let k = 0; k < palette.length; k++) {
          const p = palette[k];
          const dk = Math.abs(r - p[0]) + Math.abs(g - p[1]) + Math.abs(b - p[2]);
          if (dk < bestD) {
            bestD = dk;
            best = k;
          }
        }
        label[i] = best;
      } else {
        bgSum[y * 3] += r;
        bgSum[y * 3 + 1] += g;
        bgSum[y * 3 + 2] += b;
        bgCnt[y]++;
      }
    }
  }
  const bgMean = new Float32Array(H * 3);
  for (let y = 0; y < H; y++) for (let c = 0; c < 3; c++) bgMean[y * 3 + c] = bgCnt[y] ? bgSum[y * 3 + c] / bgCnt[y] : bgRows[y * 3 + c];
  // Connected components (4-connectivity) of object-labelled pixels.
  const seen = new Uint8Array(W * H);
  const stack = new Int32Array(W * H);
  const comps: Comp[] = [];
  for (let s = 0; s < W * H; s++) {
    const L = label[s];
    if (seen[s] || L < 0 || !objLabels.has(L)) continue;
    let sp = 0;
    stack[sp++] = s;
    seen[s] = 1;
    const pixels: number[] = [];
    let sx = 0, sy = 0, x0 = W, x1 = -1, y0 = H, y1 = -1;
    let adjOcc = false;
    const adjOther = false;
    while (sp) {
      const i = stack[--sp];
      pixels.push(i);
      const x = i % W, y = (i - x) / W;
      sx += x + 0.5;
      sy += y + 0.5;
      if (x < x0) x0 = x;
      if (x > x1) x1 = x;
      if (y < y0) y0 = y;
      if (y > y1) y1 = y;
      for (let k = 0; k < 4; k++) {
        const nx = k === 0 ? x - 1 : k === 1 ? x + 1 : x;
        const ny = k === 2 ? y - 1 : k === 3 ? y + 1 : y;
        if (nx < 0 || ny < 0 || nx >= W || ny >= H) continue;
        // look two pixels out for neighbours (anti-aliased seams are ~1px of unlabelled colour)
        const j = ny * W + nx;
        const lj = label[j];
        if (lj === L) {
          if (!seen[j]) {
            seen[j] = 1;
            stack[sp++] = j;
          }
          continue;
        }
        const nx2 = nx + (nx - x), ny2 = ny + (ny - y);
        const j2 = nx2 >= 0 && ny2 >= 0 && nx2 < W && ny2 < H ? ny2 * W + nx2 : -1;
        const l2 = j2 >= 0 ? label[j2] : -1;
        if (lj === occLabel || l2 === occLabel) adjOcc = true;
      }
    }
    const area = pixels.length;
    comps.push({ label: L, area, cx: sx / area, cy: sy / area, x0, x1, y0, y1, edge: x0 <= 0 || y0 <= 0 || x1 >= W - 1 /* the bottom edge is the floor: objects rest on it, never cross it */, adjOcc, adjOther, pixels: Int32Array.from(pixels) });
  }
  // Touching another object: bounding boxes (grown by 2px) meet a substantial, compact component of another color.
  const solid = comps.filter((c) => c.area >= 10 && c.area / ((c.x1 - c.x0 + 1) * (c.y1 - c.y0 + 1)) >= 0.3);
  for (const c of comps) {
    c.adjOther = solid.some((o) => o !== c && o.label !== c.label && o.x0 <= c.x1 + 2 && o.x1 >= c.x0 - 2 && o.y0 <= c.y1 + 2 && o.y1 >= c.y0 - 2);
  }
  return { comps, bgRows, bgMean, fg };
}

/** Shape of a component, or undefined when the view is not clean (cut by an edge, the bar or another object). */
function classify(c: Comp, W: number): Shape | undefined {
  const bw = c.x1 - c.x0 + 1;
  const bh = c.y1 - c.y0 + 1;
  if (c.area < 12 || c.edge || c.adjOcc || c.adjOther) return undefined;
  const ar = bw / bh;
  if (ar < 0.6 || ar > 1.67) return undefined;
  const fill = c.area / (bw * bh);
  // Triangles are narrow at the top and wide at the bottom; balls and squares are symmetric.
  const band = Math.max(1, Math.floor(bh * 0.3));
  let top = 0, bot = 0;
  for (const p of c.pixels) {
    const y = Math.floor(p / W);
    if (y < c.y0 + band) top++;
    else if (y > c.y1 - band) bot++;
  }
  if (bot > 0 && top / bot < 0.62) return 'triangle';
  if (fill > 0.88) return 'square';
  if (fill > 0.64) return 'ball';
  return 'triangle';
}

function intendedFrom(target: EvalTarget, v: VideoInput): { objs: Intended[]; occ?: RGB; gravity?: boolean; background?: RGB } {
  const H = v.height;
  if (target.state) {
    const s = target.state;
    return {
      objs: s.scene.objects.map((o, i) => {
        const vx = s.tracks[i].vx[0];
        return { color: o.color, rgb: o.rgb, shape: o.shape, radiusPx: o.radius * H, direction: Math.abs(vx) > 0.1 ? (vx > 0 ? 'right' : 'left') : undefined };
      }),
      occ: s.scene.occluder?.rgb,
      gravity: s.scene.gravity,
      background: s.scene.background.rgb,
    };
  }
  const p = parsePrompt(target.prompt ?? '');
  return {
    objs: p.objects.map((o) => ({
      color: o.color,
      rgb: o.color ? OBJECT_COLORS[o.color] : undefined,
      shape: o.shape,
      radiusPx: SIZE_RADIUS[o.size ?? 'small'] * H,
      direction: o.direction,
    })),
    occ: typeof p.occluder === 'string' ? OCCLUDER_COLORS[p.occluder] : undefined,
    gravity: p.gravity,
    background: p.background ? BACKGROUND_COLORS[p.background] : undefined,
  };
}

interface TrackPoint {
  c: Comp | null;
}

/** Score one video. */
export function evaluateVideo(video: VideoInput, target: EvalTarget): VideoScores {
  const { width: W, height: H, numFrames: T } = video;
  if (video.frames.length < W * H * 3 * T) throw new RangeError(`frames must hold numFrames*height*width*3 = ${W * H * 3 * T} bytes, got ${video.frames.length}`);
  const spec = intendedFrom(target, video);
  const state = target.state;
  // Palette: every object color, plus the occluder's.
  const palette: RGB[] = OBJECT_COLOR_NAMES.map((n) => OBJECT_COLORS[n]);
  let occLabel = -2;
  if (spec.occ) {
    const same = palette.findIndex((p) => colorDistance(p, spec.occ!) < 20);
    occLabel = same >= 0 ? same : palette.push(spec.occ) - 1;
  }
  const labelOf = (rgb: RGB | undefined): number => (rgb ? palette.findIndex((p) => colorDistance(p, rgb) === 0) : -1);
  // Components are built for the intended objects' colors (all object colors when the target names none).
  const objLabels = new Set<number>();
  for (const o of spec.objs) if (o.rgb) objLabels.add(labelOf(o.rgb));
  if (!objLabels.size) for (let k = 0; k < OBJECT_COLOR_NAMES.length; k++) if (k !== occLabel) objLabels.add(k);

  const frames: FrameAnalysis[] = [];
  for (let f = 0; f < T; f++) frames.push(analyseFrame(video, f, palette, occLabel, objLabels));

  // Track each intended object by color, nearest to its previous position.
  const tracks: TrackPoint[][] = spec.objs.map(() => []);
  for (let f = 0; f < T; f++) {
    const taken = new Set<Comp>();
    spec.objs.forEach((o, i) => {
      const L = labelOf(o.rgb);
      const minArea = Math.max(3, EVAL.minAreaFraction * Math.PI * o.radiusPx * o.radiusPx);
      const cands = frames[f].comps.filter((c) => c.label === L && c.area >= minArea && !taken.has(c));
      let best: Comp | null = null;
      let prev: Comp | null = null;
      for (let g = f - 1; g >= 0 && !prev; g--) prev = tracks[i][g].c;
      let bestScore = Infinity;
      for (const c of cands) {
        const sc = prev ? Math.hypot(c.cx - prev.cx, c.cy - prev.cy) - c.area * 0.01 : -c.area;
        if (sc < bestScore) {
          bestScore = sc;
          best = c;
        }
      }
      if (best) taken.add(best);
      tracks[i].push({ c: best });
    });
  }

  const reports: ObjectReport[] = [];
  const gE = (GRAVITY * H) / Math.pow(state ? state.fps : 12, 2);
  const validPair = (i: number, f: number): boolean => {
    const a = tracks[i][f].c, b = tracks[i][f + 1]?.c;
    if (!a || !b || a.edge || b.edge || a.adjOcc || b.adjOcc || a.adjOther || b.adjOther) return false;
    if (state && (state.tracks[i].visible[f] < 0.99 || state.tracks[i].visible[f + 1] < 0.99)) return false;
    return true;
  };
  const disp = (i: number, f: number): [number, number] => {
    const a = tracks[i][f].c!, b = tracks[i][f + 1].c!;
    return [b.cx - a.cx, b.cy - a.cy];
  };

  let permanenceOk = 0;
  const explained: boolean[][] = spec.objs.map(() => new Array<boolean>(T).fill(true));
  spec.objs.forEach((o, i) => {
    const tr = tracks[i];
    const boundary = (c: Comp | null): boolean => !!c && (c.edge || c.adjOcc || c.adjOther || c.area < 0.5 * Math.PI * o.radiusPx * o.radiusPx);
    for (let f = 0; f < T; f++) {
      if (tr[f].c) continue;
      if (state && state.tracks[i].visible[f] < 0.3) continue; // hidden or off screen, as intended
      let p = -1, q = -1;
      for (let g = f - 1; g >= 0; g--) if (tr[g].c) { p = g; break; }
      for (let g = f + 1; g < T; g++) if (tr[g].c) { q = g; break; }
      let ok: boolean;
      if (p < 0 && q < 0) ok = false;
      else if (p < 0) ok = boundary(tr[q].c);
      else ok = boundary(tr[p].c) && (q < 0 || boundary(tr[q].c));
      explained[i][f] = ok;
    }
  });
  for (let f = 0; f < T; f++) if (spec.objs.every((_, i) => explained[i][f])) permanenceOk++;
  const permanence = T ? permanenceOk / T : 1;

  spec.objs.forEach((o, i) => {
    const tr = tracks[i];
    // Fidelity: color present where the object should be visible; shape by majority of clean views.
    let expected = 0, present = 0;
    const votes: Record<string, number> = {};
    for (let f = 0; f < T; f++) {
      const want = state ? state.tracks[i].visible[f] >= 0.6 : true;
      if (want) {
        expected++;
        if (tr[f].c) present++;
      }
      const c = tr[f].c;
      if (c) {
        const s = classify(c, W);
        if (s) votes[s] = (votes[s] ?? 0) + 1;
      }
    }
    if (!state) {
      // Without the state, frames where the object is explainably out of view (off screen, behind the bar) are not expected.
      for (let f = 0; f < T; f++) if (!tr[f].c && explained[i][f]) expected--;
    }
    const colorScore = o.rgb ? (expected > 0 ? clamp01(present / expected / 0.7) : present ? 1 : 0) : 1;
    let detected: Shape | undefined;
    let nv = 0;
    for (const [s, k] of Object.entries(votes)) {
      nv += k;
      if (!detected || k > votes[detected]) detected = s as Shape;
    }
    const neverClean = !!state && !state.tracks[i].visible.some((v) => v >= 0.99);
    const shapeScore = !o.shape ? 1 : nv ? (votes[o.shape] ?? 0) / nv : neverClean ? 1 : present ? 0.5 : 0;

    // Motion: direction of tracked displacement, and gravity between bounces.
    let dirAgree = 0, dirTotal = 0;
    let gOk = 0, gTotal = 0;
    const hasEvent = (f: number): boolean => !!state && state.events.some((e) => (e.object === i || e.other === i) && e.type !== 'behind' && e.type !== 'hidden' && e.type !== 'emerged' && e.frame >= f && e.frame <= f + 1);
    const restingAt = (f: number): boolean => !!state && state.tracks[i].vy[f] === 0 && state.scene.gravity && Math.abs(state.tracks[i].y[f] + state.scene.objects[i].radius - state.floorY) < 1e-3;
    if (state) {
      for (let f = 0; f + 1 < T; f++) {
        if (!validPair(i, f)) continue;
        const [dx, dy] = disp(i, f);
        const ex = (state.tracks[i].x[f + 1] - state.tracks[i].x[f]) * H;
        const ey = (state.tracks[i].y[f + 1] - state.tracks[i].y[f]) * H;
        if (Math.abs(ex) > W / 2) continue;
        for (const [ob, e] of [[dx, ex], [dy, ey]] as [number, number][]) {
          if (Math.abs(e) < 0.75) continue;
          dirTotal++;
          if (Math.sign(ob) === Math.sign(e)) dirAgree++;
        }
      }
      if (state.scene.gravity) {
        for (let f = 1; f + 1 < T; f++) {
          if (!validPair(i, f - 1) || !validPair(i, f)) continue;
          if (hasEvent(f - 1) || hasEvent(f) || restingAt(f - 1) || restingAt(f) || restingAt(f + 1)) continue;
          const ay = disp(i, f)[1] - disp(i, f - 1)[1];
          gTotal++;
          if (ay > 0.3 * gE - 0.5 && Math.abs(ay - gE) < Math.max(0.6 * gE, 1.2)) gOk++;
        }
      }
    } else {
      if (o.direction) {
        let k = 0;
        for (let f = 0; f + 1 < T && k < 6; f++) {
          if (!validPair(i, f)) continue;
          const [dx, dy] = disp(i, f);
          const d = o.direction === 'left' ? -dx : o.direction === 'right' ? dx : o.direction === 'up' ? -dy : dy;
          if (Math.abs(d) < 0.5) continue;
          k++;
          dirTotal++;
          if (d > 0) dirAgree++;
        }
      }
      if (spec.gravity) {
        const ays: number[] = [];
        for (let f = 1; f + 1 < T; f++) {
          if (!validPair(i, f - 1) || !validPair(i, f)) continue;
          const d1 = disp(i, f - 1)[1], d2 = disp(i, f)[1];
          if (Math.abs(d1) < 0.3 && Math.abs(d2) < 0.3) continue; // resting
          if (d1 > 0 && d2 < 0) continue; // a bounce
          ays.push(d2 - d1);
        }
        if (ays.length) {
          const med = median(ays);
          gTotal = ays.length;
          gOk = med > 0 ? ays.filter((a) => Math.abs(a - med) < Math.max(0.6 * med, 1.2)).length : 0;
        }
      }
    }
    const directionScore = dirTotal ? dirAgree / dirTotal : 1;
    const gravityScore = gTotal ? gOk / gTotal : 1;

    // Smoothness: the largest jump relative to the neighbouring jumps.
    let maxRatio = 0;
    let pairs = 0;
    for (let f = 0; f + 1 < T; f++) {
      if (!validPair(i, f)) continue;
      pairs++;
      if (f < 1 || f + 2 >= T || !validPair(i, f - 1) || !validPair(i, f + 1)) continue;
      if (state && (hasEvent(f - 1) || hasEvent(f) || hasEvent(f + 1))) continue; // a real collision or bounce changes speed
      if (!state) {
        // Without the state, skip direction changes (bounces, collisions): a teleport keeps the heading.
        const a = disp(i, f - 1), b = disp(i, f), c2 = disp(i, f + 1);
        const cos = (u: number[], v: number[]): number => (u[0] * v[0] + u[1] * v[1]) / (Math.hypot(u[0], u[1]) * Math.hypot(v[0], v[1]) + 1e-9);
        if (cos(a, b) < 0.5 || cos(b, c2) < 0.5) continue;
      }
      const d = Math.hypot(...disp(i, f));
      const ref = Math.max(EVAL.jumpFloorPx, Math.hypot(...disp(i, f - 1)), Math.hypot(...disp(i, f + 1)));
      maxRatio = Math.max(maxRatio, d / ref);
    }
    const smooth = pairs >= 2 ? clamp01(1 - (maxRatio - EVAL.jumpOk) / (EVAL.jumpBad - EVAL.jumpOk)) : 1;
    let violations = 0;
    for (let f = 0; f < T; f++) if (!explained[i][f]) violations++;
    reports.push({
      color: o.color,
      shape: o.shape,
      detectedShape: detected,
      presentFrames: tr.filter((p) => p.c).length,
      colorScore,
      shapeScore,
      permanenceViolations: violations,
      directionScore,
      gravityScore,
      maxJumpRatio: maxRatio,
      smoothness: smooth,
    });
  });

  // Fidelity.
  const fidParts = reports.map((r) => r.colorScore * (0.4 + 0.6 * r.shapeScore));
  let bgScore: number | undefined;
  if (spec.background) {
    const top = frames[0].bgRows;
    bgScore = colorDistance([top[0], top[1], top[2]], spec.background) < 70 ? 1 : 0;
    fidParts.push(bgScore);
  }
  const fidelity = fidParts.length ? fidParts.reduce((a, b) => a + b, 0) / fidParts.length : 1;
  const motion = reports.length ? reports.reduce((a, r) => a + (r.directionScore + r.gravityScore) / 2, 0) / reports.length : 1;
  const smoothness = reports.length ? Math.min(...reports.map((r) => r.smoothness)) : 1;

  // Image: background noise (horizontal second difference on clean background), background drift
  // across frames, and edge sharpness of the objects.
  let noiseSum = 0, noiseN = 0;
  let drift = 0;
  let sharpSum = 0, sharpN = 0;
  for (let f = 0; f < T; f++) {
    const fa = frames[f];
    const base = f * W * H * 3;
    for (let y = 0; y < H; y += 1) {
      for (let x = 1; x + 1 < W; x++) {
        const i = y * W + x;
        if (fa.fg[i] || fa.fg[i - 1] || fa.fg[i + 1]) continue;
        let s = 0;
        for (let c = 0; c < 3; c++) s += Math.abs(video.frames[base + i * 3 + c] - (video.frames[base + (i - 1) * 3 + c] + video.frames[base + (i + 1) * 3 + c]) / 2);
        noiseSum += s / 3;
        noiseN++;
      }
    }
    if (f > 0) {
      let d = 0;
      for (let k = 0; k < H * 3; k++) d += Math.abs(fa.bgMean[k] - frames[0].bgMean[k]);
      drift = Math.max(drift, d / (H * 3));
    }
    spec.objs.forEach((o, i) => {
      const c = tracks[i][f].c;
      if (!c || !o.rgb || !classify(c, W)) return;
      const inComp = new Set<number>(c.pixels);
      for (const p of c.pixels) {
        const x = p % W, y = (p - x) / W;
        for (const [dx, dy] of [[1, 0], [-1, 0], [0, 1], [0, -1]]) {
          const nx = x + dx, ny = y + dy;
          if (inComp.has(ny * W + nx)) continue;
          const qx = x + 2 * dx, qy = y + 2 * dy;
          if (qx < 0 || qy < 0 || qx >= W || qy >= H || fa.fg[qy * W + qx]) continue;
          const q = base + (qy * W + qx) * 3, pp = base + p * 3;
          const num = Math.abs(video.frames[pp] - video.frames[q]) + Math.abs(video.frames[pp + 1] - video.frames[q + 1]) + Math.abs(video.frames[pp + 2] - video.frames[q + 2]);
          const den = Math.abs(o.rgb[0] - video.frames[q]) + Math.abs(o.rgb[1] - video.frames[q + 1]) + Math.abs(o.rgb[2] - video.frames[q + 2]);
          if (den < 60) continue;
          sharpSum += Math.min(1.2, num / den);
          sharpN++;
        }
      }
    });
  }
  const noise = noiseN ? noiseSum / noiseN : 0;
  const sharpness = sharpN ? clamp01(sharpSum / sharpN / 0.8) : 1;
  const noiseScore = clamp01(1 - (noise - 1.5) / 5);
  const driftScore = clamp01(1 - (drift - 3) / 15);
  const image = Math.min(noiseScore, driftScore, sharpness);

  const overall = (fidelity + permanence + motion + smoothness + image) / 5;
  return { fidelity, permanence, motion, smoothness, image, overall, details: { objects: reports, noise, backgroundDrift: drift, sharpness, background: bgScore } };
}

export interface BatchScores {
  videos: VideoScores[];
  mean: { fidelity: number; permanence: number; motion: number; smoothness: number; image: number; overall: number };
}

/** Score many videos; per-video scores and their means. */
export function evaluateBatch(items: { video: VideoInput; target: EvalTarget }[]): BatchScores {
  const videos = items.map((it) => evaluateVideo(it.video, it.target));
  const keys = ['fidelity', 'permanence', 'motion', 'smoothness', 'image', 'overall'] as const;
  const mean = {} as BatchScores['mean'];
  for (const k of keys) mean[k] = videos.length ? videos.reduce((a, v) => a + v[k], 0) / videos.length : 0;
  return { videos, mean };
}

// ---- Corruptions (for tests and calibration) ----

function copyVideo(v: VideoInput): VideoInput {
  return { ...v, frames: v.frames.slice() };
}

/** Shuffle the frame order (deterministic from seed). */
export function corruptShuffle(v: VideoInput, seed = 1): VideoInput {
  const out = copyVideo(v);
  const n = v.numFrames;
  const order = [...Array(n).keys()];
  let s = seed >>> 0 || 1;
  for (let i = n - 1; i > 0; i--) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    const j = s % (i + 1);
    [order[i], order[j]] = [order[j], order[i]];
  }
  const fs = v.width * v.height * 3;
  for (let f = 0; f < n; f++) out.frames.set(v.frames.subarray(order[f] * fs, order[f] * fs + fs), f * fs);
  return out;
}

/** Drop frame k (the video gets one frame shorter). */
export function corruptDropFrame(v: VideoInput, k: number): VideoInput {
  const fs = v.width * v.height * 3;
  const frames = new Uint8Array(fs * (v.numFrames - 1));
  frames.set(v.frames.subarray(0, k * fs), 0);
  frames.set(v.frames.subarray((k + 1) * fs, v.numFrames * fs), k * fs);
  return { ...v, frames, numFrames: v.numFrames - 1 };
}

/** Replace one named color by another wherever a pixel is within `tol` of it. */
export function corruptSwapColor(v: VideoInput, from: RGB, to: RGB, tol = 90): VideoInput {
  const out = copyVideo(v);
  const d = out.frames;
  for (let i = 0; i < d.length; i += 3) {
    if (Math.abs(d[i] - from[0]) + Math.abs(d[i + 1] - from[1]) + Math.abs(d[i + 2] - from[2]) < tol) {
      d[i] = to[0];
      d[i + 1] = to[1];
      d[i + 2] = to[2];
    }
  }
  return out;
}

/** Delete an object from frame `from` on: its pixels (within a box around it) are replaced by the row background. */
export function corruptDeleteObject(v: VideoInput, state: WorldState, object: number, from: number): VideoInput {
  const out = copyVideo(v);
  const { width: W, height: H } = v;
  const o = state.scene.objects[object];
  for (let f = from; f < v.numFrames; f++) {
    const base = f * W * H * 3;
    const cx = state.tracks[object].x[f] * H, cy = state.tracks[object].y[f] * H, R = o.radius * H + 2;
    for (let y = Math.max(0, Math.floor(cy - R)); y < Math.min(H, Math.ceil(cy + R)); y++) {
      // background of this row: the median-like value at the left edge column far from objects
      const ref = base + (y * W + (cx < W / 2 ? W - 1 : 0)) * 3;
      for (let x = Math.max(0, Math.floor(cx - R)); x < Math.min(W, Math.ceil(cx + R)); x++) {
        const p = base + (y * W + x) * 3;
        if (colorDistance([out.frames[p], out.frames[p + 1], out.frames[p + 2]], [out.frames[ref], out.frames[ref + 1], out.frames[ref + 2]]) > 10) {
          out.frames[p] = out.frames[ref];
          out.frames[p + 1] = out.frames[ref + 1];
          out.frames[p + 2] = out.frames[ref + 2];
        }
      }
    }
  }
  return out;
}

/** Add Gaussian noise of standard deviation sigma (deterministic). */
export function corruptNoise(v: VideoInput, sigma = 12, seed = 7): VideoInput {
  const out = copyVideo(v);
  let s = seed >>> 0 || 1;
  const rnd = (): number => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return (s + 0.5) / 4294967296;
  };
  const d = out.frames;
  for (let i = 0; i < d.length; i++) {
    const n = Math.sqrt(-2 * Math.log(rnd())) * Math.cos(2 * Math.PI * rnd());
    const val = d[i] + sigma * n;
    d[i] = val < 0 ? 0 : val > 255 ? 255 : Math.round(val);
  }
  return out;
}
