import { StrataError } from '../errors.js';
import type { Optimizer } from './optimizer.js';

/** Maps a step (0-based) to a multiplier of the base learning rate. */
export type Schedule = (step: number) => number;

export function constantSchedule(): Schedule {
  return () => 1;
}

/**
 * Linear warmup from 0 over `warmupSteps`, then cosine decay to `minRatio` of the base rate at
 * `totalSteps` (held there afterwards).
 */
export function warmupCosineSchedule(options: { warmupSteps: number; totalSteps: number; minRatio?: number }): Schedule {
  const { warmupSteps, totalSteps } = options;
  const minRatio = options.minRatio ?? 0;
  if (!(warmupSteps >= 0) || !(totalSteps >= warmupSteps)) {
    throw new StrataError('argument', 'warmupCosineSchedule', `need 0 <= warmupSteps (${warmupSteps}) <= totalSteps (${totalSteps})`);
  }
  return (step) => {
    if (step < warmupSteps) return (step + 1) / warmupSteps;
    if (totalSteps === warmupSteps) return 1;
    const progress = Math.min(1, (step - warmupSteps) / (totalSteps - warmupSteps));
    return minRatio + (1 - minRatio) * 0.5 * (1 + Math.cos(Math.PI * progress));
  };
}

/** Sets an optimizer's learning rate from a schedule before each step. */
export class LRScheduler {
  private step = 0;

  constructor(
    readonly optimizer: Optimizer,
    readonly baseLr: number,
    readonly schedule: Schedule,
  ) {
    optimizer.lr = baseLr * schedule(0);
  }

  /** Call after optimizer.step(): moves to the next step's rate. */
  advance(): number {
    this.step++;
    this.optimizer.lr = this.baseLr * this.schedule(this.step);
    return this.optimizer.lr;
  }

  get currentStep(): number {
    return this.step;
  }

  set currentStep(step: number) {
    this.step = step;
    this.optimizer.lr = this.baseLr * this.schedule(step);
  }
}
