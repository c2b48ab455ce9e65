// Golden-state training test against PyTorch (scripts/fixtures/train.py wrote the fixture): the
// same tiny attention + MLP model, the same initial weights and batch, five optimizer steps.
//
// Tolerances: both sides train in float32. Losses must agree to 1e-5 relative at every step.
// Final weights: |diff| <= 1e-5 + 1e-5·|expected| (observed on the reference backend: <= 6.3e-7
// after AdamW, <= 3e-8 after SGD). AdamW divides by sqrt(v), which amplifies float32 rounding
// where a gradient is tiny, hence the headroom for backends that sum in another order.
//
// Set STRATA_GOLDEN_REPORT=1 to print losses and per-parameter max abs diffs.

import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import * as S from '../../src/index.js';
import { assertClose, loadFixture, type Tolerance } from '../helpers/fixtures.js';

const fixture = loadFixture('train');
const config = JSON.parse(fixture.metadata.config!) as {
  B: number;
  T: number;
  C: number;
  heads: number;
  vocab: number;
  steps: number;
  adamw: { lr: number; betas: [number, number]; eps: number; weightDecay: number };
  sgd: { lr: number; momentum: number; maxNorm: number; warmupSteps: number; totalSteps: number; minRatio: number };
};
const { B, T, C, heads: H, vocab: V, steps } = config;
const D = C / H;
const LOSS_RTOL = 1e-5;
const WEIGHT_TOL: Tolerance = { atol: 1e-5, rtol: 1e-5 };
const report: string[] = [];

function stored(key: string): S.Tensor {
  const t = fixture.tensors[key];
  if (!t) throw new Error(`train fixture has no tensor '${key}'`);
  return t;
}

// Shapes: B batch, T time, C channels, H heads, D head size, V vocab.

class CausalSelfAttention extends S.nn.Module {
  readonly ln = this.module('ln', new S.nn.LayerNorm(C));
  readonly qProj = this.module('q_proj', new S.nn.Linear(C, C));
  // no key bias (as in the torch model): softmax cancels it, so its gradient is rounding noise
  readonly kProj = this.module('k_proj', new S.nn.Linear(C, C, { bias: false }));
  readonly vProj = this.module('v_proj', new S.nn.Linear(C, C));
  readonly oProj = this.module('o_proj', new S.nn.Linear(C, C));

  forward(x: S.Tensor): S.Tensor {
    const a = this.ln.forward(x); // (B, T, C)
    const heads = (p: S.nn.Linear) => p.forward(a).reshape(B, T, H, D).transpose(1, 2); // (B, H, T, D)
    const y = S.scaledDotProductAttention(heads(this.qProj), heads(this.kProj), heads(this.vProj), { causal: true }); // (B, H, T, D)
    return this.oProj.forward(y.transpose(1, 2).reshape(B, T, C)); // (B, T, C)
  }
}

class MLP extends S.nn.Module {
  readonly fc1 = this.module('fc1', new S.nn.Linear(C, 32));
  readonly fc2 = this.module('fc2', new S.nn.Linear(32, V));

  forward(x: S.Tensor): S.Tensor {
    return this.fc2.forward(this.fc1.forward(x).gelu()); // (B, T, V)
  }
}

class TinyModel extends S.nn.Module {
  readonly attn = this.module('attn', new CausalSelfAttention());
  readonly mlp = this.module('mlp', new MLP());

  forward(x: S.Tensor): S.Tensor {
    const h = x.add(this.attn.forward(x)); // (B, T, C)
    return this.mlp.forward(h); // (B, T, V)
  }
}

function initialModel(): TinyModel {
  const model = new TinyModel();
  const init: Record<string, S.Tensor> = {};
  for (const [name] of model.namedParameters()) init[name] = stored(`init.${name}`);
  model.loadStateDict(init);
  return model;
}

function lossOf(model: TinyModel): S.Tensor {
  const logits = model.forward(stored('x')); // (B, T, V)
  return S.crossEntropy(logits, stored('targets'));
}

function checkLosses(label: string, got: number[], key: string): void {
  const want = stored(key).toArray();
  report.push(`${label} losses strata [${got.map((l) => l.toFixed(7)).join(', ')}] torch [${want.map((l) => l.toFixed(7)).join(', ')}]`);
  got.forEach((l, i) => {
    const rel = Math.abs(l - want[i]!) / Math.abs(want[i]!);
    assert.ok(rel <= LOSS_RTOL, `${label} step ${i}: loss ${l} vs torch ${want[i]} (relative diff ${rel.toExponential(3)} > ${LOSS_RTOL})`);
  });
}

function checkWeights(label: string, model: TinyModel, prefix: string): void {
  const diffs: string[] = [];
  for (const [name, p] of model.namedParameters()) {
    const d = assertClose(p, stored(`${prefix}.final.${name}`), WEIGHT_TOL, `${label} final ${name}`);
    diffs.push(`${name} ${d.toExponential(2)}`);
  }
  report.push(`${label} final weights max abs diff: ${diffs.join(', ')}`);
}

const backends: S.BackendName[] = S.nativeAvailable() ? ['reference', 'native'] : ['reference'];

for (const backendName of backends) {
  test(`${backendName}: parameter names match the torch checkpoint keys`, () => {
    const names = new TinyModel().namedParameters().map(([n]) => n);
    const torchNames = Object.keys(fixture.tensors).filter((k) => k.startsWith('init.')).map((k) => k.slice('init.'.length));
    assert.deepEqual([...names].sort(), [...torchNames].sort());
  });

  test(`${backendName}: 5 AdamW steps match torch.optim.AdamW`, () => {
    S.withBackend(backendName, () => {
      const model = initialModel();
      const { lr, betas, eps, weightDecay } = config.adamw;
      const opt = new S.optim.AdamW(model.parameters(), { lr, betas, eps, weightDecay });
      const losses: number[] = [];
      for (let step = 0; step < steps; step++) {
        opt.zeroGrad();
        const loss = lossOf(model);
        loss.backward();
        opt.step();
        losses.push(loss.item());
      }
      checkLosses(`${backendName} adamw`, losses, 'adamw.losses');
      checkWeights(`${backendName} adamw`, model, 'adamw');
    });
  });

  test(`${backendName}: 5 SGD-momentum steps with grad-norm clipping and warmup+cosine match torch`, () => {
    S.withBackend(backendName, () => {
      const model = initialModel();
      const { lr, momentum, maxNorm, warmupSteps, totalSteps, minRatio } = config.sgd;
      const opt = new S.optim.SGD(model.parameters(), { lr, momentum });
      const sched = new S.optim.LRScheduler(opt, lr, S.optim.warmupCosineSchedule({ warmupSteps, totalSteps, minRatio }));
      const torchNorms = stored('sgd.grad_norms').toArray();
      const torchLrs = stored('sgd.lrs').toArray();
      const losses: number[] = [];
      for (let step = 0; step < steps; step++) {
        opt.zeroGrad();
        const loss = lossOf(model);
        loss.backward();
        const norm = S.optim.clipGradNorm(model.parameters(), maxNorm);
        assert.ok(norm > maxNorm, `step ${step}: grad norm ${norm} should exceed maxNorm ${maxNorm}, or clipping is not tested`);
        assert.ok(Math.abs(norm - torchNorms[step]!) <= 1e-5 * torchNorms[step]!, `step ${step}: grad norm ${norm} vs torch ${torchNorms[step]}`);
        assert.ok(Math.abs(opt.lr - torchLrs[step]!) <= 1e-12, `step ${step}: lr ${opt.lr} vs torch LambdaLR ${torchLrs[step]}`);
        opt.step();
        sched.advance();
        losses.push(loss.item());
      }
      checkLosses(`${backendName} sgd`, losses, 'sgd.losses');
      checkWeights(`${backendName} sgd`, model, 'sgd');
    });
  });
}

after(() => {
  if (process.env.STRATA_GOLDEN_REPORT) console.log(report.join('\n'));
});
