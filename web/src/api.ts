// What the pages ask the server: the OpenAI routes (/v1) and the playground's own (/api).
// Relative URLs, so the playground works wherever the server mounts it.

export interface Card {
  families: string[];
  inputModalities: string[];
  outputModalities: string[];
  architecture: string;
  adaptability: string[];
  applications: string[];
  examples: string[];
  primaryData: string;
  purpose: string;
}

export interface ServedModel {
  id: string;
  ownedBy: string;
  card: Card | null;
  /** prompt and completion tokens together; null when the server does not say */
  contextLength: number | null;
}

/** The served models as the shell loaded them once for every page. */
export interface ModelsState {
  models: ServedModel[];
  loading: boolean;
  error: string | null;
}

/** An error as the server reported it (OpenAI's `{ error: { message, type, code } }`) or as fetch failed. */
export class ApiError extends Error {
  constructor(
    message: string,
    readonly status: number,
    readonly code: string | null = null,
  ) {
    super(message);
  }
}

/** relative to the page, so a proxy may mount the server under a sub-path */
export function apiUrl(path: string): string {
  return `${new URL('.', window.location.href).pathname}${path.replace(/^\//, '')}`;
}

/** The message of an error response, whatever its shape. */
export async function errorOf(res: Response): Promise<ApiError> {
  const text = await res.text().catch(() => '');
  let message = text.trim() || `${res.status} ${res.statusText}`;
  let code: string | null = null;
  try {
    const body = JSON.parse(text) as { error?: { message?: string; code?: string } | string; message?: string };
    if (typeof body.error === 'object' && body.error !== null) {
      message = body.error.message ?? message;
      code = body.error.code ?? null;
    } else if (typeof body.message === 'string') {
      message = body.message;
    } else if (typeof body.error === 'string') {
      message = body.error;
    }
  } catch {
    // not JSON: the text itself is the message
  }
  return new ApiError(message, res.status, code);
}

export async function getJson<T>(path: string, init?: RequestInit): Promise<T> {
  let res: Response;
  try {
    res = await fetch(apiUrl(path), init);
  } catch (err) {
    throw new ApiError(`cannot reach the server (${(err as Error).message})`, 0);
  }
  if (!res.ok) throw await errorOf(res);
  return (await res.json()) as T;
}

export async function postJson<T>(path: string, body: unknown, signal?: AbortSignal): Promise<T> {
  return getJson<T>(path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body), signal });
}

const strings = (v: unknown): string[] => (Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : typeof v === 'string' ? [v] : []);
const text = (v: unknown): string => (typeof v === 'string' ? v : '');

/** Reads a card in the TypeScript spelling (inputModalities) or the JSON API one (input_modalities). */
export function normalizeCard(raw: unknown): Card | null {
  if (typeof raw !== 'object' || raw === null) return null;
  const r = raw as Record<string, unknown>;
  const pick = (camel: string, snake: string) => r[camel] ?? r[snake];
  return {
    families: strings(pick('families', 'families') ?? r.family),
    inputModalities: strings(pick('inputModalities', 'input_modalities')),
    outputModalities: strings(pick('outputModalities', 'output_modalities')),
    architecture: text(r.architecture),
    adaptability: strings(r.adaptability),
    applications: strings(r.applications),
    examples: strings(r.examples),
    primaryData: text(pick('primaryData', 'primary_data')),
    purpose: text(r.purpose),
  };
}

/** The served models with their cards (from /v1/models; /api/models fills a card it lacks, and gives context lengths). */
export async function loadModels(): Promise<ServedModel[]> {
  const [v1, own] = await Promise.all([
    getJson<{ data?: { id: string; owned_by?: string; card?: unknown }[] }>('/v1/models'),
    getJson<{ data?: { id: string; card?: unknown; context_length?: unknown }[] }>('/api/models').catch(() => ({ data: [] })),
  ]);
  const extra = new Map((own.data ?? []).map((m) => [m.id, m]));
  return (v1.data ?? []).map((m) => {
    const e = extra.get(m.id);
    const ctx = e?.context_length;
    return {
      id: m.id,
      ownedBy: m.owned_by ?? '',
      card: normalizeCard(m.card) ?? normalizeCard(e?.card) ?? null,
      contextLength: typeof ctx === 'number' && Number.isSafeInteger(ctx) && ctx > 0 ? ctx : null,
    };
  });
}

export const accepts = (m: ServedModel, modality: string) => m.card?.inputModalities.includes(modality) ?? false;
export const emits = (m: ServedModel, modality: string) => m.card?.outputModalities.includes(modality) ?? false;

/** Image in, text out: a captioner (image only) or a vision-language model (image and text). */
export const describesImages = (m: ServedModel) => accepts(m, 'image') && emits(m, 'text');
/** Image and text in, text out: a model that answers a question about an image. */
export const answersAboutImages = (m: ServedModel) => describesImages(m) && accepts(m, 'text');
/** An image-text model that embeds both into one space (CLIP), so labels can be ranked against an image. */
export const ranksLabels = (m: ServedModel) => accepts(m, 'image') && accepts(m, 'text') && (emits(m, 'embedding') || emits(m, 'label'));

/**
 * The most completion tokens worth asking for, at most `wanted`: a model that reads the image alone
 * (a captioner) prompts its decoder with one start token, so the rest of its context is the
 * caption's room; other prompts are longer than the page can count, and the server says when one
 * does not fit.
 */
export function completionRoom(m: ServedModel, wanted: number): number {
  if (m.contextLength === null) return wanted;
  const prompt = accepts(m, 'text') ? 0 : 1;
  return Math.max(1, Math.min(wanted, m.contextLength - prompt));
}

/** An OpenAI chat content list: the text (when there is any) and the image as an inline data: URL. */
export function imageContent(text: string, imageUrl: string): ({ type: 'text'; text: string } | { type: 'image_url'; image_url: { url: string } })[] {
  return [...(text ? [{ type: 'text' as const, text }] : []), { type: 'image_url' as const, image_url: { url: imageUrl } }];
}

export interface RunSummary {
  name: string;
  kind: 'pretrain' | 'finetune' | 'run';
  task: string | null;
  last_step: number | null;
  last_loss: number | null;
  last_val_loss: number | null;
  total_steps: number | null;
  updated: string;
}

export type MetricsRecord = { step: number } & Record<string, number | string | null | undefined>;

export interface RunMetrics {
  name: string;
  kind: RunSummary['kind'];
  task: string | null;
  total_steps: number | null;
  config: Record<string, unknown> | null;
  reset: boolean;
  epoch: string;
  count: number;
  last_step: number | null;
  updated: string;
  data: MetricsRecord[];
}

/** The run's metrics; with `held`, only what was appended since (or everything, flagged reset, if the file was rewritten). */
export const runMetricsPath = (name: string, held?: { after: number; count: number; epoch: string }) =>
  `/api/runs/${encodeURIComponent(name)}/metrics${held ? `?after=${held.after}&count=${held.count}&epoch=${encodeURIComponent(held.epoch)}` : ''}`;
