// Lab validator for gemmF32: compares the addon against a double-precision triple loop on many
// shapes, layouts and scalars, for every instruction set this CPU supports (one child process
// per STRATA_ISA value), and checks that hostile arguments throw instead of crashing.
//   node native/lab/gemm_check.mjs            (all ISAs)
//   STRATA_ISA=avx2 node native/lab/gemm_check.mjs --child
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import path from 'node:path';

const here = path.dirname(fileURLToPath(import.meta.url));
const addonPath = path.join(here, '../../build/Release/strata_native.node');

if (!process.argv.includes('--child')) {
  const isas = ['avx512', 'avx2', 'portable'];
  let failed = false;
  for (const isa of isas) {
    const started = Date.now();
    const r = spawnSync(process.execPath, [fileURLToPath(import.meta.url), '--child'], {
      env: { ...process.env, STRATA_ISA: isa },
      encoding: 'utf8',
    });
    process.stdout.write(r.stdout);
    process.stderr.write(r.stderr);
    const ok = r.status === 0;
    failed ||= !ok;
    console.log(`[${isa}] ${ok ? 'PASS' : `FAIL (exit ${r.status}, signal ${r.signal})`} in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  }
  process.exit(failed ? 1 : 0);
}

const require = createRequire(import.meta.url);
const native = require(addonPath);

// Deterministic random numbers (mulberry32).
let seed = 12345;
function rand() {
  seed = (seed + 0x6d2b79f5) | 0;
  let t = seed;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}
const randInt = (lo, hi) => lo + Math.floor(rand() * (hi - lo + 1));
function fill(n) {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = rand() * 2 - 1;
  return a;
}

// The definition: batches in order, each C = alpha * op(A) op(B) + beta * C (beta 0 ignores C).
// Also returns, per element, alpha*sum|a*b| + |beta*c| to scale the tolerance.
function reference(p) {
  const c = Float64Array.from(p.c);
  const scale = new Float64Array(p.c.length);
  for (let bi = 0; bi < p.batch; bi++) {
    const ao = p.aOff + bi * p.sA, bo = p.bOff + bi * p.sB, co = p.cOff + bi * p.sC;
    for (let i = 0; i < p.M; i++) {
      for (let j = 0; j < p.N; j++) {
        let acc = 0, mag = 0;
        for (let k = 0; k < p.K; k++) {
          const av = p.transA ? p.a[ao + k * p.lda + i] : p.a[ao + i * p.lda + k];
          const bv = p.transB ? p.b[bo + j * p.ldb + k] : p.b[bo + k * p.ldb + j];
          acc += av * bv;
          mag += Math.abs(av * bv);
        }
        const idx = co + i * p.ldc + j;
        const old = c[idx];
        const fa = Math.fround(p.alpha), fb = Math.fround(p.beta);
        c[idx] = fb === 0 ? fa * acc : fa * acc + fb * old;
        scale[idx] = Math.abs(fa) * mag + (fb === 0 ? 0 : Math.abs(fb * old)) + scale[idx] * Math.abs(fb);
      }
    }
  }
  return { c, scale };
}

function call(p) {
  native.gemmF32(p.a, p.aOff, p.lda, p.transA, p.b, p.bOff, p.ldb, p.transB, p.c, p.cOff, p.ldc,
    p.M, p.N, p.K, p.batch, p.sA, p.sB, p.sC, p.alpha, p.beta);
}

let cases = 0;
let failures = 0;
function fail(msg) {
  failures++;
  if (failures <= 20) console.error(`  FAIL ${msg}`);
}

function describe(p) {
  return `M=${p.M} N=${p.N} K=${p.K} tA=${p.transA} tB=${p.transB} batch=${p.batch} ` +
    `ld=${p.lda}/${p.ldb}/${p.ldc} off=${p.aOff}/${p.bOff}/${p.cOff} s=${p.sA}/${p.sB}/${p.sC} ` +
    `alpha=${p.alpha} beta=${p.beta}`;
}

// Builds a problem with random padding, offsets and strides.
function makeProblem(M, N, K, transA, transB, opts = {}) {
  const batch = opts.batch ?? 1;
  const pad = () => (opts.pad === false ? 0 : randInt(0, 3));
  const aRows = transA ? K : M, aCols = transA ? M : K;
  const bRows = transB ? N : K, bCols = transB ? K : N;
  const lda = aCols + pad(), ldb = bCols + pad(), ldc = N + pad();
  const aOff = opts.pad === false ? 0 : randInt(0, 5);
  const bOff = opts.pad === false ? 0 : randInt(0, 5);
  const cOff = opts.pad === false ? 0 : randInt(0, 5);
  const aSize = aRows > 0 ? (aRows - 1) * lda + aCols : 0;
  const bSize = bRows > 0 ? (bRows - 1) * ldb + bCols : 0;
  const cSize = M > 0 ? (M - 1) * ldc + N : 0;
  const sA = opts.sA ?? aSize + pad();
  const sB = opts.sB ?? bSize + pad();
  const sC = opts.sC ?? cSize + pad();
  const p = {
    M, N, K, transA, transB, batch, lda, ldb, ldc, aOff, bOff, cOff, sA, sB, sC,
    alpha: opts.alpha ?? 1, beta: opts.beta ?? 0,
    a: fill(aOff + Math.max(batch - 1, 0) * sA + aSize + randInt(0, 2)),
    b: fill(bOff + Math.max(batch - 1, 0) * sB + bSize + randInt(0, 2)),
    c: fill(cOff + Math.max(batch - 1, 0) * sC + cSize + randInt(0, 2)),
  };
  if (opts.nanC) p.c.fill(NaN);
  return p;
}

function check(p) {
  cases++;
  const before = Float32Array.from(p.c);
  const ref = reference({ ...p, c: before });
  call(p);
  const tol = 1e-5 * Math.sqrt(Math.max(p.K, 1)) * 2;
  for (let i = 0; i < p.c.length; i++) {
    const got = p.c[i], want = ref.c[i];
    if (Number.isNaN(want) || Number.isNaN(got)) {
      if (Number.isNaN(want) !== Number.isNaN(got)) return fail(`${describe(p)}: index ${i} got ${got} want ${want}`);
      continue;
    }
    const err = Math.abs(got - want);
    const bound = tol * ref.scale[i] + 1e-30;
    const untouched = ref.scale[i] === 0 && want === before[i];
    if (untouched ? got !== before[i] : err > bound) {
      return fail(`${describe(p)}: index ${i} got ${got} want ${want} (err ${err.toExponential(2)} > ${bound.toExponential(2)})`);
    }
  }
}

const sizes = [1, 2, 7, 16, 33, 64, 100];
const flags = [[false, false], [false, true], [true, false], [true, true]];

// 1. Every shape combination, every transpose pair.
for (const M of sizes) for (const N of sizes) for (const K of sizes) {
  for (const [tA, tB] of flags) check(makeProblem(M, N, K, tA, tB));
}
// 2. One long dimension at a time.
for (const [tA, tB] of flags) {
  for (const s of [1, 7, 33, 100]) {
    check(makeProblem(1000, s, 33, tA, tB));
    check(makeProblem(33, 1000, s, tA, tB));
    check(makeProblem(s, 33, 1000, tA, tB));
  }
}
// 2b. Skinny shapes: every row count the skinny kernels special-case, both orientations.
for (const [tA, tB] of flags) {
  for (const few of [3, 4, 5, 6, 8]) {
    for (const [long, K] of [[9, 15], [64, 64], [100, 300], [2100, 40]]) {
      check(makeProblem(few, long, K, tA, tB, { beta: 0.5 }));
      check(makeProblem(long, few, K, tA, tB));
    }
  }
  check(makeProblem(1, 2100, 1000, tA, tB));
  check(makeProblem(2100, 1, 1000, tA, tB, { beta: 1 }));
}
// 3. Big enough to use every thread, several K blocks, edge tiles.
for (const [tA, tB] of flags) {
  check(makeProblem(257, 301, 515, tA, tB, { alpha: 0.5, beta: 1.5 }));
  check(makeProblem(5, 3000, 300, tA, tB, { beta: -1 }));
  check(makeProblem(3000, 3, 300, tA, tB, { beta: 0.25 }));
}
// 4. Batches, broadcast strides, scalars, NaN in C with beta 0.
for (let t = 0; t < 300; t++) {
  const [tA, tB] = flags[randInt(0, 3)];
  const M = sizes[randInt(0, 6)], N = sizes[randInt(0, 6)], K = sizes[randInt(0, 6)];
  const opts = {
    batch: randInt(1, 5),
    alpha: [1, -1, 0.5, 2, 0][randInt(0, 4)],
    beta: [0, 1, -0.5, 2][randInt(0, 3)],
  };
  if (rand() < 0.3) opts.sA = 0;
  if (rand() < 0.3) opts.sB = 0;
  if (rand() < 0.15) opts.sC = 0;  // overlapping C: batches apply in order
  if (opts.beta === 0 && rand() < 0.5) opts.nanC = true;
  check(makeProblem(M, N, K, tA, tB, opts));
}
// 5. Degenerate sizes: K = 0 scales C, M/N/batch = 0 touch nothing.
for (const [M, N, K, batch] of [[3, 4, 0, 2], [0, 5, 3, 1], [4, 0, 3, 1], [3, 3, 3, 0], [1, 1, 0, 1]]) {
  check(makeProblem(M, N, K, false, false, { batch, beta: 0.5, alpha: 2 }));
  check(makeProblem(M, N, K, true, true, { batch, beta: 0, alpha: 2 }));
}
// 6. C sharing memory with A or B: the result must equal the one computed from copies.
for (const [tA, tB] of flags) {
  for (const [M, N, K] of [[7, 7, 7], [64, 64, 64], [100, 33, 64], [1, 64, 64], [64, 1, 33]]) {
    const buf = fill(20000);
    const p = {
      M, N, K, transA: tA, transB: tB, batch: 1, lda: tA ? M : K, ldb: tB ? K : N, ldc: N,
      aOff: 0, bOff: 5000, cOff: randInt(0, 50), sA: 0, sB: 0, sC: 0, alpha: 1, beta: 0.5,
      a: buf, b: buf, c: buf,
    };
    const expected = Float32Array.from(buf);
    native.gemmF32(Float32Array.from(buf), p.aOff, p.lda, tA, Float32Array.from(buf), p.bOff, p.ldb, tB,
      expected, p.cOff, p.ldc, M, N, K, 1, 0, 0, 0, p.alpha, p.beta);
    call(p);
    cases++;
    if (!buf.every((v, i) => Object.is(v, expected[i]))) fail(`aliasing ${describe(p)}`);
    // A view that starts inside C's range of the same buffer.
    const buf2 = fill(20000);
    const aView = new Float32Array(buf2.buffer, 4 * 3, 10000);
    const exp2 = Float32Array.from(buf2);
    native.gemmF32(Float32Array.from(aView), 0, p.lda, tA, Float32Array.from(buf2), 12000, p.ldb, tB,
      exp2, 0, p.ldc, M, N, K, 1, 0, 0, 0, 1, 0);
    native.gemmF32(aView, 0, p.lda, tA, buf2, 12000, p.ldb, tB, buf2, 0, p.ldc, M, N, K, 1, 0, 0, 0, 1, 0);
    cases++;
    if (!buf2.every((v, i) => Object.is(v, exp2[i]))) fail(`view aliasing ${describe(p)}`);
  }
}
// 7. Thread counts give the same answer as one thread.
{
  const p = makeProblem(300, 200, 700, false, true);
  const c1 = Float32Array.from(p.c);
  const saved = native.getThreads();
  native.setThreads(1);
  native.gemmF32(p.a, p.aOff, p.lda, false, p.b, p.bOff, p.ldb, true, c1, p.cOff, p.ldc, p.M, p.N, p.K, 1, 0, 0, 0, 1, 0);
  native.setThreads(Math.max(2, saved));
  const c2 = Float32Array.from(p.c);
  native.gemmF32(p.a, p.aOff, p.lda, false, p.b, p.bOff, p.ldb, true, c2, p.cOff, p.ldc, p.M, p.N, p.K, 1, 0, 0, 0, 1, 0);
  native.setThreads(saved);
  cases++;
  if (!c1.every((v, i) => Math.abs(v - c2[i]) <= 1e-4 * (1 + Math.abs(v)))) fail('threads 1 vs n differ');
}

// 8. Hostile arguments: each must throw a TypeError/RangeError starting "gemmF32: ".
const good = () => [new Float32Array(16), 0, 4, false, new Float32Array(16), 0, 4, false,
  new Float32Array(16), 0, 4, 4, 4, 4, 1, 0, 0, 0, 1, 0];
const hostile = [];
const badNumbers = [-1, NaN, Infinity, -Infinity, 1.5, 2 ** 53, 1e300, '3', null, undefined, {}, 3n, true];
for (const idx of [1, 2, 5, 6, 9, 10, 11, 12, 13, 14, 15, 16, 17]) {
  for (const v of badNumbers) hostile.push([idx, v]);
}
for (const idx of [0, 4, 8]) {
  for (const v of [new Float64Array(16), new Int32Array(16), new Uint8Array(64), [1, 2, 3], null, 5, new ArrayBuffer(64)]) hostile.push([idx, v]);
  hostile.push([idx, new Float32Array(15)]);
}
for (const idx of [3, 7]) for (const v of [0, 1, 'true', null]) hostile.push([idx, v]);
for (const idx of [18, 19]) for (const v of ['1', null, undefined, 1n]) hostile.push([idx, v]);
let hostileOk = 0;
for (const [idx, v] of hostile) {
  const args = good();
  args[idx] = v;
  // Some "bad" values are legal in context (e.g. offset 1.5 is not, but aOff = 2**53 must fail on bounds).
  try {
    native.gemmF32(...args);
    fail(`hostile arg ${idx}=${String(v)} did not throw`);
  } catch (e) {
    if (!(e instanceof TypeError || e instanceof RangeError) || !e.message.startsWith('gemmF32: ')) {
      fail(`hostile arg ${idx}=${String(v)} threw ${e?.constructor?.name}: ${e?.message}`);
    } else {
      hostileOk++;
    }
  }
}
// Specific shape violations.
const shapeCases = [
  ['lda < K', (a) => { a[2] = 3; }],
  ['ldb < N', (a) => { a[6] = 3; }],
  ['ldc < N', (a) => { a[10] = 3; }],
  ['transA lda < M', (a) => { a[3] = true; a[11] = 5; a[13] = 3; }],
  ['batch strides out of range', (a) => { a[14] = 2; a[15] = 1; }],
  ['C stride out of range', (a) => { a[14] = 2; a[17] = 16; }],
  ['huge batch', (a) => { a[14] = 2 ** 40; }],
  ['overflowing stride', (a) => { a[14] = 3; a[15] = 2 ** 53 - 1; }],
  ['offset past end', (a) => { a[1] = 1; }],
  ['too few args', (a) => { a.length = 19; }],
];
for (const [name, mutate] of shapeCases) {
  const args = good();
  mutate(args);
  try {
    native.gemmF32(...args);
    fail(`${name}: did not throw`);
  } catch (e) {
    if (!(e instanceof TypeError || e instanceof RangeError) || !e.message.startsWith('gemmF32: ')) fail(`${name}: threw ${e?.message}`);
    else hostileOk++;
  }
}
// Random argument fuzzing: anything may happen except a crash or a non-prefixed error.
const pick = () => [0, 1, 2, 3, 4, 5, 16, 17, 100, -1, 2 ** 31, 2 ** 53 - 1, 0.5, NaN][randInt(0, 13)];
for (let t = 0; t < 3000; t++) {
  const args = good();
  for (const idx of [1, 2, 5, 6, 9, 10, 11, 12, 13, 14, 15, 16, 17]) if (rand() < 0.3) args[idx] = pick();
  if (rand() < 0.2) args[3] = true;
  if (rand() < 0.2) args[7] = true;
  try {
    native.gemmF32(...args);
  } catch (e) {
    if (!e.message.startsWith('gemmF32: ')) fail(`fuzz threw ${e.message}`);
  }
}
// Worker threads calling concurrently (the pool is shared; the loser runs inline).
const workerSource = `
  const { parentPort, workerData } = require('node:worker_threads');
  const native = require(workerData.addonPath);
  const n = 96, a = new Float32Array(n * n).map((_, i) => (i % 7) - 3), b = new Float32Array(n * n).map((_, i) => (i % 5) - 2);
  let ok = true;
  for (let it = 0; it < 200; it++) {
    const c = new Float32Array(n * n);
    native.gemmF32(a, 0, n, false, b, 0, n, it % 2 === 1, c, 0, n, n, n, n, 1, 0, 0, 0, 1, 0);
    for (let i = 0; i < n && ok; i += 17) for (let j = 0; j < n; j += 13) {
      let s = 0; for (let k = 0; k < n; k++) s += a[i * n + k] * (it % 2 ? b[j * n + k] : b[k * n + j]);
      if (s !== c[i * n + j]) { ok = false; break; }
    }
  }
  parentPort.postMessage(ok);
`;
const workerResults = await Promise.all([0, 1, 2].map(() => new Promise((resolve, reject) => {
  const w = new Worker(workerSource, { eval: true, workerData: { addonPath } });
  w.on('message', resolve);
  w.on('error', reject);
})));
cases++;
if (!workerResults.every(Boolean)) fail('worker_threads results differ');

console.log(`  isa=${native.isa()} (asked ${process.env.STRATA_ISA ?? 'default'}), threads=${native.getThreads()}: ` +
  `${cases} numeric cases, ${hostileOk}/${hostile.length + shapeCases.length} hostile calls rejected, ${failures} failures`);
if (process.env.STRATA_ISA && native.isa() !== process.env.STRATA_ISA) {
  console.log(`  note: ${process.env.STRATA_ISA} not supported here, ran ${native.isa()}`);
}
process.exit(failures === 0 ? 0 : 1);
