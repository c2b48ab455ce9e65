export * from './tensor/index.js';
export { StrataError, type StrataErrorCode } from './errors.js';
export { backward, grad } from './autograd/engine.js';
export { gradcheck, type GradcheckResult } from './autograd/gradcheck.js';
export { backend, setBackend, withBackend, nativeAvailable, type BackendName } from './backend/index.js';
export { setThreads, getThreads } from './backend/threads.js';
export * as optim from './optim/index.js';
export * as nn from './nn/index.js';
export * from './io/index.js';
