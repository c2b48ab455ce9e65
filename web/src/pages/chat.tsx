// Chat: streams /v1/chat/completions (SSE over fetch) into the last assistant message; Stop aborts
// the request, which also cancels the generation on the server. When the chosen model's card takes
// images, a message may carry one, sent as an image_url part with an inline data: URL.
import { useEffect, useRef, useState } from 'preact/hooks';
import { accepts, apiUrl, completionRoom, describesImages, errorOf, emits, imageContent, type ModelsState, type ServedModel } from '../api.js';
import { imageDataUrl, notAnImage } from '../image.js';
import { readSse } from '../sse.js';
import { ModelPicker } from './common.js';

interface Message {
  role: 'system' | 'user' | 'assistant';
  content: string;
  /** an attached image as a data: URL */
  image?: string;
}

const wireMessage = (m: Message) => ({ role: m.role, content: m.image ? imageContent(m.content, m.image) : m.content });

interface Stats {
  tokens: number;
  seconds: number;
  finish: string | null;
}

/**
 * A chat model reads text and generates text. The card says so by taking and emitting text and
 * adapting by prompting: an encoder's masked-LM or span head emits text too, but cannot be prompted
 * to continue it, and a speech model emits text from audio only. A model that turns an image into
 * text answers a chat message that carries one (a captioner captions it).
 */
const canChat = (m: ServedModel) =>
  m.card === null ||
  describesImages(m) ||
  (accepts(m, 'text') && emits(m, 'text') && (m.card.adaptability.length === 0 || m.card.adaptability.includes('prompting')));

/** The model the page starts with: one that reads text, so a first message needs no attachment. */
const firstChoice = (models: ServedModel[]) => models.find((m) => m.card === null || accepts(m, 'text')) ?? models[0];

export function ChatPage({ state }: { state: ModelsState }) {
  const chatModels = state.models.filter(canChat);
  const [model, setModel] = useState('');
  const [system, setSystem] = useState('');
  const [temperature, setTemperature] = useState(0.7);
  const [maxTokens, setMaxTokens] = useState(128);
  /** empty: a fresh random answer each time; a number repeats the same sampling */
  const [seed, setSeed] = useState('');
  const [messages, setMessages] = useState<Message[]>([]);
  const [input, setInput] = useState('');
  const [attached, setAttached] = useState<{ url: string; name: string } | null>(null);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [stats, setStats] = useState<Stats | null>(null);
  const abort = useRef<AbortController | null>(null);
  const log = useRef<HTMLDivElement>(null);
  const picker = useRef<HTMLInputElement>(null);
  const current = chatModels.find((m) => m.id === model);
  const takesImages = current !== undefined && accepts(current, 'image');
  /** a captioner reads the image alone: a message to it needs one, and its text is optional */
  const needsImage = takesImages && !accepts(current, 'text');

  useEffect(() => {
    // an update from the current value: a model picked before this effect ran (the page's first
    // frames) is kept, where the value this render closed over would have put the default back
    if (chatModels.length) setModel((cur) => (chatModels.some((m) => m.id === cur) ? cur : firstChoice(chatModels)!.id));
  }, [state.models]);
  useEffect(() => () => abort.current?.abort(), []);
  useEffect(() => {
    if (!takesImages) setAttached(null);
  }, [takesImages]);
  // a model with a short context (a scene captioner has 32 positions) gets a budget that fits it
  useEffect(() => {
    if (current) setMaxTokens((n) => completionRoom(current, n));
  }, [current?.id]);
  useEffect(() => {
    log.current?.scrollTo({ top: log.current.scrollHeight });
  }, [messages]);

  async function send(e: Event) {
    e.preventDefault();
    const prompt = input.trim();
    const image = takesImages ? attached?.url : undefined;
    if (!canSend) return;
    const history: Message[] = [...messages, image ? { role: 'user', content: prompt, image } : { role: 'user', content: prompt }];
    setMessages([...history, { role: 'assistant', content: '' }]);
    setInput('');
    setAttached(null);
    setError(null);
    setBusy(true);
    const controller = new AbortController();
    abort.current = controller;
    const started = performance.now();
    let tokens = 0;
    let finish: string | null = null;
    let answer = '';
    try {
      const res = await fetch(apiUrl('/v1/chat/completions'), {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'text/event-stream' },
        body: JSON.stringify({
          model,
          messages: [...(system.trim() ? [{ role: 'system', content: system.trim() }] : []), ...history.map(wireMessage)],
          stream: true,
          temperature,
          max_tokens: maxTokens,
          ...(seed.trim() === '' ? {} : { seed: Number(seed) }),
        }),
        signal: controller.signal,
      });
      if (!res.ok || res.body === null) throw await errorOf(res);
      for await (const data of readSse(res.body)) {
        const chunk = JSON.parse(data) as { choices?: { delta?: { content?: string | null }; finish_reason?: string | null }[]; error?: { message?: string } };
        if (chunk.error) throw new Error(chunk.error.message ?? 'the server ended the stream with an error');
        const choice = chunk.choices?.[0];
        const piece = choice?.delta?.content;
        if (piece) {
          answer += piece;
          tokens++;
          setMessages([...history, { role: 'assistant', content: answer }]);
          setStats({ tokens, seconds: (performance.now() - started) / 1000, finish });
        }
        if (choice?.finish_reason) finish = choice.finish_reason;
      }
    } catch (err) {
      if (controller.signal.aborted) finish = 'stopped';
      else setError((err as Error).message);
    } finally {
      setStats({ tokens, seconds: (performance.now() - started) / 1000, finish });
      setBusy(false);
      abort.current = null;
    }
  }

  async function attach(file: File) {
    setError(null);
    const why = notAnImage(file);
    if (why) return setError(why);
    try {
      setAttached({ url: await imageDataUrl(file), name: file.name });
    } catch (err) {
      setError(`cannot read ${file.name}: ${(err as Error).message}`);
    }
  }

  // an attached image is a message by itself (a VLM describes it); a captioner sends nothing without one
  const canSend = !busy && !!model && (needsImage ? !!attached : !!input.trim() || (takesImages && !!attached));
  return (
    <section class="page chat">
      <h1>Chat</h1>
      <div class="controls">
        <ModelPicker models={chatModels} value={model} onChange={setModel} label="Model" />
        <label>
          Temperature <output>{temperature.toFixed(2)}</output>
          <input type="range" name="temperature" min="0" max="2" step="0.05" value={temperature} onInput={(e) => setTemperature(Number(e.currentTarget.value))} />
        </label>
        <label>
          Max tokens
          <input type="number" name="max_tokens" min="1" max={current?.contextLength ?? 4096} value={maxTokens} onInput={(e) => setMaxTokens(Math.max(1, Number(e.currentTarget.value) || 1))} />
        </label>
        <label>
          Seed
          <input type="number" name="seed" min="0" step="1" placeholder="random" value={seed} onInput={(e) => setSeed(e.currentTarget.value.replace(/[^0-9]/g, ''))} />
        </label>
        <button type="button" class="secondary" disabled={busy || messages.length === 0} onClick={() => (setMessages([]), setStats(null), setError(null))}>
          Clear
        </button>
      </div>
      {!state.loading && chatModels.length === 0 && <p class="notice">No served model generates text. Start the server with a language model: <code>strata serve --model DIR</code>.</p>}
      <details class="system">
        <summary>System prompt</summary>
        <textarea name="system" rows={2} value={system} onInput={(e) => setSystem(e.currentTarget.value)} placeholder="You are a helpful assistant." />
      </details>
      <div class="log" ref={log} aria-live="polite">
        {messages.length === 0 && <p class="hint">Ask something; the answer streams in token by token.</p>}
        {messages.map((m, i) => (
          <div key={i} class={`msg ${m.role}`} data-role={m.role}>
            <span class="who">{m.role === 'user' ? 'You' : model}</span>
            {m.image && <img class="attached" src={m.image} alt="attached image" />}
            {(m.content || !m.image) && <div class="text">{m.content || (busy && i === messages.length - 1 ? '…' : '')}</div>}
          </div>
        ))}
      </div>
      {error && (
        <p class="notice error" role="alert">
          {error}
        </p>
      )}
      <form class="composer" onSubmit={send}>
        <textarea
          name="prompt"
          rows={2}
          value={input}
          placeholder={needsImage ? 'Attach an image (this model reads images; text is optional)' : 'Message'}
          onInput={(e) => setInput(e.currentTarget.value)}
          onKeyDown={(e) => {
            if (e.key === 'Enter' && !e.shiftKey) send(e);
          }}
        />
        {takesImages && (
          <button type="button" class="secondary attach" title="attach an image to this message" onClick={() => picker.current?.click()}>
            Image…
          </button>
        )}
        {busy ? (
          <button type="button" class="stop" onClick={() => abort.current?.abort()}>
            Stop
          </button>
        ) : (
          <button type="submit" disabled={!canSend}>
            Send
          </button>
        )}
        <input
          ref={picker}
          type="file"
          name="image"
          accept="image/*"
          hidden
          onChange={(e) => {
            const file = e.currentTarget.files?.[0];
            if (file) void attach(file);
            e.currentTarget.value = '';
          }}
        />
      </form>
      {attached && (
        <div class="attachment" data-testid="attachment">
          <img src={attached.url} alt={attached.name} />
          <span>{attached.name}</span>
          <button type="button" class="secondary" onClick={() => setAttached(null)}>
            Remove
          </button>
        </div>
      )}
      {stats && (
        <p class="stats">
          {stats.tokens} chunks in {stats.seconds.toFixed(2)} s ({(stats.tokens / Math.max(stats.seconds, 1e-3)).toFixed(1)}/s){stats.finish ? ` · ${stats.finish}` : ''}
        </p>
      )}
    </section>
  );
}
