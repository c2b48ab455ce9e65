// One encoder runtime (Strata on the safetensors directory, or onnxruntime-node on the exported
// ONNX file) in its own process, answering {op: 'forward'|'output'|'exit'} messages over IPC.
//
//   node bert-worker.mjs serve strata|ort PATH THREADS
//
// Inputs are the same for both: batch x seq token ids from a fixed formula (no padding) and an
// all-ones attention mask, which both runtimes apply as an additive mask.
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { importDist } from './common.mjs';

export function inputIds(batch, seq, vocab = 30522) {
  const ids = new Int32Array(batch * seq);
  for (let b = 0; b < batch; b++) {
    ids[b * seq] = 101; // [CLS]
    for (let t = 1; t < seq; t++) ids[b * seq + t] = 1000 + ((b * 7919 + t * 104729) % (vocab - 1000));
  }
  return ids;
}

async function openStrata(dir, threads) {
  const S = await importDist('index.js');
  const { loadModel } = await importDist('models/index.js');
  if (!S.nativeAvailable()) throw new Error('the native addon is not built (npm run build:native): Strata would run its reference backend');
  S.setThreads(threads);
  // the process setting of the strata command (src/cli/early.ts): V8's collector off the pool's cores
  S.useMainThreadGc();
  const { model } = await loadModel(dir);
  return {
    info: { threads: S.getThreads() },
    forward(batch, seq) {
      const ids = S.fromArray(inputIds(batch, seq), [batch, seq], { dtype: 'i32' });
      const mask = S.fromArray(new Int32Array(batch * seq).fill(1), [batch, seq], { dtype: 'i32' });
      return S.noGrad(() => model.forward(ids, { attentionMask: mask }).lastHiddenState).toFloat32Array();
    },
  };
}

async function openOrt(file, threads) {
  const ort = (await import('onnxruntime-node')).default;
  const session = await ort.InferenceSession.create(file, {
    executionProviders: ['cpu'],
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
  });
  const pkg = JSON.parse(readFileSync(new URL('../node_modules/onnxruntime-node/package.json', import.meta.url), 'utf8'));
  return {
    info: { version: pkg.version, threads, executionProvider: 'cpu', graphOptimizationLevel: 'all' },
    async forward(batch, seq) {
      const ids = BigInt64Array.from(inputIds(batch, seq), BigInt);
      const feeds = {
        input_ids: new ort.Tensor('int64', ids, [batch, seq]),
        attention_mask: new ort.Tensor('int64', new BigInt64Array(batch * seq).fill(1n), [batch, seq]),
      };
      const out = await session.run(feeds);
      return out.last_hidden_state.data;
    },
  };
}

async function main() {
  const [mode, runtime, target, threadsText] = process.argv.slice(2);
  const open = { strata: openStrata, ort: openOrt }[runtime];
  if (mode !== 'serve' || !open || !target || !/^\d+$/.test(threadsText ?? '') || !process.send) {
    throw new Error('usage (over IPC): bert-worker.mjs serve strata|ort PATH THREADS');
  }
  const rt = await open(target, Number(threadsText));
  process.on('message', async (msg) => {
    try {
      if (msg.op === 'exit') return process.send({ id: msg.id, ok: true }, () => process.exit(0));
      if (msg.op === 'forward') {
        // `calls` forward passes back to back; the time per pass
        // CPU time beside wall time: on a loaded machine it still tells the work each runtime does
        const c0 = process.cpuUsage();
        const t0 = performance.now();
        for (let i = 0; i < msg.calls; i++) await rt.forward(msg.batch, msg.seq);
        const cpu = process.cpuUsage(c0);
        return process.send({ id: msg.id, ok: true, result: { ms: (performance.now() - t0) / msg.calls, cpuMs: (cpu.user + cpu.system) / 1000 / msg.calls } });
      }
      if (msg.op === 'output') {
        // the first `rows` token vectors, to check that both runtimes compute the same thing
        const out = await rt.forward(msg.batch, msg.seq);
        return process.send({ id: msg.id, ok: true, result: Array.from(out.subarray(0, msg.rows * (out.length / (msg.batch * msg.seq)))) });
      }
      throw new Error(`unknown op '${msg.op}'`);
    } catch (err) {
      process.send({ id: msg.id, ok: false, error: err instanceof Error ? err.message : String(err) });
    }
  });
  process.send({ ready: true, info: rt.info });
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((err) => {
    process.stderr.write(`bert-worker: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  });
}
