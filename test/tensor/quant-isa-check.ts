// Child process of quant-native.test.ts: runs the native quant kernels of the ISA chosen by
// STRATA_ISA against the TypeScript reference and prints one JSON line with the worst relative
// differences (native vs reference, in units of the sum of |terms|; dequantization: exact).
import { loadAddon } from '../../src/backend/native.js';
import { GGML_TYPE_OF, dequantizeRows, quantMatmulReference, quantizeRows, rowBytes } from '../../src/tensor/quant.js';
import type { QuantDType } from '../../src/tensor/dtype.js';

const lib = loadAddon();
if (!lib) {
  console.log(JSON.stringify({ skipped: true }));
  process.exit(0);
}
let seed = 12345;
const rand = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32) * 2 - 1;
const result: Record<string, number | string> = { isa: lib.quantIsa() };
for (const dt of ['q8_0', 'q4_0', 'q4_k', 'q6_k'] as QuantDType[]) {
  let worst = 0;
  let dequant = 0;
  for (const [m, n, k] of dt.endsWith('k') ? [[1, 7, 256], [6, 9, 768], [33, 17, 512]] : [[1, 7, 32], [5, 9, 96], [33, 17, 512]]) {
    const w = quantizeRows(dt, Float32Array.from({ length: n * k }, rand), k);
    const x = Float32Array.from({ length: m * k }, () => rand() * 3);
    const ref = new Float32Array(m * n);
    const mag = new Float64Array(m * n);
    quantMatmulReference(dt, w, rowBytes(dt, k), x, m, n, k, ref, mag);
    const out = new Float32Array(m * n);
    lib.quantMatmul(GGML_TYPE_OF[dt], w, rowBytes(dt, k), x, m, n, k, out);
    for (let i = 0; i < out.length; i++) worst = Math.max(worst, Math.abs(out[i]! - ref[i]!) / (mag[i]! + 1e-30));
    const a = new Float32Array(n * k);
    const b = new Float32Array(n * k);
    dequantizeRows(dt, w, rowBytes(dt, k), k, n, null, a);
    lib.dequantizeRows(GGML_TYPE_OF[dt], w, rowBytes(dt, k), k, n, null, b);
    for (let i = 0; i < a.length; i++) dequant = Math.max(dequant, Math.abs(a[i]! - b[i]!));
  }
  result[dt] = worst;
  result[`${dt}.dequant`] = dequant;
}
for (const bf16 of [false, true]) {
  const [m, n, k] = [6, 5, 37];
  const w = Uint16Array.from({ length: n * k }, () => (bf16 ? 0x3f80 : 0x3c00) + Math.floor(rand() * 200));
  const x = Float32Array.from({ length: m * k }, rand);
  const out = new Float32Array(m * n);
  lib.halfMatmul(bf16, w, 0, k, x, m, n, k, out);
  const one = new Float32Array(n);
  lib.halfMatmul(bf16, w, 0, k, x, 1, n, k, one);
  let worst = 0;
  for (let j = 0; j < n; j++) worst = Math.max(worst, Math.abs(one[j]! - out[j]!) / (Math.abs(out[j]!) + 1e-6));
  result[bf16 ? 'bf16' : 'f16'] = worst;
}
console.log(JSON.stringify(result));
