// The CMake build (cmake-js) compiles the same sources as binding.gyp, from the
// one list in native/build.json, and the same op tests pass on its addon. It also
// builds and runs the native test executables (autograd, optimizer, threads).
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '..', '..');
const out = join(root, 'build-cmake');

describe('cmake-js build', () => {
  it('builds the addon and the native tests from native/build.json', () => {
    execFileSync(process.execPath, [join(root, 'node_modules', 'cmake-js', 'bin', 'cmake-js'), 'compile', '-O', out, '--parallel', '2'], {
      cwd: root,
      stdio: 'pipe',
      maxBuffer: 1 << 26,
    });
    expect(existsSync(join(out, 'Release', 'tessera.node'))).toBe(true);
  }, 1_200_000);

  it('passes the native test executables', () => {
    const dir = join(out);
    const tests = readdirSync(dir).filter((f) => f.startsWith('test_'));
    expect(tests.length).toBeGreaterThan(0);
    for (const t of tests) {
      const r = spawnSync(join(dir, t), { encoding: 'utf8', env: { ...process.env, TESSERA_THREADS: '2' } });
      expect(r.status, `${t}:\n${r.stdout}\n${r.stderr}`).toBe(0);
      expect(r.stdout).toMatch(/\d+ passed, 0 failed/);
    }
  }, 600_000);

  it('passes the CUDA kernel parity tests under the emulator in every schedule', () => {
    // cuda_test_* run the cuda/*.cu kernels on the CPU (cuda/emu) against the CPU ops;
    // in-order, reverse and seeded-random fiber orders expose missing barriers.
    const tests = readdirSync(out).filter((f) => f.startsWith('cuda_test_'));
    for (const t of tests)
      for (const order of ['inorder', 'reverse', 'random']) {
        const env = { ...process.env, TESSERA_THREADS: '2', TESSERA_EMU_ORDER: order, TESSERA_EMU_SEED: '7' };
        const r = spawnSync(join(out, t), { encoding: 'utf8', env });
        expect(r.status, `${t} [${order}]:\n${r.stdout}\n${r.stderr}`).toBe(0);
        expect(r.stdout).toMatch(/\d+ passed, 0 failed/);
      }
  }, 600_000);

  it('passes the CUDA kernel parity tests in ThreadSanitizer and AddressSanitizer builds', () => {
    const r = spawnSync('bash', [join(root, 'cuda', 'tests', 'run-sanitizers.sh'), join(out, 'libtessera_core.a')], {
      cwd: root,
      encoding: 'utf8',
      maxBuffer: 1 << 26,
    });
    expect(r.status, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toMatch(/\d+ passed, 0 failed/);
  }, 1_200_000);

  it('passes the op fixture tests on the CMake-built addon', () => {
    const r = spawnSync(process.execPath, [join(root, 'node_modules', 'vitest', 'vitest.mjs'), 'run', 'test/ops.fixtures.test.ts'], {
      cwd: root,
      encoding: 'utf8',
      env: { ...process.env, TESSERA_ADDON: join(out, 'Release', 'tessera.node') },
      maxBuffer: 1 << 26,
    });
    expect(r.status, r.stdout + r.stderr).toBe(0);
  }, 600_000);

  it('passes every op fixture on the CUDA backend library built against the emulator', () => {
    // libtessera_cuda_emu.so is cuda/*.cu + cuda/backend.cu compiled with g++ against
    // cuda/emu: the addon loads it exactly as it loads libtessera_cuda.so (dlopen,
    // ABI table, device memory through the caching allocator, op dispatch), so every
    // op's CUDA forward and backward runs against the PyTorch fixtures here.
    const lib = join(out, 'Release', 'libtessera_cuda_emu.so');
    expect(existsSync(lib)).toBe(true);
    const r = spawnSync(process.execPath, [join(root, 'node_modules', 'vitest', 'vitest.mjs'), 'run', 'test/ops.fixtures.test.ts', '-t', 'CUDA'], {
      cwd: root,
      encoding: 'utf8',
      env: {
        ...process.env,
        TESSERA_ADDON: join(out, 'Release', 'tessera.node'),
        TESSERA_CUDA_LIBRARY: lib,
        TESSERA_REQUIRE_CUDA: '1',
        TESSERA_EMU_ORDER: 'random',
        TESSERA_EMU_SEED: '11',
        NO_COLOR: '1',
      },
      maxBuffer: 1 << 26,
    });
    expect(r.status, r.stdout + r.stderr).toBe(0);
    const plain = r.stdout.replace(/\x1b\[[0-9;]*m/g, '');
    const passed = Number(/Tests\s+(\d+) passed/.exec(plain)?.[1] ?? 0);
    expect(passed, r.stdout).toBeGreaterThan(100);
  }, 600_000);
});
