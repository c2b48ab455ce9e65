// Golden-state test of the primitive ops against PyTorch (scripts/fixtures/ops.py wrote the
// fixture). Every case runs forward and backward on every available backend; the loss is
// sum_i sum(out_i * probe_i) with the probes stored in the fixture, so the gradients of all
// float inputs are checked with one backward pass.
//
// Tolerances: torch computed in float64 from the float32 inputs and stored the result rounded
// once to float32, so the expected values carry 0.5 ulp of error and the differences measure
// Strata's own float32 arithmetic. Default: |diff| <= 1e-5 + 1e-5·|expected|. Looser, per case
// family, only where the f32 computation itself loses more (see TOLERANCES).
//
// Set STRATA_GOLDEN_REPORT=1 to print the max abs diff of every tensor.

import { after, test } from 'node:test';
import * as S from '../../src/index.js';
import { assertClose, loadFixture, type Tolerance } from '../helpers/fixtures.js';

type Inputs = Record<string, S.Tensor>;
// parameters come from the fixture's JSON metadata
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Params = Record<string, any>;
type OpFn = (x: Inputs, p: Params) => S.Tensor | S.Tensor[];

interface CaseSpec {
  name: string;
  op: string;
  params: Params;
  inputs: string[];
  outputs: number;
}

const BINARY: Record<string, (a: S.Tensor, b: S.Tensor) => S.Tensor> = {
  add: S.add,
  sub: S.sub,
  mul: S.mul,
  div: S.div,
  maximum: S.maximum,
  pow: S.pow,
};

const UNARY: Record<string, (x: S.Tensor) => S.Tensor> = {
  exp: S.exp,
  log: S.log,
  tanh: S.tanh,
  sigmoid: S.sigmoid,
  relu: S.relu,
  gelu: (x) => S.gelu(x),
  gelu_tanh: (x) => S.gelu(x, 'tanh'),
  silu: S.silu,
  sqrt: S.sqrt,
  rsqrt: S.rsqrt,
  abs: S.abs,
  neg: S.neg,
  square: S.square,
};

function reduce(x: S.Tensor, p: Params): S.Tensor {
  const keepdim = p.keepdim ?? false;
  switch (p.fn) {
    case 'sum':
      return x.sum(p.dim, keepdim);
    case 'mean':
      return x.mean(p.dim, keepdim);
    case 'max':
      return x.max(p.dim, keepdim);
    case 'min':
      return x.min(p.dim, keepdim);
    case 'var':
      return x.var(p.dim, { correction: p.correction ?? 1, keepdim });
    case 'logsumexp':
      return S.logsumexp(x, p.dim, keepdim);
  }
  throw new Error(`unknown reduction ${p.fn}`);
}

const attentionOptions = (x: Inputs, p: Params): S.AttentionOptions => ({ causal: p.causal, mask: x.mask ?? null, scale: p.scale });

/** Each op key of the fixture maps to one or more Strata implementations (fused and composed). */
const OPS: Record<string, Record<string, OpFn>> = {
  matmul: {
    matmul: (x, p) => (p.transA ? x.a!.transpose(-1, -2) : x.a!).matmul(p.transB ? x.b!.transpose(-1, -2) : x.b!),
  },
  linear: { linear: (x) => S.linear(x.x!, x.w!, x.b) },
  binary: { binary: (x, p) => BINARY[p.fn]!(x.a!, x.b!) },
  mul_scalar: { mul: (x, p) => x.x!.mul(p.s) },
  pow_scalar: { pow: (x, p) => x.x!.pow(p.e) },
  unary: { unary: (x, p) => UNARY[p.fn]!(x.x!) },
  clamp: { clamp: (x, p) => x.x!.clamp(p.min, p.max) },
  reduce: { reduce: (x, p) => reduce(x.x!, p) },
  softmax: { softmax: (x, p) => S.softmax(x.x!, p.dim) },
  log_softmax: { logSoftmax: (x, p) => S.logSoftmax(x.x!, p.dim) },
  layer_norm: { layerNorm: (x, p) => S.layerNorm(x.x!, x.w ?? null, x.b ?? null, p.eps) },
  rms_norm: { rmsNorm: (x, p) => S.rmsNorm(x.x!, x.w ?? null, p.eps) },
  cross_entropy: {
    crossEntropy: (x, p) => S.crossEntropy(x.logits!, x.targets!, { ignoreIndex: p.ignoreIndex, labelSmoothing: p.labelSmoothing, reduction: p.reduction }),
  },
  gather: { gather: (x, p) => S.gather(x.x!, p.dim, x.index!) },
  index_select: { indexSelect: (x, p) => S.indexSelect(x.x!, p.dim, x.index!) },
  embedding: { embedding: (x) => S.embedding(x.weight!, x.ids!) },
  scatter_add: { scatterAdd: (x, p) => S.scatterAdd(x.x!, p.dim, x.index!, x.src!) },
  masked_fill: { maskedFill: (x, p) => S.maskedFill(x.x!, x.mask!, p.value) },
  where: { where: (x) => S.where(x.cond!, x.a!, x.b!) },
  cat: { cat: (x, p) => S.cat([x.a!, x.b!, x.c!], p.dim) },
  stack: { stack: (x, p) => S.stack([x.a!, x.b!, x.c!], p.dim) },
  split: { split: (x, p) => S.split(x.x!, p.sizes, p.dim) },
  conv1d: {
    conv1d: (x, p) => S.conv1d(x.x!, x.w!, x.b ?? null, { stride: p.stride, padding: p.padding, dilation: p.dilation, groups: p.groups }),
  },
  conv2d: {
    conv2d: (x, p) => S.conv2d(x.x!, x.w!, x.b ?? null, { stride: p.stride, padding: p.padding, dilation: p.dilation, groups: p.groups }),
  },
  rope: { applyRotaryEmbedding: (x, p) => S.applyRotaryEmbedding(x.x!, x.cos!, x.sin!, p.layout) },
  sdpa: {
    scaledDotProductAttention: (x, p) => S.scaledDotProductAttention(x.q!, x.k!, x.v!, attentionOptions(x, p)),
    attentionComposed: (x, p) => S.attentionComposed(x.q!, x.k!, x.v!, attentionOptions(x, p)),
  },
};

const DEFAULT_TOLERANCE: Tolerance = { atol: 1e-5, rtol: 1e-5 };

/** Case-name prefixes that need more room than the default, and why. */
const TOLERANCES: [RegExp, Tolerance][] = [];

function toleranceFor(name: string): Tolerance {
  return TOLERANCES.find(([re]) => re.test(name))?.[1] ?? DEFAULT_TOLERANCE;
}

const fixture = loadFixture('ops');
const cases = JSON.parse(fixture.metadata.cases!) as CaseSpec[];
const stored = (key: string): S.Tensor => {
  const t = fixture.tensors[key];
  if (!t) throw new Error(`ops fixture has no tensor '${key}'`);
  return t;
};

const backends: S.BackendName[] = S.nativeAvailable() ? ['reference', 'native'] : ['reference'];
const report: string[] = [];

function runCase(spec: CaseSpec, impl: string, fn: OpFn, backendName: S.BackendName): void {
  const tol = toleranceFor(spec.name);
  const label = `${backendName} ${spec.name} (${impl})`;
  const diffs: string[] = [];
  S.withBackend(backendName, () => {
    const inputs: Inputs = {};
    for (const name of spec.inputs) {
      const t = stored(`${spec.name}.in.${name}`);
      // fresh leaves each run, so gradients never accumulate across backends or implementations
      const wantsGrad = fixture.tensors[`${spec.name}.grad.${name}`] !== undefined;
      inputs[name] = wantsGrad ? t.clone().requiresGrad_() : t;
    }
    const result = fn(inputs, spec.params);
    const outs = Array.isArray(result) ? result : [result];
    if (outs.length !== spec.outputs) throw new Error(`${label}: ${outs.length} outputs, torch gave ${spec.outputs}`);
    let loss: S.Tensor | null = null;
    outs.forEach((out, i) => {
      const d = assertClose(out, stored(`${spec.name}.out.${i}`), tol, `${label} output ${i}`);
      diffs.push(`out.${i} ${d.toExponential(2)}`);
      const term = S.sum(S.mul(out, stored(`${spec.name}.probe.${i}`)));
      loss = loss ? S.add(loss, term) : term;
    });
    const withGrad = spec.inputs.filter((n) => inputs[n]!.requiresGrad);
    if (withGrad.length === 0) return;
    loss!.backward();
    for (const name of withGrad) {
      const g = inputs[name]!.grad;
      if (!g) throw new Error(`${label}: no gradient reached input '${name}'`);
      const d = assertClose(g, stored(`${spec.name}.grad.${name}`), tol, `${label} grad ${name}`);
      diffs.push(`grad.${name} ${d.toExponential(2)}`);
    }
  });
  report.push(`${label}: ${diffs.join(', ')}`);
}

for (const backendName of backends) {
  for (const spec of cases) {
    const impls = OPS[spec.op];
    test(`${backendName}: ${spec.name}`, () => {
      if (!impls) throw new Error(`no Strata implementation registered for fixture op '${spec.op}'`);
      for (const [impl, fn] of Object.entries(impls)) runCase(spec, impl, fn, backendName);
    });
  }
}

after(() => {
  if (process.env.STRATA_GOLDEN_REPORT) console.log(report.join('\n'));
});
