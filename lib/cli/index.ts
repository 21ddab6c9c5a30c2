#!/usr/bin/env node
// The `tessera` command line.
import { Command } from 'commander';
import { registerWorldCommands } from './world.js';
import { backends } from '../backends.js';
import { registerVaeCommands } from './vae.js';

export function buildProgram(): Command {
  const program = new Command();
  program
    .name('tessera')
    .description('video generation as the Sora technical report describes it: VAE, diffusion transformer, DDIM')
    .showHelpAfterError();
  program
    .command('backends')
    .description('list the compute backends and why any is off')
    .action(() => {
      for (const b of backends()) {
        let detail: string;
        if (!b.available) detail = `off: ${b.reason} (${b.detail})`;
        else if (b.name === 'cpu') detail = `available (isa ${b.isa}, ${b.threads} threads)`;
        else
          detail = `available${b.emulated ? ' (CPU emulator)' : ''}: ${b.devices!.map((d) => `${d.name}, sm ${d.computeCapability}, ${(d.totalMemory / 2 ** 30).toFixed(0)} GiB`).join('; ')} [${b.library}]`;
        process.stdout.write(`${b.name}: ${detail}\n`);
      }
    });
  registerWorldCommands(program);
  registerVaeCommands(program);
  return program;
}

buildProgram()
  .parseAsync(process.argv)
  .catch((err: Error & { code?: string }) => {
    process.stderr.write(`tessera: ${err.message}\n`);
    process.exitCode = 1;
  });
