// Lab: GFLOPS of gemmF32 through the addon (what Strata actually calls), best of several runs,
// at 1 and 2 threads. The machine is shared and noisy: compare best-of numbers only.
//   node native/lab/gemm_bench.mjs [rounds]       (STRATA_ISA selects the kernels)
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const native = createRequire(import.meta.url)(path.join(here, '../../build/Release/strata_native.node'));
const rounds = Number(process.argv[2] ?? 5);

// [M, N, K, transA, transB]
const shapes = [
  [1024, 1024, 1024, false, false],
  [1024, 1024, 1024, false, true],
  [512, 3072, 768, false, true],
  [512, 768, 3072, false, true],
  [1, 3072, 768, false, true],
  [1, 3072, 768, false, false],
  [4096, 4096, 1024, false, false],
  [256, 256, 256, false, false],
  [4, 3072, 768, false, true],
  [64, 64, 64, false, false],
];

function bench([M, N, K, tA, tB]) {
  const a = new Float32Array(M * K).map(() => Math.random() - 0.5);
  const b = new Float32Array(K * N).map(() => Math.random() - 0.5);
  const c = new Float32Array(M * N);
  const run = () => native.gemmF32(a, 0, tA ? M : K, tA, b, 0, tB ? K : N, tB, c, 0, N, M, N, K, 1, 0, 0, 0, 1, 0);
  const flops = 2 * M * N * K;
  const inner = Math.max(1, Math.round(2e10 / 100 / flops));  // ~0.1 s per sample at 200 GFLOPS
  run();
  let best = 0;
  for (let r = 0; r < rounds; r++) {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < inner; i++) run();
    const sec = Number(process.hrtime.bigint() - t0) / 1e9;
    best = Math.max(best, (flops * inner) / sec / 1e9);
  }
  return best;
}

console.log(`isa=${native.isa()}`);
const results = shapes.map((s) => ({ s, g: [] }));
for (const threads of [1, 2]) {
  native.setThreads(threads);
  for (const r of results) r.g.push(bench(r.s));
}
for (const { s: [M, N, K, tA, tB], g } of results) {
  console.log(`${M}x${N}x${K} ${tA ? 'T' : 'N'}${tB ? 'T' : 'N'}: ${g.map((x) => x.toFixed(1).padStart(6)).join(' ')} GFLOPS (1 / 2 threads)`);
}
