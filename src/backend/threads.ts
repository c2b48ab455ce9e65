import os from 'node:os';
import v8 from 'node:v8';
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

let mainThreadGc = false;

/**
 * Runs V8's garbage collector on the JavaScript thread only: no parallel scavenges, no concurrent
 * marking or sweeping on V8's helper threads. When the kernel pool has a thread on every core, those
 * helpers take cores from it in the middle of a GEMM; BERT-base on 2 threads went from 0.95-0.96x
 * to 0.99-1.00x of onnxruntime with this (BENCHMARKS.md). The same collection work then pauses the
 * JavaScript thread instead, which a process that computes (the strata command, a batch job) does
 * not mind and a server answering many small requests might. Process-wide and one-way: call it at
 * start, before the program allocates much (V8 refuses to change some collector flags in the
 * middle of a collection, so this sets only those it accepts at any time). The strata command
 * calls it first thing.
 */
export function useMainThreadGc(): void {
  if (mainThreadGc) return;
  mainThreadGc = true;
  for (const flag of ['--no-parallel-scavenge', '--no-concurrent-marking', '--no-concurrent-sweeping']) v8.setFlagsFromString(flag);
}
