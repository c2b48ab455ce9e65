// The OpenAI-compatible endpoints, called with the official `openai` client against a real server
// on a free port: models with cards, chat (plain, streamed, n, stop, logprobs, max_tokens),
// completions, embeddings, transcriptions.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI, { toFile } from 'openai';
import { createServer, type StrataServer } from '../../src/serve/server.js';
import { loadForInference } from '../../src/pipelines/load.js';
import { embedTexts } from '../../src/pipelines/encoder.js';
import { loadSpeechRecognizer, transcribe } from '../../src/pipelines/transcribe.js';
import { readWav } from '../../src/io/audio.js';
import { toMono16k } from '../../src/audio/resample.js';
import { readFileSync } from 'node:fs';
import { FIXTURES_DIR } from '../helpers/fixtures.js';
import path from 'node:path';
import type { BertForMaskedLM } from '../../src/models/bert.js';
import { writeServeModels, type ServeModels } from './models.js';

const WHISPER = path.join(FIXTURES_DIR, 'models', 'whisper');
const WAV = path.join(FIXTURES_DIR, 'audio', 'wav-pcm16.wav');
let models: ServeModels;
let server: StrataServer;
let client: OpenAI;

before(async () => {
  models = writeServeModels();
  server = await createServer({
    models: [
      { path: models.llama, id: 'tiny-llama' },
      { path: models.bert, id: 'tiny-bert' },
      { path: WHISPER, id: 'tiny-whisper' },
    ],
    port: 0,
  });
  client = new OpenAI({ baseURL: `${await server.listen()}/v1`, apiKey: 'unused', maxRetries: 0 });
});

after(() => server.close());

const user = (content: string) => [{ role: 'user' as const, content }];

/** Streams a chat completion and returns each choice's text, finish reason and the chunks seen. */
async function streamChat(params: Omit<OpenAI.ChatCompletionCreateParamsStreaming, 'stream' | 'model'>) {
  const stream = await client.chat.completions.create({ model: 'tiny-llama', ...params, stream: true });
  const text: string[] = [];
  const finish: (string | null)[] = [];
  const chunks: OpenAI.ChatCompletionChunk[] = [];
  for await (const chunk of stream) {
    chunks.push(chunk);
    for (const c of chunk.choices) {
      text[c.index] = (text[c.index] ?? '') + (c.delta.content ?? '');
      if (c.finish_reason) finish[c.index] = c.finish_reason;
    }
  }
  return { text, finish, chunks };
}

describe('strata serve: the OpenAI API', () => {
  test('GET /v1/models lists every model with its card', async () => {
    const list = await client.models.list();
    const byId = new Map(list.data.map((m) => [m.id, m as OpenAI.Model & { card: Record<string, unknown> }]));
    assert.deepEqual([...byId.keys()].sort(), ['tiny-bert', 'tiny-llama', 'tiny-whisper']);
    assert.deepEqual(byId.get('tiny-whisper')!.card.input_modalities, ['audio']);
    const llama = byId.get('tiny-llama')!;
    assert.equal(llama.object, 'model');
    assert.equal(llama.owned_by, 'strata');
    assert.ok(Number.isInteger(llama.created));
    const card = llama.card;
    assert.ok(Array.isArray(card.families) && (card.families as string[]).includes('large-language'));
    assert.match(String(card.architecture), /decoder-only/);
    assert.deepEqual(card.input_modalities, ['text']);
    assert.deepEqual(card.output_modalities, ['text']);
    for (const field of ['adaptability', 'applications']) assert.ok(Array.isArray(card[field]) && (card[field] as unknown[]).length > 0, field);
    assert.match(JSON.stringify(byId.get('tiny-bert')!.card), /encoder/);
    const one = await client.models.retrieve('tiny-llama');
    assert.equal(one.id, 'tiny-llama');
  });

  test('chat: streamed deltas add up to the non-streamed text (greedy, and seeded sampling)', async () => {
    for (const sampling of [{ temperature: 0, seed: 1 }, { temperature: 0.9, top_p: 0.95, seed: 11 }]) {
      const params = { messages: user('Hello there, how are you?'), max_tokens: 24, ...sampling };
      const whole = await client.chat.completions.create({ model: 'tiny-llama', ...params });
      assert.equal(whole.object, 'chat.completion');
      assert.match(whole.id, /^chatcmpl-/);
      assert.equal(whole.model, 'tiny-llama');
      const [choice] = whole.choices;
      assert.equal(choice!.message.role, 'assistant');
      assert.equal(typeof choice!.message.content, 'string');
      assert.ok(['stop', 'length'].includes(choice!.finish_reason));
      assert.ok(whole.usage!.prompt_tokens > 5);
      assert.equal(whole.usage!.total_tokens, whole.usage!.prompt_tokens + whole.usage!.completion_tokens);

      const streamed = await streamChat({ ...params, stream_options: { include_usage: true } });
      assert.equal(streamed.text[0], choice!.message.content);
      assert.equal(streamed.finish[0], choice!.finish_reason);
      assert.equal(streamed.chunks[0]!.choices[0]!.delta.role, 'assistant');
      assert.ok(streamed.chunks.every((c) => c.object === 'chat.completion.chunk' && c.id === streamed.chunks[0]!.id));
      const last = streamed.chunks.at(-1)!;
      assert.deepEqual(last.choices, []);
      assert.deepEqual(last.usage, whole.usage);
    }
  });

  test('chat: n = 2 gives two choices, streamed and not', async () => {
    const params = { messages: user('Tell me a story'), max_tokens: 12, temperature: 1, seed: 5, n: 2 };
    const whole = await client.chat.completions.create({ model: 'tiny-llama', ...params });
    assert.deepEqual(
      whole.choices.map((c) => c.index),
      [0, 1],
    );
    const streamed = await streamChat(params);
    assert.deepEqual(streamed.text, whole.choices.map((c) => c.message.content));
    assert.deepEqual(streamed.finish, whole.choices.map((c) => c.finish_reason));
    // the prompt is counted once, the completions of both choices
    const single = await client.chat.completions.create({ model: 'tiny-llama', ...params, n: 1 });
    assert.equal(whole.usage!.prompt_tokens, single.usage!.prompt_tokens);
    assert.equal(whole.choices[0]!.message.content, single.choices[0]!.message.content);
  });

  test('chat: a stop string cuts the text before it', async () => {
    const params = { model: 'tiny-llama', messages: user('Once upon a time'), max_tokens: 40, temperature: 1, seed: 3 };
    const free = (await client.chat.completions.create(params)).choices[0]!.message.content!;
    assert.ok(free.length >= 12, `need a longer sample: ${JSON.stringify(free)}`);
    const stop = free.slice(8, 11);
    const expected = free.slice(0, free.indexOf(stop));
    const stopped = await client.chat.completions.create({ ...params, stop: [stop, '\u0000never'] });
    assert.equal(stopped.choices[0]!.message.content, expected);
    assert.equal(stopped.choices[0]!.finish_reason, 'stop');
    const streamed = await streamChat({ messages: params.messages, max_tokens: 40, temperature: 1, seed: 3, stop });
    assert.equal(streamed.text[0], expected);
    assert.equal(streamed.finish[0], 'stop');
  });

  test('chat: max_tokens bounds the completion', async () => {
    const r = await client.chat.completions.create({ model: 'tiny-llama', messages: user('Count'), max_tokens: 5, temperature: 0 });
    assert.ok(r.usage!.completion_tokens <= 5);
    if (r.choices[0]!.finish_reason === 'length') assert.equal(r.usage!.completion_tokens, 5);
    const r2 = await client.chat.completions.create({ model: 'tiny-llama', messages: user('Count'), max_completion_tokens: 3, temperature: 0 });
    assert.ok(r2.usage!.completion_tokens <= 3);
  });

  test('chat: logprobs with top alternatives, one per generated token', async () => {
    const r = await client.chat.completions.create({ model: 'tiny-llama', messages: user('Hi'), max_tokens: 6, temperature: 0, logprobs: true, top_logprobs: 3 });
    const content = r.choices[0]!.logprobs!.content!;
    assert.equal(content.length, r.usage!.completion_tokens);
    assert.equal(content.map((t) => t.token).join(''), r.choices[0]!.message.content);
    for (const t of content) {
      assert.ok(t.logprob <= 0);
      assert.equal(t.top_logprobs.length, 3);
      assert.deepEqual(t.bytes, [...Buffer.from(t.token)]);
      for (let i = 1; i < 3; i++) assert.ok(t.top_logprobs[i - 1]!.logprob >= t.top_logprobs[i]!.logprob);
      // greedy: the chosen token is the most likely one
      assert.equal(t.top_logprobs[0]!.token, t.token);
      assert.ok(Math.abs(t.top_logprobs[0]!.logprob - t.logprob) < 1e-6);
    }
    const streamed = await client.chat.completions.create({ model: 'tiny-llama', messages: user('Hi'), max_tokens: 6, temperature: 0, logprobs: true, top_logprobs: 3, stream: true });
    const seen: OpenAI.ChatCompletionTokenLogprob[] = [];
    for await (const c of streamed) seen.push(...(c.choices[0]?.logprobs?.content ?? []));
    assert.deepEqual(seen, content);
    const plain = await client.chat.completions.create({ model: 'tiny-llama', messages: user('Hi'), max_tokens: 2 });
    assert.equal(plain.choices[0]!.logprobs, null);
  });

  test('completions: text and token-id prompts, streaming, legacy logprobs', async () => {
    const r = await client.completions.create({ model: 'tiny-llama', prompt: 'The quick brown fox', max_tokens: 8, temperature: 0, logprobs: 2 });
    assert.equal(r.object, 'text_completion');
    const c = r.choices[0]!;
    assert.equal(c.logprobs!.tokens!.length, r.usage!.completion_tokens);
    assert.equal(c.logprobs!.tokens!.join(''), c.text);
    assert.ok(c.logprobs!.top_logprobs!.every((t) => Object.keys(t).length <= 2));
    assert.equal(c.logprobs!.text_offset![0], 0);

    // the same prompt as token ids gives the same continuation
    const { tokenizer } = await loadForInference(models.llama);
    const ids = tokenizer!.encode('The quick brown fox', { addSpecialTokens: true });
    const byIds = await client.completions.create({ model: 'tiny-llama', prompt: ids, max_tokens: 8, temperature: 0 });
    assert.equal(byIds.choices[0]!.text, c.text);
    assert.equal(byIds.usage!.prompt_tokens, ids.length);

    const stream = await client.completions.create({ model: 'tiny-llama', prompt: 'The quick brown fox', max_tokens: 8, temperature: 0, stream: true });
    let text = '';
    let finish: string | null = null;
    for await (const chunk of stream) {
      text += chunk.choices[0]?.text ?? '';
      finish = chunk.choices[0]?.finish_reason ?? finish;
    }
    assert.equal(text, c.text);
    assert.equal(finish, c.finish_reason);

    // two prompts, n = 2: choices numbered prompt × n + sample
    const batch = await client.completions.create({ model: 'tiny-llama', prompt: ['Hello', 'The quick brown fox'], n: 2, max_tokens: 8, temperature: 0 });
    assert.deepEqual(batch.choices.map((x) => x.index), [0, 1, 2, 3]);
    assert.equal(batch.choices[2]!.text, c.text);
  });

  test('embeddings: unit-length mean-pooled vectors, base64 (the client default) and float alike', async () => {
    const texts = ['the cat', 'a dog was in the city of paris'];
    const b64 = await client.embeddings.create({ model: 'tiny-bert', input: texts });
    const floats = await client.embeddings.create({ model: 'tiny-bert', input: texts, encoding_format: 'float' });
    assert.equal(b64.object, 'list');
    assert.equal(b64.data.length, 2);
    const m = await loadForInference(models.bert);
    const expected = embedTexts((m.model as BertForMaskedLM).encoder, m.tokenizer!, texts, { pooling: 'mean', normalize: true });
    b64.data.forEach((d, i) => {
      assert.equal(d.index, i);
      assert.equal(d.embedding.length, 32);
      const norm = Math.hypot(...d.embedding);
      assert.ok(Math.abs(norm - 1) < 1e-5, `norm ${norm}`);
      d.embedding.forEach((x, k) => {
        assert.ok(Math.abs(x - expected[i]![k]!) < 1e-6);
        assert.ok(Math.abs(x - floats.data[i]!.embedding[k]!) < 1e-6);
      });
    });
    assert.ok(b64.usage.prompt_tokens > 4);
    const one = await client.embeddings.create({ model: 'tiny-bert', input: 'the cat', encoding_format: 'float' });
    one.data[0]!.embedding.forEach((x, k) => assert.ok(Math.abs(x - floats.data[0]!.embedding[k]!) < 1e-6));
  });

  test('audio transcriptions: a Whisper model transcribes a WAV upload as transcribe() does, in every response format', async () => {
    const r = await loadSpeechRecognizer(WHISPER);
    const samples = toMono16k(readWav(WAV));
    const base = { generationConfig: r.generationConfig, features: r.features, language: 'en' };
    const expected = transcribe(r.model, r.tokenizer, samples, base);
    const timed = transcribe(r.model, r.tokenizer, samples, { ...base, timestamps: true });
    const file = async () => toFile(readFileSync(WAV), 'speech.wav', { type: 'audio/wav' });

    const json = await client.audio.transcriptions.create({ model: 'tiny-whisper', file: await file(), language: 'en' });
    assert.equal(json.text, expected.text);
    const text = await client.audio.transcriptions.create({ model: 'tiny-whisper', file: await file(), language: 'en', response_format: 'text' });
    assert.equal(text, expected.text);
    const verbose = await client.audio.transcriptions.create({ model: 'tiny-whisper', file: await file(), language: 'en', response_format: 'verbose_json' });
    assert.equal(verbose.text, timed.text);
    assert.equal(verbose.language, 'en');
    assert.ok(Math.abs(verbose.duration - samples.length / 16000) < 1e-9);
    assert.deepEqual(verbose.segments!.map((s) => [s.id, s.start, s.end, s.text]), timed.segments!.map((s, i) => [i, s.start, s.end, s.text]));
    const srt = await client.audio.transcriptions.create({ model: 'tiny-whisper', file: await file(), language: 'en', response_format: 'srt' });
    assert.equal(String(srt).split('\n\n').filter((c) => c.trim()).length, timed.segments!.length);
    if (timed.segments!.length) assert.match(String(srt), /^1\n\d\d:\d\d:\d\d,\d{3} --> \d\d:\d\d:\d\d,\d{3}\n/);
    const vtt = await client.audio.transcriptions.create({ model: 'tiny-whisper', file: await file(), language: 'en', response_format: 'vtt' });
    assert.match(String(vtt), /^WEBVTT\n/);

    const translated = await client.audio.translations.create({ model: 'tiny-whisper', file: await file() });
    assert.equal(translated.text, transcribe(r.model, r.tokenizer, samples, { generationConfig: r.generationConfig, features: r.features, task: 'translate' }).text);
  });

  test('audio transcriptions: text models cannot transcribe; other containers, bad WAV and unknown languages are 400', async () => {
    const wav = readFileSync(WAV);
    await assert.rejects(
      client.audio.transcriptions.create({ model: 'tiny-llama', file: await toFile(wav, 'hello.wav', { type: 'audio/wav' }) }),
      (e: unknown) => e instanceof OpenAI.BadRequestError && /model 'tiny-llama' cannot transcribe audio/i.test(e.message) && e.param === 'model',
    );
    const mp3 = Buffer.concat([Buffer.from('ID3\u0004\u0000\u0000\u0000\u0000\u0000\u0000', 'latin1'), Buffer.alloc(256)]);
    await assert.rejects(
      client.audio.transcriptions.create({ model: 'tiny-whisper', file: await toFile(mp3, 'song.mp3', { type: 'audio/mpeg' }) }),
      (e: unknown) => e instanceof OpenAI.BadRequestError && /decodes WAV audio only; 'song.mp3' is mp3/.test(e.message),
    );
    const broken = Buffer.concat([wav.subarray(0, 12), Buffer.from('junkjunkjunk')]);
    await assert.rejects(
      client.audio.transcriptions.create({ model: 'tiny-whisper', file: await toFile(broken, 'broken.wav', { type: 'audio/wav' }) }),
      (e: unknown) => e instanceof OpenAI.BadRequestError && /not a WAV file this server can read/.test(e.message) && e.param === 'file',
    );
    await assert.rejects(
      client.audio.transcriptions.create({ model: 'tiny-whisper', file: await toFile(wav, 'a.wav', { type: 'audio/wav' }), language: 'klingon' }),
      (e: unknown) => e instanceof OpenAI.BadRequestError && /language 'klingon'/.test(e.message),
    );
    await assert.rejects(
      client.audio.transcriptions.create({ model: 'tiny-whisper', file: await toFile(wav, 'a.wav', { type: 'audio/wav' }), response_format: 'pdf' as never }),
      (e: unknown) => e instanceof OpenAI.BadRequestError && e.param === 'response_format',
    );
  });
});
