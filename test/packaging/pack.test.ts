// `npm run build:prebuild` writes prebuilds/linux-x64/*.node; the packed tarball then
// installs into an empty project with no compiler on PATH and loads the addon
// from the prebuild (node-gyp-build), from both require() and import.
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, mkdirSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '..', '..');
const work = mkdtempSync(join(tmpdir(), 'tessera-pack-'));
const pkg = join(work, 'pkg');
const app = join(work, 'app');
const npmCli = join(dirname(process.execPath), '..', 'lib', 'node_modules', 'npm', 'bin', 'npm-cli.js');

afterAll(() => rmSync(work, { recursive: true, force: true }));

function npm(args: string[], cwd: string, env: NodeJS.ProcessEnv = process.env) {
  return execFileSync(process.execPath, [npmCli, ...args], { cwd, env, stdio: 'pipe', maxBuffer: 1 << 26 }).toString();
}

describe('packaging', () => {
  it('prebuildify writes a linux-x64 prebuild', () => {
    // Work on a copy so the repository's build/ (loaded by other tests) is untouched.
    mkdirSync(pkg);
    for (const f of ['package.json', 'binding.gyp', 'CMakeLists.txt', 'README.md', 'native', 'cuda', 'lib', 'tsup.config.ts', 'tsconfig.json'])
      if (existsSync(join(root, f))) cpSync(join(root, f), join(pkg, f), { recursive: true });
    symlinkSync(join(root, 'node_modules'), join(pkg, 'node_modules'), 'dir');
    npm(['run', 'build:prebuild'], pkg);
    const dir = join(pkg, 'prebuilds', `${process.platform}-${process.arch}`);
    expect(readdirSync(dir).some((f) => f.endsWith('.node'))).toBe(true);
  }, 1_200_000);

  it('installs from the tarball with no compiler and loads the prebuild', () => {
    const tarball = npm(['pack', '--silent', '--pack-destination', work], pkg).trim().split('\n').at(-1)!;
    mkdirSync(app);
    writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'app', version: '1.0.0', private: true }));
    // PATH holds only node and sh (npm runs install scripts through sh): no g++,
    // make or python3, so a source build would fail.
    const bin = join(work, 'bin');
    mkdirSync(bin);
    symlinkSync(process.execPath, join(bin, 'node'));
    symlinkSync('/bin/sh', join(bin, 'sh'));
    const env = { ...process.env, PATH: bin, CC: '/bin/false', CXX: '/bin/false', npm_config_build_from_source: 'false' };
    npm(['install', '--no-audit', '--no-fund', '--prefer-offline', join(work, tarball)], app, env);
    expect(existsSync(join(app, 'node_modules', 'tessera', 'build'))).toBe(false);
    const cjs = execFileSync(process.execPath, ['-e',
      "const t=require('tessera'); t.ops.silu({data:new Float32Array([1,-2]),shape:[2]}).then(r=>console.log(JSON.stringify([...r.data].map(v=>+v.toFixed(4)))))"],
      { cwd: app, env }).toString().trim();
    expect(cjs).toBe('[0.7311,-0.2384]');
    const esm = execFileSync(process.execPath, ['--input-type=module', '-e',
      "import {backends} from 'tessera'; console.log(backends()[0].name, backends()[1].available)"],
      { cwd: app, env }).toString().trim();
    expect(esm).toBe('cpu false');
  }, 600_000);
});
