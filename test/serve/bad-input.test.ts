// Bad input never gets a 5xx: malformed JSON, wrong types, unknown models, empty and oversized
// bodies, token budgets past the limits, the wrong kind of model, non-audio uploads, image parts
// for a text model. Each answer is a 4xx in OpenAI's error shape, and the server keeps serving.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import OpenAI, { toFile } from 'openai';
import { createServer, type StrataServer } from '../../src/serve/server.js';
import { writeServeModels } from './models.js';

let server: StrataServer;
let url = '';
let client: OpenAI;

before(async () => {
  const models = writeServeModels(1024);
  server = await createServer({ models: [{ path: models.llama, id: 'tiny-llama' }, { path: models.bert, id: 'tiny-bert' }], port: 0, maxTokensLimit: 600, maxBodyBytes: 1024 * 1024 });
  url = await server.listen();
  client = new OpenAI({ baseURL: `${url}/v1`, apiKey: 'unused', maxRetries: 0 });
});

after(() => server.close());

interface ErrorBody {
  error: { message: string; type: string; param: string | null; code: string | null };
}

async function post(path: string, body: string | undefined, headers: Record<string, string> = { 'content-type': 'application/json' }): Promise<{ status: number; body: ErrorBody }> {
  const r = await fetch(`${url}${path}`, { method: 'POST', headers, body });
  return { status: r.status, body: (await r.json()) as ErrorBody };
}

function assertOpenAIError(r: { status: number; body: ErrorBody }, status: number, message: RegExp, param?: string | null): void {
  assert.equal(r.status, status, JSON.stringify(r.body));
  assert.deepEqual(Object.keys(r.body.error).sort(), ['code', 'message', 'param', 'type']);
  assert.match(r.body.error.message, message);
  assert.equal(r.body.error.type, status === 429 ? 'rate_limit_error' : 'invalid_request_error');
  if (param !== undefined) assert.equal(r.body.error.param, param);
}

/** Sends a request that declares (or streams) a body over the limit; resolves with the status the server answers. */
function oversized(mode: 'declared' | 'streamed'): Promise<number> {
  return new Promise((resolve, reject) => {
    const u = new URL(`${url}/v1/chat/completions`);
    const headers: Record<string, string | number> = { 'content-type': 'application/json' };
    if (mode === 'declared') headers['content-length'] = 200 * 1024 * 1024;
    const req = http.request({ host: u.hostname, port: u.port, path: u.pathname, method: 'POST', headers }, (res) => {
      res.resume();
      resolve(res.statusCode!);
      req.destroy();
    });
    req.on('error', (e) => (req.destroyed ? undefined : reject(e)));
    const chunk = Buffer.alloc(64 * 1024, 0x20);
    let sent = 0;
    req.write('{"model": "tiny-llama", "messages": [], "pad": "');
    const pump = () => {
      // stop once the server has answered, or well past its 1 MB limit
      while (!req.destroyed && sent < 4 * 1024 * 1024) {
        sent += chunk.length;
        if (!req.write(chunk)) return void req.once('drain', pump);
      }
    };
    pump();
  });
}

const chat = (extra: Record<string, unknown>) => JSON.stringify({ model: 'tiny-llama', messages: [{ role: 'user', content: 'Hi' }], max_tokens: 4, ...extra });

describe('strata serve: bad input gets a 4xx in OpenAI shape', () => {
  test('malformed JSON, an empty body, a non-object body, a wrong content type', async () => {
    assertOpenAIError(await post('/v1/chat/completions', '{"model": "tiny-llama", "messages": ['), 400, /not valid JSON/, null);
    assertOpenAIError(await post('/v1/chat/completions', ''), 400, /empty/);
    assertOpenAIError(await post('/v1/chat/completions', undefined, {}), 400, /request body/);
    assertOpenAIError(await post('/v1/chat/completions', '[1, 2]'), 400, /expected object/);
    assertOpenAIError(await post('/v1/completions', 'null'), 400, /./);
    assertOpenAIError(await post('/v1/chat/completions', 'hello', { 'content-type': 'text/plain' }), 400, /expected object/);
    const xml = await post('/v1/chat/completions', '<chat/>', { 'content-type': 'application/xml' });
    assert.equal(xml.status, 415);
    assert.match(xml.body.error.message, /application\/xml.*Send application\/json/);
  });

  test('wrong types and out-of-range values name the parameter', async () => {
    assertOpenAIError(await post('/v1/chat/completions', chat({ max_tokens: '5' })), 400, /Invalid type for 'max_tokens'.*integer/, 'max_tokens');
    assertOpenAIError(await post('/v1/chat/completions', chat({ temperature: 'hot' })), 400, /'temperature'/, 'temperature');
    assertOpenAIError(await post('/v1/chat/completions', chat({ temperature: 7 })), 400, /'temperature'.*<= 2/, 'temperature');
    assertOpenAIError(await post('/v1/chat/completions', chat({ stop: 5 })), 400, /'stop'.*string or array/, 'stop');
    assertOpenAIError(await post('/v1/chat/completions', chat({ messages: 'hi' })), 400, /'messages'/, 'messages');
    assertOpenAIError(await post('/v1/chat/completions', chat({ messages: [{ role: 'wizard', content: 'x' }] })), 400, /'messages\[0\]\.role'/, 'messages[0].role');
    assertOpenAIError(await post('/v1/chat/completions', JSON.stringify({ model: 'tiny-llama' })), 400, /Missing required parameter: 'messages'/, 'messages');
    assertOpenAIError(await post('/v1/chat/completions', chat({ n: 0 })), 400, /'n'/, 'n');
    assertOpenAIError(await post('/v1/chat/completions', chat({ top_logprobs: 2 })), 400, /top_logprobs needs logprobs/, 'top_logprobs');
    assertOpenAIError(await post('/v1/embeddings', JSON.stringify({ model: 'tiny-bert', input: 42 })), 400, /'input'/, 'input');
    await assert.rejects(
      client.chat.completions.create({ model: 'tiny-llama', messages: [{ role: 'user', content: 'Hi' }], max_tokens: -3 }),
      (e: unknown) => e instanceof OpenAI.BadRequestError && e.param === 'max_tokens',
    );
  });

  test('an unknown model is 404 model_not_found; an unknown URL is 404', async () => {
    await assert.rejects(
      client.chat.completions.create({ model: 'gpt-9', messages: [{ role: 'user', content: 'Hi' }] }),
      (e: unknown) => e instanceof OpenAI.NotFoundError && e.code === 'model_not_found' && e.param === 'model' && /'gpt-9' does not exist/.test(e.message),
    );
    await assert.rejects(client.embeddings.create({ model: 'nope', input: 'x' }), OpenAI.NotFoundError);
    await assert.rejects(client.models.retrieve('nope'), OpenAI.NotFoundError);
    const r = await fetch(`${url}/v2/everything`);
    assert.equal(r.status, 404);
    assert.match(((await r.json()) as ErrorBody).error.message, /Unknown request URL: GET \/v2\/everything/);
  });

  test('a body over the limit is 413, whether declared by Content-Length (200 MB) or streamed', async () => {
    assert.equal(await oversized('declared'), 413);
    assert.equal(await oversized('streamed'), 413);
    const r = await post('/v1/embeddings', JSON.stringify({ model: 'tiny-bert', input: 'x'.repeat(2 * 1024 * 1024) }));
    assertOpenAIError(r, 413, /larger than this server accepts/);
  });

  test('max_tokens past the server limit or past the context is 400', async () => {
    assertOpenAIError(await post('/v1/chat/completions', chat({ max_tokens: 601 })), 400, /at most 600/, 'max_tokens');
    assertOpenAIError(await post('/v1/chat/completions', chat({ max_tokens: undefined, max_completion_tokens: 700 })), 400, /at most 600/, 'max_completion_tokens');
    const long = Array.from({ length: 500 }, (_, i) => 3 + (i % 200));
    const r = await post('/v1/completions', JSON.stringify({ model: 'tiny-llama', prompt: long, max_tokens: 600 }));
    assertOpenAIError(r, 400, /maximum context length is 1024 tokens.*1100 tokens \(500 in the prompt, 600 for the completion\)/, 'max_tokens');
    assert.equal(r.body.error.code, 'context_length_exceeded');
    const full = await post('/v1/completions', JSON.stringify({ model: 'tiny-llama', prompt: Array.from({ length: 1024 }, () => 5) }));
    assertOpenAIError(full, 400, /leaves no room/, 'prompt');
    assertOpenAIError(await post('/v1/completions', JSON.stringify({ model: 'tiny-llama', prompt: [999999] })), 400, /out of range/);
  });

  test('the wrong kind of model: embeddings from a decoder, chat with an encoder', async () => {
    await assert.rejects(
      client.embeddings.create({ model: 'tiny-llama', input: 'hello' }),
      (e: unknown) => e instanceof OpenAI.BadRequestError && /decoder-only language model: it does not produce embeddings/.test(e.message),
    );
    await assert.rejects(
      client.chat.completions.create({ model: 'tiny-bert', messages: [{ role: 'user', content: 'Hi' }] }),
      (e: unknown) => e instanceof OpenAI.BadRequestError && /encoder: it does not generate text/.test(e.message),
    );
  });

  test('an image part for a text-only model is 400', async () => {
    const png = 'data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==';
    await assert.rejects(
      client.chat.completions.create({
        model: 'tiny-llama',
        messages: [{ role: 'user', content: [{ type: 'text', text: 'What is this?' }, { type: 'image_url', image_url: { url: png } }] }],
      }),
      (e: unknown) => e instanceof OpenAI.BadRequestError && /does not accept images/.test(e.message) && e.param === 'messages[0].content[1]',
    );
    // text parts alone are fine
    const ok = await client.chat.completions.create({ model: 'tiny-llama', messages: [{ role: 'user', content: [{ type: 'text', text: 'Hi' }] }], max_tokens: 2 });
    assert.equal(ok.choices.length, 1);
  });

  test('transcriptions: a non-audio upload, a missing file, a missing model', async () => {
    await assert.rejects(
      client.audio.transcriptions.create({ model: 'tiny-llama', file: await toFile(Buffer.from('just some text, not audio'), 'notes.wav', { type: 'audio/wav' }) }),
      (e: unknown) => e instanceof OpenAI.BadRequestError && /'notes.wav' is not audio/.test(e.message) && e.param === 'file',
    );
    const noFile = new FormData();
    noFile.set('model', 'tiny-llama');
    assertOpenAIError(await post('/v1/audio/transcriptions', noFile as unknown as string, {}), 400, /Missing required parameter: 'file'/, 'file');
    const noModel = new FormData();
    noModel.set('file', new Blob([Buffer.from('RIFF0000WAVE')]), 'a.wav');
    assertOpenAIError(await post('/v1/audio/transcriptions', noModel as unknown as string, {}), 400, /'model'/, 'model');
    assertOpenAIError(await post('/v1/audio/transcriptions', '{}'), 400, /multipart\/form-data/);
  });

  test('after all of that the server still serves, and /metrics shows no 5xx', async () => {
    const r = await client.chat.completions.create({ model: 'tiny-llama', messages: [{ role: 'user', content: 'Still there?' }], max_tokens: 3 });
    assert.equal(r.choices.length, 1);
    const metrics = await (await fetch(`${url}/metrics`)).text();
    assert.match(metrics, /strata_http_requests_total\{route="\/v1\/chat\/completions",method="POST",status="400"\} \d+/);
    assert.match(metrics, /status="413"/);
    assert.doesNotMatch(metrics, /status="5\d\d"/);
  });
});
