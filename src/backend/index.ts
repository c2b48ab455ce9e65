import { StrataError } from '../errors.js';
import type { Backend } from './backend.js';
import { referenceBackend } from './reference.js';
import { loadNativeBackend, nativeLoadError } from './native.js';

export type BackendName = Backend['name'];
export type { Backend } from './backend.js';

let active: Backend | null = null;
let warned = false;

function initial(): Backend {
  const wanted = process.env.STRATA_BACKEND;
  if (wanted === 'reference') return referenceBackend;
  if (wanted !== undefined && wanted !== '' && wanted !== 'native') {
    throw new StrataError('backend', 'STRATA_BACKEND', `unknown backend '${wanted}' (expected 'native' or 'reference')`);
  }
  const native = loadNativeBackend();
  if (native) return native;
  if (!warned) {
    warned = true;
    process.emitWarning(`native addon unavailable (${nativeLoadError()}); running on the reference backend`, { code: 'STRATA_NO_NATIVE' });
  }
  return referenceBackend;
}

/** The backend new ops dispatch to. */
export function backend(): Backend {
  return (active ??= initial());
}

export function setBackend(name: BackendName): void {
  if (name === 'reference') {
    active = referenceBackend;
    return;
  }
  const native = loadNativeBackend();
  if (!native) throw new StrataError('backend', 'setBackend', `native backend unavailable: ${nativeLoadError()}`);
  active = native;
}

/** Runs `fn` with another backend active (used by tests to compare backends). */
export function withBackend<T>(name: BackendName, fn: () => T): T {
  const prev = backend();
  setBackend(name);
  try {
    return fn();
  } finally {
    active = prev;
  }
}

export function nativeAvailable(): boolean {
  return loadNativeBackend() !== null;
}

export { referenceBackend };
