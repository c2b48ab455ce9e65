// response_format through the server: constrained decoding makes even a random-weight model's
// output parse as JSON and validate against the schema (checked with ajv); a schema that cannot be
// satisfied or cannot fit in max_tokens is a 400.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Ajv } from 'ajv';
import OpenAI from 'openai';
import { createServer, type StrataServer } from '../../src/serve/server.js';
import { writeServeModels } from './models.js';

let server: StrataServer;
let client: OpenAI;

before(async () => {
  const models = writeServeModels(1024);
  server = await createServer({ models: [{ path: models.llama, id: 'tiny-llama' }], port: 0 });
  client = new OpenAI({ baseURL: `${await server.listen()}/v1`, apiKey: 'unused', maxRetries: 0 });
});

after(() => server.close());

const PERSON = {
  type: 'object',
  properties: {
    name: { type: 'string', minLength: 1, maxLength: 12 },
    age: { type: 'integer', minimum: 0, maximum: 120 },
    crew: { type: 'array', items: { enum: ['Ahab', 'Starbuck', 'Queequeg'] }, maxItems: 3 },
    ok: { type: 'boolean' },
  },
  required: ['name', 'age', 'crew'],
  additionalProperties: false,
};

const messages = [{ role: 'user' as const, content: 'Describe a sailor as JSON.' }];

describe('strata serve: response_format', () => {
  test('json_schema: every sample parses and validates, streamed or not', async () => {
    const validate = new Ajv().compile(PERSON);
    const response_format = { type: 'json_schema' as const, json_schema: { name: 'person', schema: PERSON, strict: true } };
    for (const seed of [1, 2, 3]) {
      const r = await client.chat.completions.create({ model: 'tiny-llama', messages, max_tokens: 80, temperature: 1, seed, response_format, n: 2 });
      for (const c of r.choices) {
        const value = JSON.parse(c.message.content!) as unknown;
        assert.ok(validate(value), `${c.message.content} does not validate: ${JSON.stringify(validate.errors)}`);
        assert.equal(c.finish_reason, 'stop');
      }
      const stream = await client.chat.completions.create({ model: 'tiny-llama', messages, max_tokens: 80, temperature: 1, seed, response_format, stream: true });
      let text = '';
      for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? '';
      assert.equal(text, r.choices[0]!.message.content);
    }
  });

  test('json_object: any JSON object', async () => {
    const r = await client.chat.completions.create({ model: 'tiny-llama', messages, max_tokens: 40, temperature: 1, seed: 4, response_format: { type: 'json_object' } });
    const value = JSON.parse(r.choices[0]!.message.content!) as unknown;
    assert.equal(typeof value, 'object');
    assert.ok(value !== null && !Array.isArray(value));
  });

  test('a schema no value satisfies, or whose shortest value exceeds max_tokens, is 400', async () => {
    const impossible = [
      { type: 'object', properties: { a: { type: 'string', minLength: 5, maxLength: 2 } }, required: ['a'] },
      { type: 'object', properties: { a: { type: 'integer', enum: ['x', 'y'] } }, required: ['a'] },
    ];
    for (const schema of impossible) {
      await assert.rejects(
        client.chat.completions.create({ model: 'tiny-llama', messages, max_tokens: 40, response_format: { type: 'json_schema', json_schema: { name: 'x', schema } } }),
        (e: unknown) => e instanceof OpenAI.BadRequestError && e.param === 'response_format' && /json schema: #\/properties\/a/.test(e.message),
      );
    }
    const long = { type: 'object', properties: { text: { type: 'string', minLength: 200 } }, required: ['text'] };
    await assert.rejects(
      client.chat.completions.create({ model: 'tiny-llama', messages, max_tokens: 20, response_format: { type: 'json_schema', json_schema: { name: 'x', schema: long } } }),
      (e: unknown) => e instanceof OpenAI.BadRequestError && e.param === 'response_format' && /max_tokens/.test(e.message),
    );
    await assert.rejects(
      client.chat.completions.create({ model: 'tiny-llama', messages, response_format: { type: 'json_schema', json_schema: { name: 'x' } } as never }),
      (e: unknown) => e instanceof OpenAI.BadRequestError && /json_schema\.schema/.test(e.message),
    );
    // and the server goes on
    const r = await client.chat.completions.create({ model: 'tiny-llama', messages, max_tokens: 30, response_format: { type: 'json_object' }, seed: 1 });
    assert.doesNotThrow(() => JSON.parse(r.choices[0]!.message.content!));
  });
});
