import { Rng } from './rng.js';
import type { WorldEvent, WorldState, Shape, SizeName } from './types.js';

// Caption grammar (see docs/WORLD.md): a caption is a list of object clauses and scene sentences, in a
// randomly chosen order, each picked from several templates with synonyms. Every fact comes from the state.

const SIZE_WORDS: Record<SizeName, string[]> = {
  small: ['small', 'little', 'small'],
  medium: ['medium', 'medium-sized', 'mid-sized'],
  large: ['large', 'big', 'large'],
};
const SHAPE_WORDS: Record<Shape, string[]> = {
  ball: ['ball', 'ball', 'circle', 'disc'],
  square: ['square', 'square', 'block', 'box'],
  triangle: ['triangle'],
};
const COUNT_WORDS = ['', 'once', 'twice', 'three times', 'four times'];

function countWord(rng: Rng, k: number): string {
  if (k < COUNT_WORDS.length) return COUNT_WORDS[k];
  return rng.pick(['several times', 'repeatedly', 'again and again']);
}

function cap(s: string): string {
  return s.charAt(0).toUpperCase() + s.slice(1);
}

function joinList(rng: Rng, parts: string[]): string {
  if (parts.length <= 1) return parts.join('');
  const last = parts[parts.length - 1];
  const conj = rng.pick([' and ', ' and then ', ', then ', ' before it ']);
  return parts.slice(0, -1).join(', ') + (conj === ' before it ' && parts.length === 2 ? ' and ' : conj) + last;
}

function article(word: string): string {
  return /^[aeiou]/.test(word) ? 'an' : 'a';
}

interface ObjWords {
  np: string; // indefinite noun phrase: "a large red ball"
  def: string; // definite: "the red ball"
  shapeWord: string;
}

function objectWords(rng: Rng, state: WorldState, i: number): ObjWords {
  const o = state.scene.objects[i];
  const shapeWord = rng.pick(SHAPE_WORDS[o.shape]);
  const size = rng.pick(SIZE_WORDS[o.size]);
  const np = rng.bool(0.85) ? `${article(size)} ${size} ${o.color} ${shapeWord}` : `${article(o.color)} ${o.color} ${shapeWord} of ${o.size} size`;
  return { np, def: `the ${o.color} ${o.shape}`, shapeWord };
}

function region(state: WorldState, x: number, y: number): { h: string; v: string } {
  const a = state.scene.aspect;
  const h = x < a / 3 ? 'left' : x > (2 * a) / 3 ? 'right' : 'center';
  const v = y < 0.36 ? 'top' : y > 0.64 ? 'bottom' : 'middle';
  return { h, v };
}

function placePhrase(rng: Rng, h: string, v: string, prep: 'from' | 'in'): string {
  if (h === 'center' && v === 'middle') return rng.pick([`${prep === 'from' ? 'from' : 'in'} the center`, 'near the middle of the frame']);
  const vv = v === 'top' ? rng.pick(['top', 'upper']) : v === 'bottom' ? rng.pick(['bottom', 'lower']) : '';
  if (h === 'center') return `${prep} the ${v === 'top' ? 'top' : v === 'bottom' ? 'bottom' : 'middle'} center`;
  return vv ? `${prep} the ${vv} ${h}` : `${prep} the ${h}`;
}

function dirWord(rng: Rng, vx: number): string {
  const d = vx > 0 ? 'right' : 'left';
  return rng.pick([`to the ${d}`, `toward the ${d}`, d, `${d}ward`]);
}

function floorName(rng: Rng, state: WorldState): string {
  const fl = state.scene.floor;
  if (fl) return rng.pick([`the ${fl.color} floor`, `the ${fl.color} floor line`, `the ${fl.color} ground`]);
  return rng.pick(['the bottom of the frame', 'the bottom edge', 'the ground']);
}

/** The chronological phrases of one object's story. */
function objectPhrases(rng: Rng, state: WorldState, i: number, words: ObjWords[]): string[] {
  const o = state.scene.objects[i];
  const tr = state.tracks[i];
  const evs = state.events.filter((e) => e.object === i || e.other === i);
  const rolls = o.shape === 'ball' ? 'rolls' : 'slides';
  const { h, v } = region(state, tr.x[0], tr.y[0]);
  const onScreen0 = tr.visible[0] > 0 || (state.scene.occluder != null && tr.x[0] > 0 && tr.x[0] < state.scene.aspect);
  const phrases: string[] = [];
  const vx0 = tr.vx[0];
  const moving = Math.abs(vx0) > 0.08;

  switch (o.motion) {
    case 'drop':
      phrases.push(
        rng.pick([
          `falls ${placePhrase(rng, h, v, 'from')}`,
          `drops ${placePhrase(rng, h, v, 'from')}`,
          `starts ${placePhrase(rng, h, v, 'in')} and falls`,
          `tumbles down ${placePhrase(rng, h, v, 'from')}`,
        ]) + (moving && rng.bool(0.6) ? `, drifting ${dirWord(rng, vx0)}` : ''),
      );
      break;
    case 'toss':
      phrases.push(
        rng.pick([`is tossed upward ${placePhrase(rng, h, v, 'from')}`, `leaps up ${placePhrase(rng, h, v, 'from')}`, `is thrown up ${placePhrase(rng, h, v, 'from')}`, `jumps upward ${placePhrase(rng, h, v, 'from')}`]) +
          (moving ? ` ${rng.pick(['heading', 'moving', 'going'])} ${dirWord(rng, vx0)}` : ''),
      );
      break;
    case 'roll':
      phrases.push(
        rng.pick([`${rolls} ${dirWord(rng, vx0)} along ${floorName(rng, state)}`, `${rolls} ${dirWord(rng, vx0)} ${placePhrase(rng, h, 'bottom', 'from')}`, `moves ${dirWord(rng, vx0)} across the floor`]),
      );
      break;
    case 'rest':
      phrases.push(rng.pick([`sits on the floor ${placePhrase(rng, h, 'bottom', 'in')}`, `rests ${placePhrase(rng, h, 'bottom', 'in')}`, `waits on the floor ${placePhrase(rng, h, 'bottom', 'in')}`]));
      break;
    case 'drift': {
      const vy0 = tr.vy[0];
      const horiz = Math.abs(vx0) > 0.12 ? (vx0 > 0 ? 'right' : 'left') : '';
      const vert = Math.abs(vy0) > 0.12 ? (vy0 > 0 ? 'down' : 'up') : '';
      const dir = horiz && vert ? rng.pick([`${vert} and to the ${horiz}`, `${vert} and ${horiz}`]) : horiz ? dirWord(rng, vx0) : vert === 'up' ? 'upward' : 'downward';
      phrases.push(rng.pick([`drifts ${dir} ${placePhrase(rng, h, v, 'from')}`, `floats ${dir}`, `glides ${dir} ${placePhrase(rng, h, v, 'from')}`, `moves ${dir} ${placePhrase(rng, h, v, 'from')}`]));
      break;
    }
    case 'still':
      phrases.push(rng.pick([`hovers ${placePhrase(rng, h, v, 'in')}`, `floats motionless ${placePhrase(rng, h, v, 'in')}`, `hangs still ${placePhrase(rng, h, v, 'in')}`]));
      break;
  }
  if (!onScreen0) phrases[0] = rng.pick(['enters the frame and ', 'comes into view and ']) + phrases[0];

  // Events, with consecutive floor bounces merged into one counted phrase.
  let k = 0;
  while (k < evs.length && phrases.length < 5) {
    const ev = evs[k];
    if (ev.type === 'bounce_floor' && ev.object === i) {
      let cnt = 0;
      while (k < evs.length && evs[k].type === 'bounce_floor' && evs[k].object === i) {
        cnt++;
        k++;
      }
      const fl = floorName(rng, state);
      phrases.push(rng.pick([`bounces ${countWord(rng, cnt)} on ${fl}`, `hits ${fl} ${countWord(rng, cnt)}`, `bounces ${countWord(rng, cnt)} off ${fl}`]));
      continue;
    }
    k++;
    if (ev.object !== i && ev.type !== 'collision') continue;
    switch (ev.type) {
      case 'bounce_wall':
        phrases.push(rng.pick([`bounces off the ${ev.side} wall`, `hits the ${ev.side} edge`, `rebounds from the ${ev.side} side`]));
        break;
      case 'bounce_ceiling':
        phrases.push(rng.pick(['bounces off the top', 'hits the top edge']));
        break;
      case 'collision': {
        const other = ev.object === i ? ev.other! : ev.object;
        const od = words[other].def;
        phrases.push(rng.pick([`collides with ${od}`, `knocks into ${od}`, `bumps into ${od}`, `hits ${od}`]));
        break;
      }
      case 'exit': {
        const back = evs.find((e2) => e2.type === 'enter' && e2.object === i && e2.frame > ev.frame);
        if (ev.side === 'top') phrases.push(back ? rng.pick(['flies out of the top of the frame and falls back in', 'leaves the frame at the top and drops back into view']) : 'flies out of the top of the frame');
        else if (back) {
          phrases.push(rng.pick([`leaves the frame on the ${ev.side} and comes back from the ${back.side}`, `exits ${ev.side === 'left' ? 'left' : 'right'} and reappears on the ${back.side}`, `slips out on the ${ev.side} and returns from the ${back.side}`]));
        } else phrases.push(rng.pick([`leaves the frame on the ${ev.side}`, `exits on the ${ev.side}`]));
        break;
      }
      case 'behind': {
        const occ = state.scene.occluder!;
        const hid = evs.find((e2) => e2.type === 'hidden' && e2.object === i && e2.frame >= ev.frame && e2.frame <= ev.frame + 8);
        const bar = rng.pick(['bar', 'vertical bar', 'pillar', 'post']);
        phrases.push(hid ? rng.pick([`disappears behind the ${occ.color} ${bar} and comes out the other side`, `passes behind the ${occ.color} ${bar}`, `vanishes behind the ${occ.color} ${bar} for a moment`]) : rng.pick([`passes behind the ${occ.color} ${bar}`, `slips behind the ${occ.color} ${bar}`]));
        break;
      }
      case 'settle':
        phrases.push(rng.pick(['comes to rest', 'settles on the floor', 'stops bouncing']));
        break;
      default:
        break;
    }
    // Say a repeated event once.
    if (phrases.length >= 2) {
      const a = phrases[phrases.length - 1].split(' ').slice(0, 3).join(' ');
      const b = phrases[phrases.length - 2].split(' ').slice(0, 3).join(' ');
      if (a === b) phrases.pop();
    }
  }
  // End state.
  const last = state.numFrames - 1;
  const fvx = tr.vx[last];
  const onFloor = state.scene.gravity && Math.abs(tr.y[last] + o.radius - state.floorY) < 0.01 && Math.abs(tr.vy[last]) < 0.05;
  if (onFloor && Math.abs(fvx) > 0.1 && o.motion !== 'roll') phrases.push(`${rolls} ${dirWord(rng, fvx)}`);
  else if (onFloor && o.motion !== 'rest' && o.motion !== 'roll' && !phrases.some((p) => p.includes('rest') || p.includes('settles'))) phrases.push(rng.pick(['comes to rest', 'ends up resting on the floor']));
  return phrases;
}

function sceneSentences(rng: Rng, state: WorldState, mentionedOccluder: boolean): string[] {
  const s = state.scene;
  const out: string[] = [];
  const bg = s.background;
  if (bg.kind === 'gradient') {
    out.push(rng.pick([`The background is a gradient from ${bg.color} to ${bg.color2}.`, `${cap(bg.color)}-to-${bg.color2} gradient background.`, `The backdrop fades from ${bg.color} at the top to ${bg.color2} at the bottom.`]));
  } else {
    out.push(rng.pick([`${cap(bg.color)} background.`, `The background is ${bg.color}.`, `Set against a ${bg.color} backdrop.`, `Plain ${bg.color} background.`]));
  }
  if (s.floor && rng.bool(0.5)) out.push(rng.pick([`A ${s.floor.color} floor line runs across the bottom.`, `The floor is ${s.floor.color}.`]));
  if (s.occluder && !mentionedOccluder) {
    out.push(rng.pick([`A ${s.occluder.color} vertical bar stands in the scene.`, `A ${s.occluder.color} bar divides the frame.`, `There is a ${s.occluder.color} pillar in the middle.`]));
  }
  if (!s.gravity) out.push(rng.pick(['There is no gravity.', 'Everything floats without gravity.', 'The scene is weightless.']));
  if (s.pan !== 0) {
    const d = s.pan > 0 ? 'right' : 'left';
    out.push(rng.pick([`The camera pans slowly to the ${d}.`, `The camera pans ${d}.`, `The view drifts steadily to the ${d}.`]));
  }
  if (s.gravity && s.bounce === 'elastic' && state.events.some((e) => e.type === 'bounce_floor') && rng.bool(0.4)) out.push(rng.pick(['The bounces are perfectly elastic.', 'Nothing loses energy when it bounces.']));
  return out;
}

/** A detailed caption written from the world state (the report's re-captioning). */
export function detailedCaption(state: WorldState, rng: Rng): string {
  const n = state.scene.objects.length;
  const words: ObjWords[] = [];
  for (let i = 0; i < n; i++) words.push(objectWords(rng, state, i));
  const clauses: string[] = [];
  let mentionedOcc = false;
  const order = [...Array(n).keys()];
  if (rng.bool(0.3)) rng.shuffle(order);
  for (const i of order) {
    const ph = objectPhrases(rng, state, i, words);
    if (ph.some((p) => p.includes('behind'))) mentionedOcc = true;
    clauses.push(`${words[i].np} ${joinList(rng, ph)}`);
  }
  let objText: string;
  const style = rng.int(0, 2);
  if (clauses.length === 1) objText = cap(clauses[0]) + '.';
  else if (style === 0) objText = clauses.map((c) => cap(c) + '.').join(' ');
  else if (style === 1) objText = cap(clauses[0]) + ' while ' + clauses.slice(1).join(', and ') + '.';
  else objText = cap(clauses[0]) + '. ' + clauses.slice(1).map((c) => rng.pick(['Meanwhile, ', 'At the same time, ', 'Also, ']) + c + '.').join(' ');
  const scene = sceneSentences(rng, state, mentionedOcc);
  if (rng.bool(0.25)) {
    const first = scene.shift()!;
    return [first, objText, ...scene].join(' ');
  }
  return [objText, ...scene].join(' ');
}

function gerund(state: WorldState, i: number): string {
  const o = state.scene.objects[i];
  const tr = state.tracks[i];
  const bounces = state.events.some((e) => e.type === 'bounce_floor' && e.object === i);
  const d = tr.vx[0] > 0 ? 'right' : 'left';
  switch (o.motion) {
    case 'drop':
      return bounces ? 'bouncing' : 'falling';
    case 'toss':
      return bounces ? 'bouncing' : 'flying up';
    case 'roll':
      return `${o.shape === 'ball' ? 'rolling' : 'sliding'} ${d}`;
    case 'rest':
      return 'resting on the floor';
    case 'drift':
      return Math.abs(tr.vx[0]) > 0.12 ? `drifting ${d}` : 'floating';
    default:
      return 'floating';
  }
}

/** The short-prompt form: "a red ball bouncing". */
export function shortCaption(state: WorldState): string {
  const parts = state.scene.objects.map((o, i) => `${article(o.color)} ${o.color} ${o.shape} ${gerund(state, i)}`);
  let s = parts.join(' and ');
  if (state.scene.occluder && state.events.some((e) => e.type === 'behind')) s += ` behind a ${state.scene.occluder.color} bar`;
  return s;
}

export type { WorldEvent };
