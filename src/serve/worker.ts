// Entry of a model's worker thread: loads the model named by workerData, then answers the HTTP
// thread's messages (protocol.ts) through ModelRunner.

import { parentPort, workerData } from 'node:worker_threads';
import type { FromWorker, RunnerSpec, ToWorker } from './protocol.js';
import { ModelRunner } from './runner.js';

const port = parentPort;
if (!port) throw new Error('serve/worker.ts runs as a worker thread (started by ModelHost)');

try {
  const runner = await ModelRunner.load(workerData as RunnerSpec, (m, transfer) => port.postMessage(m, transfer ?? []));
  port.on('message', (m: ToWorker) => runner.handle(m));
  port.postMessage({ type: 'ready', info: runner.info } satisfies FromWorker);
} catch (err) {
  port.postMessage({ type: 'fatal', message: err instanceof Error ? err.message : String(err) } satisfies FromWorker);
}
