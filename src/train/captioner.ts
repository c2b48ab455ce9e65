// Captioner training on generated scenes (scenes.ts): a VisionEncoderDecoderModel (ViT encoder,
// GPT-2 decoder with cross-attention) learns to write a scene's caption from its image with
// teacher-forced cross-entropy. Each caption is tokenized as <|startoftext|> text <|endoftext|>;
// the decoder reads every token but the last and is scored on every token but the first (the
// next token at each position), padding ignored — the loss transformers computes when it shifts
// labels into decoder inputs.
//
// `trainCaptioner` (and `strata train-captioner`) train one from scratch, or with the vision
// encoder started from a CLIP's vision tower (`initEncoder`, e.g. zoo/clip-scenes: see
// clipVisionToViT), and save RUN as a Hugging Face directory: config.json, model.safetensors,
// generation_config.json, tokenizer.json (CLIP's caption BPE, trained on the training captions),
// tokenizer_config.json, preprocessor_config.json.
//
// Evaluation decodes greedily and compares with the reference captions: exact match and corpus
// BLEU-4 (bleu.ts) on scenes of seen combinations and of held-out ones (the first object is a
// colour+shape never seen in training), from seeds training does not use. A two-object scene has
// two correct captions, "A left of B" and "B right of A" (the generator draws which object comes
// first at random, and nothing in the image tells them apart), so both are references.
//
// Shapes: B batch, T caption tokens (without the last), V vocab.

import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { StrataError } from '../errors.js';
import { writeFileAtomic } from '../io/atomic.js';
import { type ImageProcessorConfig, PREPROCESSOR_CONFIG_FILE, imageProcessorConfigToJson, preprocessImages } from '../io/preprocessor.js';
import { CLIPModel } from '../models/clip/index.js';
import { loadModel, saveModel } from '../models/load.js';
import { createModel, parseModelConfig } from '../models/registry.js';
import type { VisionEncoderDecoderConfig, VisionEncoderDecoderModel } from '../models/vision-encoder-decoder.js';
import { captionIds } from '../pipelines/caption.js';
import { fromArray } from '../tensor/ops/creation.js';
import { noGrad } from '../tensor/grad-mode.js';
import { crossEntropy } from '../tensor/ops/loss.js';
import { Generator } from '../tensor/random.js';
import type { Tensor } from '../tensor/tensor.js';
import { saveTrainedTokenizer } from '../tokenizers/bpe-trainer.js';
import { hfTokenizerFromJson } from '../tokenizers/hf.js';
import type { Tokenizer } from '../tokenizers/tokenizer.js';
import { corpusBleu, exactMatch } from './bleu.js';
import { parseHoldOut, sceneImageProcessor, trainCaptionTokenizer } from './clip.js';
import { BatchSampler } from './data.js';
import { type Scene, type SceneDataset, type SceneRelation, sceneCaption, sceneDataset } from './scenes.js';
import { TRAIN_CONFIG_FILE, startRunConfig } from './run-config.js';
import { Trainer, type TrainerCallbacks, type TrainResult, type TrainingTask } from './trainer.js';
import { markWritten } from '../tensor/version.js';

/** Decoder inputs (B, T) and next-token targets (B, T) of tokenized captions, right-padded. */
export interface CaptionBatch {
  /** (B, T) i32: <|startoftext|> and the caption, padded with padId */
  inputs: Tensor;
  /** (B, T) i32: the caption and <|endoftext|>, -100 on padding */
  labels: Tensor;
  /** target tokens (not padding) */
  tokens: number;
}

/** Teacher forcing: each caption's ids (start ... eos) split into decoder inputs and targets. */
export function captionBatch(tokenizer: Tokenizer, captions: readonly string[], maxPositions: number, padId: number): CaptionBatch {
  const op = 'captionBatch';
  if (captions.length === 0) throw new StrataError('argument', op, 'needs at least one caption');
  const ids = captions.map((c) => tokenizer.encode(c));
  for (const [i, row] of ids.entries()) {
    if (row.length < 2) throw new StrataError('argument', op, `caption ${i} tokenizes to ${row.length} token(s); the tokenizer must add a start and an end token`);
    if (row.length - 1 > maxPositions) throw new StrataError('argument', op, `caption ${i} needs ${row.length - 1} decoder positions but the decoder has ${maxPositions}: ${JSON.stringify(captions[i]!.slice(0, 60))}`);
  }
  const T = Math.max(...ids.map((r) => r.length - 1));
  const inputs = new Int32Array(ids.length * T).fill(padId);
  const labels = new Int32Array(ids.length * T).fill(-100);
  let tokens = 0;
  ids.forEach((row, b) => {
    inputs.set(row.slice(0, -1), b * T);
    labels.set(row.slice(1), b * T);
    tokens += row.length - 1;
  });
  return { inputs: fromArray(inputs, [ids.length, T], { dtype: 'i32' }), labels: fromArray(labels, [ids.length, T], { dtype: 'i32' }), tokens };
}

const CONVERSE: Readonly<Record<SceneRelation, SceneRelation>> = { 'left of': 'right of', 'right of': 'left of', above: 'below', below: 'above' };

/** Every correct caption of a scene: its own, and for two objects the converse ("B right of A"). */
export function sceneReferences(scene: Pick<Scene, 'objects' | 'relation' | 'caption'>): string[] {
  const [a, b] = scene.objects;
  if (!a || !b || !scene.relation) return [scene.caption];
  return [scene.caption, sceneCaption({ objects: [b, a], relation: CONVERSE[scene.relation] })];
}

export interface CaptionMetrics {
  exactMatch: number;
  bleu4: number;
  count: number;
  /** exact match against the scene's own caption alone (two-object scenes: at best about half) */
  exactMatchSingle: number;
  /** a few (reference, generated) pairs, for the card and logs */
  examples: { reference: string; generated: string }[];
}

/** Greedy captions of scenes, scored against their captions (batches of `batch` images). */
export function evaluateCaptions(model: VisionEncoderDecoderModel, tokenizer: Tokenizer, processor: ImageProcessorConfig, scenes: Iterable<Scene>, options: { batch?: number; maxTokens?: number } = {}): CaptionMetrics {
  const list = [...scenes];
  const batch = options.batch ?? 32;
  const generated: string[] = [];
  for (let i = 0; i < list.length; i += batch) {
    const chunk = list.slice(i, i + batch);
    const pixels = preprocessImages(chunk.map((s) => s.image), processor); // (B, 3, H, W)
    for (const r of captionIds(model, pixels, { maxTokens: options.maxTokens })) generated.push(tokenizer.decode(r.tokens, { skipSpecialTokens: true }).trim());
  }
  const references = list.map(sceneReferences);
  return {
    exactMatch: exactMatch(generated, references),
    exactMatchSingle: exactMatch(generated, list.map((s) => s.caption)),
    bleu4: corpusBleu(generated, references).bleu,
    count: list.length,
    examples: list.slice(0, 4).map((s, i) => ({ reference: s.caption, generated: generated[i]! })),
  };
}

export interface CaptionerEvalSets {
  /** scenes for the validation loss */
  val?: SceneDataset;
  /** seen-combination scenes for exact match / BLEU-4 */
  seen?: SceneDataset;
  /** held-out-combination scenes for exact match / BLEU-4 */
  heldOut?: SceneDataset;
}

interface CaptionerTaskState {
  sampler: { epoch: number; index: number };
}

/** Teacher-forced cross-entropy on scene captions; `tokens` counts target tokens. */
export class CaptionerTask implements TrainingTask {
  private readonly sampler: BatchSampler;
  private readonly padId: number;

  constructor(
    readonly model: VisionEncoderDecoderModel,
    readonly tokenizer: Tokenizer,
    readonly processor: ImageProcessorConfig,
    readonly train: SceneDataset,
    readonly options: { batchSize: number; seed: number; evalBatches?: number },
    readonly evalSets: CaptionerEvalSets = {},
  ) {
    if (!Number.isSafeInteger(options.batchSize) || options.batchSize < 1) throw new StrataError('argument', 'CaptionerTask', `batchSize must be an integer >= 1, got ${options.batchSize}`);
    this.sampler = new BatchSampler(train.count, options.batchSize, options.seed);
    this.padId = model.config.pad_token_id ?? model.config.eos_token_id ?? 0;
  }

  /** Mean cross-entropy of the next caption token over scenes' captions. */
  lossOf(scenes: readonly Scene[]): { loss: Tensor; tokens: number } {
    const pixels = preprocessImages(scenes.map((s) => s.image), this.processor); // (B, 3, H, W)
    const batch = captionBatch(this.tokenizer, scenes.map((s) => s.caption), this.model.maxPositions, this.padId);
    const logits = this.model.forward(pixels, batch.inputs).logits; // (B, T, V)
    return { loss: crossEntropy(logits, batch.labels), tokens: batch.tokens };
  }

  nextBatch(): { loss: Tensor; tokens: number } {
    return this.lossOf(this.sampler.next().map((i) => this.train.get(i)));
  }

  evaluate(): Record<string, number> {
    return noGrad(() => {
      const out: Record<string, number> = {};
      const { val, seen, heldOut } = this.evalSets;
      if (val) {
        const B = this.options.batchSize;
        let sum = 0;
        let n = 0;
        for (let start = 0; start < val.count && n < (this.options.evalBatches ?? 4); start += B, n++) {
          const scenes = Array.from({ length: Math.min(B, val.count - start) }, (_, k) => val.get(start + k));
          sum += this.lossOf(scenes).loss.item();
        }
        out['val_loss'] = sum / n;
      }
      for (const [name, set] of [['seen', seen], ['heldout', heldOut]] as const) {
        if (!set) continue;
        const m = evaluateCaptions(this.model, this.tokenizer, this.processor, set);
        out[`val_exact_${name}`] = m.exactMatch;
        out[`val_bleu4_${name}`] = m.bleu4;
      }
      return out;
    });
  }

  state(): CaptionerTaskState {
    return { sampler: this.sampler.state };
  }

  restore(state: unknown): void {
    const s = state as CaptionerTaskState | null;
    if (!s || typeof s !== 'object' || !s.sampler) throw new StrataError('io', 'CaptionerTask', 'the checkpoint holds no data position for this task');
    this.sampler.restore(s.sampler);
  }
}

// ---- CLIP vision tower -> ViT encoder ---------------------------------------------------------

/**
 * Copies a CLIP vision tower's weights into a captioner's ViT encoder of the same shape. The
 * layers map one to one (self_attn.{q,k,v}_proj -> attention.attention.{query,key,value},
 * out_proj -> attention.output.dense, layer_norm1/2 -> layernorm_before/after, mlp.fc1/fc2 ->
 * intermediate.dense / output.dense); class_embedding -> cls_token, position_embedding ->
 * position_embeddings, the bias-free patch convolution -> projection with a zero bias, and
 * post_layernorm -> the final layernorm. ViT has no place for CLIP's pre_layrnorm on the
 * embeddings, so that one is left out: the encoder starts close to the tower, not equal to it,
 * and fine-tuning closes the gap. Returns how many tensors were copied.
 */
export function clipVisionToViT(clip: CLIPModel, model: VisionEncoderDecoderModel): number {
  const op = 'clipVisionToViT';
  const src = new Map(clip.namedParameters());
  const dst = new Map(model.namedParameters());
  const v = clip.config.vision_config;
  const e = model.config.encoder;
  const [ps] = typeof e.patch_size === 'number' ? [e.patch_size] : e.patch_size;
  if (v.hidden_size !== e.hidden_size || v.num_hidden_layers !== e.num_hidden_layers || v.intermediate_size !== e.intermediate_size || v.image_size !== e.image_size || v.patch_size !== ps) {
    throw new StrataError('argument', op, `the CLIP vision tower (hidden ${v.hidden_size}, ${v.num_hidden_layers} layers, FFN ${v.intermediate_size}, image ${v.image_size}, patch ${v.patch_size}) does not match the encoder (hidden ${e.hidden_size}, ${e.num_hidden_layers} layers, FFN ${e.intermediate_size}, image ${String(e.image_size)}, patch ${String(e.patch_size)})`);
  }
  const pairs: [string, string][] = [
    ['vision_model.embeddings.class_embedding', 'encoder.embeddings.cls_token'],
    ['vision_model.embeddings.patch_embedding.weight', 'encoder.embeddings.patch_embeddings.projection.weight'],
    ['vision_model.embeddings.position_embedding.weight', 'encoder.embeddings.position_embeddings'],
    ['vision_model.post_layernorm.weight', 'encoder.layernorm.weight'],
    ['vision_model.post_layernorm.bias', 'encoder.layernorm.bias'],
  ];
  const layer: [string, string][] = [
    ['self_attn.q_proj', 'attention.attention.query'],
    ['self_attn.k_proj', 'attention.attention.key'],
    ['self_attn.v_proj', 'attention.attention.value'],
    ['self_attn.out_proj', 'attention.output.dense'],
    ['layer_norm1', 'layernorm_before'],
    ['layer_norm2', 'layernorm_after'],
    ['mlp.fc1', 'intermediate.dense'],
    ['mlp.fc2', 'output.dense'],
  ];
  for (let i = 0; i < v.num_hidden_layers; i++) {
    for (const [a, b] of layer) for (const p of ['weight', 'bias']) pairs.push([`vision_model.encoder.layers.${i}.${a}.${p}`, `encoder.encoder.layer.${i}.${b}.${p}`]);
  }
  for (const [from, to] of pairs) {
    const s = src.get(from);
    const d = dst.get(to);
    if (!s || !d) throw new StrataError('argument', op, `no ${s ? `'${to}' in the captioner` : `'${from}' in the CLIP model`}`);
    const values = s.toFloat32Array();
    if (values.length !== d.size) throw new StrataError('shape', op, `'${from}' has ${values.length} values but '${to}' holds ${d.size}`);
    (d.data as Float32Array).set(values, d.offset);
    markWritten(d.data);
  }
  const bias = dst.get('encoder.embeddings.patch_embeddings.projection.bias')!;
  (bias.data as Float32Array).fill(0, bias.offset, bias.offset + bias.size);
  markWritten(bias.data);
  return pairs.length + 1;
}

// ---- trainCaptioner ----------------------------------------------------------------------------

/** Everything `strata train-captioner` takes; saved as RUN/train_config.json. */
export interface TrainCaptionerConfig {
  out: string;
  imageSize: number;
  patchSize: number;
  /** encoder (ViT) width, layers, heads */
  encoderDim: number;
  encoderLayers: number;
  encoderHeads: number;
  /** decoder (GPT-2) width, layers, heads */
  decoderDim: number;
  decoderLayers: number;
  decoderHeads: number;
  /** the decoder's position table (longest caption + its start token) */
  textContext: number;
  vocabSize: number;
  trainScenes: number;
  twoObjects: number;
  /** held-out colour+shape combinations, comma-separated; "" for none */
  holdOut: string;
  /** scenes per periodic exact-match / BLEU evaluation (seen and held-out each) */
  evalScenes: number;
  /** a CLIP directory whose vision tower starts the encoder ("" = from scratch) */
  initEncoder: string;
  steps: number;
  batchSize: number;
  lr: number;
  warmupSteps?: number;
  weightDecay: number;
  seed: number;
  checkpointEvery: number;
  evalEvery: number;
}

export const TRAIN_CAPTIONER_DEFAULTS = {
  imageSize: 64,
  patchSize: 8,
  encoderDim: 128,
  encoderLayers: 4,
  encoderHeads: 4,
  decoderDim: 128,
  decoderLayers: 2,
  decoderHeads: 4,
  textContext: 24,
  vocabSize: 1024,
  trainScenes: 200_000,
  twoObjects: 0.5,
  holdOut: 'purple triangle,orange square',
  evalScenes: 64,
  initEncoder: '',
  steps: 2000,
  batchSize: 32,
  lr: 1e-3,
  weightDecay: 0.05,
  seed: 0,
  checkpointEvery: 200,
  evalEvery: 200,
} as const satisfies Omit<TrainCaptionerConfig, 'out'>;

export const CAPTIONER_TRAIN_CONFIG_FILE = TRAIN_CONFIG_FILE;

function check(cond: boolean, message: string): void {
  if (!cond) throw new StrataError('argument', 'train-captioner', message);
}

export function validateTrainCaptionerConfig(c: TrainCaptionerConfig): TrainCaptionerConfig {
  check(typeof c.out === 'string' && c.out.length > 0, 'out must be a folder path');
  for (const k of ['imageSize', 'patchSize', 'encoderDim', 'encoderLayers', 'encoderHeads', 'decoderDim', 'decoderLayers', 'decoderHeads', 'textContext', 'vocabSize', 'trainScenes', 'evalScenes', 'steps', 'batchSize'] as const) {
    check(Number.isSafeInteger(c[k]) && c[k] >= 1, `${k} must be an integer >= 1, got ${c[k]}`);
  }
  check(c.imageSize >= 16, `imageSize must be at least 16, got ${c.imageSize}`);
  check(c.imageSize % c.patchSize === 0, `patchSize (${c.patchSize}) must divide imageSize (${c.imageSize})`);
  check(c.encoderDim % c.encoderHeads === 0, `encoderHeads (${c.encoderHeads}) must divide encoderDim (${c.encoderDim})`);
  check(c.decoderDim % c.decoderHeads === 0, `decoderHeads (${c.decoderHeads}) must divide decoderDim (${c.decoderDim})`);
  check(c.textContext >= 16, `textContext must be at least 16 (the longest caption and its start token), got ${c.textContext}`);
  check(c.batchSize <= c.trainScenes, `batchSize (${c.batchSize}) exceeds trainScenes (${c.trainScenes})`);
  check(c.twoObjects >= 0 && c.twoObjects <= 1, `twoObjects must be in [0, 1], got ${c.twoObjects}`);
  check(c.lr > 0 && Number.isFinite(c.lr), `lr must be > 0, got ${c.lr}`);
  check(c.weightDecay >= 0, `weightDecay must be >= 0, got ${c.weightDecay}`);
  check(Number.isSafeInteger(c.seed) && c.seed >= 0, `seed must be an integer >= 0, got ${c.seed}`);
  check(Number.isInteger(c.checkpointEvery) && c.checkpointEvery >= 0, `checkpointEvery must be an integer >= 0, got ${c.checkpointEvery}`);
  check(Number.isInteger(c.evalEvery) && c.evalEvery >= 0, `evalEvery must be an integer >= 0, got ${c.evalEvery}`);
  check(typeof c.initEncoder === 'string', 'initEncoder must be a CLIP directory or ""');
  if (c.initEncoder) check(fs.existsSync(path.join(c.initEncoder, 'config.json')), `initEncoder: ${c.initEncoder} has no config.json (expected a CLIP model directory such as zoo/clip-scenes)`);
  parseHoldOut(c.holdOut);
  return c;
}

/**
 * config.json of a fresh captioner. With initEncoder the encoder takes the CLIP tower's
 * activation and LayerNorm epsilon so its copied weights compute what they were trained to.
 */
export function captionerModelConfig(c: TrainCaptionerConfig, tokenizer: Tokenizer, clip: CLIPModel | null = null): VisionEncoderDecoderConfig {
  const bos = tokenizer.special.bos;
  const eos = tokenizer.special.eos;
  check(bos !== undefined && eos !== undefined, 'the caption tokenizer needs start and end tokens');
  const raw = {
    model_type: 'vision-encoder-decoder',
    architectures: ['VisionEncoderDecoderModel'],
    decoder_start_token_id: bos,
    pad_token_id: tokenizer.special.pad ?? eos,
    eos_token_id: eos,
    encoder: {
      model_type: 'vit',
      hidden_size: c.encoderDim,
      num_hidden_layers: c.encoderLayers,
      num_attention_heads: c.encoderHeads,
      intermediate_size: 4 * c.encoderDim,
      image_size: c.imageSize,
      patch_size: c.patchSize,
      hidden_act: clip ? clip.config.vision_config.hidden_act : 'gelu',
      layer_norm_eps: clip ? clip.config.vision_config.layer_norm_eps : 1e-12,
    },
    decoder: {
      model_type: 'gpt2',
      vocab_size: tokenizer.vocabSize,
      n_positions: c.textContext,
      n_embd: c.decoderDim,
      n_layer: c.decoderLayers,
      n_head: c.decoderHeads,
      add_cross_attention: true,
      is_decoder: true,
      bos_token_id: bos,
      eos_token_id: eos,
    },
  };
  return parseModelConfig(raw, 'train-captioner').config as VisionEncoderDecoderConfig;
}

/** The scenes a run trains and evaluates on, all from its seed (evaluation seeds never train). */
export function captionerRunScenes(c: TrainCaptionerConfig): CaptionerEvalSets & { train: SceneDataset; val: SceneDataset; seen: SceneDataset } {
  const holdOut = parseHoldOut(c.holdOut);
  const common = { imageSize: c.imageSize, holdOut, twoObjects: c.twoObjects };
  return {
    train: sceneDataset({ ...common, count: c.trainScenes, seed: c.seed }),
    val: sceneDataset({ ...common, count: 4 * c.batchSize, seed: c.seed + 1_000_001 }),
    seen: sceneDataset({ ...common, count: c.evalScenes, seed: c.seed + 2_000_003 }),
    ...(holdOut.length ? { heldOut: sceneDataset({ ...common, count: c.evalScenes, seed: c.seed + 3_000_007, combos: 'held-out' }) } : {}),
  };
}

export interface TrainCaptionerResult extends TrainResult {
  out: string;
  config: VisionEncoderDecoderConfig;
  parameters: number;
  /** tensors copied from the CLIP tower (0 from scratch) */
  initializedFromClip: number;
}

/** Trains a captioner on scenes (or resumes a run) and saves it as a Hugging Face directory in `out`. */
export async function trainCaptioner(given: TrainCaptionerConfig, options: { resume?: boolean } & TrainerCallbacks & { onLog?(message: string): void } = {}): Promise<TrainCaptionerResult> {
  const resume = options.resume ?? false;
  const c = startRunConfig(given, resume, validateTrainCaptionerConfig);
  const scenes = captionerRunScenes(c);

  const captionSample = Math.min(c.trainScenes, 1000);
  options.onLog?.(`training a caption tokenizer on ${captionSample} captions`);
  const trained = trainCaptionTokenizer(
    (function* () {
      for (let i = 0; i < captionSample; i++) yield scenes.train.get(i).caption;
    })(),
    { vocabSize: c.vocabSize, maxLength: c.textContext },
  );
  saveTrainedTokenizer(c.out, trained);
  const tokenizer = hfTokenizerFromJson({ tokenizer: trained.tokenizerJson, config: trained.tokenizerConfig, source: c.out });
  const processor = sceneImageProcessor(c.imageSize);
  writeFileAtomic(path.join(c.out, PREPROCESSOR_CONFIG_FILE), [Buffer.from(`${JSON.stringify(imageProcessorConfigToJson(processor), null, 2)}\n`)]);

  let clip: CLIPModel | null = null;
  if (c.initEncoder) {
    const loaded = await loadModel(c.initEncoder);
    if (!(loaded.model instanceof CLIPModel)) throw new StrataError('argument', 'train-captioner', `initEncoder: ${c.initEncoder} is a ${loaded.architecture}, not a CLIP model`);
    clip = loaded.model;
  }
  const config = captionerModelConfig(c, tokenizer, clip);
  const model = createModel(config, { generator: new Generator(c.seed) }) as VisionEncoderDecoderModel;
  // a resumed run reads every weight from its checkpoint, so the copy only matters for a fresh start
  const initializedFromClip = clip ? clipVisionToViT(clip, model) : 0;
  model.train();
  options.onLog?.(`captioner: ${model.numParameters().toLocaleString('en-US')} parameters, vocabulary ${tokenizer.vocabSize}, images ${c.imageSize}x${c.imageSize}${clip ? `, encoder from ${c.initEncoder}` : ''}`);
  const task = new CaptionerTask(model, tokenizer, processor, scenes.train, { batchSize: c.batchSize, seed: c.seed }, scenes);
  const { out: _out, steps: _steps, checkpointEvery: _ce, evalEvery: _ee, ...settings } = c;
  const trainer = new Trainer(
    model,
    task,
    {
      steps: c.steps, lr: c.lr, warmupSteps: c.warmupSteps, weightDecay: c.weightDecay, seed: c.seed, checkpointEvery: c.checkpointEvery,
      evalEvery: c.evalEvery, runDir: c.out, resume, configDigest: createHash('sha256').update(JSON.stringify({ settings, config })).digest('hex').slice(0, 16),
    },
    options,
  );
  const result = trainer.run();
  const final = result.eval ?? trainer.evaluate();
  model.eval();
  const generation = { decoder_start_token_id: config.decoder_start_token_id, bos_token_id: config.decoder_start_token_id, eos_token_id: config.eos_token_id, pad_token_id: config.pad_token_id, max_new_tokens: c.textContext - 1, do_sample: false };
  saveModel(c.out, model, config, { generationConfig: generation });
  options.onLog?.(`saved the model to ${c.out}`);
  return { ...result, eval: final, out: c.out, config, parameters: model.numParameters(), initializedFromClip };
}
