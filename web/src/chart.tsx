// One uPlot line chart of some metrics against step. The chart is created once and fed with
// setData as records arrive, so a live run redraws in place instead of rebuilding the canvas.
import { useEffect, useRef } from 'preact/hooks';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import type { MetricsRecord } from './api.js';

export interface SeriesSpec {
  key: string;
  label: string;
  color: string;
  /** sparse series (evaluation steps): points joined across the steps without a value */
  sparse?: boolean;
}

const HEIGHT = 200;

function columns(records: MetricsRecord[], series: SeriesSpec[]): uPlot.AlignedData {
  const steps = records.map((r) => r.step);
  const ys = series.map((s) => records.map((r) => (typeof r[s.key] === 'number' && Number.isFinite(r[s.key]) ? (r[s.key] as number) : null)));
  return [steps, ...ys];
}

export function MetricChart({ title, series, records, log = false }: { title: string; series: SeriesSpec[]; records: MetricsRecord[]; log?: boolean }) {
  const host = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);
  const signature = `${series.map((s) => s.key).join(',')}|${log}`;

  useEffect(() => {
    const el = host.current!;
    const opts: uPlot.Options = {
      width: Math.max(200, el.clientWidth),
      height: HEIGHT,
      scales: { x: { time: false }, y: log ? { distr: 3 } : {} },
      axes: [{ label: 'step', size: 36, labelSize: 14 }, { size: 64, values: (_u, splits) => splits.map(tick) }],
      series: [
        { label: 'step' },
        ...series.map((s) => ({
          label: s.label,
          stroke: s.color,
          width: 1.5,
          spanGaps: s.sparse ?? false,
          points: { show: s.sparse ?? false, size: 5, fill: s.color },
          value: (_u: uPlot, v: number | null) => (v === null ? '–' : Math.abs(v) >= 1e5 || (v !== 0 && Math.abs(v) < 1e-3) ? v.toExponential(3) : Number(v.toPrecision(4)).toString()),
        })),
      ],
      legend: { live: true },
      cursor: { drag: { x: true, y: false } },
      // with the cursor off the plot uPlot blanks the legend; the latest values say more
      hooks: { setLegend: [(u) => cursorAway(u) && showLatest(u)], ready: [showLatest] },
    };
    const u = new uPlot(opts, columns(records, series), el);
    plot.current = u;
    const resize = new ResizeObserver(() => u.setSize({ width: Math.max(200, el.clientWidth), height: HEIGHT }));
    resize.observe(el);
    return () => {
      resize.disconnect();
      u.destroy();
      plot.current = null;
    };
  }, [signature]);

  useEffect(() => {
    const u = plot.current;
    if (!u) return;
    u.setData(columns(records, series));
  }, [records, signature]);

  return (
    <figure class="chart" data-points={records.length} data-title={title}>
      <figcaption>{title}</figcaption>
      <div ref={host} />
    </figure>
  );
}

/** Axis ticks short and distinct: 3e-4 rather than 0.0003, 1.2e+5 rather than 120000. */
function tick(v: number): string {
  const a = Math.abs(v);
  if (a === 0) return '0';
  if (a < 1e-2 || a >= 1e5) return v.toExponential(1).replace('.0e', 'e');
  return Number(v.toPrecision(3)).toLocaleString('en-US');
}

const cursorAway = (u: uPlot) => u.cursor.left === undefined || u.cursor.left < 0;

/** With the cursor away, the legend shows each series' last value (an evaluation series: its last evaluation). */
function showLatest(u: uPlot) {
  const n = u.data[0].length;
  if (n === 0) return;
  const idxs = u.data.map((col, i) => {
    if (i === 0) return n - 1;
    for (let j = n - 1; j >= 0; j--) if (col[j] !== null && col[j] !== undefined) return j;
    return null;
  });
  u.setLegend({ idxs }, false);
}
