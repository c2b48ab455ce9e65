// Server-sent events read from a fetch() body: EventSource cannot POST, and the chat completions
// stream is the answer to a POST. Only `data:` fields matter to the OpenAI stream.

/**
 * Splits SSE text into the data of each event. Feed chunks as they arrive; `push` returns the
 * events completed so far, `end` whatever the stream left without a final blank line.
 */
export class SseParser {
  private buffer = '';

  push(chunk: string): string[] {
    this.buffer += chunk;
    const events: string[] = [];
    // an event ends at a blank line; CRLF, LF and CR all end lines in SSE
    for (;;) {
      const m = /\r\n\r\n|\n\n|\r\r/.exec(this.buffer);
      if (m === null) break;
      const block = this.buffer.slice(0, m.index);
      this.buffer = this.buffer.slice(m.index + m[0].length);
      const data = dataOf(block);
      if (data !== null) events.push(data);
    }
    return events;
  }

  end(): string[] {
    const data = dataOf(this.buffer);
    this.buffer = '';
    return data === null ? [] : [data];
  }
}

function dataOf(block: string): string | null {
  const lines: string[] = [];
  for (const line of block.split(/\r\n|\n|\r/)) {
    if (line.startsWith('data:')) lines.push(line.slice(line.startsWith('data: ') ? 6 : 5));
  }
  return lines.length ? lines.join('\n') : null;
}

/** Yields each event's data from a streaming response body, until the body ends or `[DONE]`. */
export async function* readSse(body: ReadableStream<Uint8Array>): AsyncGenerator<string> {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  const parser = new SseParser();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      const events = done ? [...parser.push(decoder.decode()), ...parser.end()] : parser.push(decoder.decode(value, { stream: true }));
      for (const data of events) {
        if (data === '[DONE]') return;
        yield data;
      }
      if (done) return;
    }
  } finally {
    reader.releaseLock();
  }
}
