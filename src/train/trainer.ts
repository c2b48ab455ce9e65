// The training loop shared by pretraining and fine-tuning: micro-batches with gradient
// accumulation, global grad-norm clipping, AdamW under warmup + cosine, evaluation, the metrics
// log, NaN/inf detection, atomic checkpoints and exact resume.
//
// Exact resume: everything a step depends on is either saved (weights, AdamW moments, step
// count, the default generator's state, the task's data position) or a pure function of
// (seed, step). A run resumed after a kill -9 therefore repeats the uninterrupted run's losses
// bit for bit on the same machine and thread count.

import { StrataError } from '../errors.js';
import type { Module } from '../nn/module.js';
import { AdamW } from '../optim/adamw.js';
import { clipGradNorm } from '../optim/clip.js';
import { LRScheduler, warmupCosineSchedule } from '../optim/schedule.js';
import { noGrad } from '../tensor/grad-mode.js';
import { defaultGenerator } from '../tensor/random.js';
import type { Tensor } from '../tensor/tensor.js';
import { type TrainerState, latestCheckpointDir, loadCheckpoint, saveCheckpoint } from './checkpoint.js';
import { type MetricsRecord, MetricsLog } from './metrics.js';

/** What the trainer asks of a task (causal LM, masked LM, classification, SFT, ...). */
export interface TrainingTask {
  /** The loss of the next training micro-batch (a mean over its tokens or examples) and how many tokens it held. */
  nextBatch(): { loss: Tensor; tokens: number };
  /** Validation metrics, computed in eval mode without gradients; `val_loss` at least. */
  evaluate?(): Record<string, number>;
  /** The data position, for checkpoints. */
  state(): unknown;
  restore(state: unknown): void;
}

export interface TrainerOptions {
  /** total optimizer steps */
  steps: number;
  lr: number;
  /** default: 5% of steps */
  warmupSteps?: number;
  /** the cosine ends at this fraction of lr (default 0.1) */
  minLrRatio?: number;
  weightDecay?: number;
  betas?: [number, number];
  /** micro-batches per optimizer step (default 1) */
  gradAccumulation?: number;
  /** global grad-norm clip; null = none (default 1) */
  clipGradNorm?: number | null;
  seed: number;
  /** checkpoint every N steps (0 = only at the end; default 0) */
  checkpointEvery?: number;
  /** how many checkpoints to keep (default 2) */
  keepCheckpoints?: number;
  /** evaluate every N steps (0 = only at the end; default 0) */
  evalEvery?: number;
  /** the run folder: metrics.jsonl and checkpoints/ go here */
  runDir: string;
  /** continue from the run's latest checkpoint (a fresh start when it has none) */
  resume?: boolean;
  /** settings a resume must not change (model shape, data, batch size, ...); compared on resume */
  configDigest?: string;
}

export interface TrainerCallbacks {
  onStart?(info: { startStep: number; totalSteps: number; resumedFrom: string | null; trainableParameters: number }): void;
  onStep?(record: MetricsRecord): void;
  onCheckpoint?(dir: string, step: number): void;
}

export interface TrainResult {
  steps: number;
  lastLoss: number;
  /** the last evaluation's metrics */
  eval: Record<string, number> | null;
  tokensSeen: number;
  seconds: number;
  resumedFrom: string | null;
}

function positiveInt(v: number, name: string): void {
  if (!Number.isInteger(v) || v < 1) throw new StrataError('argument', 'Trainer', `${name} must be an integer >= 1, got ${v}`);
}

function nonNegativeInt(v: number, name: string): void {
  if (!Number.isInteger(v) || v < 0) throw new StrataError('argument', 'Trainer', `${name} must be an integer >= 0, got ${v}`);
}

export class Trainer {
  readonly names: string[];
  readonly params: Tensor[];
  readonly optimizer: AdamW;
  readonly scheduler: LRScheduler;
  private readonly opts: Required<Omit<TrainerOptions, 'betas' | 'warmupSteps'>> & { betas: [number, number]; warmupSteps: number };

  constructor(
    readonly model: Module,
    readonly task: TrainingTask,
    options: TrainerOptions,
    readonly callbacks: TrainerCallbacks = {},
  ) {
    positiveInt(options.steps, 'steps');
    if (!(options.lr > 0) || !Number.isFinite(options.lr)) throw new StrataError('argument', 'Trainer', `lr must be a finite number > 0, got ${options.lr}`);
    const warmupSteps = options.warmupSteps ?? Math.floor(options.steps * 0.05);
    nonNegativeInt(warmupSteps, 'warmupSteps');
    if (warmupSteps > options.steps) throw new StrataError('argument', 'Trainer', `warmupSteps (${warmupSteps}) exceeds steps (${options.steps})`);
    this.opts = {
      steps: options.steps,
      lr: options.lr,
      warmupSteps,
      minLrRatio: options.minLrRatio ?? 0.1,
      weightDecay: options.weightDecay ?? 0.1,
      betas: options.betas ?? [0.9, 0.95],
      gradAccumulation: options.gradAccumulation ?? 1,
      clipGradNorm: options.clipGradNorm === undefined ? 1 : options.clipGradNorm,
      seed: options.seed,
      checkpointEvery: options.checkpointEvery ?? 0,
      keepCheckpoints: options.keepCheckpoints ?? 2,
      evalEvery: options.evalEvery ?? 0,
      runDir: options.runDir,
      resume: options.resume ?? false,
      configDigest: options.configDigest ?? '',
    };
    positiveInt(this.opts.gradAccumulation, 'gradAccumulation');
    nonNegativeInt(this.opts.checkpointEvery, 'checkpointEvery');
    nonNegativeInt(this.opts.evalEvery, 'evalEvery');
    positiveInt(this.opts.keepCheckpoints, 'keepCheckpoints');
    if (this.opts.clipGradNorm !== null && !(this.opts.clipGradNorm > 0)) throw new StrataError('argument', 'Trainer', `clipGradNorm must be > 0 or null, got ${this.opts.clipGradNorm}`);
    const trainable = model.namedParameters().filter(([, p]) => p.requiresGrad);
    if (!trainable.length) throw new StrataError('argument', 'Trainer', 'the model has no trainable parameters');
    this.names = trainable.map(([n]) => n);
    this.params = trainable.map(([, p]) => p);
    this.optimizer = new AdamW(this.params, { lr: options.lr, betas: this.opts.betas, weightDecay: this.opts.weightDecay });
    this.scheduler = new LRScheduler(this.optimizer, options.lr, warmupCosineSchedule({ warmupSteps, totalSteps: options.steps, minRatio: this.opts.minLrRatio }));
  }

  /** Trains until `steps`, resuming first when asked; returns the final loss and metrics. */
  run(): TrainResult {
    const o = this.opts;
    let step = 0;
    let tokensSeen = 0;
    let elapsedBefore = 0;
    let resumedFrom: string | null = null;
    let lastCheckpoint: string | null = null;
    defaultGenerator.manualSeed(o.seed);
    if (o.resume) {
      const dir = latestCheckpointDir(o.runDir);
      if (dir) {
        const ck = loadCheckpoint(dir, this.names);
        if (o.configDigest && ck.state.configDigest !== o.configDigest) {
          throw new StrataError('argument', dir, 'this checkpoint was written with other settings (model, data or batch shape differ); resume with the settings of the original run');
        }
        this.model.loadStateDict(ck.weights, { strict: false });
        const missing = this.names.filter((n) => !(n in ck.weights));
        if (missing.length) throw new StrataError('io', dir, `the checkpoint lacks trainable parameters ${missing.slice(0, 3).join(', ')}${missing.length > 3 ? ', ...' : ''}`);
        this.optimizer.loadStateDict(ck.optimizer);
        this.scheduler.currentStep = ck.state.step;
        defaultGenerator.setState(ck.state.rng);
        this.task.restore(ck.state.data);
        step = ck.state.step;
        tokensSeen = ck.state.tokensSeen;
        elapsedBefore = ck.state.elapsedSeconds;
        resumedFrom = lastCheckpoint = dir;
      }
    }
    const metrics = new MetricsLog(o.runDir, resumedFrom ? { resumeFromStep: step } : {});
    this.callbacks.onStart?.({ startStep: step, totalSteps: o.steps, resumedFrom, trainableParameters: this.params.reduce((n, p) => n + p.size, 0) });
    const started = performance.now();
    const elapsed = () => elapsedBefore + (performance.now() - started) / 1000;
    let lastLoss = NaN;
    let lastEval: Record<string, number> | null = null;
    const checkpoint = () => {
      const state: TrainerState = {
        step,
        tokensSeen,
        elapsedSeconds: elapsed(),
        optimizer: { step: this.optimizer.stepCount, lr: this.optimizer.lr },
        rng: defaultGenerator.getState(),
        data: this.task.state(),
        configDigest: o.configDigest,
      };
      const weights = Object.fromEntries(this.names.map((n, i) => [n, this.params[i]!]));
      lastCheckpoint = saveCheckpoint(o.runDir, state, weights, this.optimizer.stateDict(), this.names, o.keepCheckpoints);
      this.callbacks.onCheckpoint?.(lastCheckpoint, step);
    };
    while (step < o.steps) {
      const t0 = performance.now();
      this.model.train();
      const lr = this.optimizer.lr;
      let lossSum = 0;
      let tokens = 0;
      for (let micro = 0; micro < o.gradAccumulation; micro++) {
        const batch = this.task.nextBatch();
        const value = batch.loss.item();
        if (!Number.isFinite(value)) this.diverged(step + 1, `the loss is ${value}`, lastCheckpoint);
        (o.gradAccumulation > 1 ? batch.loss.div(o.gradAccumulation) : batch.loss).backward();
        lossSum += value;
        tokens += batch.tokens;
      }
      const gradNorm = o.clipGradNorm === null ? globalNorm(this.params) : clipGradNorm(this.params, o.clipGradNorm);
      if (!Number.isFinite(gradNorm)) this.diverged(step + 1, `the gradient norm is ${gradNorm}`, lastCheckpoint);
      this.optimizer.step();
      this.optimizer.zeroGrad();
      this.scheduler.advance();
      step++;
      tokensSeen += tokens;
      lastLoss = lossSum / o.gradAccumulation;
      const seconds = (performance.now() - t0) / 1000;
      const record: MetricsRecord = { step, loss: lastLoss, lr, tokens_per_s: tokens / seconds, grad_norm: gradNorm, elapsed_s: elapsed() };
      if ((o.evalEvery > 0 && step % o.evalEvery === 0) || step === o.steps) {
        if (this.task.evaluate) {
          lastEval = this.evaluate();
          Object.assign(record, lastEval);
        }
      }
      metrics.append(record);
      this.callbacks.onStep?.(record);
      if ((o.checkpointEvery > 0 && step % o.checkpointEvery === 0) || step === o.steps) checkpoint();
    }
    return { steps: step, lastLoss, eval: lastEval, tokensSeen, seconds: elapsed(), resumedFrom };
  }

  /** The task's validation metrics in eval mode, without gradients. */
  evaluate(): Record<string, number> {
    if (!this.task.evaluate) return {};
    const wasTraining = this.model.training;
    this.model.eval();
    try {
      return noGrad(() => this.task.evaluate!());
    } finally {
      this.model.train(wasTraining);
    }
  }

  private diverged(step: number, what: string, lastCheckpoint: string | null): never {
    this.optimizer.zeroGrad();
    const keep = lastCheckpoint ? `the last good checkpoint is ${lastCheckpoint} (resume from it with a lower learning rate)` : 'no checkpoint was written yet';
    throw new StrataError('numeric', 'train', `training stopped at step ${step}: ${what}; the weights were not updated and ${keep}`);
  }
}

function globalNorm(params: readonly Tensor[]): number {
  let ss = 0;
  for (const p of params) {
    if (!p.grad) continue;
    const g = p.grad.toArray();
    for (const v of g) ss += v * v;
  }
  return Math.sqrt(ss);
}
