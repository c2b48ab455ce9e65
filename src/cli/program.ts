import { readFileSync } from 'node:fs';
import { Command, CommanderError } from 'commander';
import { StrataError } from '../errors.js';
import { registerCommands } from './commands/index.js';
import type { CliIO } from './io.js';

/** Exit status for bad input (flags, shapes, files): distinct from 1, which means Strata itself failed. */
export const EXIT_USAGE = 2;
export const EXIT_FAILURE = 1;

function packageVersion(): string {
  // src/cli and dist/cli both sit two levels below the package root.
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

const processIO: CliIO = {
  out: (text) => process.stdout.write(text),
  err: (text) => process.stderr.write(text),
};

/**
 * Builds the `strata` command tree from the groups in commands/index.ts: with `argv`, only the
 * group of the command it names (a command's imports are its memory cost), else every group.
 */
export async function createProgram(io: CliIO = processIO, argv?: readonly string[]): Promise<Command> {
  const program = new Command('strata')
    .description('Train, adapt and run language, foundation and multi-modal models in Node.js.')
    .version(packageVersion(), '-V, --version', 'print the version')
    .helpOption('-h, --help', 'show help')
    .showSuggestionAfterError(true)
    .exitOverride()
    .configureOutput({
      writeOut: io.out,
      writeErr: io.err,
      // commander says "error: ..."; every Strata diagnostic starts with "strata: ".
      outputError: (text, write) => write(`strata: ${text.replace(/^error: /, '')}`),
    });
  await registerCommands(program, io, argv);
  return program;
}

function debugEnabled(): boolean {
  const v = process.env.STRATA_DEBUG;
  return v !== undefined && v !== '' && v !== '0';
}

/** Parses argv and runs the chosen command; returns the process exit status and never throws. */
export async function runCli(argv: readonly string[], io: CliIO = processIO): Promise<number> {
  try {
    const program = await createProgram(io, argv);
    await program.parseAsync([...argv]);
    return 0;
  } catch (err) {
    return reportError(err, io);
  }
}

function reportError(err: unknown, io: CliIO): number {
  if (err instanceof CommanderError) {
    // commander has already printed its message (through outputError); --help and --version land here
    // with status 0, and a group called without a subcommand prints its help and lands here non-zero.
    return err.exitCode === 0 ? 0 : EXIT_USAGE;
  }
  const debug = debugEnabled();
  if (err instanceof StrataError) {
    io.err(`strata: ${err.message}\n`);
    if (debug && err.stack) io.err(`${err.stack}\n`);
    return EXIT_USAGE;
  }
  const message = err instanceof Error ? err.message : String(err);
  io.err(`strata: internal error: ${message}\n`);
  if (debug && err instanceof Error && err.stack) io.err(`${err.stack}\n`);
  else io.err('strata: set STRATA_DEBUG=1 for a stack trace\n');
  return EXIT_FAILURE;
}
