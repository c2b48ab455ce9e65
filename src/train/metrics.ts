// RUN/metrics.jsonl: one JSON object a line. Step lines hold at least step, loss, lr and
// tokens_per_s; on evaluation steps the same line adds val_loss (and val_perplexity,
// val_accuracy, ... as the task reports them). The playground's dashboard and `jq` read it live.

import fs from 'node:fs';
import path from 'node:path';
import { StrataError } from '../errors.js';

export const METRICS_FILE = 'metrics.jsonl';

export interface MetricsRecord {
  step: number;
  loss: number;
  lr: number;
  tokens_per_s: number;
  [key: string]: number | string | null;
}

/** Parses a metrics.jsonl; a torn last line (the process was killed mid-write) is ignored. */
export function readMetrics(file: string): MetricsRecord[] {
  if (!fs.existsSync(file)) return [];
  const lines = fs.readFileSync(file, 'utf8').split('\n');
  const out: MetricsRecord[] = [];
  lines.forEach((line, i) => {
    if (!line.trim()) return;
    try {
      out.push(JSON.parse(line) as MetricsRecord);
    } catch {
      if (i < lines.length - 1 && lines.slice(i + 1).some((l) => l.trim())) throw new StrataError('io', `${file}:${i + 1}`, 'is not valid JSON');
    }
  });
  return out;
}

/** Appends records to RUN/metrics.jsonl; a resumed run first drops the lines after its checkpoint. */
export class MetricsLog {
  readonly file: string;

  constructor(runDir: string, options: { resumeFromStep?: number } = {}) {
    this.file = path.join(runDir, METRICS_FILE);
    fs.mkdirSync(runDir, { recursive: true });
    if (options.resumeFromStep === undefined) {
      fs.writeFileSync(this.file, '');
      return;
    }
    // keep the curve single-valued: steps after the checkpoint are recomputed by the resumed run
    const kept = readMetrics(this.file).filter((r) => r.step <= options.resumeFromStep!);
    fs.writeFileSync(this.file, kept.map((r) => `${JSON.stringify(r)}\n`).join(''));
  }

  append(record: MetricsRecord): void {
    fs.appendFileSync(this.file, `${JSON.stringify(record)}\n`);
  }
}
