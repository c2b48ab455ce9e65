import * as tf from '@tensorflow/tfjs-core';
import { setWasmPaths, setThreadsCount, getThreadsCount } from '@tensorflow/tfjs-backend-wasm';
import { createRequire } from 'node:module';
import path from 'node:path';
const require = createRequire(import.meta.url);
const dist = path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm/package.json')) + '/dist/';
setWasmPaths(dist);
if (process.argv[2] === 'mt') { tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', true); setThreadsCount(2); }
try {
  await tf.setBackend('wasm'); await tf.ready();
  console.log('backend', tf.getBackend(), 'simd', await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT'), 'mt', await tf.env().getAsync('WASM_HAS_MULTITHREAD_SUPPORT'), 'threads', getThreadsCount());
  const a = tf.randomNormal([512,512]), b = tf.randomNormal([512,512]);
  for (let i=0;i<3;i++){ const t=performance.now(); const c=tf.matMul(a,b); c.dataSync(); const ms=performance.now()-t; console.log(ms.toFixed(1),'ms', (2*512**3/ms/1e6).toFixed(1),'GFLOPS'); c.dispose(); }
} catch (e) { console.log('ERR', e); }
process.exit(0);
