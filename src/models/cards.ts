// Model cards read from the registry, and the taxonomy of the three families computed from them:
// `strata models`, `strata models --compare` and GET /v1/models all show what is here, so a new
// model appears in each by declaring its card, never by editing a table.

import { StrataError } from '../errors.js';
import { MODELS, MODEL_TYPES, type HeadKind, type ModelConfig, type ModelEntry } from './registry.js';
import type { AdaptationMethod, ModelCard, ModelFamily, Modality } from './types.js';

/** The families in the order the taxonomy shows them, with their titles (a Record, so tsc demands every family). */
export const FAMILY_TITLES: Readonly<Record<ModelFamily, string>> = {
  'large-language': 'Large language models',
  foundation: 'Foundation models',
  'multi-modal': 'Multi-modal models',
};

export const MODEL_FAMILIES = Object.keys(FAMILY_TITLES) as ModelFamily[];

/** Modalities that are data a model is trained on, as opposed to what a head derives from it. */
const DATA_MODALITIES: ReadonlySet<Modality> = new Set<Modality>(['text', 'image', 'audio', 'video']);

/** Methods that steer a model through its generated output; a head that does not generate cannot use them. */
const GENERATIVE_METHODS: ReadonlySet<AdaptationMethod> = new Set<AdaptationMethod>(['prompting', 'instruction-tuning']);

interface HeadSpec {
  /** replaces the base card's outputs */
  outputs: readonly Modality[];
  generative: boolean;
  /** appended to the architecture after "with" (e.g. "a sequence-classification head"); absent for the head the base card already describes */
  describes?: string;
  /** replaces the base card's applications; absent = the base card's */
  applications?: (inputs: string) => readonly string[];
}

/**
 * How a head changes its base card. A model class declares the card of its network; an
 * architecture that puts a different head on it (LlamaForSequenceClassification over LLaMA's
 * network) keeps family, inputs, examples, data and purpose and changes what comes out.
 */
const HEADS: Readonly<Record<HeadKind, HeadSpec>> = {
  none: {
    outputs: ['embedding'],
    generative: false,
    describes: 'no head (final hidden states and pooled vector)',
    applications: (inputs) => [`${inputs} feature extraction`, `${inputs} embeddings for retrieval and clustering`],
  },
  'causal-lm': { outputs: ['text'], generative: true },
  // the architecture is exactly what its class's card describes (CLIP's contrastive pair, an encoder-decoder)
  declared: { outputs: [], generative: true },
  'masked-lm': { outputs: ['text'], generative: false, describes: 'a masked-language-model head' },
  'sequence-classification': {
    outputs: ['label'],
    generative: false,
    describes: 'a sequence-classification head',
    applications: (inputs) => [`${inputs} classification`, `${inputs} regression`],
  },
  'image-classification': {
    outputs: ['label'],
    generative: false,
    describes: 'an image-classification head',
    applications: () => ['image classification', 'linear probes of the vision tower'],
  },
  'question-answering': {
    outputs: ['text'],
    generative: false,
    describes: 'a span-extraction head (start and end logits)',
    applications: () => ['extractive question answering'],
  },
};

/** The card of an architecture that puts `head` on a network whose class declares `card`. */
export function headCard(card: ModelCard, head: HeadKind): ModelCard {
  const spec = HEADS[head];
  if (head === 'declared') return card;
  return {
    ...card,
    outputModalities: spec.outputs,
    architecture: spec.describes ? `${card.architecture} with ${spec.describes}` : card.architecture,
    adaptability: spec.generative ? card.adaptability : card.adaptability.filter((m) => !GENERATIVE_METHODS.has(m)),
    applications: spec.applications ? spec.applications(card.inputModalities.join('/')) : card.applications,
  };
}

export interface RegisteredArchitecture {
  /** config.json `model_type` */
  modelType: string;
  /** Hugging Face architecture name (config.json `architectures[0]`) */
  architecture: string;
  head: HeadKind;
  /** the card of the network, as its model_type's classes declare it */
  baseCard: ModelCard;
  /** the card of this architecture: the base card adapted to its head */
  card: ModelCard;
}

/** Every architecture of every registered model_type, with its card, in registry order. */
export function registeredArchitectures(): RegisteredArchitecture[] {
  return MODEL_TYPES.flatMap((modelType) => {
    const entry = MODELS[modelType] as ModelEntry<ModelConfig>;
    return Object.entries(entry.architectures).map(([architecture, create]) => ({ modelType, architecture, head: create.head, baseCard: entry.card, card: headCard(entry.card, create.head) }));
  });
}

/** The card of one registered architecture (what `strata inspect` and GET /v1/models show for a loaded model). */
export function architectureCard(modelType: string, architecture: string): ModelCard {
  const found = registeredArchitectures().find((a) => a.modelType === modelType && a.architecture === architecture);
  if (!found) throw new StrataError('argument', 'architectureCard', `no registered architecture '${architecture.slice(0, 60)}' for model_type '${modelType.slice(0, 60)}'`);
  return found.card;
}

/** A card as JSON, as GET /v1/models and `strata models --json` give it. */
export interface CardJson {
  families: ModelFamily[];
  input_modalities: Modality[];
  output_modalities: Modality[];
  architecture: string;
  adaptability: AdaptationMethod[];
  applications: string[];
  examples: string[];
  primary_data: string;
  purpose: string;
}

export function cardJson(card: ModelCard): CardJson {
  return {
    families: [...card.families],
    input_modalities: [...card.inputModalities],
    output_modalities: [...card.outputModalities],
    architecture: card.architecture,
    adaptability: [...card.adaptability],
    applications: [...card.applications],
    examples: [...card.examples],
    primary_data: card.primaryData,
    purpose: card.purpose,
  };
}

/** One family of the taxonomy, every field the union of the cards of the registered models in it. */
export interface FamilyRow {
  family: ModelFamily;
  title: string;
  /** says so when no registered model is in this family yet; null otherwise */
  note: string | null;
  /** registered model_types with an architecture in this family; empty when none is registered yet */
  modelTypes: string[];
  /** the data modalities the models consume or produce */
  primaryDataType: Modality[];
  /** what the models are trained on */
  primaryData: string[];
  purpose: string[];
  /** the kinds of network, without each model's details (those are on its card) */
  architecture: string[];
  examples: string[];
  adaptability: AdaptationMethod[];
  inputModalities: Modality[];
  outputModalities: Modality[];
  applications: string[];
}

function union<T>(lists: Iterable<readonly T[]>): T[] {
  const seen = new Set<T>();
  for (const list of lists) for (const item of list) seen.add(item);
  return [...seen];
}

/** "decoder-only transformer (pre-norm, ...)" -> "decoder-only transformer": a table cell names the kind. */
function architectureKind(architecture: string): string {
  const cut = architecture.search(/ [(]| with a /);
  return cut < 0 ? architecture : architecture.slice(0, cut);
}

const NO_MODEL_YET = 'no registered model yet';

/** The comparison of the three families, computed from `architectures` (default: the registered ones). */
export function familyComparison(architectures: readonly RegisteredArchitecture[] = registeredArchitectures()): FamilyRow[] {
  return MODEL_FAMILIES.map((family) => {
    const members = architectures.filter((a) => a.card.families.includes(family));
    const cards = members.map((a) => a.card);
    return {
      family,
      title: FAMILY_TITLES[family],
      note: members.length ? null : NO_MODEL_YET,
      modelTypes: union(members.map((a) => [a.modelType])),
      primaryDataType: union(cards.map((c) => [...c.inputModalities, ...c.outputModalities].filter((m) => DATA_MODALITIES.has(m)))),
      primaryData: union(cards.map((c) => [c.primaryData])),
      purpose: union(cards.map((c) => [c.purpose])),
      architecture: union(cards.map((c) => [architectureKind(c.architecture)])),
      examples: union(cards.map((c) => c.examples)),
      adaptability: union(cards.map((c) => c.adaptability)),
      inputModalities: union(cards.map((c) => c.inputModalities)),
      outputModalities: union(cards.map((c) => c.outputModalities)),
      applications: union(cards.map((c) => c.applications)),
    };
  });
}

/** A row as JSON (`strata models --compare --json`, the playground's taxonomy table). */
export function familyRowJson(row: FamilyRow): Record<string, unknown> {
  return {
    family: row.family,
    title: row.title,
    note: row.note,
    model_types: row.modelTypes,
    primary_data_type: row.primaryDataType,
    primary_data: row.primaryData,
    purpose: row.purpose,
    architecture: row.architecture,
    examples: row.examples,
    adaptability: row.adaptability,
    input_modalities: row.inputModalities,
    output_modalities: row.outputModalities,
    applications: row.applications,
  };
}

/** The attributes the comparison shows for each family, with their labels, in display order. */
export const COMPARISON_ATTRIBUTES = {
  modelTypes: 'registered models',
  primaryDataType: 'primary data type',
  purpose: 'purpose',
  architecture: 'architecture',
  examples: 'examples',
  adaptability: 'adaptability',
  inputModalities: 'input modalities',
  outputModalities: 'output modalities',
  applications: 'applications',
} as const satisfies Partial<Record<keyof FamilyRow, string>>;

export type ComparisonAttribute = keyof typeof COMPARISON_ATTRIBUTES;

/**
 * A row's cells as display text: lists joined by commas, prose (purposes, data) one bulleted
 * paragraph per item and newline-separated; a family without models shows its note.
 */
export function comparisonCells(row: FamilyRow): Record<ComparisonAttribute, string> {
  const list = (items: readonly string[]): string => (items.length ? items.join(', ') : '—');
  const prose = (items: readonly string[]): string => (items.length > 1 ? items.map((p) => `• ${p}`).join('\n') : list(items));
  return {
    modelTypes: row.note ?? list(row.modelTypes),
    primaryDataType: row.primaryDataType.length ? `${row.primaryDataType.join(', ')}\n${prose(row.primaryData)}` : '—',
    purpose: prose(row.purpose),
    architecture: list(row.architecture),
    examples: list(row.examples),
    adaptability: list(row.adaptability),
    inputModalities: list(row.inputModalities),
    outputModalities: list(row.outputModalities),
    applications: list(row.applications),
  };
}
