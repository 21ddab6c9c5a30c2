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
  // The library stands alone: no tessera symbol is left for the loader to find.
  const undef = spawnSync('nm', ['-u', '-C', join(out, 'Release', 'libtessera_cuda.so')], { encoding: 'utf8' });
  expect(undef.stdout.split('\n').filter((l) => /tessera::/.test(l))).toEqual([]);
  const kernels = readdirSync(join(root, 'cuda')).filter((f) => f.endsWith('.cu'));
  expect(kernels.length).toBeGreaterThan(0);
  for (const k of kernels)
    expect(existsSync(join(out, 'CMakeFiles', 'tessera_cuda.dir', 'cuda', `${k}.o`)), `${k} was not compiled by nvcc`).toBe(true);
}, 1_200_000);

it.runIf(nvcc)('loads libtessera_cuda.so at run time and says why CUDA is off when it is', () => {
  // Without a driver (this CI machine) the library loads (cudart is static) and
  // cudaGetDeviceCount fails: backends() reports "no driver" with CUDA's message.
  // On a GPU machine it reports the devices instead.
  const lib = join(out, 'Release', 'libtessera_cuda.so');
  const script = `const { backends } = await import(${JSON.stringify(join(root, 'dist', 'index.js'))});
    console.log(JSON.stringify(backends().find((b) => b.name === 'cuda')));`;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
    encoding: 'utf8',
    env: { ...process.env, TESSERA_CUDA_LIBRARY: lib },
  });
  expect(r.status, r.stderr).toBe(0);
  const cuda = JSON.parse(r.stdout.trim());
  if (cuda.available) {
    expect(cuda.devices.length).toBeGreaterThan(0);
    expect(cuda.emulated).toBe(false);
  } else {
    expect(['no driver', 'no device']).toContain(cuda.reason);
    expect(cuda.detail).toMatch(/cudaGetDeviceCount|device/);
  }
}, 60_000);

it('the device parity tests and the GPU benchmark compile as host code against the real CUDA runtime', () => {
  // benchmarks/gpu/run.sh builds these on a GPU machine; here each is at least a
  // valid translation unit in TESSERA_CUDA_HOST mode (CUDA headers, no emulator).
  const inc = ['/usr/local/cuda/include', '/usr/include'].find((d) => existsSync(join(d, 'cuda_runtime.h')));
  expect(inc, 'cuda_runtime.h').toBeDefined();
  const files = [
    ...readdirSync(join(root, 'cuda', 'tests')).filter((f) => /^test_.*\.cpp$/.test(f)).map((f) => join(root, 'cuda', 'tests', f)),
    ...readdirSync(join(root, 'benchmarks', 'gpu')).filter((f) => f.endsWith('.cpp')).map((f) => join(root, 'benchmarks', 'gpu', f)),
  ];
  expect(files.length).toBeGreaterThan(10);
  for (const f of files) {
    const r = spawnSync('g++', ['-std=gnu++17', '-fsyntax-only', '-Wall', '-DTESSERA_CUDA_HOST=1', `-I${join(root, 'native')}`,
      `-I${join(root, 'cuda')}`, `-I${inc}`, f], { encoding: 'utf8' });
    expect(r.status, `${f}:\n${r.stderr}`).toBe(0);
  }
}, 300_000);
