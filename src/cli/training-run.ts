// What the `strata train-*` commands share: the run options they end with, the config a run
// trains with (defaults overridden by the flags given), and the progress bar wired to the
// trainer's callbacks.

import type { Command } from 'commander';
import { setThreads } from '../backend/threads.js';
import type { TrainerCallbacks } from '../train/trainer.js';
import type { CliIO } from './io.js';
import { nonNegativeInt, positiveInt } from './options.js';
import { TrainingProgress } from './progress.js';

export interface RunDefaults {
  seed: number;
  checkpointEvery: number;
  evalEvery: number;
}

/** Flags every training command takes. */
export interface RunFlags {
  out: string;
  resume: boolean;
  threads?: number;
  json: boolean;
}

/** Adds the run options: seed, checkpoint and evaluation cadence, --resume, --threads, --json. */
export function withRunOptions(cmd: Command, d: RunDefaults): Command {
  return cmd
    .option('--seed <S>', `seed for data, init and order (default ${d.seed})`, nonNegativeInt)
    .option('--checkpoint-every <N>', `steps between checkpoints (default ${d.checkpointEvery}; 0 = end only)`, nonNegativeInt)
    .option('--eval-every <N>', `steps between evaluations (default ${d.evalEvery}; 0 = end only)`, nonNegativeInt)
    .option('--resume', 'continue the run in --out from its latest checkpoint', false)
    .option('--threads <N>', 'native threads', positiveInt(1024))
    .option('--json', 'print one JSON line with the result (no progress)', false);
}

/** The run's config: the defaults, then every flag given that names one of their fields (warmupSteps too, which defaults to 5% of steps). */
export function configFromFlags<C extends object>(defaults: C, flags: RunFlags): C & { out: string } {
  const given = Object.fromEntries(Object.entries(flags).filter(([k, v]) => v !== undefined && (k in defaults || k === 'warmupSteps')));
  return { ...defaults, ...given, out: flags.out };
}

/**
 * Sets the thread count and runs `train` with a progress bar (none with --json) fed by the
 * trainer's callbacks; the bar is gone when this returns or throws.
 */
export async function runWithProgress<R>(io: CliIO, flags: RunFlags, train: (callbacks: TrainerCallbacks & { resume: boolean; onLog(message: string): void }) => Promise<R>): Promise<R> {
  if (flags.threads) setThreads(flags.threads);
  const progress = new TrainingProgress(io, { quiet: flags.json });
  try {
    return await train({
      resume: flags.resume,
      onLog: (m) => progress.log(m),
      onStart: (s) => progress.start(s.startStep, s.totalSteps, `${s.resumedFrom ? `resuming from ${s.resumedFrom}` : 'training from step 0'}: ${s.trainableParameters.toLocaleString('en-US')} parameters, ${s.totalSteps} steps`),
      onStep: (rec) => progress.step(rec),
    });
  } finally {
    progress.stop();
  }
}
