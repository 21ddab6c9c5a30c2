import { defineConfig } from 'tsup';

export default defineConfig([
  {
    entry: { index: 'lib/index.ts', 'world/index': 'lib/world/index.ts' },
    format: ['esm', 'cjs'],
    dts: true,
    clean: true,
    sourcemap: true,
    target: 'node20',
    shims: true,
  },
  {
    entry: { cli: 'lib/cli/index.ts' },
    format: ['esm'],
    sourcemap: true,
    target: 'node20',
    shims: true,
  },
]);
