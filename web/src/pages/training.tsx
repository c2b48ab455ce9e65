// Training: the runs under `strata serve --runs DIR` and, for the chosen one, its metrics.jsonl as
// charts. The page polls: the run list every few seconds, the chosen run's new lines every second
// (?after=STEP&count=N returns only what was appended, or everything again if the file was cut).
import { useEffect, useRef, useState } from 'preact/hooks';
import { getJson, runMetricsPath, type MetricsRecord, type RunMetrics, type RunSummary } from '../api.js';
import { MetricChart, type SeriesSpec } from '../chart.js';
import { ago, formatNumber } from './common.js';

const RUNS_POLL_MS = 3000;
const METRICS_POLL_MS = 1000;
/** a run whose metrics changed this recently is shown as live */
const LIVE_MS = 20000;

const CHARTS: { title: string; series: SeriesSpec[]; log?: boolean }[] = [
  {
    title: 'Loss',
    series: [
      { key: 'loss', label: 'loss', color: '#2563eb' },
      { key: 'val_loss', label: 'val_loss', color: '#dc2626', sparse: true },
    ],
  },
  { title: 'Learning rate', series: [{ key: 'lr', label: 'lr', color: '#059669' }] },
  { title: 'Throughput (tokens/s)', series: [{ key: 'tokens_per_s', label: 'tokens/s', color: '#7c3aed' }] },
  { title: 'Validation accuracy', series: [{ key: 'val_accuracy', label: 'val_accuracy', color: '#d97706', sparse: true }] },
  { title: 'Gradient norm', series: [{ key: 'grad_norm', label: 'grad_norm', color: '#475569' }] },
];

interface RunsList {
  runs_dir: string | null;
  data: RunSummary[];
}

export function TrainingPage({ selected }: { selected: string | null }) {
  const [list, setList] = useState<RunsList | null>(null);
  const [listError, setListError] = useState<string | null>(null);
  const [now, setNow] = useState(Date.now());

  useEffect(() => {
    let stop = false;
    const load = () =>
      getJson<RunsList>('/api/runs')
        .then((l) => !stop && (setList(l), setListError(null), setNow(Date.now())))
        .catch((err: Error) => !stop && setListError(err.message));
    void load();
    const timer = setInterval(() => document.hidden || void load(), RUNS_POLL_MS);
    return () => {
      stop = true;
      clearInterval(timer);
    };
  }, []);

  const current = selected ?? list?.data[0]?.name ?? null;
  return (
    <section class="page training">
      <h1>Training</h1>
      {listError && (
        <p class="notice error" role="alert">
          {listError}
        </p>
      )}
      {list && list.runs_dir === null && (
        <p class="notice">
          No runs folder is served. Start the server with <code>strata serve --runs DIR</code> (npm start serves <code>runs/</code>) to watch training runs.
        </p>
      )}
      {list && list.runs_dir !== null && list.data.length === 0 && (
        <p class="notice">
          No runs in <code>{list.runs_dir}</code> yet: start one with <code>strata pretrain --out {list.runs_dir}/NAME</code> and it appears here.
        </p>
      )}
      <div class="training-layout">
        {list && list.data.length > 0 && (
          <ul class="runs" aria-label="runs">
            {list.data.map((r) => (
              <li key={r.name}>
                <a href={`#/training/${encodeURIComponent(r.name)}`} class={r.name === current ? 'active' : ''} data-run={r.name}>
                  <span class="run-name">{r.name}</span>
                  <span class="run-meta">
                    {r.kind}
                    {r.task ? ` · ${r.task}` : ''}
                    {now - Date.parse(r.updated) < LIVE_MS && <span class="live"> ● live</span>}
                  </span>
                  <span class="run-meta">
                    step {r.last_step ?? '–'}
                    {r.total_steps ? `/${r.total_steps}` : ''} · loss {formatNumber(r.last_loss)} · {ago(r.updated, now)}
                  </span>
                </a>
              </li>
            ))}
          </ul>
        )}
        {current && <RunView key={current} name={current} />}
      </div>
    </section>
  );
}

function RunView({ name }: { name: string }) {
  const [records, setRecords] = useState<MetricsRecord[]>([]);
  const [meta, setMeta] = useState<Omit<RunMetrics, 'data'> | null>(null);
  const [error, setError] = useState<string | null>(null);
  const held = useRef<MetricsRecord[]>([]);
  const epoch = useRef<string | null>(null);

  useEffect(() => {
    let stop = false;
    let inFlight = false;
    const poll = async () => {
      if (inFlight || stop) return;
      inFlight = true;
      try {
        const have = held.current;
        const since = epoch.current === null ? undefined : { after: have.length ? have[have.length - 1]!.step : -1, count: have.length, epoch: epoch.current };
        const m = await getJson<RunMetrics>(runMetricsPath(name, since));
        if (stop) return;
        const { data, ...rest } = m;
        setMeta(rest);
        setError(null);
        epoch.current = m.epoch;
        if (m.reset || since === undefined) held.current = data;
        else if (data.length) held.current = [...have, ...data];
        if (held.current !== have) setRecords(held.current);
      } catch (err) {
        if (!stop) setError((err as Error).message);
      } finally {
        inFlight = false;
      }
    };
    void poll();
    const timer = setInterval(() => document.hidden || void poll(), METRICS_POLL_MS);
    return () => {
      stop = true;
      clearInterval(timer);
    };
  }, [name]);

  const latest = records[records.length - 1];
  const lastEval = [...records].reverse().find((r) => typeof r.val_loss === 'number');
  const charts = CHARTS.filter((c) => c.series.some((s) => records.some((r) => typeof r[s.key] === 'number')));
  return (
    <div class="run-view" data-run={name}>
      <h2>{name}</h2>
      {error && (
        <p class="notice error" role="alert">
          {error}
        </p>
      )}
      {meta && (
        <p class="summary" data-testid="run-summary">
          <span>{meta.kind}{meta.task ? ` · ${meta.task}` : ''}</span>
          <span>
            step <b data-testid="last-step">{latest?.step ?? '–'}</b>
            {meta.total_steps ? ` / ${meta.total_steps}` : ''}
          </span>
          <span>loss <b>{formatNumber(latest?.loss as number | undefined)}</b></span>
          <span>val_loss <b>{formatNumber(lastEval?.val_loss as number | undefined)}</b></span>
          <span>lr <b>{formatNumber(latest?.lr as number | undefined)}</b></span>
          <span>tokens/s <b>{formatNumber(latest?.tokens_per_s as number | undefined, 5)}</b></span>
          <span data-testid="point-count">{records.length} points</span>
          <span class="muted">updated {ago(meta.updated)}</span>
        </p>
      )}
      {meta && records.length === 0 && <p class="notice">This run has written no metrics yet; the charts appear with its first step.</p>}
      <div class="charts">
        {charts.map((c) => (
          <MetricChart key={c.title} title={c.title} series={c.series.filter((s) => records.some((r) => typeof r[s.key] === 'number'))} records={records} log={c.log} />
        ))}
      </div>
      {meta?.config && (
        <details class="config">
          <summary>Configuration</summary>
          <pre>{JSON.stringify(meta.config, null, 2)}</pre>
        </details>
      )}
    </div>
  );
}
