// One LLM runtime (Strata or node-llama-cpp) on one GGUF file, in its own process, so the two
// runtimes' thread pools, heaps and mappings never share a process. Two modes:
//
//   node llm-worker.mjs serve RUNTIME FILE THREADS   answers {op: 'decode'|'prefill'|'exit'} messages over IPC
//   node llm-worker.mjs rss RUNTIME FILE THREADS PROMPT NEW
//                                                    loads, decodes PROMPT+NEW tokens once, prints peak RSS as JSON
//
// Decode rate is the steady state: tokens after the first one, over the time from the first
// token to the last (the prefill and the first sampled token are left out). Prefill rate is the
// prompt length over the time from the call to the first sampled token. Both include sampling.
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { importDist } from './common.mjs';

/** Deterministic token ids (skipping <unk> <s> </s>); prompts start with <s>. */
export function promptIds(length, salt = 0) {
  const ids = [1];
  for (let i = 1; i < length; i++) ids.push(3 + ((i * 7919 + salt * 104729) % 31997));
  return ids;
}

/** VmHWM (peak resident set) and VmRSS of this process, in bytes. */
function memory() {
  const status = readFileSync('/proc/self/status', 'utf8');
  const kb = (key) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN) * 1024;
  return { peak: kb('VmHWM'), current: kb('VmRSS') };
}

async function openStrata(file, threads) {
  const S = await importDist('index.js');
  const { loadGgufLlama } = await importDist('models/gguf.js');
  const { generate } = await importDist('generation/index.js');
  if (!S.nativeAvailable()) throw new Error('the native addon is not built (npm run build:native): Strata would run its reference backend');
  S.setThreads(threads);
  // the process setting of the strata command (src/cli/early.ts): V8's collector off the pool's cores
  S.useMainThreadGc();
  const before = memory();
  const t0 = performance.now();
  const { model } = loadGgufLlama(file);
  const loadMs = performance.now() - t0;
  return {
    info: { threads: S.getThreads(), loadMs, rssBeforeLoad: before.current },
    async decode(promptLength, newTokens) {
      const r = generate(model, promptIds(promptLength), { temperature: 0, maxTokens: newTokens });
      return { tokensPerSecond: r.timings.decodeTokensPerSecond, tokens: r.tokens };
    },
    async prefill(promptLength, salt) {
      const r = generate(model, promptIds(promptLength, salt), { temperature: 0, maxTokens: 1 });
      return { tokensPerSecond: r.timings.prefillTokensPerSecond };
    },
    async close() {},
  };
}

async function openLlamaCpp(file, threads) {
  const { getLlama, LlamaLogLevel } = await import('node-llama-cpp');
  // info-level log lines say what llama.cpp resolved its defaults to (flash attention, KV cache types)
  const logLines = [];
  const llama = await getLlama({
    gpu: false,
    build: 'never',
    logLevel: LlamaLogLevel.info,
    logger: (level, message) => {
      if (level === LlamaLogLevel.error || level === LlamaLogLevel.fatal) process.stderr.write(`llama.cpp: ${message}\n`);
      else logLines.push(message);
    },
  });
  const before = memory();
  const t0 = performance.now();
  const model = await llama.loadModel({ modelPath: file });
  // llama.cpp's own defaults for the KV cache type (f16) and flash attention ('auto'); a batch of
  // 512 (llama.cpp's default micro-batch) holds the whole 256-token prompt
  const context = await model.createContext({ contextSize: 1024, batchSize: 512, threads });
  const loadMs = performance.now() - t0;
  const seq = context.getSequence();
  const log = logLines.join('\n');
  const flash = /Flash Attention (enabled|disabled)/i.exec(log)?.[1] ?? 'unknown';
  const kv = /K \((\w+)\):.*V \((\w+)\)/.exec(log);
  const pkg = JSON.parse(readFileSync(new URL('../../node_modules/node-llama-cpp/package.json', import.meta.url), 'utf8'));
  return {
    info: {
      version: pkg.version,
      threads: context.currentThreads ?? threads,
      flashAttention: `${context.flashAttention} -> ${flash.toLowerCase()}`,
      kvCacheKeyType: kv?.[1] ?? 'unknown',
      kvCacheValueType: kv?.[2] ?? 'unknown',
      cpuMathCores: llama.cpuMathCores,
      contextSize: context.contextSize,
      batchSize: context.batchSize,
      loadMs,
      rssBeforeLoad: before.current,
    },
    async decode(promptLength, newTokens) {
      await seq.clearHistory();
      const stamps = [];
      const tokens = [];
      // yieldEogToken: a random model may pick </s>; keep going so both runtimes make the same number of tokens
      for await (const t of seq.evaluate(promptIds(promptLength), { temperature: 0, yieldEogToken: true })) {
        stamps.push(performance.now());
        tokens.push(t);
        if (tokens.length === newTokens) break;
      }
      const ms = stamps.at(-1) - stamps[0];
      return { tokensPerSecond: ms > 0 ? ((tokens.length - 1) * 1000) / ms : 0, tokens };
    },
    async prefill(promptLength, salt) {
      await seq.clearHistory();
      const t0 = performance.now();
      for await (const _ of seq.evaluate(promptIds(promptLength, salt), { temperature: 0, yieldEogToken: true })) break;
      return { tokensPerSecond: (promptLength * 1000) / (performance.now() - t0) };
    },
    async close() {
      await context.dispose();
      await model.dispose();
    },
  };
}

const OPEN = { strata: openStrata, llamacpp: openLlamaCpp };

async function main() {
  const [mode, runtime, file, threadsText, promptText, newText] = process.argv.slice(2);
  const open = OPEN[runtime];
  if (!open || !file || !/^\d+$/.test(threadsText ?? '')) throw new Error('usage: llm-worker.mjs serve|rss strata|llamacpp FILE THREADS [PROMPT NEW]');
  const rt = await open(file, Number(threadsText));
  if (mode === 'rss') {
    const loaded = memory();
    const r = await rt.decode(Number(promptText), Number(newText));
    const after = memory();
    process.stdout.write(`${JSON.stringify({ peakRss: after.peak, rssBeforeLoad: rt.info.rssBeforeLoad, rssAfterLoad: loaded.current, tokens: r.tokens.length, tokensPerSecond: r.tokensPerSecond })}\n`);
    await rt.close();
    return;
  }
  if (mode !== 'serve' || !process.send) throw new Error(`unknown mode '${mode}' (or no IPC channel)`);
  process.on('message', async (msg) => {
    try {
      if (msg.op === 'exit') {
        await rt.close();
        process.send({ id: msg.id, ok: true }, () => process.exit(0));
        return;
      }
      const result = msg.op === 'decode' ? await rt.decode(msg.promptLength, msg.newTokens) : await rt.prefill(msg.promptLength, msg.salt ?? 0);
      process.send({ id: msg.id, ok: true, result });
    } catch (err) {
      process.send({ id: msg.id, ok: false, error: err instanceof Error ? err.message : String(err) });
    }
  });
  process.send({ ready: true, info: rt.info });
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((err) => {
    process.stderr.write(`llm-worker: ${err instanceof Error ? err.message : String(err)}\n`);
    if (process.env.STRATA_DEBUG && err instanceof Error) process.stderr.write(`${err.stack}\n`);
    process.exit(1);
  });
}
