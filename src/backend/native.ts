import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import type { Backend, MatOperand } from './backend.js';
import { referenceBackend } from './reference.js';
import type { FloatArray } from '../tensor/dtype.js';

/** The functions the C++ addon exports (native/src/addon.cc). */
export interface NativeAddon {
  gemmF32(
    a: Float32Array,
    aOff: number,
    lda: number,
    transA: boolean,
    b: Float32Array,
    bOff: number,
    ldb: number,
    transB: boolean,
    c: Float32Array,
    cOff: number,
    ldc: number,
    m: number,
    n: number,
    k: number,
    batch: number,
    sA: number,
    sB: number,
    sC: number,
    alpha: number,
    beta: number,
  ): void;
  setThreads(n: number): void;
  getThreads(): number;
  isa(): string;
  cpuFeatures(): Record<string, boolean>;
}

let addon: NativeAddon | null | undefined;
let loadError = '';
let nativeBackend: Backend | null = null;

export function addonPath(): string {
  const here = path.dirname(fileURLToPath(import.meta.url));
  return path.resolve(here, '../../build/Release/strata_native.node');
}

/** The raw addon, or null when it was not built or cannot be loaded. */
export function loadAddon(): NativeAddon | null {
  if (addon !== undefined) return addon;
  try {
    const require = createRequire(import.meta.url);
    addon = require(addonPath()) as NativeAddon;
  } catch (err) {
    loadError = err instanceof Error ? err.message.split('\n')[0]! : String(err);
    addon = null;
  }
  return addon;
}

export function nativeLoadError(): string {
  return loadError;
}

const isF32 = (a: FloatArray): a is Float32Array => a instanceof Float32Array;

export function loadNativeBackend(): Backend | null {
  if (nativeBackend) return nativeBackend;
  const lib = loadAddon();
  if (!lib) return null;
  nativeBackend = {
    ...referenceBackend,
    name: 'native',
    matmul(a: MatOperand, b: MatOperand, out: FloatArray, m: number, n: number, k: number, batch: number): void {
      if (!isF32(a.data) || !isF32(b.data) || !isF32(out)) return referenceBackend.matmul(a, b, out, m, n, k, batch);
      lib.gemmF32(a.data, a.offset, a.ld, a.trans, b.data, b.offset, b.ld, b.trans, out, 0, n, m, n, k, batch, a.batchStride, b.batchStride, m * n, 1, 0);
    },
  };
  return nativeBackend;
}
