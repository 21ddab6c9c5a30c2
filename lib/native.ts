// The one file that touches the native addon. Everything else in lib/ goes
// through the typed surface below.
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export interface NativeTensor {
  data: Float32Array;
  shape: number[];
}

export type NativeParamValue = number | boolean | string | number[];
export type NativeParams = Record<string, NativeParamValue | undefined>;

export interface NativeAddon {
  runOp(name: string, inputs: (NativeTensor | null)[], params: NativeParams): Promise<NativeTensor[]>;
  runOpBackward(
    name: string,
    inputs: (NativeTensor | null)[],
    params: NativeParams,
    gradOutputs: (NativeTensor | null)[],
  ): Promise<{ outputs: NativeTensor[]; grads: (NativeTensor | null)[] }>;
  benchOp(
    name: string,
    inputs: (NativeTensor | null)[],
    params: NativeParams,
    iterations: number,
    gradOutputs?: (NativeTensor | null)[],
  ): Promise<number[]>;
  opNames(): string[];
  setThreads(n: number): void;
  numThreads(): number;
  cpuIsa(): { active: string; detected: string };
  setIsa(isa: string): void;
  cudaLoad(candidates: string[], force?: boolean): NativeCudaStatus;
  cudaMemory(): { inUse: number; cached: number; peakInUse: number; deviceAllocs: number };
  cudaEmptyCache(): void;
}

export interface NativeCudaStatus {
  available: boolean;
  reason: string;
  detail: string;
  library: string;
  emulated: boolean;
  devices: { name: string; totalMemory: number; computeCapability: string; multiprocessors: number }[];
}

export function packageRoot(): string {
  // dist/index.js, dist/index.cjs and lib/native.ts all sit one level below the root.
  const here = typeof __dirname === 'string' ? __dirname : dirname(fileURLToPath(import.meta.url));
  let dir = here;
  for (let i = 0; i < 4; i++) {
    if (existsSync(join(dir, 'package.json')) && existsSync(join(dir, 'binding.gyp'))) return dir;
    dir = dirname(dir);
  }
  return dirname(here);
}

let cached: NativeAddon | undefined;
let loadError: Error | undefined;

/**
 * Loads the addon: `TESSERA_ADDON` (a path to a .node file) if set, else a
 * matching prebuild from prebuilds/ or a local build (node-gyp-build's rules).
 */
export function native(): NativeAddon {
  if (cached) return cached;
  if (loadError) throw loadError;
  const require = createRequire(join(packageRoot(), 'package.json'));
  try {
    const override = process.env.TESSERA_ADDON;
    cached = (override ? require(override) : require('node-gyp-build')(packageRoot())) as NativeAddon;
    return cached;
  } catch (cause) {
    loadError = new Error(
      `tessera: could not load the native addon (${(cause as Error).message}). ` +
        'Fixes: run `npm rebuild tessera` with a C++ compiler, make and python3 installed, ' +
        'or install on linux-x64 where a prebuilt binary ships.',
      { cause },
    );
    (loadError as Error & { code?: string }).code = 'ERR_TESSERA_ADDON_LOAD';
    throw loadError;
  }
}
