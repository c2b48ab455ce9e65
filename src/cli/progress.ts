// Progress of long work on stderr: a live bar (cli-progress) on a terminal, a plain line every few
// percent otherwise (logs, CI, pipes), nothing with --json.

import cliProgress from 'cli-progress';
import type { MetricsRecord } from '../train/metrics.js';
import type { CliIO } from './io.js';

export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '?';
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

function fmt(x: number | undefined, digits = 4): string {
  return x === undefined || !Number.isFinite(x) ? '-' : x.toPrecision(digits);
}

/** Shows training steps: loss, validation loss, learning rate, tokens/s and ETA. */
export class TrainingProgress {
  private bar: cliProgress.SingleBar | null = null;
  private total = 0;
  private first = 0;
  private started = 0;
  private tokensPerSecond = 0;
  private lastVal: number | undefined;
  private lastPrinted = -1;

  constructor(
    private readonly io: CliIO,
    private readonly options: { quiet: boolean; tty?: boolean },
  ) {}

  log(message: string): void {
    if (this.options.quiet) return;
    if (this.bar) this.bar.stop();
    this.io.err(`strata: ${message}\n`);
    this.bar = null;
  }

  start(startStep: number, totalSteps: number, note: string): void {
    this.total = totalSteps;
    this.first = startStep;
    this.started = performance.now();
    if (this.options.quiet) return;
    this.io.err(`strata: ${note}\n`);
    if (this.options.tty ?? process.stderr.isTTY) {
      this.bar = new cliProgress.SingleBar(
        { format: 'train |{bar}| {value}/{total} loss {loss} val {val} lr {lr} {tps} tok/s ETA {eta_formatted}', hideCursor: true, etaBuffer: 50, stream: process.stderr },
        cliProgress.Presets.shades_classic,
      );
      this.bar.start(totalSteps, startStep, { loss: '-', val: '-', lr: '-', tps: '-' });
    }
  }

  step(r: MetricsRecord): void {
    this.tokensPerSecond = this.tokensPerSecond ? 0.9 * this.tokensPerSecond + 0.1 * r.tokens_per_s : r.tokens_per_s;
    if (typeof r['val_loss'] === 'number') this.lastVal = r['val_loss'];
    if (this.options.quiet) return;
    const payload = { loss: fmt(r.loss), val: fmt(this.lastVal), lr: r.lr.toExponential(2), tps: Math.round(this.tokensPerSecond).toLocaleString('en-US') };
    if (this.bar) {
      this.bar.update(r.step, payload);
      return;
    }
    const every = Math.max(1, Math.round(this.total / 20));
    if (r.step % every !== 0 && r.step !== this.total && typeof r['val_loss'] !== 'number') return;
    if (r.step === this.lastPrinted) return;
    this.lastPrinted = r.step;
    const done = r.step - this.first;
    const elapsed = (performance.now() - this.started) / 1000;
    const eta = done > 0 ? (elapsed / done) * (this.total - r.step) : NaN;
    this.io.err(`step ${r.step}/${this.total}  loss ${payload.loss}  val ${payload.val}  lr ${payload.lr}  ${payload.tps} tok/s  ETA ${formatDuration(eta)}\n`);
  }

  stop(): void {
    this.bar?.stop();
    this.bar = null;
  }
}
