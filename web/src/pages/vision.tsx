// Vision: one image in; out come zero-shot labels, a caption and answers to questions about it,
// each from whichever served model's card says it can.
// Labels: /v1/embeddings of the image (a data: URL input) and of each label text on an image-text
// dual encoder (CLIP); the labels are ranked by softmax over 100 × cosine similarity, CLIP's scale.
// Caption and answers: /v1/chat/completions with the image as an image_url part (a captioner takes
// the image alone; a vision-language model also takes the question).
import { useRef, useState } from 'preact/hooks';
import { accepts, answersAboutImages, completionRoom, describesImages, imageContent, postJson, ranksLabels, type ModelsState, type ServedModel } from '../api.js';
import { imageDataUrl, notAnImage } from '../image.js';
import { LABEL_PRESETS } from '../labels.js';
import { DropZone, ModelPicker } from './common.js';

const CAPTION_PROMPT = 'Describe this image in one sentence.';

type Ranked = { label: string; p: number }[];

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

const splitLabels = (text: string) =>
  text
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);

async function rankLabels(model: string, imageUrl: string, names: string[]): Promise<Ranked> {
  const body = await postJson<{ data: { index: number; embedding: number[] }[] }>('/v1/embeddings', { model, input: [imageUrl, ...names] });
  const vectors = [...body.data].sort((a, b) => a.index - b.index).map((d) => d.embedding); // (1 + labels, C)
  const probs = softmax(vectors.slice(1).map((v) => 100 * cosine(vectors[0]!, v)));
  return names.map((label, i) => ({ label, p: probs[i]! })).sort((a, b) => b.p - a.p);
}

/** The model's answer about the image; `question` is left out for a captioner, which takes the image alone. */
async function askAboutImage(model: ServedModel, imageUrl: string, question: string): Promise<string> {
  const text = answersAboutImages(model) ? question : '';
  const body = await postJson<{ choices?: { message?: { content?: string | null } }[] }>('/v1/chat/completions', {
    model: model.id,
    max_tokens: completionRoom(model, 64),
    temperature: 0,
    messages: [{ role: 'user', content: imageContent(text, imageUrl) }],
  });
  return body.choices?.[0]?.message?.content ?? '';
}

/** A model picked from a list that may change under it: the pick while it is listed, else the first. */
function usePick(models: ServedModel[]): [ServedModel | undefined, (id: string) => void] {
  const [picked, setPicked] = useState('');
  return [models.find((m) => m.id === picked) ?? models[0], setPicked];
}

/** What a panel holds: nothing yet, a request under way, its result, or the error it ended in. */
type Outcome<T> = { state: 'idle' } | { state: 'busy' } | { state: 'done'; value: T } | { state: 'error'; message: string };
const IDLE = { state: 'idle' } as const;

function ErrorNote({ outcome, testid }: { outcome: Outcome<unknown>; testid: string }) {
  if (outcome.state !== 'error') return null;
  return (
    <p class="notice error" role="alert" data-testid={testid}>
      {outcome.message}
    </p>
  );
}

export function VisionPage({ state }: { state: ModelsState }) {
  const encoders = state.models.filter(ranksLabels);
  const captioners = state.models.filter(describesImages);
  const answerers = state.models.filter(answersAboutImages);
  const [encoder, setEncoder] = usePick(encoders);
  const [captioner, setCaptioner] = usePick(captioners);
  const [answerer, setAnswerer] = usePick(answerers);
  const [image, setImage] = useState<{ url: string; name: string } | null>(null);
  const [imageError, setImageError] = useState<string | null>(null);
  const [labels, setLabels] = useState(LABEL_PRESETS[0]!.labels.join(', '));
  const [question, setQuestion] = useState('');
  const [ranked, setRanked] = useState<Outcome<Ranked>>(IDLE);
  const [caption, setCaption] = useState<Outcome<string>>(IDLE);
  const [answer, setAnswer] = useState<Outcome<string>>(IDLE);

  // the latest request of each panel: an answer to an earlier one (another image, other labels) is dropped
  const latest = useRef({ labels: 0, caption: 0, answer: 0 });

  function run<T>(panel: keyof typeof latest.current, set: (o: Outcome<T>) => void, work: () => Promise<T>) {
    const ticket = ++latest.current[panel];
    set({ state: 'busy' });
    work().then(
      (value) => ticket === latest.current[panel] && set({ state: 'done', value }),
      (err: Error) => ticket === latest.current[panel] && set({ state: 'error', message: err.message }),
    );
  }
  const label = (url: string, text = labels) => {
    const names = splitLabels(text);
    if (encoder && names.length) run('labels', setRanked, () => rankLabels(encoder.id, url, names));
  };
  const describe = (url: string) => captioner && run('caption', setCaption, () => askAboutImage(captioner, url, CAPTION_PROMPT));
  const ask = (url: string) => answerer && question.trim() && run('answer', setAnswer, () => askAboutImage(answerer, url, question.trim()));

  async function pick(file: File) {
    for (const panel of ['labels', 'caption', 'answer'] as const) latest.current[panel]++;
    setImageError(null);
    setRanked(IDLE);
    setCaption(IDLE);
    setAnswer(IDLE);
    const why = notAnImage(file);
    if (why) return setImageError(why);
    let url: string;
    try {
      url = await imageDataUrl(file);
    } catch (err) {
      return setImageError(`cannot read ${file.name}: ${(err as Error).message}`);
    }
    setImage({ url, name: file.name });
    // a dropped image is labelled and captioned at once; a question waits for its Ask
    label(url);
    describe(url);
  }

  const noModel = !state.loading && !state.models.some((m) => accepts(m, 'image'));
  return (
    <section class="page vision">
      <h1>Vision</h1>
      {noModel && (
        <p class="notice" role="status" data-testid="no-model">
          No served model accepts images. Captions and zero-shot labels need a model whose card lists <code>image</code> among its input modalities (a
          vision-language or CLIP model); {describeInputs(state.models)}.
        </p>
      )}
      <DropZone accept="image/*" onFile={pick}>
        {image ? <img src={image.url} alt={image.name} class="preview" /> : <p>Drop an image here, or click to pick one.</p>}
      </DropZone>
      {imageError && (
        <p class="notice error" role="alert" data-testid="image-error">
          {imageError}
        </p>
      )}

      <div class="panel" data-panel="labels">
        <h2>Zero-shot labels</h2>
        {encoders.length === 0 ? (
          !state.loading && (
            <p class="notice" role="status" data-testid="no-labeller">
              No served model ranks labels: that needs an image–text dual encoder (CLIP), whose card takes image and text in and gives embeddings.
            </p>
          )
        ) : (
          <form
            onSubmit={(e) => {
              e.preventDefault();
              if (image) label(image.url);
            }}
          >
            <div class="controls">
              <ModelPicker models={encoders} value={encoder?.id ?? ''} onChange={setEncoder} label="Labels with" name="label-model" />
              <span class="presets">
                {LABEL_PRESETS.map((p) => (
                  <button
                    key={p.name}
                    type="button"
                    class="secondary"
                    onClick={() => {
                      const text = p.labels.join(', ');
                      setLabels(text);
                      if (image) label(image.url, text);
                    }}
                  >
                    {p.name}
                  </button>
                ))}
              </span>
            </div>
            <label class="wide">
              Candidate labels (comma separated)
              <input type="text" name="labels" value={labels} onInput={(e) => setLabels(e.currentTarget.value)} />
            </label>
            <button type="submit" disabled={!image || ranked.state === 'busy' || splitLabels(labels).length === 0}>
              {ranked.state === 'busy' ? 'Ranking…' : 'Rank labels'}
            </button>
          </form>
        )}
        <ErrorNote outcome={ranked} testid="labels-error" />
        {ranked.state === 'done' && (
          <ol class="labels" data-testid="labels">
            {ranked.value.map((r) => (
              <li key={r.label} data-label={r.label}>
                <span class="bar" style={{ width: `${(r.p * 100).toFixed(1)}%` }} />
                <span class="name">{r.label}</span> <b>{(r.p * 100).toFixed(1)}%</b>
              </li>
            ))}
          </ol>
        )}
      </div>

      <div class="panel" data-panel="caption">
        <h2>Caption</h2>
        {captioners.length === 0 ? (
          !state.loading && (
            <p class="notice" role="status" data-testid="no-captioner">
              No served model captions images: a caption needs a model whose card takes <code>image</code> in and gives <code>text</code> out (an image
              captioner or a vision-language model); {describeCards(state.models)}.
            </p>
          )
        ) : (
          <div class="controls">
            <ModelPicker models={captioners} value={captioner?.id ?? ''} onChange={setCaptioner} label="Caption with" name="caption-model" />
            <button type="button" disabled={!image || caption.state === 'busy'} onClick={() => image && describe(image.url)}>
              {caption.state === 'busy' ? 'Captioning…' : 'Caption'}
            </button>
          </div>
        )}
        <ErrorNote outcome={caption} testid="caption-error" />
        {caption.state === 'done' && (
          <p class="result" data-testid="caption">
            {caption.value}
          </p>
        )}
      </div>

      <div class="panel" data-panel="ask">
        <h2>Ask about the image</h2>
        {answerers.length === 0 ? (
          !state.loading && (
            <p class="notice" role="status" data-testid="no-answerer">
              No served vision-language model: questions about an image need a model whose card takes both <code>image</code> and <code>text</code> in and
              gives <code>text</code> out.
            </p>
          )
        ) : (
          <form
            class="controls"
            onSubmit={(e) => {
              e.preventDefault();
              if (image) ask(image.url);
            }}
          >
            <ModelPicker models={answerers} value={answerer?.id ?? ''} onChange={setAnswerer} label="Ask" name="ask-model" />
            <label class="grow">
              Question
              <input type="text" name="question" value={question} placeholder="What colour is the shape?" onInput={(e) => setQuestion(e.currentTarget.value)} />
            </label>
            <button type="submit" disabled={!image || !question.trim() || answer.state === 'busy'}>
              {answer.state === 'busy' ? 'Asking…' : 'Ask'}
            </button>
          </form>
        )}
        <ErrorNote outcome={answer} testid="answer-error" />
        {answer.state === 'done' && (
          <p class="result" data-testid="answer">
            {answer.value}
          </p>
        )}
      </div>
    </section>
  );
}

export function describeInputs(models: ServedModel[]): string {
  if (models.length === 0) return 'no model is served at all';
  const seen = new Set(models.flatMap((m) => m.card?.inputModalities ?? []));
  return seen.size ? `the served models take ${[...seen].join(', ')} only` : 'the served models declare no inputs';
}

/** "served: clip-scenes (image, text → embedding, label), tiny-llama (text → text)" */
export function describeCards(models: ServedModel[]): string {
  if (models.length === 0) return 'no model is served at all';
  const io = (m: ServedModel) => (m.card ? `${m.card.inputModalities.join(', ')} → ${m.card.outputModalities.join(', ')}` : 'no card');
  return `served: ${models.map((m) => `${m.id} (${io(m)})`).join(', ')}`;
}
