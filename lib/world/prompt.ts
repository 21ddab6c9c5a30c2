import { BACKGROUND_COLOR_NAMES, OBJECT_COLOR_NAMES, OCCLUDER_COLOR_NAMES } from './palette.js';
import type { Motion, Shape, SizeName } from './types.js';
import type { Direction, ObjectConstraint, SceneConstraints } from './scene.js';

const SHAPE_SYNONYMS: Record<string, Shape> = {
  ball: 'ball', balls: 'ball', circle: 'ball', circles: 'ball', disc: 'ball', discs: 'ball', disk: 'ball', sphere: 'ball', orb: 'ball',
  square: 'square', squares: 'square', block: 'square', blocks: 'square', box: 'square', boxes: 'square', cube: 'square',
  triangle: 'triangle', triangles: 'triangle',
};
const SIZE_SYNONYMS: Record<string, SizeName> = {
  small: 'small', little: 'small', tiny: 'small',
  medium: 'medium', 'medium-sized': 'medium', 'mid-sized': 'medium',
  large: 'large', big: 'large', huge: 'large',
};

/** What a prompt or caption says about one object. */
export interface ParsedObject extends ObjectConstraint {
  /** Number of floor bounces mentioned, if any. */
  bounces?: number;
}

/** What a prompt or caption says about a scene. */
export interface ParsedPrompt extends SceneConstraints {
  objects: ParsedObject[];
}

const esc = (s: string): string => s.replace(/[.*+?^${}()|[\]\\-]/g, '\\$&');
const COLOR_RE = OBJECT_COLOR_NAMES.map(esc).join('|');
const MENTION_RE = new RegExp(
  `\\b(the |an? |one )?(?:(${Object.keys(SIZE_SYNONYMS).map(esc).join('|')}) )?(?:(${COLOR_RE}) )?(${Object.keys(SHAPE_SYNONYMS).join('|')})\\b(?: of (small|medium|large) size)?`,
  'g',
);

function motionOf(seg: string): Motion | undefined {
  if (/\b(toss|tossed|thrown|throw|leaps?|jumps?|launched|flies up|flying up)\b/.test(seg)) return 'toss';
  if (/\b(falls?|falling|drops?|dropping|tumbles?|bounc\w*)\b/.test(seg)) return 'drop';
  if (/\b(rolls?|rolling|slides?|sliding)\b/.test(seg)) return 'roll';
  if (/\b(sits?|sitting|rests?|resting|waits?)\b/.test(seg)) return 'rest';
  if (/\b(hovers?|hovering|motionless|hangs? still)\b/.test(seg)) return 'still';
  if (/\b(drifts?|drifting|floats?|floating|glides?|gliding)\b/.test(seg)) return 'drift';
  return undefined;
}

function directionOf(seg: string): Direction | undefined {
  const cleaned = seg
    .replace(/\b(from|in|on|at|near|into|out of|off|of) the (?:(?:top|upper|bottom|lower|middle) )?(left|right|top|bottom|center|middle)\b( (wall|edge|side))?/g, ' ')
    .replace(/\b(left|right) (wall|edge|side)\b/g, ' ')
    .replace(/\bexits (left|right)\b/g, ' ');
  const m = /\b(left|right|leftward|rightward|upward|downward)\b|\b(up|down)\b/.exec(cleaned);
  if (!m) return undefined;
  const w = (m[1] ?? m[2]).replace('ward', '');
  return w as Direction;
}

const COUNTS: Record<string, number> = { once: 1, twice: 2, 'three times': 3, 'four times': 4 };

/** Parse a short prompt or a detailed caption into scene constraints (objects, colors, shapes, motion, scene). */
export function parsePrompt(text: string): ParsedPrompt {
  const t = ' ' + text.toLowerCase().replace(/\s+/g, ' ') + ' ';
  const out: ParsedPrompt = { objects: [] };
  // Mentions; a definite mention ("the red ball") of an object already seen is a reference, not a new object.
  const mentions: { start: number; end: number; obj: number; indefinite?: boolean }[] = [];
  for (const m of t.matchAll(MENTION_RE)) {
    const det = (m[1] ?? '').trim();
    const size = (m[2] ? SIZE_SYNONYMS[m[2]] : undefined) ?? (m[5] as SizeName | undefined);
    const color = m[3];
    const shape = SHAPE_SYNONYMS[m[4]];
    // skip scene nouns like "the gray floor" (not shapes) — only shapes match; skip "block" used as a verb is rare.
    // A mention of an object already seen (same color and shape, or "the <shape>") is a reference, not a new object.
    const prev = out.objects.findIndex((o) => o.shape === shape && (color ? o.color === color : det === 'the'));
    if (prev >= 0) {
      if (det !== 'the' && !mentions.some((mm) => mm.obj === prev && mm.indefinite)) {
        // first indefinite mention after a forward reference: its clause describes the object
        if (size) out.objects[prev].size = size;
        mentions.push({ start: m.index!, end: m.index! + m[0].length, obj: prev, indefinite: true });
      }
      continue;
    }
    if (det === 'the' && color) {
      // forward reference ("collides with the blue square" before "a blue square ..."): remember the object, no clause.
      out.objects.push({ shape, color });
      continue;
    }
    const obj: ParsedObject = { shape };
    if (color) obj.color = color;
    if (size) obj.size = size;
    out.objects.push(obj);
    mentions.push({ start: m.index!, end: m.index! + m[0].length, obj: out.objects.length - 1, indefinite: det !== 'the' });
  }
  mentions.sort((a, b) => a.start - b.start);
  for (let k = 0; k < mentions.length; k++) {
    const end = Math.min(k + 1 < mentions.length ? mentions[k + 1].start : t.length, t.indexOf('.', mentions[k].end) >= 0 ? t.indexOf('.', mentions[k].end) : t.length);
    const seg = t.slice(mentions[k].end, end).replace(/\bwhile\b.*$/, '');
    const o = out.objects[mentions[k].obj];
    const mo = motionOf(seg);
    if (mo) o.motion = mo;
    const d = directionOf(seg.replace(/\b(enters|comes back|returns|reappears)\b.*$/, ''));
    if (d) o.direction = d;
    const b = /\b(?:bounces|hits [a-z ]+?) (once|twice|three times|four times)\b/.exec(seg);
    if (b) o.bounces = COUNTS[b[1]];
  }
  if (/\b(no gravity|weightless|zero gravity|without gravity)\b/.test(t)) out.gravity = false;
  else if (out.objects.some((o) => o.motion === 'drop' || o.motion === 'toss' || o.motion === 'roll' || o.motion === 'rest')) out.gravity = true;
  else if (out.objects.some((o) => o.motion === 'drift' || o.motion === 'still')) out.gravity = false;
  if (/\belastic\b|loses no energy|nothing loses energy/.test(t)) out.bounce = 'elastic';
  let bgAt = Infinity;
  for (const name of BACKGROUND_COLOR_NAMES.slice().sort((a, b) => b.length - a.length)) {
    const re = new RegExp(`\\b${esc(name)}(?:-to-[a-z ]+?)? (?:gradient )?(?:background|backdrop)|(?:background|backdrop) (?:is|fades from) (?:a gradient from )?${esc(name)}\\b`);
    const m = re.exec(t);
    if (m && m.index < bgAt) {
      bgAt = m.index;
      out.background = name;
    }
  }
  if (/gradient|fades from/.test(t)) out.gradient = true;
  const occ = new RegExp(`\\b(${OCCLUDER_COLOR_NAMES.map(esc).sort((a, b) => b.length - a.length).join('|')}) (?:vertical )?(bar|pillar|post|wall|occluder)\\b`).exec(t);
  if (occ) out.occluder = occ[1];
  else if (/\b(behind (a|the) (bar|pillar|post|wall)|occluder)\b/.test(t)) out.occluder = true;
  if (/\bfloor\b/.test(t)) out.floor = true;
  const pan = /\b(?:camera|view) (?:pans|drifts|slides|moves)(?: slowly| steadily)?(?: to the| toward the)? (left|right)\b/.exec(t);
  if (pan) out.pan = pan[1] as 'left' | 'right';
  if (/\bleaves the frame|comes back from|reappears on the\b/.test(t)) out.sides = 'wrap';
  if (out.objects.length) out.numObjects = out.objects.length;
  return out;
}
