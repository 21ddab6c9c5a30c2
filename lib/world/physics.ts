import { GRAVITY, type ObjectTrack, type SceneSpec, type WorldEvent, type WorldState } from './types.js';
import { WRAP_MARGIN } from './scene.js';

const SUBSTEPS = 4;
const SETTLE_SPEED = 0.45; // below this a floor bounce settles (frame heights / s)
const ROLL_FRICTION = 0.35; // 1/s, exponential decay of horizontal speed on the floor
const COLLISION_GAP_FRAMES = 4; // debounce repeated contacts of one pair

function mod(a: number, m: number): number {
  const r = a % m;
  return r < 0 ? r + m : r;
}

function overlap(a0: number, a1: number, b0: number, b1: number): number {
  return Math.max(0, Math.min(a1, b1) - Math.max(a0, b0));
}

/**
 * Integrate the scene and record per-frame screen positions, velocities, visibility and events.
 * Semi-implicit Euler with SUBSTEPS substeps per frame; deterministic (no randomness here).
 */
export function simulate(scene: SceneSpec, opts: { numFrames: number; fps: number; width: number; height: number; seed?: number }): WorldState {
  const { numFrames, fps, width, height } = opts;
  const n = scene.objects.length;
  const margin = scene.sides === 'wrap' ? WRAP_MARGIN : 0;
  const W = scene.aspect + 2 * margin;
  const floorY = scene.floor ? scene.floor.y : 1;
  const g = scene.gravity ? GRAVITY : 0;
  const e = scene.restitution;
  const eWall = Math.max(e, 0.85);
  const eObj = Math.max(e, 0.85);

  const x = new Float64Array(n);
  const y = new Float64Array(n);
  const vx = new Float64Array(n);
  const vy = new Float64Array(n);
  const r = new Float64Array(n);
  const m = new Float64Array(n);
  const resting = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    const o = scene.objects[i];
    x[i] = o.x;
    y[i] = o.y;
    vx[i] = o.vx;
    vy[i] = o.vy;
    r[i] = o.radius;
    m[i] = o.radius * o.radius;
    resting[i] = scene.gravity && Math.abs(o.y + o.radius - floorY) < 1e-6 && o.vy === 0 ? 1 : 0;
  }

  const tracks: ObjectTrack[] = [];
  for (let i = 0; i < n; i++) tracks.push({ x: [], y: [], vx: [], vy: [], visible: [] });
  const events: WorldEvent[] = [];
  const lastPair = new Map<number, number>();
  const dt = 1 / (fps * SUBSTEPS);
  const occ = scene.occluder;

  const camAt = (t: number): number => scene.pan * t;
  const screenX = (wx: number, t: number): number => (scene.sides === 'wrap' ? mod(wx - camAt(t), W) - margin : wx);

  const record = (frame: number): void => {
    const t = frame / fps;
    const ox = occ ? screenX(occ.x, t) : 0;
    for (let i = 0; i < n; i++) {
      const sx = screenX(x[i], t);
      const tr = tracks[i];
      tr.x.push(sx);
      tr.y.push(y[i]);
      tr.vx.push(vx[i] - (scene.sides === 'wrap' ? scene.pan : 0));
      tr.vy.push(resting[i] ? 0 : vy[i]);
      const d = 2 * r[i];
      const fx = overlap(sx - r[i], sx + r[i], 0, scene.aspect) / d;
      const fy = overlap(y[i] - r[i], y[i] + r[i], 0, 1) / d;
      let hid = 0;
      if (occ) {
        const inView = overlap(sx - r[i], sx + r[i], 0, scene.aspect);
        const behind = overlap(Math.max(0, sx - r[i]), Math.min(scene.aspect, sx + r[i]), ox - occ.width / 2, ox + occ.width / 2);
        hid = inView > 0 ? behind / inView : 0;
        // Only the part above the floor is covered (the bar stands on the floor), which is all of it.
      }
      tr.visible.push(Math.max(0, fx * fy * (1 - hid)));
    }
  };

  const addEvent = (ev: WorldEvent): void => {
    events.push(ev);
  };

  record(0);
  for (let f = 1; f < numFrames; f++) {
    for (let s = 0; s < SUBSTEPS; s++) {
      const t = (f - 1) / fps + (s + 1) * dt;
      for (let i = 0; i < n; i++) {
        if (!resting[i]) vy[i] += g * dt;
        x[i] += vx[i] * dt;
        y[i] += vy[i] * dt;
        if (resting[i]) vx[i] *= Math.exp(-ROLL_FRICTION * dt);
        // Floor.
        if (y[i] + r[i] > floorY) {
          y[i] = floorY - r[i];
          if (vy[i] > 0) {
            const out = vy[i] * e;
            if (scene.gravity && out < SETTLE_SPEED) {
              if (!resting[i]) addEvent({ type: 'settle', frame: f, time: t, object: i, side: 'bottom' });
              vy[i] = 0;
              resting[i] = 1;
            } else {
              vy[i] = -out;
              addEvent({ type: 'bounce_floor', frame: f, time: t, object: i, side: 'bottom' });
            }
          }
        }
        // Ceiling only without gravity (with gravity, tossed objects may leave through the top and fall back).
        if (!scene.gravity && y[i] - r[i] < 0) {
          y[i] = r[i];
          if (vy[i] < 0) {
            vy[i] = -vy[i] * eWall;
            addEvent({ type: 'bounce_ceiling', frame: f, time: t, object: i, side: 'top' });
          }
        }
        if (scene.sides === 'walls') {
          if (x[i] - r[i] < 0) {
            x[i] = r[i];
            if (vx[i] < 0) {
              vx[i] = -vx[i] * eWall;
              addEvent({ type: 'bounce_wall', frame: f, time: t, object: i, side: 'left' });
            }
          } else if (x[i] + r[i] > W) {
            x[i] = W - r[i];
            if (vx[i] > 0) {
              vx[i] = -vx[i] * eWall;
              addEvent({ type: 'bounce_wall', frame: f, time: t, object: i, side: 'right' });
            }
          }
        } else {
          x[i] = mod(x[i], W);
        }
      }
      // Object-object collisions (as discs; equal density, mass ~ area).
      for (let i = 0; i < n; i++) {
        for (let j = i + 1; j < n; j++) {
          let dx = x[j] - x[i];
          if (scene.sides === 'wrap') dx -= W * Math.round(dx / W);
          const dy = y[j] - y[i];
          const dist = Math.hypot(dx, dy);
          const minD = r[i] + r[j];
          if (dist >= minD || dist < 1e-9) continue;
          const nx = dx / dist;
          const ny = dy / dist;
          // Separate along the normal in proportion to the other's mass (a resting object on the floor is not pushed into it).
          const pen = minD - dist;
          const wi = m[j] / (m[i] + m[j]);
          const wj = m[i] / (m[i] + m[j]);
          x[i] -= nx * pen * wi;
          y[i] -= ny * pen * wi;
          x[j] += nx * pen * wj;
          y[j] += ny * pen * wj;
          const rv = (vx[j] - vx[i]) * nx + (vy[j] - vy[i]) * ny;
          if (rv >= 0) continue;
          const jimp = (-(1 + eObj) * rv) / (1 / m[i] + 1 / m[j]);
          vx[i] -= (jimp / m[i]) * nx;
          vy[i] -= (jimp / m[i]) * ny;
          vx[j] += (jimp / m[j]) * nx;
          vy[j] += (jimp / m[j]) * ny;
          if (Math.abs(ny) > 0.3) {
            resting[i] = 0;
            resting[j] = 0;
          }
          if (resting[i]) vy[i] = 0;
          if (resting[j]) vy[j] = 0;
          const key = i * 8 + j;
          const last = lastPair.get(key);
          if (last === undefined || f - last > COLLISION_GAP_FRAMES) addEvent({ type: 'collision', frame: f, time: t, object: i, other: j });
          lastPair.set(key, f);
        }
      }
      for (let i = 0; i < n; i++) {
        if (y[i] + r[i] > floorY) y[i] = floorY - r[i];
        if (scene.sides === 'wrap') x[i] = mod(x[i], W);
      }
    }
    record(f);
  }

  // Visibility events from the recorded screen tracks.
  for (let i = 0; i < n; i++) {
    const tr = tracks[i];
    let prevOn = true;
    let prevHidden = false;
    let prevBehind = false;
    for (let f = 0; f < numFrames; f++) {
      const t = f / fps;
      const sx = tr.x[f];
      const sy = tr.y[f];
      const ri = r[i];
      const on = sx + ri > 0 && sx - ri < scene.aspect && sy + ri > 0 && sy - ri < 1;
      const ox = occ ? screenX(occ.x, t) : 0;
      const behind = !!occ && on && Math.abs(sx - ox) < occ.width / 2 + ri * 0.3;
      const hidden = on && tr.visible[f] < 0.02;
      if (f > 0) {
        if (prevOn && !on) {
          const side = sy + ri <= 0 ? 'top' : sx < scene.aspect / 2 ? 'left' : 'right';
          addEvent({ type: 'exit', frame: f, time: t, object: i, side });
        }
        if (!prevOn && on) {
          const side = sy - ri < 0.02 && scene.gravity ? 'top' : sx < scene.aspect / 2 ? 'left' : 'right';
          addEvent({ type: 'enter', frame: f, time: t, object: i, side });
        }
        if (!prevHidden && hidden) addEvent({ type: 'hidden', frame: f, time: t, object: i });
        if (prevHidden && !hidden && on) addEvent({ type: 'emerged', frame: f, time: t, object: i });
        if (!prevBehind && behind) addEvent({ type: 'behind', frame: f, time: t, object: i });
      } else if (behind) {
        addEvent({ type: 'behind', frame: 0, time: 0, object: i });
      }
      prevOn = on;
      prevHidden = hidden;
      prevBehind = behind;
    }
  }
  events.sort((a, b) => a.frame - b.frame || a.time - b.time || a.object - b.object);

  return { seed: opts.seed ?? 0, width, height, numFrames, fps, scene, worldWidth: W, margin, floorY, tracks, events };
}

/** Screen x of the occluder center at a frame. */
export function occluderScreenX(state: WorldState, frame: number): number {
  const occ = state.scene.occluder;
  if (!occ) return NaN;
  if (state.scene.sides !== 'wrap') return occ.x;
  return mod(occ.x - state.scene.pan * (frame / state.fps), state.worldWidth) - state.margin;
}
