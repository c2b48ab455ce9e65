// Vision: an image in, a caption and zero-shot labels out.
// Caption: /v1/chat/completions with the image as an image_url data: URL (vision-language models).
// Labels: /v1/embeddings of the image (a data: URL input) and of each label text on an image-text
// dual encoder (CLIP); the labels are ranked by softmax over 100 × cosine similarity, CLIP's scale.
import { useState } from 'preact/hooks';
import { accepts, emits, errorOf, apiUrl, postJson, type ModelsState, type ServedModel } from '../api.js';
import { DropZone, ModelPicker } from './common.js';

const MAX_SIDE = 768;

/** The image scaled to at most MAX_SIDE on its long side, as a PNG data: URL (a small request body). */
async function toDataUrl(file: File): Promise<string> {
  const bitmap = await createImageBitmap(file);
  const scale = Math.min(1, MAX_SIDE / Math.max(bitmap.width, bitmap.height));
  const canvas = document.createElement('canvas');
  canvas.width = Math.max(1, Math.round(bitmap.width * scale));
  canvas.height = Math.max(1, Math.round(bitmap.height * scale));
  canvas.getContext('2d')!.drawImage(bitmap, 0, 0, canvas.width, canvas.height);
  bitmap.close();
  return canvas.toDataURL('image/png');
}

function softmax(xs: number[]): number[] {
  const m = Math.max(...xs);
  const e = xs.map((x) => Math.exp(x - m));
  const s = e.reduce((a, b) => a + b, 0);
  return e.map((x) => x / s);
}

function cosine(a: number[], b: number[]): number {
  let dot = 0;
  let na = 0;
  let nb = 0;
  for (let i = 0; i < a.length; i++) {
    dot += a[i]! * b[i]!;
    na += a[i]! * a[i]!;
    nb += b[i]! * b[i]!;
  }
  return dot / Math.sqrt(na * nb || 1);
}

export function VisionPage({ state }: { state: ModelsState }) {
  const imageModels = state.models.filter((m) => accepts(m, 'image'));
  const captioners = imageModels.filter((m) => emits(m, 'text'));
  const encoders = imageModels.filter((m) => emits(m, 'embedding') || emits(m, 'label'));
  const [captioner, setCaptioner] = useState('');
  const [encoder, setEncoder] = useState('');
  const [image, setImage] = useState<{ url: string; name: string } | null>(null);
  const [labels, setLabels] = useState('a photo of a cat, a photo of a dog, a diagram, text');
  const [caption, setCaption] = useState<string | null>(null);
  const [ranked, setRanked] = useState<{ label: string; p: number }[] | null>(null);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const captionModel = captioner || captioners[0]?.id || '';
  const encoderModel = encoder || encoders[0]?.id || '';

  async function pick(file: File) {
    setError(null);
    setCaption(null);
    setRanked(null);
    if (!file.type.startsWith('image/')) return setError(`${file.name} is not an image (${file.type || 'unknown type'})`);
    try {
      setImage({ url: await toDataUrl(file), name: file.name });
    } catch (err) {
      setError(`cannot read ${file.name}: ${(err as Error).message}`);
    }
  }

  async function describe(url: string): Promise<string> {
    const res = await fetch(apiUrl('/v1/chat/completions'), {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        model: captionModel,
        max_tokens: 64,
        temperature: 0,
        messages: [{ role: 'user', content: [{ type: 'text', text: 'Describe this image in one sentence.' }, { type: 'image_url', image_url: { url } }] }],
      }),
    });
    if (!res.ok) throw await errorOf(res);
    const body = (await res.json()) as { choices?: { message?: { content?: string } }[] };
    return body.choices?.[0]?.message?.content ?? '';
  }

  async function classify(url: string, names: string[]): Promise<{ label: string; p: number }[]> {
    const body = await postJson<{ data: { index: number; embedding: number[] }[] }>('/v1/embeddings', { model: encoderModel, input: [url, ...names] });
    const vectors = [...body.data].sort((a, b) => a.index - b.index).map((d) => d.embedding);
    const probs = softmax(vectors.slice(1).map((v) => 100 * cosine(vectors[0]!, v)));
    return names.map((label, i) => ({ label, p: probs[i]! })).sort((a, b) => b.p - a.p);
  }

  async function run() {
    if (!image) return;
    setBusy(true);
    setError(null);
    const names = labels
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean);
    const errors: string[] = [];
    await Promise.all([
      captionModel ? describe(image.url).then(setCaption, (err: Error) => errors.push(`caption: ${err.message}`)) : null,
      encoderModel && names.length ? classify(image.url, names).then(setRanked, (err: Error) => errors.push(`labels: ${err.message}`)) : null,
    ]);
    setError(errors.length ? errors.join('\n') : null);
    setBusy(false);
  }

  const noModel = !state.loading && imageModels.length === 0;
  return (
    <section class="page vision">
      <h1>Vision</h1>
      {noModel && (
        <p class="notice" role="status" data-testid="no-model">
          No served model accepts images. Captions and zero-shot labels need a model whose card lists <code>image</code> among its input modalities (a
          vision-language or CLIP model); {describeInputs(state.models)}.
        </p>
      )}
      <div class="controls">
        {captioners.length > 0 && <ModelPicker models={captioners} value={captionModel} onChange={setCaptioner} label="Caption with" />}
        {encoders.length > 0 && <ModelPicker models={encoders} value={encoderModel} onChange={setEncoder} label="Labels with" />}
      </div>
      <DropZone accept="image/*" onFile={pick}>
        {image ? <img src={image.url} alt={image.name} class="preview" /> : <p>Drop an image here, or click to pick one.</p>}
      </DropZone>
      {encoders.length > 0 && (
        <label class="wide">
          Candidate labels (comma separated)
          <input type="text" name="labels" value={labels} onInput={(e) => setLabels(e.currentTarget.value)} />
        </label>
      )}
      <div class="controls">
        <button type="button" disabled={!image || busy || imageModels.length === 0} onClick={run}>
          {busy ? 'Working…' : 'Caption and label'}
        </button>
      </div>
      {error && (
        <p class="notice error" role="alert">
          {error}
        </p>
      )}
      {caption !== null && (
        <p class="result" data-testid="caption">
          {caption}
        </p>
      )}
      {ranked && (
        <ol class="labels">
          {ranked.map((r) => (
            <li key={r.label}>
              <span class="bar" style={{ width: `${(r.p * 100).toFixed(1)}%` }} />
              <span>{r.label}</span> <b>{(r.p * 100).toFixed(1)}%</b>
            </li>
          ))}
        </ol>
      )}
    </section>
  );
}

export function describeInputs(models: ServedModel[]): string {
  if (models.length === 0) return 'no model is served at all';
  const seen = new Set(models.flatMap((m) => m.card?.inputModalities ?? []));
  return seen.size ? `the served models take ${[...seen].join(', ')} only` : 'the served models declare no inputs';
}
