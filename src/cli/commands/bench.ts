import type { Command } from 'commander';
import { backend, getThreads, nativeAvailable, setThreads } from '../../index.js';
import { StrataError } from '../../errors.js';
import type { MatOperand } from '../../backend/backend.js';
import { loadAddon } from '../../backend/native.js';
import type { CliIO } from '../io.js';
import { positiveInt } from '../options.js';

/** `strata bench gemm` flags, after parsing and validation. */
export interface BenchGemmOptions {
  readonly m: number;
  readonly n: number;
  readonly k: number;
  /** native thread-pool size; default: the pool's current size */
  readonly threads?: number;
  /** timed iterations; default: enough to run for at least MIN_TIMED_SECONDS */
  readonly iters?: number;
  readonly json: boolean;
  readonly transA: boolean;
  readonly transB: boolean;
}

/** One measurement; also the `--json` line, so keep its keys stable. */
export interface BenchGemmResult {
  m: number;
  n: number;
  k: number;
  threads: number;
  isa: string;
  backend: string;
  /** from the best per-call time */
  gflops: number;
  /** best per-call time */
  ms: number;
  medianGflops: number;
  medianMs: number;
  iters: number;
  transA: boolean;
  transB: boolean;
}

const MAX_DIM = 1 << 20;
const MAX_THREADS = 1024;
const MAX_ITERS = 1_000_000;
/** A, B and C together must fit in this many bytes. */
export const MAX_OPERAND_BYTES = 4 * 1024 ** 3;
const MIN_TIMED_SECONDS = 0.3;
/** Calls are timed in groups of at least this long, so timer resolution does not dominate tiny GEMMs. */
const MIN_SAMPLE_MS = 2;
const MIN_TIMED_CALLS = 3;
const WARMUP_MS = 100;

export function registerBench(program: Command, io: CliIO): void {
  const bench = program.command('bench').description('measure kernel throughput');

  bench
    .command('gemm')
    .description('time an f32 matrix multiply C (M, N) = op(A) (M, K) @ op(B) (K, N) on the active backend')
    .requiredOption('--m <M>', 'rows of C', positiveInt(MAX_DIM))
    .requiredOption('--n <N>', 'columns of C', positiveInt(MAX_DIM))
    .requiredOption('--k <K>', 'inner dimension', positiveInt(MAX_DIM))
    .option('--threads <T>', 'native thread-pool size (default: current pool size)', positiveInt(MAX_THREADS))
    .option('--iters <I>', `timed iterations (default: enough to run >= ${MIN_TIMED_SECONDS} s)`, positiveInt(MAX_ITERS))
    .option('--trans-a', 'store A transposed, as (K, M)', false)
    .option('--trans-b', 'store B transposed, as (N, K)', false)
    .option('--json', 'print one JSON line instead of a sentence', false)
    .action((opts: BenchGemmOptions) => {
      const result = benchGemm(opts, io);
      io.out(opts.json ? `${JSON.stringify(result)}\n` : `${formatGemmResult(result)}\n`);
    });
}

/** Bytes of A, B and C for an (M, N, K) GEMM in f32. */
export function gemmOperandBytes(m: number, n: number, k: number): number {
  return 4 * (m * k + k * n + m * n);
}

export function benchGemm(opts: BenchGemmOptions, io: CliIO): BenchGemmResult {
  const { m, n, k, transA, transB } = opts;
  const bytes = gemmOperandBytes(m, n, k);
  if (bytes > MAX_OPERAND_BYTES) {
    throw new StrataError(
      'argument',
      'bench gemm',
      `A, B and C need ${gib(bytes)} GiB for M=${m} N=${n} K=${k}; the limit is ${gib(MAX_OPERAND_BYTES)} GiB, choose smaller sizes`,
    );
  }
  const native = nativeAvailable();
  if (opts.threads !== undefined) {
    if (native) setThreads(opts.threads);
    else if (opts.threads > 1) io.err(`strata: warning: native addon unavailable; the reference backend runs on 1 thread, not ${opts.threads}\n`);
  }
  const be = backend();
  const threads = be.name === 'native' ? getThreads() : 1;
  const isa = be.name === 'native' ? (loadAddon()?.isa() ?? 'unknown') : 'none';

  // A is (M, K), stored (K, M) when transposed; B is (K, N), stored (N, K) when transposed.
  const a: MatOperand = { data: randomArray(m * k, 1), offset: 0, ld: transA ? m : k, trans: transA, batchStride: 0 };
  const b: MatOperand = { data: randomArray(k * n, 2), offset: 0, ld: transB ? k : n, trans: transB, batchStride: 0 };
  const c = new Float32Array(m * n);
  const gemm = (): void => be.matmul(a, b, c, m, n, k, 1);

  gemm();
  checkGemm(a, b, c, m, n, k);
  const timing = timeCalls(gemm, opts.iters);
  const flop = 2 * m * n * k;
  return {
    m,
    n,
    k,
    threads,
    isa,
    backend: be.name,
    gflops: round(flop / (timing.bestMs * 1e6), 2),
    ms: significant(timing.bestMs, 4),
    medianGflops: round(flop / (timing.medianMs * 1e6), 2),
    medianMs: significant(timing.medianMs, 4),
    iters: timing.calls,
    transA,
    transB,
  };
}

export function formatGemmResult(r: BenchGemmResult): string {
  const op = `${r.transA ? 'Aᵀ' : 'A'}·${r.transB ? 'Bᵀ' : 'B'}`;
  return (
    `gemm ${r.m}x${r.n}x${r.k} (${op}) ${r.backend}/${r.isa}, ${r.threads} thread${r.threads === 1 ? '' : 's'}: ` +
    `${r.gflops} GFLOPS (best ${r.ms} ms, median ${r.medianMs} ms = ${r.medianGflops} GFLOPS, ${r.iters} iterations)`
  );
}

interface Timing {
  bestMs: number;
  medianMs: number;
  calls: number;
}

/** Warms up, then times `fn` in groups of calls; returns best and median per-call milliseconds. */
function timeCalls(fn: () => void, iters: number | undefined): Timing {
  // Warm up (JIT, caches, thread pool) for WARMUP_MS or at least two calls; the fastest call sizes the run.
  let estimateMs = Infinity;
  const warmupStart = performance.now();
  for (let calls = 0; calls < 2 || (performance.now() - warmupStart < WARMUP_MS && calls < 10_000); calls++) {
    const t0 = performance.now();
    fn();
    estimateMs = Math.min(estimateMs, performance.now() - t0);
  }
  estimateMs = Math.max(estimateMs, 1e-4);
  let t: number;
  const total = iters ?? Math.min(MAX_ITERS, Math.max(MIN_TIMED_CALLS, Math.ceil((MIN_TIMED_SECONDS * 1e3) / estimateMs)));
  const perSample = Math.max(1, Math.min(total, Math.floor(MIN_SAMPLE_MS / estimateMs)));
  const samples = Math.max(1, Math.round(total / perSample));
  const perCall: number[] = [];
  for (let s = 0; s < samples; s++) {
    t = performance.now();
    for (let i = 0; i < perSample; i++) fn();
    perCall.push((performance.now() - t) / perSample);
  }
  perCall.sort((x, y) => x - y);
  const mid = perCall.length >> 1;
  const medianMs = perCall.length % 2 ? perCall[mid]! : (perCall[mid - 1]! + perCall[mid]!) / 2;
  return { bestMs: Math.max(perCall[0]!, 1e-6), medianMs: Math.max(medianMs, 1e-6), calls: samples * perSample };
}

/** Uniform values in [-1, 1) from a seeded xorshift32, so runs are repeatable and fast to fill. */
function randomArray(length: number, seed: number): Float32Array {
  const out = new Float32Array(length);
  let s = (0x9e3779b9 * seed) >>> 0 || 1;
  for (let i = 0; i < length; i++) {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    out[i] = s / 2147483648 - 1;
  }
  return out;
}

/**
 * Recomputes a few entries of C in f64 so a broken kernel cannot post a fast time.
 * The tolerance scales with sum |a||b|, the bound on f32 accumulation error.
 */
function checkGemm(a: MatOperand, b: MatOperand, c: Float32Array, m: number, n: number, k: number): void {
  const samples = 16;
  for (let s = 0; s < samples; s++) {
    const i = Math.floor(((s * 7919) % samples) * (m / samples)) % m;
    const j = Math.floor(((s * 104729) % samples) * (n / samples)) % n;
    let dot = 0;
    let mag = 0;
    for (let p = 0; p < k; p++) {
      const av = a.data[a.trans ? p * a.ld + i : i * a.ld + p]!;
      const bv = b.data[b.trans ? j * b.ld + p : p * b.ld + j]!;
      dot += av * bv;
      mag += Math.abs(av * bv);
    }
    const got = c[i * n + j]!;
    if (!(Math.abs(got - dot) <= 1e-3 * mag + 1e-6)) {
      throw new StrataError('numeric', 'bench gemm', `wrong result at C[${i}, ${j}]: got ${got}, expected ${dot.toPrecision(7)} (backend ${backend().name})`);
    }
  }
}

function gib(bytes: number): string {
  return (bytes / 1024 ** 3).toFixed(2);
}

function significant(x: number, digits: number): number {
  return Number(x.toPrecision(digits));
}

function round(x: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}
