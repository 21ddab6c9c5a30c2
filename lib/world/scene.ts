import {
  BACKGROUND_COLORS,
  BACKGROUND_COLOR_NAMES,
  FLOOR_COLORS,
  FLOOR_COLOR_NAMES,
  OBJECT_COLORS,
  OBJECT_COLOR_NAMES,
  OCCLUDER_COLORS,
  OCCLUDER_COLOR_NAMES,
  colorDistance,
  type RGB,
} from './palette.js';
import { Rng } from './rng.js';
import {
  SHAPES,
  SIZES,
  SIZE_RADIUS,
  type Motion,
  type ObjectSpec,
  type SceneSpec,
  type Shape,
  type SizeName,
  GRAVITY,
} from './types.js';

export type Direction = 'left' | 'right' | 'up' | 'down';

/** Partial description of one object; unspecified fields are sampled. */
export interface ObjectConstraint {
  shape?: Shape;
  color?: string;
  size?: SizeName;
  motion?: Motion;
  direction?: Direction;
}

/** Partial description of a scene (what a short prompt pins down); everything else is sampled. */
export interface SceneConstraints {
  objects?: ObjectConstraint[];
  numObjects?: number;
  gravity?: boolean;
  bounce?: 'elastic' | 'damped';
  sides?: 'walls' | 'wrap';
  background?: string;
  gradient?: boolean;
  floor?: boolean;
  occluder?: boolean | string;
  pan?: 'left' | 'right' | 'none';
}

/** Minimum L1 RGB distance between an object color and the background (and occluder). */
const MIN_OBJECT_BG = 170;
export const WRAP_MARGIN = 0.2;

function farFrom(rgb: RGB, others: RGB[], min: number): boolean {
  for (const o of others) if (colorDistance(rgb, o) < min) return false;
  return true;
}

function sampleObjectColors(rng: Rng, n: number, avoid: RGB[], fixed: (string | undefined)[]): string[] {
  const out: string[] = [];
  const pool = rng.shuffle(OBJECT_COLOR_NAMES.slice());
  for (let i = 0; i < n; i++) {
    const f = fixed[i];
    if (f) {
      out.push(f);
      continue;
    }
    let chosen: string | undefined;
    for (const name of pool) {
      if (out.includes(name) || fixed.includes(name)) continue;
      if (!farFrom(OBJECT_COLORS[name], avoid, MIN_OBJECT_BG)) continue;
      if (!farFrom(OBJECT_COLORS[name], out.map((c) => OBJECT_COLORS[c]), 110)) continue;
      chosen = name;
      break;
    }
    out.push(chosen ?? pool.find((c) => !out.includes(c)) ?? pool[0]);
  }
  return out;
}

/** Sample a scene for a frame of the given aspect ratio (width / height), honouring any constraints. */
export function sampleScene(rng: Rng, aspect: number, c: SceneConstraints = {}): SceneSpec {
  const objCons = c.objects ?? [];
  const n = Math.max(1, Math.min(3, c.numObjects ?? Math.max(objCons.length, rng.weighted([1, 2, 3], [0.4, 0.35, 0.25]))));
  const cons: ObjectConstraint[] = [];
  for (let i = 0; i < n; i++) cons.push(objCons[i] ?? {});

  // Physics regime. Motions that need gravity (or its absence) decide it when the prompt names one.
  const wantsGravity = cons.some((o) => o.motion === 'drop' || o.motion === 'toss' || o.motion === 'roll' || o.motion === 'rest');
  const wantsFloat = cons.some((o) => o.motion === 'drift' || o.motion === 'still');
  const gravity = c.gravity ?? (wantsGravity ? true : wantsFloat ? false : rng.bool(0.72));
  const bounce = c.bounce ?? (rng.bool(0.4) ? 'elastic' : 'damped');
  const restitution = bounce === 'elastic' ? 1 : rng.range(0.55, 0.8);
  const pan =
    c.pan === 'left' ? -rng.range(0.15, 0.35) : c.pan === 'right' ? rng.range(0.15, 0.35) : c.pan === 'none' ? 0 : rng.bool(0.18) ? (rng.bool() ? 1 : -1) * rng.range(0.15, 0.35) : 0;
  const sides = pan !== 0 ? 'wrap' : (c.sides ?? (rng.bool(0.3) ? 'wrap' : 'walls'));

  // Colors: background, then floor and occluder, then objects far from all of them.
  const fixedColors = cons.map((o) => o.color);
  const fixedRgb = fixedColors.filter((x): x is string => !!x).map((x) => OBJECT_COLORS[x]);
  const bgCandidates = BACKGROUND_COLOR_NAMES.filter((b) => farFrom(BACKGROUND_COLORS[b], fixedRgb, MIN_OBJECT_BG));
  const bgName = c.background && BACKGROUND_COLORS[c.background] ? c.background : rng.pick(bgCandidates.length ? bgCandidates : BACKGROUND_COLOR_NAMES);
  const background: SceneSpec['background'] = { kind: 'solid', color: bgName, rgb: BACKGROUND_COLORS[bgName] };
  if (c.gradient ?? rng.bool(0.35)) {
    const bgRgb = BACKGROUND_COLORS[bgName];
    const others = bgCandidates.filter((b) => b !== bgName && colorDistance(BACKGROUND_COLORS[b], bgRgb) < 200 && colorDistance(BACKGROUND_COLORS[b], bgRgb) > 40);
    if (others.length) {
      const b2 = rng.pick(others);
      background.kind = 'gradient';
      background.color2 = b2;
      background.rgb2 = BACKGROUND_COLORS[b2];
    }
  }
  const bgRgbs: RGB[] = [background.rgb];
  if (background.rgb2) bgRgbs.push(background.rgb2);

  const hasFloor = c.floor ?? rng.bool(0.6);
  let floor: SceneSpec['floor'] = null;
  if (hasFloor) {
    const fc = FLOOR_COLOR_NAMES.filter((f) => farFrom(FLOOR_COLORS[f], bgRgbs, 60));
    const fname = rng.pick(fc.length ? fc : FLOOR_COLOR_NAMES);
    floor = { color: fname, rgb: FLOOR_COLORS[fname], y: rng.range(0.74, 0.9) };
  }
  const floorY = floor ? floor.y : 1;

  let occluder: SceneSpec['occluder'] = null;
  const wantOcc = typeof c.occluder === 'string' ? true : (c.occluder ?? rng.bool(0.3));
  if (wantOcc) {
    let oname: string;
    if (typeof c.occluder === 'string' && OCCLUDER_COLORS[c.occluder]) oname = c.occluder;
    else {
      const oc = OCCLUDER_COLOR_NAMES.filter((o) => farFrom(OCCLUDER_COLORS[o], bgRgbs, 120) && farFrom(OCCLUDER_COLORS[o], fixedRgb, 150));
      oname = rng.pick(oc.length ? oc : OCCLUDER_COLOR_NAMES);
    }
    occluder = { color: oname, rgb: OCCLUDER_COLORS[oname], x: 0, width: rng.range(0.1, 0.16) };
  }

  const avoid = bgRgbs.slice();
  if (occluder) avoid.push(occluder.rgb);
  const colors = sampleObjectColors(rng, n, avoid, fixedColors);

  const margin = sides === 'wrap' ? WRAP_MARGIN : 0;
  const worldWidth = aspect + 2 * margin;
  if (occluder) occluder.x = margin + aspect * rng.range(0.35, 0.65);

  const objects: ObjectSpec[] = [];
  for (let i = 0; i < n; i++) {
    const oc = cons[i];
    const shape = oc.shape ?? rng.pick(SHAPES);
    const size = oc.size ?? rng.weighted(SIZES, [0.35, 0.4, 0.25]);
    const radius = SIZE_RADIUS[size] * rng.range(0.92, 1.08);
    let motion: Motion;
    if (oc.motion && (gravity ? ['drop', 'toss', 'roll', 'rest'] : ['drift', 'still']).includes(oc.motion)) motion = oc.motion;
    else if (gravity) motion = oc.direction === 'up' ? 'toss' : oc.direction === 'down' ? 'drop' : oc.direction ? rng.pick(['roll', 'drop', 'toss'] as Motion[]) : rng.weighted(['drop', 'toss', 'roll', 'rest'] as Motion[], [0.45, 0.2, 0.28, 0.07]);
    else motion = rng.bool(0.9) || oc.direction ? 'drift' : 'still';
    const dirSign = oc.direction === 'left' ? -1 : oc.direction === 'right' ? 1 : rng.bool() ? 1 : -1;

    let placed: ObjectSpec | null = null;
    for (let attempt = 0; attempt < 60 && !placed; attempt++) {
      const lo = radius + 0.01;
      const hi = aspect - radius - 0.01;
      let sx = rng.range(lo, Math.max(lo, hi));
      let y = 0;
      let vx = 0;
      let vy = 0;
      switch (motion) {
        case 'drop':
          y = rng.range(radius + 0.03, Math.min(0.42, floorY - radius - 0.2));
          vx = rng.bool(0.75) || oc.direction ? dirSign * rng.range(0.12, 0.55) : 0;
          vy = rng.range(0, 0.3);
          break;
        case 'toss':
          y = floorY - radius - rng.range(0, 0.2);
          vx = dirSign * rng.range(0.15, 0.55);
          vy = -rng.range(1.6, 3.1);
          break;
        case 'roll':
          y = floorY - radius;
          vx = dirSign * rng.range(0.3, 0.85);
          // Rolling objects start on the side they roll away from so they travel on screen.
          if (sides === 'walls') sx = dirSign > 0 ? rng.range(lo, lo + aspect * 0.4) : rng.range(hi - aspect * 0.4, hi);
          break;
        case 'rest':
          y = floorY - radius;
          break;
        case 'drift': {
          y = rng.range(radius + 0.02, floorY - radius - 0.02);
          const speed = rng.range(0.3, 0.8);
          let ang = rng.range(0, 2 * Math.PI);
          if (oc.direction === 'left' || oc.direction === 'right') ang = (dirSign > 0 ? 0 : Math.PI) + rng.range(-0.6, 0.6);
          if (oc.direction === 'up') ang = -Math.PI / 2 + rng.range(-0.6, 0.6);
          if (oc.direction === 'down') ang = Math.PI / 2 + rng.range(-0.6, 0.6);
          vx = speed * Math.cos(ang);
          vy = speed * Math.sin(ang);
          break;
        }
        case 'still':
          y = rng.range(radius + 0.02, floorY - radius - 0.02);
          break;
      }
      const x = sx + margin;
      let ok = true;
      for (const o of objects) {
        const dx = o.x - x;
        const dy = o.y - y;
        if (Math.hypot(dx, dy) < o.radius + radius + 0.03) ok = false;
      }
      if (ok || attempt === 59) {
        placed = { shape, color: colors[i], rgb: OBJECT_COLORS[colors[i]], size, radius, motion, x, y, vx, vy };
        if (!ok) placed.x = margin + ((objects.length + 1) * aspect) / (n + 1);
      }
    }
    objects.push(placed!);
  }
  void GRAVITY;
  return { aspect, gravity, bounce, restitution, sides, background, floor, occluder, pan, objects };
}
