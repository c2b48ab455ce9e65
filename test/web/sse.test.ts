// The playground's SSE reader (web/src/sse.ts), fed the way a network delivers a stream: split at
// any byte, with any of the line endings SSE allows.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SseParser, readSse } from '../../web/src/sse.js';

test('events split across chunks, CRLF/LF/CR endings, multi-line data, comments and other fields', () => {
  const text = ': keep-alive\n\ndata: {"a":1}\n\nevent: x\r\ndata: line one\r\ndata:line two\r\n\r\nid: 3\rdata: cr\r\rdata: [DONE]\n\n';
  const want = ['{"a":1}', 'line one\nline two', 'cr', '[DONE]'];
  for (let cut = 0; cut <= text.length; cut++) {
    const p = new SseParser();
    const got = [...p.push(text.slice(0, cut)), ...p.push(text.slice(cut)), ...p.end()];
    assert.deepEqual(got, want, `cut at ${cut}`);
  }
});

test('a stream without a final blank line still yields its last event', () => {
  const p = new SseParser();
  assert.deepEqual(p.push('data: a\n\ndata: b'), ['a']);
  assert.deepEqual(p.end(), ['b']);
});

test('readSse decodes UTF-8 split inside a character and stops at [DONE]', async () => {
  const bytes = new TextEncoder().encode('data: "héllo 🐋"\n\ndata: [DONE]\n\ndata: after\n\n');
  const body = new ReadableStream<Uint8Array>({
    start(c) {
      for (let i = 0; i < bytes.length; i += 3) c.enqueue(bytes.subarray(i, i + 3));
      c.close();
    },
  });
  const got: string[] = [];
  for await (const d of readSse(body)) got.push(d);
  assert.deepEqual(got, ['"héllo 🐋"']);
});
