#!/usr/bin/env node
// The `tessera` command line.
import { Command } from 'commander';
import { registerWorldCommands } from './world.js';
import { backends } from '../backends.js';

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
        const detail = b.available ? `available (isa ${b.isa}, ${b.threads} threads)` : `off: ${b.reason}`;
        process.stdout.write(`${b.name}: ${detail}\n`);
      }
    });
  registerWorldCommands(program);
  return program;
}

buildProgram()
  .parseAsync(process.argv)
  .catch((err: Error & { code?: string }) => {
    process.stderr.write(`tessera: ${err.message}\n`);
    process.exitCode = 1;
  });
