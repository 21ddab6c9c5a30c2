import type { RGB } from './palette.js';

export type Shape = 'ball' | 'square' | 'triangle';
export const SHAPES: readonly Shape[] = ['ball', 'square', 'triangle'];
export type SizeName = 'small' | 'medium' | 'large';
export const SIZES: readonly SizeName[] = ['small', 'medium', 'large'];
/** Object "radius" in units of the frame height: ball radius, square half-side, triangle half-base. */
export const SIZE_RADIUS: Readonly<Record<SizeName, number>> = { small: 0.06, medium: 0.085, large: 0.115 };

/** How an object starts moving. */
export type Motion = 'drop' | 'toss' | 'roll' | 'rest' | 'drift' | 'still';
export const GRAVITY = 4.0; // frame heights per second squared

export interface ObjectSpec {
  shape: Shape;
  color: string;
  rgb: RGB;
  size: SizeName;
  radius: number;
  motion: Motion;
  /** Initial position in world units (x in [0, worldWidth), y down from the top, frame height = 1). */
  x: number;
  y: number;
  vx: number;
  vy: number;
}

export interface BackgroundSpec {
  kind: 'solid' | 'gradient';
  color: string;
  rgb: RGB;
  /** Bottom color of a vertical gradient. */
  color2?: string;
  rgb2?: RGB;
}

export interface FloorSpec {
  color: string;
  rgb: RGB;
  /** Floor line height (fraction of frame height from the top). */
  y: number;
}

export interface OccluderSpec {
  color: string;
  rgb: RGB;
  /** Center x in world units and width. The bar spans from the top of the frame to the floor. */
  x: number;
  width: number;
}

export interface SceneSpec {
  /** Frame width / height. */
  aspect: number;
  gravity: boolean;
  bounce: 'elastic' | 'damped';
  restitution: number;
  /** 'walls': objects bounce off the frame sides; 'wrap': they leave on one side and come back on the other. */
  sides: 'walls' | 'wrap';
  background: BackgroundSpec;
  /** A visible floor line; without it the floor is the bottom edge of the frame. */
  floor: FloorSpec | null;
  occluder: OccluderSpec | null;
  /** Camera pan speed in frame heights per second (positive: camera moves right, scene slides left). */
  pan: number;
  objects: ObjectSpec[];
}

export type EventType =
  | 'bounce_floor'
  | 'bounce_wall'
  | 'bounce_ceiling'
  | 'collision'
  | 'exit'
  | 'enter'
  | 'hidden'
  | 'emerged'
  | 'behind'
  | 'settle';

export interface WorldEvent {
  type: EventType;
  /** Frame index (the first frame that shows the result of the event). */
  frame: number;
  time: number;
  object: number;
  other?: number;
  side?: 'left' | 'right' | 'top' | 'bottom';
}

export interface ObjectTrack {
  /** Screen position per frame, in frame-height units (multiply by height for pixels); center of the shape. */
  x: number[];
  y: number[];
  /** Screen velocity per frame, frame heights per second. */
  vx: number[];
  vy: number[];
  /** Visible fraction of the object's area per frame (0 when off screen or hidden behind the occluder). */
  visible: number[];
}

export interface WorldState {
  seed: number;
  width: number;
  height: number;
  numFrames: number;
  fps: number;
  scene: SceneSpec;
  /** World width in frame-height units (the period for 'wrap' sides). */
  worldWidth: number;
  /** Screen-x margin on each side of the view for wrapped worlds. */
  margin: number;
  floorY: number;
  tracks: ObjectTrack[];
  events: WorldEvent[];
}
