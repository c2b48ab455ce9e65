import os from 'node:os';
import { StrataError } from '../errors.js';
import { loadAddon } from './native.js';

/** Sets the native thread-pool size (default: the machine's cores, or STRATA_THREADS). */
export function setThreads(n: number): void {
  if (!Number.isInteger(n) || n < 1 || n > 1024) throw new StrataError('argument', 'setThreads', `thread count must be an integer in [1, 1024], got ${n}`);
  loadAddon()?.setThreads(n);
}

export function getThreads(): number {
  return loadAddon()?.getThreads() ?? 1;
}

export function defaultThreads(): number {
  return os.availableParallelism();
}
