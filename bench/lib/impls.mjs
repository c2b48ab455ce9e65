// The GEMM implementations the benchmark compares. Each one prepares a shape once (`prepare`)
// and returns a runner whose `run` computes C = A @ B into memory it owns; `output` reads C back
// for the correctness check. `sync` says whether `run` returns a promise.
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { matmulModel } from './onnx-model.mjs';

const require = createRequire(import.meta.url);
const repoRoot = fileURLToPath(new URL('../../', import.meta.url));

function packageVersion(name) {
  const dir = path.dirname(require.resolve(`${name}/package.json`));
  return JSON.parse(readFileSync(path.join(dir, 'package.json'), 'utf8')).version;
}

/** Strata from the root package's build (dist/), the code a user of the package runs. */
export async function loadStrata(threads) {
  const entry = path.join(repoRoot, 'dist/index.js');
  if (!existsSync(entry)) throw new Error(`${entry} is missing: run \`npm run build\` at the repository root (or use \`npm run bench\`, which builds it)`);
  const strata = await import(pathToFileURL(entry).href);
  const { loadAddon } = await import(pathToFileURL(path.join(repoRoot, 'dist/backend/native.js')).href);
  const native = strata.nativeAvailable();
  if (native) strata.setThreads(threads);
  const be = strata.backend();
  const version = JSON.parse(readFileSync(path.join(repoRoot, 'package.json'), 'utf8')).version;
  return {
    name: 'strata',
    label: 'Strata',
    info: { version, backend: be.name, isa: native ? loadAddon().isa() : 'none', threads: native ? strata.getThreads() : 1 },
    applies: () => true,
    prepare({ m, n, k, a, b }) {
      const out = new Float32Array(m * n);
      const opA = { data: a, offset: 0, ld: k, trans: false, batchStride: 0 };
      const opB = { data: b, offset: 0, ld: n, trans: false, batchStride: 0 };
      return { sync: true, run: () => be.matmul(opA, opB, out, m, n, k, 1), output: () => out, dispose() {} };
    },
  };
}

/** onnxruntime-node's CPU execution provider on a one-node MatMul model, output tensor preallocated. */
export async function loadOrt(threads) {
  const ort = (await import('onnxruntime-node')).default;
  return {
    name: 'ort',
    label: 'ORT',
    info: { version: packageVersion('onnxruntime-node'), executionProvider: 'cpu', intraOpNumThreads: threads, interOpNumThreads: 1 },
    applies: () => true,
    async prepare({ m, n, k, a, b }) {
      const session = await ort.InferenceSession.create(matmulModel(m, n, k), {
        executionProviders: ['cpu'],
        intraOpNumThreads: threads,
        interOpNumThreads: 1,
        executionMode: 'sequential',
        graphOptimizationLevel: 'all',
      });
      const feeds = { A: new ort.Tensor('float32', a, [m, k]), B: new ort.Tensor('float32', b, [k, n]) };
      const out = new ort.Tensor('float32', new Float32Array(m * n), [m, n]);
      const fetches = { C: out };
      return { sync: false, run: () => session.run(feeds, fetches), output: () => out.data, dispose: () => session.release() };
    },
  };
}

/**
 * TF.js on its WebAssembly backend (SIMD build). The threaded build is not used: tfjs-backend-wasm
 * turns multithreading off under Node (its WASM_HAS_MULTITHREAD_SUPPORT flag is false there), and
 * forcing the flag fails because its pthread workers are blob: URLs that Node's Worker refuses.
 */
export async function loadTfjs() {
  const tf = await import('@tensorflow/tfjs-core');
  const wasm = await import('@tensorflow/tfjs-backend-wasm');
  const dist = path.join(path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm/package.json')), 'dist') + path.sep;
  wasm.setWasmPaths(dist);
  if (!(await tf.setBackend('wasm'))) throw new Error('TF.js could not start its wasm backend');
  await tf.ready();
  const simd = await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT');
  const multithread = await tf.env().getAsync('WASM_HAS_MULTITHREAD_SUPPORT');
  return {
    name: 'tfjs',
    label: 'TF.js',
    info: { version: packageVersion('@tensorflow/tfjs-core'), backend: tf.getBackend(), simd, multithread, threads: wasm.getThreadsCount() },
    applies: () => true,
    prepare({ m, n, k, a, b }) {
      const ta = tf.tensor2d(a, [m, k]);
      const tb = tf.tensor2d(b, [k, n]);
      // The wasm kernels run synchronously inside tf.matMul; reading C back is left out of the timing.
      let last = null;
      const run = () => {
        last?.dispose();
        last = tf.matMul(ta, tb);
      };
      return {
        sync: true,
        run,
        output: () => last.dataSync(),
        dispose() {
          last?.dispose();
          ta.dispose();
          tb.dispose();
        },
      };
    },
  };
}

/** A plain JavaScript triple loop (i, p, j order over Float32Arrays): the floor, small shapes only. */
export function loadJsLoop() {
  return {
    name: 'jsloop',
    label: 'JS loop',
    info: { threads: 1, loop: 'i-p-j' },
    applies: ({ m, n, k }) => m * n * k <= 128 * 128 * 128,
    prepare({ m, n, k, a, b }) {
      const out = new Float32Array(m * n);
      const run = () => {
        out.fill(0);
        for (let i = 0; i < m; i++) {
          const row = i * n;
          for (let p = 0; p < k; p++) {
            const av = a[i * k + p];
            const bRow = p * n;
            for (let j = 0; j < n; j++) out[row + j] += av * b[bRow + j];
          }
        }
      };
      return { sync: true, run, output: () => out, dispose() {} };
    },
  };
}
