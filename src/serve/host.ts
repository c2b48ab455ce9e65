// The HTTP side of one served model: its worker thread, the bounded queue in front of it, and the
// requests in flight. The worker runs one queued job (a generation or an embedding batch) at a
// time; tokenizing (`prepare`) skips the queue, since the worker reads it between decoding steps.

import { Worker } from 'node:worker_threads';
import { ApiError } from './errors.js';
import type { ServerMetrics } from './metrics.js';
import type { EmbedInput, FromWorker, ModelInfo, PromptInput, RunnerSpec, ToWorker, WireChoiceResult, WireChunk, WireError, WireGenerateOptions, WireImage, WireTranscribeOptions, WireTranscription } from './protocol.js';
import { ModelRunner } from './runner.js';

export type GenerationEvent =
  | { type: 'started' }
  | { type: 'chunks'; chunks: WireChunk[] }
  | { type: 'done'; choices: WireChoiceResult[]; promptTokens: number; cancelled: boolean };

/** A running or queued generation: its events in order, ending with 'done' (or an ApiError). */
export interface GenerationJob {
  events: AsyncIterable<GenerationEvent>;
  /** Stops the job: drops it from the queue, or has the worker stop between tokens. */
  cancel(): void;
}

/** A push-fed async iterator: the worker's messages in, the route's `for await` out. */
class Channel<T> implements AsyncIterable<T> {
  private readonly items: T[] = [];
  private waiter: ((r: IteratorResult<T>) => void) | null = null;
  private failer: ((e: unknown) => void) | null = null;
  private ended = false;
  private error: unknown = null;

  push(item: T): void {
    if (this.ended) return;
    if (this.waiter) {
      const w = this.waiter;
      this.waiter = this.failer = null;
      w({ value: item, done: false });
    } else this.items.push(item);
  }

  end(error: unknown = null): void {
    if (this.ended) return;
    this.ended = true;
    this.error = error;
    if (this.waiter) {
      const [w, f] = [this.waiter, this.failer!];
      this.waiter = this.failer = null;
      if (error) f(error);
      else w({ value: undefined, done: true });
    }
  }

  [Symbol.asyncIterator](): AsyncIterator<T> {
    return {
      next: () => {
        if (this.items.length) return Promise.resolve({ value: this.items.shift()!, done: false });
        if (this.ended) return this.error ? Promise.reject(this.error) : Promise.resolve({ value: undefined, done: true });
        return new Promise((resolve, reject) => {
          this.waiter = resolve;
          this.failer = reject;
        });
      },
      return: () => {
        this.end();
        this.items.length = 0;
        return Promise.resolve({ value: undefined, done: true });
      },
    };
  }
}

/** How messages reach the model: a worker thread, or a runner in this thread. */
interface Transport {
  send(msg: ToWorker, transfer?: ArrayBuffer[]): void;
  close(): Promise<void>;
}

function startWorker(spec: RunnerSpec): Worker {
  const here = import.meta.url;
  if (here.endsWith('.ts')) {
    // Running from source under tsx: a worker does not inherit tsx's loader, so the worker first
    // registers it, then imports its entry.
    const tsx = import.meta.resolve('tsx/esm/api');
    const entry = new URL('./worker.ts', here).href;
    const boot = `import(${JSON.stringify(tsx)}).then(({ register }) => { register(); return import(${JSON.stringify(entry)}); });`;
    return new Worker(boot, { eval: true, workerData: spec });
  }
  return new Worker(new URL('./worker.js', here), { workerData: spec });
}

interface Task {
  id: number;
  msg: ToWorker;
  /** gets every message for this id; returns true once the task is over */
  onMessage: (m: FromWorker) => boolean;
  /** the transport went away under it */
  onLost: (e: ApiError) => void;
  queued: boolean;
  /** buffers handed over to the worker with the message */
  transfer?: ArrayBuffer[];
}

export interface HostOptions {
  maxQueue: number;
  /** false: run the model in the HTTP thread (debugging; a long generation then stalls other requests between tokens) */
  useWorker: boolean;
  metrics: ServerMetrics;
}

export class ModelHost {
  info!: ModelInfo;
  /** null while a dead worker is being replaced; messages wait in the outbox meanwhile */
  private transport: Transport | null = null;
  private readonly outbox: { msg: ToWorker; transfer?: ArrayBuffer[] }[] = [];
  private nextId = 1;
  private readonly tasks = new Map<number, Task>();
  private readonly waiting: Task[] = [];
  private active: Task | null = null;
  private maxWaiting = 0;
  private closing = false;
  /** restarts in a row, for the back-off; a worker that lived a minute starts the count over */
  private restarts = 0;
  private connectedAt = 0;

  private constructor(
    readonly spec: RunnerSpec,
    private readonly options: HostOptions,
  ) {}

  /** Loads the model (in its worker) and resolves once it is ready to serve. */
  static async start(spec: RunnerSpec, options: HostOptions): Promise<ModelHost> {
    const host = new ModelHost(spec, options);
    await host.connect();
    return host;
  }

  get id(): string {
    return this.spec.id;
  }

  queueState(): { model: string; waiting: number; active: number; maxWaiting: number } {
    return { model: this.id, waiting: this.waiting.length, active: this.active ? 1 : 0, maxWaiting: this.maxWaiting };
  }

  private async connect(): Promise<void> {
    if (!this.options.useWorker) {
      const runner = await ModelRunner.load(this.spec, (m) => setImmediate(() => this.receive(m)));
      this.info = runner.info;
      this.transport = { send: (m) => setImmediate(() => runner.handle(m)), close: async () => {} };
      return;
    }
    const worker = startWorker(this.spec);
    this.info = await new Promise<ModelInfo>((resolve, reject) => {
      const onError = (e: Error) => reject(new Error(`model '${this.id}' (${this.spec.path}) failed to load: ${e.message}`));
      worker.once('error', onError);
      worker.once('exit', (code) => reject(new Error(`model '${this.id}' (${this.spec.path}) worker exited with code ${code} while loading`)));
      worker.once('message', (m: FromWorker) => {
        worker.off('error', onError);
        worker.removeAllListeners('exit');
        if (m.type === 'ready') resolve(m.info);
        else reject(new Error(`model '${this.id}' (${this.spec.path}) failed to load: ${m.type === 'fatal' ? m.message : m.type}`));
      });
    }).catch(async (e: unknown) => {
      await worker.terminate();
      throw e;
    });
    worker.on('message', (m: FromWorker) => this.receive(m));
    const lost = (why: string) => {
      if (this.closing || this.transport !== transport) return;
      this.transport = null;
      if (Date.now() - this.connectedAt > 60_000) this.restarts = 0;
      this.loseAll(new ApiError(500, `the worker of model '${this.id}' stopped (${why}); it is being restarted`));
      void this.restart();
    };
    worker.on('error', (e) => lost(e.message));
    worker.on('exit', (code) => lost(`exit code ${code}`));
    const transport: Transport = {
      send: (m, transfer) => worker.postMessage(m, transfer ?? []),
      close: async () => {
        await worker.terminate();
      },
    };
    this.transport = transport;
    this.connectedAt = Date.now();
  }

  private async restart(): Promise<void> {
    const delay = Math.min(30_000, 250 * 2 ** this.restarts++);
    await new Promise((r) => setTimeout(r, delay));
    if (this.closing) return;
    try {
      await this.connect();
      for (const m of this.outbox.splice(0)) this.transport!.send(m.msg, m.transfer);
      this.pump();
    } catch (e) {
      if (this.closing) return;
      this.outbox.length = 0;
      this.loseAll(new ApiError(503, `model '${this.id}' is unavailable: its worker failed to restart (${e instanceof Error ? e.message : String(e)})`, { code: 'model_unavailable' }));
      void this.restart();
    }
  }

  private send(msg: ToWorker, transfer?: ArrayBuffer[]): void {
    if (this.transport) this.transport.send(msg, transfer);
    else this.outbox.push({ msg, transfer });
  }

  private loseAll(err: ApiError): void {
    const tasks = [...this.tasks.values()];
    this.tasks.clear();
    this.waiting.length = 0;
    this.active = null;
    for (const t of tasks) t.onLost(err);
  }

  private receive(m: FromWorker): void {
    if (m.type === 'ready' || m.type === 'fatal') return;
    const task = this.tasks.get(m.id);
    if (!task) return;
    if (task.onMessage(m)) {
      this.tasks.delete(m.id);
      if (task === this.active) {
        this.active = null;
        this.pump();
      }
    }
  }

  private pump(): void {
    if (this.active || this.closing) return;
    const next = this.waiting.shift();
    if (!next) return;
    this.active = next;
    this.send(next.msg, next.transfer);
  }

  /** Sends a task now (unqueued) or puts it in the queue; 429 when the queue is full. */
  private submit(task: Task): void {
    if (this.closing) throw new ApiError(503, `model '${this.id}' is shutting down`, { code: 'shutting_down' });
    if (task.queued) {
      if (this.active && this.waiting.length >= this.options.maxQueue) {
        this.options.metrics.rejected.inc({ model: this.id });
        throw new ApiError(429, `Model '${this.id}' is busy: ${this.waiting.length} requests are already waiting. Retry later.`, {
          code: 'queue_full',
          headers: { 'retry-after': '1' },
        });
      }
      this.tasks.set(task.id, task);
      this.waiting.push(task);
      this.pump();
      this.maxWaiting = Math.max(this.maxWaiting, this.waiting.length);
      return;
    }
    this.tasks.set(task.id, task);
    this.send(task.msg, task.transfer);
  }

  private static fail(e: WireError): ApiError {
    return new ApiError(e.status, e.message, { param: e.param ?? null, code: e.code ?? null });
  }

  /** Token ids of each prompt (chat template applied); not queued. */
  prepare(prompts: PromptInput[]): Promise<number[][]> {
    return new Promise((resolve, reject) => {
      const id = this.nextId++;
      this.submit({
        id,
        queued: false,
        msg: { type: 'prepare', id, prompts },
        onLost: reject,
        onMessage: (m) => {
          if (m.type === 'prepared') resolve(m.prompts);
          else if (m.type === 'error') reject(ModelHost.fail(m));
          return true;
        },
      });
    });
  }

  /** Queues a generation of n samples per prompt; throws ApiError(429) at once when the queue is full. */
  generate(prompts: number[][], n: number, options: WireGenerateOptions, images?: WireImage[]): GenerationJob {
    const id = this.nextId++;
    const channel = new Channel<GenerationEvent>();
    const metrics = this.options.metrics;
    const model = this.id;
    let state: 'queued' | 'running' | 'over' = 'queued';
    const task: Task = {
      id,
      queued: true,
      msg: { type: 'generate', id, prompts, n, options, ...(images?.length ? { images } : {}) },
      onLost: (e) => {
        state = 'over';
        metrics.generations.inc({ model, outcome: 'failed' });
        channel.end(e);
      },
      onMessage: (m) => {
        switch (m.type) {
          case 'started':
            state = 'running';
            channel.push({ type: 'started' });
            return false;
          case 'chunks':
            metrics.generatedTokens.inc({ model }, m.chunks.filter((c) => c.counted).length);
            channel.push({ type: 'chunks', chunks: m.chunks });
            return false;
          case 'done':
            state = 'over';
            metrics.promptTokens.inc({ model }, m.promptTokens);
            metrics.generations.inc({ model, outcome: m.cancelled ? 'cancelled' : 'completed' });
            channel.push({ type: 'done', choices: m.choices, promptTokens: m.promptTokens, cancelled: m.cancelled });
            channel.end();
            return true;
          case 'error':
            state = 'over';
            metrics.generations.inc({ model, outcome: 'failed' });
            channel.end(ModelHost.fail(m));
            return true;
          default:
            return false;
        }
      },
    };
    this.submit(task);
    return {
      events: channel,
      cancel: () => {
        if (state === 'over') return;
        channel.end();
        if (state === 'queued') {
          state = 'over';
          const i = this.waiting.indexOf(task);
          if (i >= 0) this.waiting.splice(i, 1);
          this.tasks.delete(id);
          metrics.generations.inc({ model, outcome: 'cancelled' });
        } else this.send({ type: 'cancel', id });
      },
    };
  }

  /** Queued: unit-length embeddings (mean-pooled sentences; CLIP's image and text features). */
  embed(inputs: EmbedInput[]): Promise<{ vectors: Float32Array[]; promptTokens: number }> {
    return new Promise((resolve, reject) => {
      const id = this.nextId++;
      const metrics = this.options.metrics;
      // pixels move to the worker rather than being copied (each image owns its buffer: see the route)
      const transfer = inputs.flatMap((x) => ('image' in x ? [x.image.data.buffer as ArrayBuffer] : []));
      this.submit({
        id,
        queued: true,
        msg: { type: 'embed', id, inputs },
        transfer: transfer.length ? transfer : undefined,
        onLost: reject,
        onMessage: (m) => {
          if (m.type === 'embedded') {
            metrics.promptTokens.inc({ model: this.id }, m.promptTokens);
            metrics.generations.inc({ model: this.id, outcome: 'completed' });
            resolve({ vectors: m.vectors, promptTokens: m.promptTokens });
          } else if (m.type === 'error') {
            metrics.generations.inc({ model: this.id, outcome: 'failed' });
            reject(ModelHost.fail(m));
          }
          return true;
        },
      });
    });
  }

  /** Queued: speech to text from the bytes of a WAV file. */
  transcribe(audio: Uint8Array, options: WireTranscribeOptions): Promise<WireTranscription> {
    return new Promise((resolve, reject) => {
      const id = this.nextId++;
      const metrics = this.options.metrics;
      // a copy of its own, so the bytes can move to the worker without taking a pooled buffer along
      const bytes = Uint8Array.from(audio);
      this.submit({
        id,
        queued: true,
        msg: { type: 'transcribe', id, audio: bytes, options },
        transfer: [bytes.buffer],
        onLost: reject,
        onMessage: (m) => {
          if (m.type === 'transcribed') {
            metrics.generations.inc({ model: this.id, outcome: 'completed' });
            resolve(m.result);
          } else if (m.type === 'error') {
            metrics.generations.inc({ model: this.id, outcome: 'failed' });
            reject(ModelHost.fail(m));
          }
          return true;
        },
      });
    });
  }

  async close(): Promise<void> {
    this.closing = true;
    this.loseAll(new ApiError(503, `model '${this.id}' is shutting down`, { code: 'shutting_down' }));
    await this.transport?.close();
  }
}
