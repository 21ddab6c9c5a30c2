// The CUDA emulator (cuda/emu/) runs kernel sources on the CPU: correct kernels
// pass in every schedule and sanitizer build, and each planted bug (missing
// barrier, non-atomic shared update, out-of-bounds store) is caught.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { expect, it } from 'vitest';

const root = join(import.meta.dirname, '..');

it('cuda/emu: good kernels pass in every mode and planted bugs are caught', () => {
  const r = spawnSync('bash', [join(root, 'cuda', 'emu', 'run-tests.sh')], { cwd: root, encoding: 'utf8', maxBuffer: 1 << 26 });
  expect(r.status, r.stdout + r.stderr).toBe(0);
  expect(r.stdout).toContain('all checks passed');
  expect(r.stdout).not.toMatch(/^\s*FAIL/m);
}, 900_000);
