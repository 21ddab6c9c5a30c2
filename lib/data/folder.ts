// A user folder of images (png, jpg, jpeg, webp: decoded and resized by sharp) and videos
// (mp4, webm, mov, gif, mkv, avi, m4v: decoded by the ffmpeg CLI, raw rgb24 frames over a pipe).
import { spawn } from 'node:child_process';
import { readdir, stat } from 'node:fs/promises';
import { basename, dirname, extname, join, relative } from 'node:path';
import type { Sharp, SharpOptions } from 'sharp';
import { checkInteger, checkNumber, checkOneOf, invalidParameter } from '../validate.js';
import { dataError, rgbToChannelsFirst, U8_TO_UNIT, type Clip } from './common.js';

export const IMAGE_EXTENSIONS: readonly string[] = ['.png', '.jpg', '.jpeg', '.webp'];
export const VIDEO_EXTENSIONS: readonly string[] = ['.mp4', '.webm', '.mov', '.gif', '.mkv', '.avi', '.m4v'];

export type MediaKind = 'image' | 'video';
export interface MediaFile {
  path: string;
  kind: MediaKind;
}

/** The kind of a file from its extension (case-insensitive), or undefined for anything else. */
export function mediaKind(path: string): MediaKind | undefined {
  const ext = extname(path).toLowerCase();
  if (IMAGE_EXTENSIONS.includes(ext)) return 'image';
  if (VIDEO_EXTENSIONS.includes(ext)) return 'video';
  return undefined;
}

export interface ListMediaOptions {
  /** Descend into subfolders (default true). Hidden files and folders (.name) are skipped. */
  recursive?: boolean;
}

/**
 * The images and videos in a folder, sorted by path (byte order of the path relative to the
 * folder, so the order, and a sampler seeded on it, does not depend on the locale).
 */
export async function listMedia(dir: string, options: ListMediaOptions = {}): Promise<MediaFile[]> {
  if (typeof dir !== 'string' || dir === '') throw invalidParameter('dir', 'a folder path (non-empty string)', dir);
  const recursive = options.recursive ?? true;
  let st;
  try {
    st = await stat(dir);
  } catch {
    throw invalidParameter('dir', `an existing folder (nothing at ${dir})`, dir);
  }
  if (!st.isDirectory()) throw invalidParameter('dir', `a folder (${dir} is a file)`, dir);
  const out: MediaFile[] = [];
  const walk = async (d: string): Promise<void> => {
    const entries = await readdir(d, { withFileTypes: true });
    for (const e of entries) {
      if (e.name.startsWith('.')) continue;
      const p = join(d, e.name);
      let isDir = e.isDirectory(), isFile = e.isFile();
      if (e.isSymbolicLink()) {
        const s = await stat(p).catch(() => undefined);
        isFile = !!s?.isFile();
        isDir = false; // symlinked folders are not followed (no cycles)
      }
      if (isDir && recursive) await walk(p);
      else if (isFile) {
        const kind = mediaKind(p);
        if (kind) out.push({ path: p, kind });
      }
    }
  };
  await walk(dir);
  const key = (f: MediaFile) => relative(dir, f.path);
  return out.sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0));
}

// ---- resize / crop geometry --------------------------------------------------------

export type Fit = 'cover' | 'fill';

export interface ResizeOptions {
  /** Output size in pixels. */
  height: number;
  width: number;
  /**
   * 'cover' (default): scale, keeping the aspect ratio, to the smallest size that covers
   * height x width, then crop; 'fill': stretch to height x width.
   */
  fit?: Fit;
  /** Where the crop window sits along x and y, 0..1 (0 = left/top, 0.5 = centered, default). */
  cropX?: number;
  cropY?: number;
}

export interface Geometry {
  /** Size to resize to, then the crop window in it. */
  rw: number;
  rh: number;
  left: number;
  top: number;
}

/** Resize then crop from srcW x srcH to W x H. */
export function cropGeometry(srcW: number, srcH: number, W: number, H: number, fit: Fit = 'cover', cropX = 0.5, cropY = 0.5): Geometry {
  if (fit === 'fill') return { rw: W, rh: H, left: 0, top: 0 };
  const s = Math.max(W / srcW, H / srcH);
  const rw = Math.max(W, Math.round(srcW * s));
  const rh = Math.max(H, Math.round(srcH * s));
  return { rw, rh, left: Math.round((rw - W) * cropX), top: Math.round((rh - H) * cropY) };
}

function checkResize(o: ResizeOptions): Required<ResizeOptions> {
  if (typeof o !== 'object' || o === null) throw invalidParameter('options', 'an object with height and width', o);
  return {
    height: checkInteger('height', o.height, 1, 8192),
    width: checkInteger('width', o.width, 1, 8192),
    fit: checkOneOf('fit', o.fit ?? 'cover', ['cover', 'fill'] as const),
    cropX: checkNumber('cropX', o.cropX ?? 0.5, 0, 1),
    cropY: checkNumber('cropY', o.cropY ?? 0.5, 0, 1),
  };
}

// ---- images (sharp) ------------------------------------------------------------------

type SharpFactory = (input?: string | Buffer, options?: SharpOptions) => Sharp;
let sharpModule: Promise<SharpFactory> | undefined;

/** sharp is loaded on first use, so that the rest of the library works where it is not installed. */
function loadSharp(file: string): Promise<SharpFactory> {
  sharpModule ??= import('sharp').then(
    (m) => ((m as unknown as { default?: SharpFactory }).default ?? (m as unknown as SharpFactory)),
    (e) => {
      sharpModule = undefined;
      throw dataError(
        'ERR_TESSERA_DECODE',
        `cannot decode image ${file}: the sharp package failed to load (${(e as Error).message}); reinstall it with \`npm install sharp\``,
        file,
        e,
      );
    },
  );
  return sharpModule;
}

export interface ImageInfo {
  /** Size after EXIF orientation. */
  width: number;
  height: number;
}

/** Width and height of an image file (after EXIF orientation), read from its header. */
export async function probeImage(path: string): Promise<ImageInfo> {
  const sharp = await loadSharp(path);
  try {
    const m = await sharp(path).metadata();
    return { width: m.autoOrient?.width ?? m.width, height: m.autoOrient?.height ?? m.height };
  } catch (e) {
    throw dataError('ERR_TESSERA_DECODE', `cannot decode image ${path}: ${(e as Error).message}`, path, e);
  }
}

/**
 * An image file as a clip [3, 1, H, W] in [-1, 1]: EXIF-oriented, transparency flattened onto black,
 * grayscale expanded to RGB, resized and cropped (ResizeOptions).
 */
export async function loadImage(path: string, options: ResizeOptions): Promise<Clip> {
  const o = checkResize(options);
  const { width: sw, height: sh } = await probeImage(path);
  const sharp = await loadSharp(path);
  const g = cropGeometry(sw, sh, o.width, o.height, o.fit, o.cropX, o.cropY);
  let raw: { data: Buffer; info: { width: number; height: number; channels: number } };
  try {
    raw = await sharp(path)
      .autoOrient()
      .flatten({ background: { r: 0, g: 0, b: 0 } })
      .resize(g.rw, g.rh, { fit: 'fill' })
      .extract({ left: g.left, top: g.top, width: o.width, height: o.height })
      .toColourspace('srgb')
      .raw({ depth: 'uchar' }) // 8 bits per channel, also for 16-bit PNGs
      .toBuffer({ resolveWithObject: true });
  } catch (e) {
    throw dataError('ERR_TESSERA_DECODE', `cannot decode image ${path}: ${(e as Error).message}`, path, e);
  }
  const { width: W, height: H, channels: C } = raw.info;
  if (W !== o.width || H !== o.height || raw.data.length !== W * H * C)
    throw dataError('ERR_TESSERA_DECODE', `image ${path} decoded to ${raw.data.length} bytes of ${W}x${H}x${C}, expected ${o.width}x${o.height} 8-bit`, path);
  const plane = H * W;
  const data = new Float32Array(3 * plane);
  const src = raw.data;
  for (let p = 0; p < plane; p++) {
    const q = p * C;
    const r = src[q], gch = C >= 3 ? src[q + 1] : r, b = C >= 3 ? src[q + 2] : r;
    data[p] = U8_TO_UNIT[r];
    data[plane + p] = U8_TO_UNIT[gch];
    data[2 * plane + p] = U8_TO_UNIT[b];
  }
  return { x: { data, shape: [3, 1, H, W] }, meta: { source: 'folder', path, start: 0 } };
}

// ---- videos (ffmpeg) ------------------------------------------------------------------

export interface FfmpegOptions {
  /** The ffmpeg binary (default: TESSERA_FFMPEG, else 'ffmpeg' on PATH). */
  ffmpeg?: string;
  /** The ffprobe binary (default: TESSERA_FFPROBE, else ffprobe beside a given ffmpeg path, else 'ffprobe' on PATH). */
  ffprobe?: string;
}

function ffmpegBin(o: FfmpegOptions): string {
  return o.ffmpeg ?? process.env.TESSERA_FFMPEG ?? 'ffmpeg';
}
function ffprobeBin(o: FfmpegOptions): string {
  if (o.ffprobe ?? process.env.TESSERA_FFPROBE) return (o.ffprobe ?? process.env.TESSERA_FFPROBE)!;
  const f = ffmpegBin(o);
  return f.includes('/') ? join(dirname(f), basename(f).replace(/ffmpeg/, 'ffprobe')) : 'ffprobe';
}

function ffmpegMissing(file: string, tool: string, bin: string, cause: unknown) {
  return dataError(
    'ERR_TESSERA_FFMPEG',
    `cannot decode video ${file}: ${tool} was not found (tried '${bin}'). Videos are decoded with the ffmpeg CLI: ` +
      `install FFmpeg so that ffmpeg and ffprobe are on PATH (Debian/Ubuntu: apt-get install ffmpeg; macOS: brew install ffmpeg), ` +
      `or set TESSERA_FFMPEG and TESSERA_FFPROBE (or the ffmpeg and ffprobe options) to their paths. Images do not need it.`,
    file,
    cause,
  );
}

/** Runs ffmpeg or ffprobe, collecting stdout; a missing binary or a non-zero exit is a DataError naming the file. */
function runTool(bin: string, args: string[], file: string, tool: 'ffmpeg' | 'ffprobe'): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    let child;
    try {
      child = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    } catch (e) {
      reject(ffmpegMissing(file, tool, bin, e));
      return;
    }
    const out: Buffer[] = [];
    let err = '';
    child.stdout.on('data', (c: Buffer) => out.push(c));
    child.stderr.on('data', (c: Buffer) => {
      if (err.length < 8192) err += c.toString();
    });
    child.on('error', (e: NodeJS.ErrnoException) => {
      reject(e.code === 'ENOENT' || e.code === 'EACCES' ? ffmpegMissing(file, tool, bin, e) : dataError('ERR_TESSERA_DECODE', `cannot decode video ${file}: ${tool}: ${e.message}`, file, e));
    });
    child.on('close', (code, signal) => {
      if (code === 0) resolve(Buffer.concat(out));
      else {
        const why = err.trim().split('\n').slice(-3).join(' | ') || (signal ? `killed by ${signal}` : `exit code ${code}`);
        reject(dataError('ERR_TESSERA_DECODE', `cannot decode video ${file}: ${tool} failed: ${why}`, file));
      }
    });
  });
}

export interface VideoInfo {
  /** Displayed size (rotation metadata applied, as ffmpeg outputs it). */
  width: number;
  height: number;
  /** Number of frames (counted by decoding, so exact). */
  frames: number;
  /** Average frame rate, when the file says. */
  fps?: number;
}

const probeCache = new Map<string, Promise<VideoInfo>>();

/** Size, frame count and rate of a video (ffprobe; cached per path, size and modification time). */
export async function probeVideo(path: string, options: FfmpegOptions = {}): Promise<VideoInfo> {
  const st = await stat(path).catch((e) => {
    throw dataError('ERR_TESSERA_DECODE', `cannot decode video ${path}: ${(e as Error).message}`, path, e);
  });
  const key = `${path}\0${st.size}\0${st.mtimeMs}\0${ffprobeBin(options)}`;
  let p = probeCache.get(key);
  if (!p) {
    p = probe(path, options);
    probeCache.set(key, p);
    p.catch(() => probeCache.delete(key));
  }
  return p;
}

async function probe(path: string, options: FfmpegOptions): Promise<VideoInfo> {
  const args = ['-v', 'error', '-select_streams', 'v:0', '-count_frames', '-show_entries',
    'stream=width,height,nb_read_frames,avg_frame_rate,r_frame_rate:stream_tags=rotate:stream_side_data=rotation', '-of', 'json', path];
  const out = await runTool(ffprobeBin(options), args, path, 'ffprobe');
  type Stream = { width?: number; height?: number; nb_read_frames?: string; avg_frame_rate?: string; r_frame_rate?: string;
    tags?: { rotate?: string }; side_data_list?: { rotation?: number }[] };
  let s: Stream | undefined;
  try {
    s = (JSON.parse(out.toString()) as { streams?: Stream[] }).streams?.[0];
  } catch (e) {
    throw dataError('ERR_TESSERA_DECODE', `cannot decode video ${path}: unreadable ffprobe output`, path, e);
  }
  if (!s || !s.width || !s.height) throw dataError('ERR_TESSERA_DECODE', `cannot decode video ${path}: no video stream`, path);
  const frames = Number(s.nb_read_frames);
  if (!Number.isInteger(frames) || frames < 1) throw dataError('ERR_TESSERA_DECODE', `cannot decode video ${path}: no decodable frames`, path);
  const rot = Number(s.side_data_list?.find((d) => d.rotation !== undefined)?.rotation ?? s.tags?.rotate ?? 0);
  const swap = Math.abs(Math.round(rot)) % 180 === 90;
  const rate = (r?: string) => {
    const [a, b] = (r ?? '').split('/').map(Number);
    return a && b ? a / b : undefined;
  };
  const fps = rate(s.avg_frame_rate) ?? rate(s.r_frame_rate);
  return { width: swap ? s.height : s.width, height: swap ? s.width : s.height, frames, ...(fps ? { fps } : {}) };
}

export interface LoadVideoOptions extends ResizeOptions, FfmpegOptions {
  /** First frame (default 0). */
  start?: number;
  /** Number of frames (default: all from start to the end). */
  frames?: number;
}

/**
 * A window of a video as a clip [3, T, H, W] in [-1, 1]: frames [start, start + frames) at the
 * file's own rate (no frame is dropped or duplicated), resized and cropped (ResizeOptions).
 * Needs ffmpeg and ffprobe (ERR_TESSERA_FFMPEG, naming the file and the fix, when they are missing).
 * A window past the end is a RangeError naming the file and its frame count.
 */
export async function loadVideo(path: string, options: LoadVideoOptions): Promise<Clip> {
  const o = checkResize(options);
  const start = checkInteger('start', options.start ?? 0, 0);
  const want = options.frames === undefined ? undefined : checkInteger('frames', options.frames, 1);
  const info = await probeVideo(path, options);
  if (start >= info.frames) throw new RangeError(`Expected a start frame < ${info.frames} (the frame count of ${path}) for start but received ${start}`);
  const T = want ?? info.frames - start;
  if (start + T > info.frames)
    throw new RangeError(`Expected frames <= ${info.frames - start} (${path} has ${info.frames} frames, start ${start}) for frames but received ${T}`);
  const { height: H, width: W } = o;
  const g = cropGeometry(info.width, info.height, W, H, o.fit, o.cropX, o.cropY);
  const shrink = g.rw < info.width && g.rh < info.height;
  const filters = [
    `trim=start_frame=${start}:end_frame=${start + T}`,
    'setpts=PTS-STARTPTS',
    `scale=${g.rw}:${g.rh}:flags=${shrink ? 'area' : 'bicubic'}`,
    ...(g.rw !== W || g.rh !== H ? [`crop=${W}:${H}:${g.left}:${g.top}`] : []),
  ];
  const args = ['-v', 'error', '-nostdin', '-i', path, '-map', '0:v:0', '-vf', filters.join(','), '-fps_mode', 'passthrough',
    '-frames:v', String(T), '-f', 'rawvideo', '-pix_fmt', 'rgb24', 'pipe:1'];
  const raw = await runTool(ffmpegBin(options), args, path, 'ffmpeg');
  const frameBytes = H * W * 3;
  if (raw.length !== T * frameBytes)
    throw dataError('ERR_TESSERA_DECODE', `cannot decode video ${path}: ffmpeg gave ${raw.length / frameBytes} frames of ${W}x${H}, expected ${T} (frames ${start}..${start + T - 1})`, path);
  const data = rgbToChannelsFirst(raw, T, H, W);
  return { x: { data, shape: [3, T, H, W] }, meta: { source: 'folder', path, start, ...(info.fps ? { fps: info.fps } : {}) } };
}

export interface FolderClipOptions extends ResizeOptions, FfmpegOptions, ListMediaOptions {
  /** Frames per video clip: the first `frames` frames (videos shorter than that are skipped). Default: all frames. */
  frames?: number;
  /** Leave videos out (no ffmpeg needed). */
  imagesOnly?: boolean;
}

/**
 * Every file of a folder in order (listMedia) as a clip: images as [3, 1, H, W], videos as
 * [3, T, H, W] (all frames, or the first `frames`), centered crops unless cropX / cropY say otherwise.
 */
export async function* folderClips(dir: string, options: FolderClipOptions): AsyncGenerator<Clip> {
  checkResize(options);
  const frames = options.frames === undefined ? undefined : checkInteger('frames', options.frames, 1);
  for (const f of await listMedia(dir, options)) {
    if (f.kind === 'image') yield await loadImage(f.path, options);
    else if (!options.imagesOnly) {
      if (frames !== undefined && (await probeVideo(f.path, options)).frames < frames) continue;
      yield await loadVideo(f.path, { ...options, start: 0, frames });
    }
  }
}
