// The benchmark BERT-base: random weights made by Strata (createModel of a BertModel config),
// saved once as a Hugging Face directory in the cache, and the same weights exported to ONNX by
// scripts/bench/export_bert_onnx.py (plain PyTorch, Debian's python3-torch) for onnxruntime-node.
import { existsSync, statSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { ensureCacheDir, importDist, log, repoRoot } from './common.mjs';

export const BERT_CONFIG = {
  model_type: 'bert',
  architectures: ['BertModel'],
  vocab_size: 30522,
  hidden_size: 768,
  num_hidden_layers: 12,
  num_attention_heads: 12,
  intermediate_size: 3072,
  hidden_act: 'gelu',
  max_position_embeddings: 512,
  type_vocab_size: 2,
  layer_norm_eps: 1e-12,
  initializer_range: 0.02,
};
const SEED = 20261130;
const VERSION = 1;
export const PYTHON = process.env.STRATA_BENCH_PYTHON ?? '/usr/bin/python3';
const EXPORT_SCRIPT = path.join(repoRoot, 'scripts', 'bench', 'export_bert_onnx.py');

export function bertDir() {
  return path.join(ensureCacheDir(), `bert-base-v${VERSION}`);
}

/** The Strata-written directory (config.json + model.safetensors), made when missing. */
export async function ensureBertDir() {
  const dir = bertDir();
  if (existsSync(path.join(dir, 'model.safetensors')) && existsSync(path.join(dir, 'config.json'))) return dir;
  const S = await importDist('index.js');
  const { createModel, parseModelConfig, saveModel } = await importDist('models/index.js');
  const t0 = performance.now();
  log(`bench: writing the benchmark BERT-base into ${dir} (once)`);
  const { config } = parseModelConfig(BERT_CONFIG, 'config.json');
  const model = createModel(config, { generator: new S.Generator(SEED) });
  saveModel(dir, model, config);
  log(`bench:   model.safetensors: ${(statSync(path.join(dir, 'model.safetensors')).size / 1e6).toFixed(1)} MB in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  return dir;
}

/** Whether the PyTorch reference can run here: null when it can, else why not. */
export function torchUnavailable() {
  const r = spawnSync(PYTHON, ['-c', 'import torch; print(torch.__version__)'], { encoding: 'utf8' });
  if (r.error) return `${PYTHON} could not be started (${r.error.code ?? r.error.message})`;
  if (r.status !== 0) return `${PYTHON} has no torch (${(r.stderr || '').trim().split('\n').at(-1)}); install Debian's python3-torch`;
  return null;
}

/** model.onnx beside the safetensors, exported when missing or older; {file} or {skip: reason}. */
export function ensureBertOnnx(dir) {
  const file = path.join(dir, 'model.onnx');
  const weights = path.join(dir, 'model.safetensors');
  if (existsSync(file) && statSync(file).mtimeMs >= statSync(weights).mtimeMs) return { file };
  const why = torchUnavailable();
  if (why) return { skip: why };
  log(`bench: exporting the BERT weights to ONNX with PyTorch (${path.relative(repoRoot, EXPORT_SCRIPT)}, once)`);
  const t0 = performance.now();
  const r = spawnSync(PYTHON, [EXPORT_SCRIPT, dir, file], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  if (r.status !== 0) return { skip: `the ONNX export failed (exit ${r.status}): ${(r.stderr || '').trim().split('\n').slice(-3).join(' | ')}` };
  log(`bench:   model.onnx: ${(statSync(file).size / 1e6).toFixed(1)} MB in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  return { file };
}
