// Training checkpoints: RUN/checkpoints/step-NNNNNN/ holds the trainable weights
// (model.safetensors), the optimizer's moment buffers (optimizer.safetensors, f64, by parameter
// name) and trainer_state.json (step, schedule, RNG and data position). A checkpoint is written
// into a hidden temporary folder, every file fsynced, then renamed into place; `latest.json`
// names the newest complete one and is itself replaced atomically. A kill at any moment leaves
// the previous checkpoint intact and never a half-written one that `--resume` would trust.

import fs from 'node:fs';
import path from 'node:path';
import { StrataError } from '../errors.js';
import { fsyncDir, writeFileAtomic } from '../io/atomic.js';
import { readSafetensors, writeSafetensors } from '../io/safetensors.js';
import type { OptimizerState } from '../optim/optimizer.js';
import { fromArray } from '../tensor/ops/creation.js';
import type { Tensor } from '../tensor/tensor.js';

export const CHECKPOINTS_DIR = 'checkpoints';
const LATEST_FILE = 'latest.json';
const STATE_FILE = 'trainer_state.json';
const WEIGHTS_FILE = 'model.safetensors';
const OPTIMIZER_FILE = 'optimizer.safetensors';

/** Everything besides tensors that a resumed run needs to continue step for step. */
export interface TrainerState {
  /** completed optimizer steps */
  step: number;
  tokensSeen: number;
  elapsedSeconds: number;
  optimizer: { step: number; lr: number };
  /** the default generator (dropout, masking) */
  rng: number[];
  /** the task's data position (sampler epoch and index, ...) */
  data: unknown;
  /** a digest of the settings that must not change across a resume */
  configDigest: string;
}

export interface Checkpoint {
  dir: string;
  state: TrainerState;
  weights: Record<string, Tensor>;
  optimizer: OptimizerState;
}

function stepDirName(step: number): string {
  return `step-${String(step).padStart(6, '0')}`;
}

function ioError(where: string, err: unknown, what: string): StrataError {
  return err instanceof StrataError ? err : new StrataError('io', where, `${what} (${err instanceof Error ? err.message : String(err)})`);
}

/** Optimizer buffers keyed by parameter index become tensors keyed by parameter name. */
function optimizerTensors(state: OptimizerState, names: readonly string[]): Record<string, Tensor> {
  const out: Record<string, Tensor> = {};
  for (const [key, buf] of Object.entries(state.buffers)) {
    const dot = key.indexOf('.');
    const name = names[Number(key.slice(0, dot))];
    if (name === undefined) throw new StrataError('argument', 'saveCheckpoint', `optimizer buffer '${key}' refers to no parameter`);
    out[`${name}.${key.slice(dot + 1)}`] = fromArray(Float64Array.from(buf), [buf.length], { dtype: 'f64' });
  }
  return out;
}

/**
 * Writes checkpoint `state.step` under run/checkpoints, points latest.json at it and keeps only
 * the newest `keep` checkpoints. Returns the checkpoint's folder.
 */
export function saveCheckpoint(
  runDir: string,
  state: TrainerState,
  weights: Record<string, Tensor>,
  optimizer: OptimizerState,
  parameterNames: readonly string[],
  keep = 2,
): string {
  const root = path.join(runDir, CHECKPOINTS_DIR);
  const name = stepDirName(state.step);
  const final = path.join(root, name);
  const tmp = path.join(root, `.${name}.${process.pid}.tmp`);
  try {
    fs.mkdirSync(root, { recursive: true });
    fs.rmSync(tmp, { recursive: true, force: true });
    fs.mkdirSync(tmp);
  } catch (err) {
    throw ioError(root, err, 'cannot create the checkpoint folder');
  }
  try {
    writeSafetensors(path.join(tmp, WEIGHTS_FILE), weights, { format: 'pt' });
    writeSafetensors(path.join(tmp, OPTIMIZER_FILE), optimizerTensors(optimizer, parameterNames), { step: String(optimizer.step), lr: String(optimizer.lr) });
    writeFileAtomic(path.join(tmp, STATE_FILE), [Buffer.from(`${JSON.stringify(state, null, 2)}\n`)]);
    fsyncDir(tmp);
    fs.rmSync(final, { recursive: true, force: true });
    fs.renameSync(tmp, final);
    fsyncDir(root);
    writeFileAtomic(path.join(root, LATEST_FILE), [Buffer.from(`${JSON.stringify({ step: state.step, dir: name })}\n`)]);
  } catch (err) {
    fs.rmSync(tmp, { recursive: true, force: true });
    throw ioError(final, err, 'cannot write the checkpoint');
  }
  pruneCheckpoints(root, keep, name);
  return final;
}

function pruneCheckpoints(root: string, keep: number, newest: string): void {
  const dirs = fs
    .readdirSync(root)
    .filter((d) => /^step-\d+$/.test(d))
    .sort();
  const old = dirs.filter((d) => d !== newest).slice(0, Math.max(0, dirs.length - Math.max(1, keep)));
  for (const d of old) fs.rmSync(path.join(root, d), { recursive: true, force: true });
  // temporary folders of runs that were killed mid-write
  for (const d of fs.readdirSync(root)) if (d.startsWith('.step-') && d.endsWith('.tmp') && !d.includes(`.${process.pid}.`)) fs.rmSync(path.join(root, d), { recursive: true, force: true });
}

/** The folder of the newest complete checkpoint of a run, or null when it has none. */
export function latestCheckpointDir(runDir: string): string | null {
  const root = path.join(runDir, CHECKPOINTS_DIR);
  const file = path.join(root, LATEST_FILE);
  if (!fs.existsSync(file)) return null;
  let latest: { dir?: unknown };
  try {
    latest = JSON.parse(fs.readFileSync(file, 'utf8')) as { dir?: unknown };
  } catch (err) {
    throw ioError(file, err, 'cannot read the latest-checkpoint pointer');
  }
  if (typeof latest.dir !== 'string' || !/^step-\d+$/.test(latest.dir)) throw new StrataError('io', file, 'does not name a checkpoint folder');
  const dir = path.join(root, latest.dir);
  if (!fs.existsSync(path.join(dir, STATE_FILE))) throw new StrataError('io', dir, 'the checkpoint named by latest.json is missing or incomplete');
  return dir;
}

/** Reads a checkpoint folder written by saveCheckpoint; `names` maps parameter names back to optimizer indices. */
export function loadCheckpoint(dir: string, parameterNames: readonly string[]): Checkpoint {
  const stateFile = path.join(dir, STATE_FILE);
  let state: TrainerState;
  try {
    state = JSON.parse(fs.readFileSync(stateFile, 'utf8')) as TrainerState;
  } catch (err) {
    throw ioError(stateFile, err, 'cannot read the trainer state');
  }
  if (!Number.isInteger(state.step) || !Array.isArray(state.rng) || typeof state.configDigest !== 'string') {
    throw new StrataError('io', stateFile, 'is not a Strata trainer state (step, rng or configDigest missing)');
  }
  const weights = readSafetensors(path.join(dir, WEIGHTS_FILE)).tensors;
  const opt = readSafetensors(path.join(dir, OPTIMIZER_FILE));
  const index = new Map(parameterNames.map((n, i) => [n, i]));
  const buffers: OptimizerState['buffers'] = {};
  for (const [key, t] of Object.entries(opt.tensors)) {
    const dot = key.lastIndexOf('.');
    const i = index.get(key.slice(0, dot));
    if (i === undefined) throw new StrataError('io', path.join(dir, OPTIMIZER_FILE), `optimizer state for '${key.slice(0, dot)}', which is not a trainable parameter of this model`);
    buffers[`${i}.${key.slice(dot + 1)}`] = Float64Array.from(t.toArray());
  }
  return { dir, state, weights, optimizer: { step: state.optimizer.step, lr: state.optimizer.lr, buffers } };
}
