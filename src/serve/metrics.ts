// The server's counters in Prometheus' text exposition format (version 0.0.4): counters, gauges
// read when scraped, and a latency histogram, each family with # HELP and # TYPE lines.

type Labels = Record<string, string>;

function labelText(labels: Labels): string {
  const parts = Object.entries(labels).map(([k, v]) => `${k}="${v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"')}"`);
  return parts.length ? `{${parts.join(',')}}` : '';
}

function num(v: number): string {
  if (v === Infinity) return '+Inf';
  if (v === -Infinity) return '-Inf';
  return Number.isNaN(v) ? 'NaN' : String(v);
}

function keyOf(labels: Labels): string {
  return JSON.stringify(Object.entries(labels).sort(([a], [b]) => (a < b ? -1 : 1)));
}

abstract class Family {
  constructor(
    readonly name: string,
    readonly help: string,
    readonly type: 'counter' | 'gauge' | 'histogram',
  ) {}

  abstract samples(): string[];

  render(): string {
    return [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} ${this.type}`, ...this.samples()].join('\n');
  }
}

export class Counter extends Family {
  private readonly values = new Map<string, { labels: Labels; value: number }>();

  constructor(name: string, help: string) {
    super(name, help, 'counter');
  }

  inc(labels: Labels = {}, by = 1): void {
    const k = keyOf(labels);
    const e = this.values.get(k);
    if (e) e.value += by;
    else this.values.set(k, { labels, value: by });
  }

  get(labels: Labels = {}): number {
    return this.values.get(keyOf(labels))?.value ?? 0;
  }

  samples(): string[] {
    return [...this.values.values()].map((e) => `${this.name}${labelText(e.labels)} ${num(e.value)}`);
  }
}

/** A gauge whose values are read from the server when scraped. */
export class Gauge extends Family {
  constructor(
    name: string,
    help: string,
    private readonly read: () => { labels: Labels; value: number }[],
  ) {
    super(name, help, 'gauge');
  }

  samples(): string[] {
    return this.read().map((e) => `${this.name}${labelText(e.labels)} ${num(e.value)}`);
  }
}

export class Histogram extends Family {
  private readonly series = new Map<string, { labels: Labels; counts: number[]; sum: number; count: number }>();

  constructor(
    name: string,
    help: string,
    readonly buckets: readonly number[],
  ) {
    super(name, help, 'histogram');
  }

  observe(labels: Labels, value: number): void {
    const k = keyOf(labels);
    let s = this.series.get(k);
    if (!s) this.series.set(k, (s = { labels, counts: this.buckets.map(() => 0), sum: 0, count: 0 }));
    this.buckets.forEach((b, i) => {
      if (value <= b) s.counts[i]!++;
    });
    s.sum += value;
    s.count++;
  }

  samples(): string[] {
    const out: string[] = [];
    for (const s of this.series.values()) {
      this.buckets.forEach((b, i) => out.push(`${this.name}_bucket${labelText({ ...s.labels, le: num(b) })} ${s.counts[i]}`));
      out.push(`${this.name}_bucket${labelText({ ...s.labels, le: '+Inf' })} ${s.count}`);
      out.push(`${this.name}_sum${labelText(s.labels)} ${num(s.sum)}`);
      out.push(`${this.name}_count${labelText(s.labels)} ${s.count}`);
    }
    return out;
  }
}

/** Per-model state the gauges read. */
export interface QueueState {
  model: string;
  waiting: number;
  active: number;
  maxWaiting: number;
}

/** Everything /metrics reports. */
export class ServerMetrics {
  readonly requests = new Counter('strata_http_requests_total', 'HTTP requests answered, by route, method and status code.');
  readonly latency = new Histogram('strata_http_request_duration_seconds', 'Time from request to the end of the response (whole stream for SSE), by route.', [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120,
  ]);
  readonly promptTokens = new Counter('strata_prompt_tokens_total', 'Prompt tokens processed, by model.');
  readonly generatedTokens = new Counter('strata_generated_tokens_total', 'Tokens generated, by model.');
  readonly generations = new Counter('strata_generations_total', 'Generation and embedding jobs finished, by model and outcome (completed, cancelled, failed).');
  readonly rejected = new Counter('strata_requests_rejected_total', 'Requests turned away because the model queue was full, by model.');
  private readonly families: Family[];

  constructor(queues: () => QueueState[]) {
    const gauge = (name: string, help: string, pick: (q: QueueState) => number) => new Gauge(name, help, () => queues().map((q) => ({ labels: { model: q.model }, value: pick(q) })));
    this.families = [
      this.requests,
      this.latency,
      this.promptTokens,
      this.generatedTokens,
      this.generations,
      this.rejected,
      gauge('strata_queue_depth', 'Requests waiting for the model, not counting the one running.', (q) => q.waiting),
      gauge('strata_queue_depth_max', 'Most requests seen waiting for the model at once since the server started.', (q) => q.maxWaiting),
      gauge('strata_active_requests', 'Requests the model is working on now.', (q) => q.active),
      new Gauge('process_resident_memory_bytes', 'Resident memory of the server process (all model workers included).', () => [{ labels: {}, value: process.memoryUsage.rss() }]),
    ];
  }

  /** One request finished (or its client went away). */
  observeRequest(route: string, method: string, status: number, seconds: number): void {
    this.requests.inc({ route, method, status: String(status) });
    this.latency.observe({ route }, seconds);
  }

  render(): string {
    return `${this.families.map((f) => f.render()).join('\n')}\n`;
  }
}
