// `npm run build:cuda`: every cuda/*.cu compiles with nvcc for sm_80, sm_86,
// sm_89 and sm_90 with our warnings as errors, into libtessera_cuda.so. (The
// kernels' behaviour is tested under the CPU emulator by test/build/cmake.test.ts.)
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { expect, it } from 'vitest';

const root = join(import.meta.dirname, '..', '..');
const out = join(root, 'build-cuda');
const nvcc = spawnSync('nvcc', ['--version'], { encoding: 'utf8' }).status === 0;

it.runIf(nvcc)('compiles every kernel with nvcc for sm_80/86/89/90', () => {
  execFileSync(process.execPath, [join(root, 'node_modules', 'cmake-js', 'bin', 'cmake-js'), 'compile', '-O', out, '--CDTESSERA_CUDA=ON', '--parallel', '2'], {
    cwd: root,
    stdio: 'pipe',
    maxBuffer: 1 << 26,
  });
  expect(existsSync(join(out, 'Release', 'libtessera_cuda.so'))).toBe(true);
  const kernels = readdirSync(join(root, 'cuda')).filter((f) => f.endsWith('.cu'));
  expect(kernels.length).toBeGreaterThan(0);
  for (const k of kernels)
    expect(existsSync(join(out, 'CMakeFiles', 'tessera_cuda.dir', 'cuda', `${k}.o`)), `${k} was not compiled by nvcc`).toBe(true);
}, 1_200_000);
