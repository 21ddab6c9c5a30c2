// backends(): the CPU is always on; CUDA is loaded at run time only when asked
// for and used only when its library, the driver and a device are all there.
// Each case runs in a fresh process (the load is attempted once per process).
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '..');

// Runs `body` (an async function body with `tessera` in scope) in a child process
// with `env` added; returns what it printed as JSON.
function inChild(body: string, env: Record<string, string>): any {
  const script = `
    const tessera = await import(${JSON.stringify(join(root, 'dist', 'index.js'))});
    const out = await (async () => { ${body} })();
    console.log(JSON.stringify(out));`;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
    encoding: 'utf8',
    env: { ...process.env, TESSERA_CUDA_LIBRARY: '', ...env },
  });
  expect(r.status, r.stderr).toBe(0);
  return JSON.parse(r.stdout.trim().split('\n').pop()!);
}

const cudaInfo = `return tessera.backends().find((b) => b.name === 'cuda');`;

describe('backends()', () => {
  it('reports the CPU with its instruction set and threads', () => {
    const cpu = inChild(`return tessera.backends()[0];`, {});
    expect(cpu).toMatchObject({ name: 'cpu', available: true });
    expect(['avx512', 'avx2', 'generic']).toContain(cpu.isa);
    expect(cpu.threads).toBeGreaterThan(0);
  });

  it('says "no library" when the CUDA library path does not exist', () => {
    const cuda = inChild(cudaInfo, { TESSERA_CUDA_LIBRARY: '/nonexistent/libtessera_cuda.so' });
    expect(cuda).toMatchObject({ name: 'cuda', available: false, reason: 'no library' });
    expect(cuda.detail).toContain('/nonexistent/libtessera_cuda.so');
  });

  it('says "no library" with dlopen\'s message for a file that is not a library', () => {
    const cuda = inChild(cudaInfo, { TESSERA_CUDA_LIBRARY: join(root, 'package.json') });
    expect(cuda).toMatchObject({ available: false, reason: 'no library' });
    expect(cuda.detail).toMatch(/dlopen failed/);
  });

  // A library that exports the table but is not usable: another ABI version, or an
  // entry left empty (a build from mismatched sources). Built here with g++.
  function stubLibrary(body: string): string {
    const dir = mkdtempSync(join(tmpdir(), 'tessera-cuda-stub-'));
    const src = join(dir, 'stub.cpp');
    writeFileSync(src, `#include "backend/cuda_api.h"
      extern "C" const TesseraCudaApi* tessera_cuda_api(void) { static TesseraCudaApi a{}; ${body} return &a; }`);
    const lib = join(dir, 'libstub.so');
    const r = spawnSync('g++', ['-shared', '-fPIC', `-I${join(root, 'native')}`, src, '-o', lib], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    return lib;
  }

  it('refuses a library built for another ABI version, saying so', () => {
    const cuda = inChild(cudaInfo, { TESSERA_CUDA_LIBRARY: stubLibrary('a.version = 9999;') });
    expect(cuda).toMatchObject({ available: false, reason: 'no library' });
    expect(cuda.detail).toMatch(/ABI version 9999, this tessera needs \d+/);
  });

  it('refuses a library whose function table has an empty entry, instead of crashing later', () => {
    const cuda = inChild(cudaInfo, { TESSERA_CUDA_LIBRARY: stubLibrary('a.version = TESSERA_CUDA_API_VERSION;') });
    expect(cuda).toMatchObject({ available: false, reason: 'no library' });
    expect(cuda.detail).toMatch(/entry 0 of its function table is empty/);
  });

  it('says "disabled" under TESSERA_CUDA=0', () => {
    const cuda = inChild(cudaInfo, { TESSERA_CUDA: '0', TESSERA_CUDA_LIBRARY: '/nonexistent.so' });
    expect(cuda).toMatchObject({ available: false, reason: 'disabled' });
    expect(cuda.detail).toContain('TESSERA_CUDA=0');
  });

  it('setDevice("cuda") without CUDA throws ERR_TESSERA_BACKEND with the reason; ops keep running on the CPU', () => {
    const r = inChild(
      `let err;
       try { tessera.ops.setDevice('cuda'); } catch (e) { err = { code: e.code, message: e.message }; }
       const y = await tessera.ops.silu(tessera.ndarray([1, -2], [2]));
       return { err, device: tessera.ops.getDevice(), y: Array.from(y.data) };`,
      { TESSERA_CUDA_LIBRARY: '/nonexistent/libtessera_cuda.so' },
    );
    expect(r.err.code).toBe('ERR_TESSERA_BACKEND');
    expect(r.err.message).toMatch(/CUDA is not available \(no library\)/);
    expect(r.device).toBe('cpu');
    expect(r.y[0]).toBeCloseTo(0.7310586, 6);
  });

  it('rejects an unknown device by name', () => {
    const r = inChild(`try { tessera.ops.setDevice('tpu'); } catch (e) { return e.message; }`, {});
    expect(r).toMatch(/device/);
    expect(r).toMatch(/tpu/);
  });
});
