// Named colors. Object colors are saturated and bright; backgrounds are chosen far from them so that
// both a person and the evaluator can tell objects from the scene.
export type RGB = readonly [number, number, number];

export const OBJECT_COLORS: Readonly<Record<string, RGB>> = {
  red: [220, 38, 38],
  orange: [245, 140, 25],
  yellow: [240, 222, 40],
  green: [40, 185, 65],
  blue: [40, 95, 235],
  purple: [150, 60, 210],
  pink: [250, 125, 195],
  white: [245, 245, 245],
  cyan: [35, 215, 225],
  brown: [135, 80, 35],
};
export const OBJECT_COLOR_NAMES = Object.keys(OBJECT_COLORS);

export const BACKGROUND_COLORS: Readonly<Record<string, RGB>> = {
  black: [12, 12, 14],
  'dark green': [22, 62, 34],
  navy: [18, 28, 72],
  'dark gray': [50, 52, 56],
  'dark purple': [46, 24, 62],
  'dark teal': [14, 62, 66],
  maroon: [72, 18, 24],
  beige: [226, 214, 182],
  'light gray': [205, 207, 212],
  'sky blue': [150, 198, 236],
  'pale yellow': [244, 238, 190],
  charcoal: [32, 34, 40],
};
export const BACKGROUND_COLOR_NAMES = Object.keys(BACKGROUND_COLORS);

export const FLOOR_COLORS: Readonly<Record<string, RGB>> = {
  gray: [120, 122, 128],
  'dark brown': [70, 45, 25],
  'slate': [78, 88, 104],
  'sandy': [196, 172, 120],
  'dark gray': [60, 60, 64],
};
export const FLOOR_COLOR_NAMES = Object.keys(FLOOR_COLORS);

export const OCCLUDER_COLORS: Readonly<Record<string, RGB>> = {
  black: [8, 8, 8],
  gray: [128, 128, 132],
  'dark gray': [60, 60, 64],
  white: [248, 248, 248],
};
export const OCCLUDER_COLOR_NAMES = Object.keys(OCCLUDER_COLORS);

/** Every named color the world can use, object colors first (the evaluator's clustering palette). */
export function allNamedColors(): { name: string; rgb: RGB; role: 'object' | 'occluder' }[] {
  const out: { name: string; rgb: RGB; role: 'object' | 'occluder' }[] = [];
  for (const n of OBJECT_COLOR_NAMES) out.push({ name: n, rgb: OBJECT_COLORS[n], role: 'object' });
  for (const n of OCCLUDER_COLOR_NAMES) {
    if (n in OBJECT_COLORS) continue;
    out.push({ name: n, rgb: OCCLUDER_COLORS[n], role: 'occluder' });
  }
  return out;
}

export function colorDistance(a: RGB, b: RGB): number {
  return Math.abs(a[0] - b[0]) + Math.abs(a[1] - b[1]) + Math.abs(a[2] - b[2]);
}

export function lookupColor(name: string): RGB | undefined {
  return OBJECT_COLORS[name] ?? BACKGROUND_COLORS[name] ?? FLOOR_COLORS[name] ?? OCCLUDER_COLORS[name];
}
