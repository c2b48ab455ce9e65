import { StrataError, fmtShape } from '../errors.js';
import type { Tensor } from '../tensor/tensor.js';
import { isQuantized } from '../tensor/dtype.js';
import { noGrad } from '../tensor/grad-mode.js';
import { markWritten } from '../tensor/version.js';

/**
 * A walkable tree of named parameters. Names join with '.', so a model's parameter names are
 * its checkpoint keys (e.g. `h.0.attn.c_attn.weight`).
 */
export class Module {
  training = true;
  private readonly params = new Map<string, Tensor>();
  private readonly children = new Map<string, Module>();

  /** Registers a trainable tensor under `name` and returns it. */
  protected param(name: string, t: Tensor): Tensor {
    if (!t.isContiguous || t.offset !== 0) throw new StrataError('argument', 'Module.param', `parameter '${name}' must be a contiguous tensor`);
    // quantized weights are frozen storage: they are used, never trained
    if (!isQuantized(t.dtype)) t.requiresGrad_(true);
    this.params.set(name, t);
    return t;
  }

  /** Registers a sub-module under `name` and returns it. */
  protected module<M extends Module>(name: string, m: M): M {
    this.children.set(name, m);
    return m;
  }

  namedParameters(prefix = ''): [string, Tensor][] {
    const out: [string, Tensor][] = [];
    for (const [n, t] of this.params) out.push([prefix + n, t]);
    for (const [n, c] of this.children) out.push(...c.namedParameters(`${prefix}${n}.`));
    return out;
  }

  parameters(): Tensor[] {
    return this.namedParameters().map(([, t]) => t);
  }

  namedModules(prefix = ''): [string, Module][] {
    const out: [string, Module][] = [[prefix.replace(/\.$/, ''), this]];
    for (const [n, c] of this.children) out.push(...c.namedModules(`${prefix}${n}.`));
    return out;
  }

  /**
   * Puts `replacement` in place of the sub-module at `path` (e.g. `model.layers.0.self_attn.q_proj`)
   * and returns the module it replaced. Models also hold their children in typed fields (`qProj`),
   * sometimes on an ancestor of the module that registered them (BERT reads ModuleGroup `self`'s
   * `query` through BertAttention.query), so every field and array element in this tree that
   * referenced the old module is pointed at the replacement too. References held outside the tree
   * are not. The replacement's own subtree is left alone, so a wrapper may keep what it wraps, and
   * it must do the old module's job: the fields are typed for the old module's class.
   */
  replaceModule(path: string, replacement: Module): Module {
    const parts = path.split('.');
    const last = parts.pop()!;
    const parent = parts.reduce<Module>((m, name) => {
      const next = m.children.get(name);
      if (!next) throw new StrataError('argument', 'replaceModule', `no module '${path}' (no child '${name}')`);
      return next;
    }, this);
    const old = parent.children.get(last);
    if (!old) throw new StrataError('argument', 'replaceModule', `no module '${path}'`);
    if (old === replacement) return old;
    parent.children.set(last, replacement); // Map.set keeps the key's position: parameter order is unchanged
    const own = new Set(replacement.namedModules().map(([, m]) => m));
    for (const [, m] of this.namedModules()) {
      if (own.has(m)) continue;
      const fields = m as unknown as Record<string, unknown>;
      for (const key of Object.keys(fields)) {
        const v = fields[key];
        if (v === old) fields[key] = replacement;
        else if (Array.isArray(v)) {
          for (let i = 0; i < v.length; i++) if (v[i] === old) v[i] = replacement;
        }
      }
    }
    return old;
  }

  train(flag = true): this {
    for (const [, m] of this.namedModules()) m.training = flag;
    return this;
  }

  eval(): this {
    return this.train(false);
  }

  zeroGrad(): void {
    for (const p of this.parameters()) p.grad = null;
  }

  numParameters(): number {
    return this.parameters().reduce((n, p) => n + p.size, 0);
  }

  stateDict(): Record<string, Tensor> {
    return Object.fromEntries(this.namedParameters());
  }

  /** Copies values into the parameters by name; shapes must match exactly. */
  loadStateDict(state: Record<string, Tensor>, options: { strict?: boolean } = {}): void {
    const strict = options.strict ?? true;
    const own = new Map(this.namedParameters());
    if (strict) {
      const missing = [...own.keys()].filter((k) => !(k in state));
      const unexpected = Object.keys(state).filter((k) => !own.has(k));
      if (missing.length || unexpected.length) {
        throw new StrataError('argument', 'loadStateDict', `missing keys [${missing.join(', ')}], unexpected keys [${unexpected.join(', ')}]`);
      }
    }
    noGrad(() => {
      for (const [k, p] of own) {
        const src = state[k];
        if (!src) continue;
        if (src.shape.length !== p.shape.length || src.shape.some((d, i) => d !== p.shape[i])) {
          throw new StrataError('shape', 'loadStateDict', `'${k}' is ${fmtShape(src.shape)} in the state but ${fmtShape(p.shape)} in the model`);
        }
        const vals = src.to(p.dtype).contiguous();
        p.data.set(vals.data.subarray(vals.offset, vals.offset + vals.size) as never);
        markWritten(p.data);
      }
    });
  }
}
