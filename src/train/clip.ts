// CLIP contrastive training on generated scenes (scenes.ts): the foundation paradigm across two
// modalities. A batch of B images and their B captions goes through both towers; the image–text
// logits (B, B) are scored with the symmetric InfoNCE loss CLIP trains with: cross-entropy of each
// image against the captions (the matching one is the target) and of each caption against the
// images, averaged.
//
// Temperature. logit_scale (log of the inverse temperature) is a learned parameter, started at
// log(1 / 0.07), and kept in [0, ln 100] as CLIP does. It is clamped in place, not in the forward
// pass: the task clamps it before every forward (that is, right after each optimizer step, as
// OpenCLIP clamps after its step) and trainClip clamps it once more before saving, so the model
// that is evaluated and saved is exactly the one inference runs (CLIPModel.similarity reads the
// parameter as it is). Note that the trainer's AdamW decays every parameter, logit_scale included.
//
// `trainClip` (and `strata train-clip`) train a small CLIP from scratch: a byte-level BPE tokenizer
// trained on the training captions (CLIP's <|startoftext|> / <|endoftext|> around each text, lower-
// cased, a space put before the text so that a label's first word is the token it is mid-caption),
// the model built by createModel from a typed config, the Trainer's loop (checkpoints,
// metrics.jsonl, exact resume), and RUN saved as a Hugging Face directory: config.json,
// model.safetensors, tokenizer.json, tokenizer_config.json, preprocessor_config.json.
//
// Evaluation: zero-shot classification of single-object scenes among all 18 colour+shape labels
// ("a red circle", ...), on seen combinations and on the held-out ones, plus the contrastive loss
// on validation batches. Scenes for evaluation come from seeds the training data does not use.
//
// Shapes: B batch, T tokens, E embedding.

import { createHash } from 'node:crypto';
import path from 'node:path';
import { StrataError } from '../errors.js';
import { writeFileAtomic } from '../io/atomic.js';
import { type ImageProcessorConfig, PREPROCESSOR_CONFIG_FILE, imageProcessorConfig, imageProcessorConfigToJson, preprocessImages } from '../io/preprocessor.js';
import type { CLIPConfig, CLIPModel } from '../models/clip/index.js';
import { saveModel } from '../models/load.js';
import { createModel, parseModelConfig } from '../models/registry.js';
import { zeroShotClassifyMany, tokenizeForClip } from '../pipelines/zero-shot-image.js';
import { fromArray } from '../tensor/ops/creation.js';
import { noGrad } from '../tensor/grad-mode.js';
import { crossEntropy } from '../tensor/ops/loss.js';
import { Generator } from '../tensor/random.js';
import type { Tensor } from '../tensor/tensor.js';
import { type TrainedTokenizer, saveTrainedTokenizer, trainByteLevelBpe } from '../tokenizers/bpe-trainer.js';
import { hfTokenizerFromJson } from '../tokenizers/hf.js';
import type { Tokenizer } from '../tokenizers/tokenizer.js';
import { BatchSampler } from './data.js';
import { type Scene, type SceneCombo, type SceneDataset, SCENE_COMBOS, comboLabel, sceneCaption, sceneDataset } from './scenes.js';
import { TRAIN_CONFIG_FILE, startRunConfig } from './run-config.js';
import { Trainer, type TrainerCallbacks, type TrainResult, type TrainingTask } from './trainer.js';
import { markWritten } from '../tensor/version.js';

/** CLIP's bound on logit_scale: the inverse temperature never exceeds 100. */
export const MAX_LOGIT_SCALE = Math.log(100);

export const CLIP_BOS = '<|startoftext|>';
export const CLIP_EOS = '<|endoftext|>';

/**
 * Symmetric InfoNCE of logits (B, B) whose diagonal holds the matching pairs:
 * (CE(logits_per_image, arange B) + CE(logits_per_text, arange B)) / 2.
 */
export function clipContrastiveLoss(logitsPerImage: Tensor): Tensor {
  const [B, C] = logitsPerImage.shape as [number, number];
  if (logitsPerImage.ndim !== 2 || B !== C || B < 1) throw new StrataError('shape', 'clipContrastiveLoss', `logits must be (B, B) with image i matching text i, got (${logitsPerImage.shape.join(', ')})`);
  const targets = fromArray(Int32Array.from({ length: B }, (_, i) => i), [B], { dtype: 'i32' });
  const perImage = crossEntropy(logitsPerImage, targets); // image -> its caption
  const perText = crossEntropy(logitsPerImage.transpose(0, 1), targets); // caption -> its image
  return perImage.add(perText).div(2);
}

/** Clamps logit_scale in place to [0, ln 100]. */
export function clampLogitScale(model: CLIPModel): void {
  const p = model.logitScale;
  const data = p.data as Float32Array;
  const v = data[p.offset]!;
  if (v > MAX_LOGIT_SCALE) data[p.offset] = MAX_LOGIT_SCALE;
  else if (v < 0) data[p.offset] = 0;
  markWritten(data);
}

/**
 * A byte-level BPE tokenizer for captions, CLIP-style: <|startoftext|> text <|endoftext|> (ids 0
 * and 1; the text tower pools at the eos), lowercased, a space put before the text, and the eos
 * doubling as pad and unk. Trained on the given captions.
 */
export function trainCaptionTokenizer(captions: Iterable<string>, options: { vocabSize?: number; maxLength: number }): TrainedTokenizer {
  const texts = (function* () {
    for (const c of captions) yield ` ${c.toLowerCase()}`;
  })();
  const trained = trainByteLevelBpe(texts, { vocabSize: options.vocabSize ?? 1024, specialTokens: [CLIP_BOS, CLIP_EOS], chatTemplate: null, modelMaxLength: options.maxLength });
  const json = trained.tokenizerJson as Record<string, unknown> & { pre_tokenizer: Record<string, unknown> };
  const special = (id: string) => ({ SpecialToken: { id, type_id: 0 } });
  const tokenizerJson = {
    ...json,
    normalizer: { type: 'Lowercase' },
    pre_tokenizer: { ...json.pre_tokenizer, add_prefix_space: true },
    post_processor: {
      type: 'TemplateProcessing',
      single: [special(CLIP_BOS), { Sequence: { id: 'A', type_id: 0 } }, special(CLIP_EOS)],
      pair: [special(CLIP_BOS), { Sequence: { id: 'A', type_id: 0 } }, special(CLIP_EOS), { Sequence: { id: 'B', type_id: 0 } }, special(CLIP_EOS)],
      special_tokens: { [CLIP_BOS]: { id: CLIP_BOS, ids: [0], tokens: [CLIP_BOS] }, [CLIP_EOS]: { id: CLIP_EOS, ids: [1], tokens: [CLIP_EOS] } },
    },
  };
  const tokenizerConfig = { ...(trained.tokenizerConfig as Record<string, unknown>), bos_token: CLIP_BOS, eos_token: CLIP_EOS, pad_token: CLIP_EOS, unk_token: CLIP_EOS, additional_special_tokens: [], do_lower_case: true };
  return { tokenizerJson, tokenizerConfig };
}

/** The image processor of a model trained here: CLIP's, at the model's image size. */
export function sceneImageProcessor(imageSize: number): ImageProcessorConfig {
  return imageProcessorConfig('clip', { size: { shortestEdge: imageSize, longestEdge: null }, cropSize: { height: imageSize, width: imageSize } });
}

/** A seeded generator for one (seed, counter): caption variants a resumed run repeats exactly. */
function batchGenerator(seed: number, counter: number): Generator {
  return new Generator((seed * 1_000_003 + counter * 104_729 + 17) % 2 ** 32);
}

export interface ZeroShotAccuracy {
  accuracy: number;
  correct: number;
  count: number;
}

/**
 * Zero-shot accuracy on scenes: each image classified among every colour+shape label (the
 * template filled in, default "a {colour} {shape}"); right when the best label names the colour
 * and shape of the scene's first object.
 */
export function sceneZeroShotAccuracy(
  clip: CLIPModel,
  tokenizer: Tokenizer,
  processor: ImageProcessorConfig,
  scenes: Iterable<Scene>,
  options: { template?: string; candidates?: readonly SceneCombo[] } = {},
): ZeroShotAccuracy {
  const candidates = options.candidates ?? SCENE_COMBOS;
  const labels = candidates.map((c) => comboLabel(c, options.template));
  const list = [...scenes];
  if (!list.length) return { accuracy: 0, correct: 0, count: 0 };
  const results = zeroShotClassifyMany(clip, tokenizer, processor, list.map((s) => s.image), labels);
  let correct = 0;
  results.forEach((r, i) => {
    const o = list[i]!.objects[0]!;
    if (r.labels[0] === labels[candidates.indexOf(`${o.colour} ${o.shape}`)]) correct++;
  });
  return { accuracy: correct / list.length, correct, count: list.length };
}

export interface ClipTaskOptions {
  batchSize: number;
  seed: number;
  /** share of training captions written without sizes ("a red circle ..."), in [0, 1] (default 0.25) */
  dropSizes?: number;
  /** validation batches per evaluation (default 4) */
  evalBatches?: number;
}

/** Scenes the task evaluates on; every one optional. */
export interface ClipEvalSets {
  /** mixed scenes for the validation contrastive loss */
  val?: SceneDataset;
  /** single-object scenes of seen combinations (zero-shot accuracy) */
  seen?: SceneDataset;
  /** single-object scenes of held-out combinations (zero-shot accuracy) */
  heldOut?: SceneDataset;
}

interface ClipTaskState {
  sampler: { epoch: number; index: number };
  batches: number;
}

/**
 * CLIP contrastive training on scenes: each micro-batch is B scenes, their images preprocessed to
 * the model's size and their captions tokenized; the loss is the symmetric InfoNCE of the
 * batch's logits. Duplicate captions within a batch are left as CLIP leaves them (they only
 * raise the loss's floor). `tokens` counts image–caption pairs.
 */
export class ClipContrastiveTask implements TrainingTask {
  private readonly sampler: BatchSampler;
  private batches = 0;
  private readonly dropSizes: number;

  constructor(
    readonly model: CLIPModel,
    readonly tokenizer: Tokenizer,
    readonly processor: ImageProcessorConfig,
    readonly train: SceneDataset,
    readonly options: ClipTaskOptions,
    readonly evalSets: ClipEvalSets = {},
  ) {
    if (!Number.isSafeInteger(options.batchSize) || options.batchSize < 2) throw new StrataError('argument', 'ClipContrastiveTask', `batchSize must be an integer >= 2 (a contrastive batch needs negatives), got ${options.batchSize}`);
    this.dropSizes = options.dropSizes ?? 0.25;
    if (!(this.dropSizes >= 0 && this.dropSizes <= 1)) throw new StrataError('argument', 'ClipContrastiveTask', `dropSizes must be in [0, 1], got ${this.dropSizes}`);
    this.sampler = new BatchSampler(train.count, options.batchSize, options.seed);
  }

  /** The loss of scenes with the given captions. */
  lossOf(scenes: readonly Scene[], captions: readonly string[]): Tensor {
    clampLogitScale(this.model);
    const pixelValues = preprocessImages(scenes.map((s) => s.image), this.processor); // (B, 3, H, W)
    const text = tokenizeForClip(this.tokenizer, captions, this.model.maxPositions);
    const out = this.model.forward({ pixelValues, inputIds: text.ids, attentionMask: text.attentionMask });
    return clipContrastiveLoss(out.logitsPerImage); // ()
  }

  nextBatch(): { loss: Tensor; tokens: number } {
    const scenes = this.sampler.next().map((i) => this.train.get(i));
    const g = batchGenerator(this.options.seed, this.batches++);
    const captions = scenes.map((s) => (this.dropSizes > 0 && g.uniform() < this.dropSizes ? sceneCaption(s, { size: false }) : s.caption));
    return { loss: this.lossOf(scenes, captions), tokens: scenes.length };
  }

  /** Validation loss, zero-shot accuracies and the current logit_scale, without gradients. */
  evaluate(): Record<string, number> {
    return noGrad(() => this.evaluateScenes());
  }

  private evaluateScenes(): Record<string, number> {
    clampLogitScale(this.model);
    const out: Record<string, number> = {};
    const { val, seen, heldOut } = this.evalSets;
    if (val) {
      const B = this.options.batchSize;
      let sum = 0;
      let n = 0;
      for (let start = 0; start + B <= val.count && n < (this.options.evalBatches ?? 4); start += B, n++) {
        const scenes = Array.from({ length: B }, (_, k) => val.get(start + k));
        sum += this.lossOf(scenes, scenes.map((s) => s.caption)).item();
      }
      if (n) out['val_loss'] = sum / n;
    }
    if (seen) out['val_zeroshot_seen'] = sceneZeroShotAccuracy(this.model, this.tokenizer, this.processor, seen).accuracy;
    if (heldOut) out['val_zeroshot_heldout'] = sceneZeroShotAccuracy(this.model, this.tokenizer, this.processor, heldOut).accuracy;
    out['logit_scale'] = this.model.logitScale.item();
    return out;
  }

  state(): ClipTaskState {
    return { sampler: this.sampler.state, batches: this.batches };
  }

  restore(state: unknown): void {
    const s = state as ClipTaskState | null;
    if (!s || typeof s !== 'object' || !s.sampler || !Number.isInteger(s.batches)) throw new StrataError('io', 'ClipContrastiveTask', 'the checkpoint holds no data position for this task');
    this.sampler.restore(s.sampler);
    this.batches = s.batches;
  }
}

// ---- trainClip: a small CLIP from scratch on scenes ---------------------------------------------

/** Everything `strata train-clip` takes; saved as RUN/train_config.json. */
export interface TrainClipConfig {
  out: string;
  /** image side in pixels (scenes are drawn at this size) */
  imageSize: number;
  patchSize: number;
  /** hidden size of both towers */
  dim: number;
  /** encoder layers of each tower */
  layers: number;
  heads: number;
  /** size of the shared embedding space */
  projectionDim: number;
  /** the text tower's position table */
  textContext: number;
  /** upper bound of the caption tokenizer's vocabulary (it stops when the captions are covered) */
  vocabSize: number;
  /** training scenes (drawn lazily) */
  trainScenes: number;
  /** share of two-object training scenes */
  twoObjects: number;
  /** held-out colour+shape combinations, comma-separated ("purple triangle,orange square"); "" for none */
  holdOut: string;
  dropSizes: number;
  /** single-object scenes per zero-shot evaluation (seen and held-out each) */
  evalScenes: number;
  steps: number;
  batchSize: number;
  lr: number;
  warmupSteps?: number;
  weightDecay: number;
  seed: number;
  checkpointEvery: number;
  evalEvery: number;
}

export const TRAIN_CLIP_DEFAULTS = {
  imageSize: 64,
  patchSize: 8,
  dim: 128,
  layers: 4,
  heads: 4,
  projectionDim: 128,
  textContext: 32,
  vocabSize: 1024,
  trainScenes: 50_000,
  twoObjects: 0.5,
  holdOut: 'purple triangle,orange square',
  dropSizes: 0.25,
  evalScenes: 180,
  steps: 2000,
  batchSize: 64,
  lr: 1e-3,
  weightDecay: 0.1,
  seed: 0,
  checkpointEvery: 200,
  evalEvery: 200,
} as const satisfies Omit<TrainClipConfig, 'out'>;

export const CLIP_TRAIN_CONFIG_FILE = TRAIN_CONFIG_FILE;

export interface TrainClipCallbacks extends TrainerCallbacks {
  onLog?(message: string): void;
}

export interface TrainClipResult extends TrainResult {
  out: string;
  config: CLIPConfig;
  parameters: number;
  /** zero-shot accuracy of the saved model on single-object scenes of seen and held-out combinations (null: none held out) */
  zeroShot: { seen: number; heldOut: number | null; scenes: number };
}

function check(cond: boolean, message: string): void {
  if (!cond) throw new StrataError('argument', 'train-clip', message);
}

export function parseHoldOut(list: string): SceneCombo[] {
  const combos = list.split(',').map((s) => s.trim().replace(/\s+/g, ' ').toLowerCase()).filter(Boolean);
  for (const c of combos) check(SCENE_COMBOS.includes(c as SceneCombo), `holdOut: '${c}' is not a colour+shape combination (e.g. 'purple triangle')`);
  return combos as SceneCombo[];
}

/** Validates a config (every field present and in range). */
export function validateTrainClipConfig(c: TrainClipConfig): TrainClipConfig {
  check(typeof c.out === 'string' && c.out.length > 0, 'out must be a folder path');
  for (const k of ['imageSize', 'patchSize', 'dim', 'layers', 'heads', 'projectionDim', 'textContext', 'vocabSize', 'trainScenes', 'evalScenes', 'steps', 'batchSize'] as const) {
    check(Number.isSafeInteger(c[k]) && c[k] >= 1, `${k} must be an integer >= 1, got ${c[k]}`);
  }
  check(c.imageSize >= 16, `imageSize must be at least 16, got ${c.imageSize}`);
  check(c.imageSize % c.patchSize === 0, `patchSize (${c.patchSize}) must divide imageSize (${c.imageSize})`);
  check(c.dim % c.heads === 0, `heads (${c.heads}) must divide dim (${c.dim})`);
  check(c.textContext >= 16, `textContext must be at least 16 tokens (the longest caption and its markers), got ${c.textContext}`);
  check(c.batchSize >= 2, `batchSize must be >= 2 (a contrastive batch needs negatives), got ${c.batchSize}`);
  check(c.batchSize <= c.trainScenes, `batchSize (${c.batchSize}) exceeds trainScenes (${c.trainScenes})`);
  check(c.twoObjects >= 0 && c.twoObjects <= 1, `twoObjects must be in [0, 1], got ${c.twoObjects}`);
  check(c.dropSizes >= 0 && c.dropSizes <= 1, `dropSizes must be in [0, 1], got ${c.dropSizes}`);
  check(c.lr > 0 && Number.isFinite(c.lr), `lr must be > 0, got ${c.lr}`);
  check(c.weightDecay >= 0, `weightDecay must be >= 0, got ${c.weightDecay}`);
  check(Number.isSafeInteger(c.seed) && c.seed >= 0, `seed must be an integer >= 0, got ${c.seed}`);
  check(Number.isInteger(c.checkpointEvery) && c.checkpointEvery >= 0, `checkpointEvery must be an integer >= 0, got ${c.checkpointEvery}`);
  check(Number.isInteger(c.evalEvery) && c.evalEvery >= 0, `evalEvery must be an integer >= 0, got ${c.evalEvery}`);
  parseHoldOut(c.holdOut);
  return c;
}

/** The config.json of a fresh CLIP for a training config and caption tokenizer. */
export function clipModelConfig(c: TrainClipConfig, tokenizer: Tokenizer): CLIPConfig {
  const eos = tokenizer.special.eos;
  check(eos !== undefined && eos !== 2, 'the caption tokenizer needs an eos token (and not id 2, which CLIP configs reserve for the legacy pooling rule)');
  const tower = { hidden_size: c.dim, intermediate_size: 4 * c.dim, num_hidden_layers: c.layers, num_attention_heads: c.heads, hidden_act: 'quick_gelu', projection_dim: c.projectionDim };
  const raw = {
    model_type: 'clip',
    architectures: ['CLIPModel'],
    projection_dim: c.projectionDim,
    logit_scale_init_value: Math.log(1 / 0.07),
    text_config: { ...tower, vocab_size: tokenizer.vocabSize, max_position_embeddings: c.textContext, bos_token_id: tokenizer.special.bos ?? null, eos_token_id: eos, pad_token_id: tokenizer.special.pad ?? eos },
    vision_config: { ...tower, image_size: c.imageSize, patch_size: c.patchSize, num_channels: 3 },
  };
  return parseModelConfig(raw, 'train-clip').config as CLIPConfig;
}

/** The scenes a run trains and evaluates on, all from its seed (evaluation seeds never train). */
export function clipRunScenes(c: TrainClipConfig): ClipEvalSets & { train: SceneDataset; val: SceneDataset; seen: SceneDataset } {
  const holdOut = parseHoldOut(c.holdOut);
  const common = { imageSize: c.imageSize, holdOut };
  return {
    train: sceneDataset({ ...common, count: c.trainScenes, seed: c.seed, twoObjects: c.twoObjects }),
    val: sceneDataset({ ...common, count: 4 * c.batchSize, seed: c.seed + 1_000_001, twoObjects: c.twoObjects }),
    seen: sceneDataset({ ...common, count: c.evalScenes, seed: c.seed + 2_000_003, twoObjects: 0 }),
    ...(holdOut.length ? { heldOut: sceneDataset({ ...common, count: c.evalScenes, seed: c.seed + 3_000_007, twoObjects: 0, combos: 'held-out' }) } : {}),
  };
}

function digest(value: unknown): string {
  return createHash('sha256').update(JSON.stringify(value)).digest('hex').slice(0, 16);
}

/** Trains a CLIP on scenes from scratch (or resumes a run) and saves it as a Hugging Face directory in `out`. */
export async function trainClip(given: TrainClipConfig, options: { resume?: boolean } & TrainClipCallbacks = {}): Promise<TrainClipResult> {
  const resume = options.resume ?? false;
  const c = startRunConfig(given, resume, validateTrainClipConfig);
  const scenes = clipRunScenes(c);

  // the tokenizer learns the training captions (both forms), which is the whole caption language
  const captionSample = Math.min(c.trainScenes, 1000);
  options.onLog?.(`training a caption tokenizer on ${captionSample} captions`);
  const trained = trainCaptionTokenizer(
    (function* () {
      for (let i = 0; i < captionSample; i++) {
        const s = scenes.train.get(i);
        yield s.caption;
        yield sceneCaption(s, { size: false });
      }
    })(),
    { vocabSize: c.vocabSize, maxLength: c.textContext },
  );
  saveTrainedTokenizer(c.out, trained);
  const tokenizer = hfTokenizerFromJson({ tokenizer: trained.tokenizerJson, config: trained.tokenizerConfig, source: c.out });
  const processor = sceneImageProcessor(c.imageSize);
  writeFileAtomic(path.join(c.out, PREPROCESSOR_CONFIG_FILE), [Buffer.from(`${JSON.stringify(imageProcessorConfigToJson(processor), null, 2)}\n`)]);

  const config = clipModelConfig(c, tokenizer);
  const model = createModel(config, { generator: new Generator(c.seed) }) as CLIPModel;
  options.onLog?.(`CLIP: ${model.numParameters().toLocaleString('en-US')} parameters, vocabulary ${tokenizer.vocabSize}, images ${c.imageSize}x${c.imageSize}`);
  const task = new ClipContrastiveTask(model, tokenizer, processor, scenes.train, { batchSize: c.batchSize, seed: c.seed, dropSizes: c.dropSizes }, scenes);
  const { out: _out, steps: _steps, checkpointEvery: _ce, evalEvery: _ee, ...settings } = c;
  const trainer = new Trainer(
    model,
    task,
    {
      steps: c.steps, lr: c.lr, warmupSteps: c.warmupSteps, weightDecay: c.weightDecay, seed: c.seed, checkpointEvery: c.checkpointEvery,
      evalEvery: c.evalEvery, runDir: c.out, resume, configDigest: digest({ settings, config }),
    },
    options,
  );
  const result = trainer.run();
  clampLogitScale(model);
  // the trainer evaluates at the last step; a resumed run that was already complete has not
  const final = result.eval ?? trainer.evaluate();
  model.eval();
  saveModel(c.out, model, config);
  options.onLog?.(`saved the model to ${c.out}`);
  const zeroShot = { seen: final['val_zeroshot_seen'] ?? NaN, heldOut: final['val_zeroshot_heldout'] ?? null, scenes: c.evalScenes };
  return { ...result, eval: final, out: c.out, config, parameters: model.numParameters(), zeroShot };
}
