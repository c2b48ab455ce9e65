// Runs one Strata workload of the model benchmarks for a profiler, and prints where the time went:
//
//   node --cpu-prof --cpu-prof-dir=/tmp/prof bench/lib/profile.mjs decode|prefill|bert [--threads 2] [--dtype q8_0]
//   node bench/lib/profile.mjs summary /tmp/prof/*.cpuprofile [TOP]   top functions by self time
//
// The model files come from the benchmark cache (run bench/llm.mjs or bench/bert.mjs once first).
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { importDist } from './common.mjs';
import { ensureLlmFiles } from './llm-model.mjs';
import { ensureBertDir } from './bert-model.mjs';
import { promptIds } from './llm-worker.mjs';
import { inputIds } from './bert-worker.mjs';

// Self time per function, summed over the profiles given (Node writes one per thread, loader included).
function summary(files, top = 25) {
  const self = new Map();
  let total = 0;
  for (const file of files) {
    const prof = JSON.parse(readFileSync(file, 'utf8'));
    const dt = new Map();
    const { samples, timeDeltas, nodes } = prof;
    const byId = new Map(nodes.map((n) => [n.id, n]));
    for (let i = 0; i < samples.length; i++) dt.set(samples[i], (dt.get(samples[i]) ?? 0) + (timeDeltas[i] ?? 0));
    for (const [id, us] of dt) {
      const cf = byId.get(id).callFrame;
      if (cf.functionName === '(idle)') continue; // a waiting thread, not time spent
      const key = `${cf.functionName || '(anonymous)'} ${cf.url ? `${cf.url.replace(/^.*\/(dist|bench)\//, '$1/')}:${cf.lineNumber + 1}` : ''}`.trim();
      self.set(key, (self.get(key) ?? 0) + us);
      total += us;
    }
  }
  const rows = [...self].sort((a, b) => b[1] - a[1]).slice(0, top);
  for (const [k, us] of rows) console.log(`${((100 * us) / total).toFixed(1).padStart(5)}%  ${(us / 1000).toFixed(0).padStart(7)} ms  ${k}`);
}

const [mode, ...rest] = process.argv.slice(2);
if (mode === 'summary') {
  // summary FILE... [TOP]
  const top = rest.length > 1 && /^\d+$/.test(rest.at(-1)) ? Number(rest.pop()) : 25;
  summary(rest, top);
}
else {
  const { values } = parseArgs({ args: rest, options: { threads: { type: 'string', default: '2' }, dtype: { type: 'string', default: 'q8_0' } } });
  const S = await importDist('index.js');
  S.setThreads(Number(values.threads));
  if (mode === 'decode' || mode === 'prefill') {
    const { loadGgufLlama } = await importDist('models/gguf.js');
    const { generate } = await importDist('generation/index.js');
    const files = await ensureLlmFiles([values.dtype]);
    const { model } = loadGgufLlama(files[values.dtype]);
    generate(model, promptIds(8), { temperature: 0, maxTokens: 8 });
    const t0 = performance.now();
    if (mode === 'decode') {
      const r = generate(model, promptIds(8), { temperature: 0, maxTokens: 128 });
      console.log(`decode ${r.timings.decodeTokensPerSecond.toFixed(1)} tok/s`);
    } else {
      for (let i = 0; i < 4; i++) console.log(`prefill ${generate(model, promptIds(256, i), { temperature: 0, maxTokens: 1 }).timings.prefillTokensPerSecond.toFixed(0)} tok/s`);
    }
    console.log(`${(performance.now() - t0).toFixed(0)} ms`);
  } else if (mode === 'bert') {
    const { loadModel } = await importDist('models/index.js');
    const { model } = await loadModel(await ensureBertDir());
    const ids = S.fromArray(inputIds(8, 128), [8, 128], { dtype: 'i32' });
    const mask = S.fromArray(new Int32Array(8 * 128).fill(1), [8, 128], { dtype: 'i32' });
    for (let i = 0; i < 3; i++) {
      const t0 = performance.now();
      S.noGrad(() => model.forward(ids, { attentionMask: mask }));
      console.log(`bert forward ${(performance.now() - t0).toFixed(0)} ms (${((8 * 128 * 1000) / (performance.now() - t0)).toFixed(0)} tokens/s)`);
    }
  } else {
    console.error('usage: profile.mjs decode|prefill|bert [--threads N] [--dtype q8_0|f32] | summary FILE.cpuprofile');
    process.exit(2);
  }
}
