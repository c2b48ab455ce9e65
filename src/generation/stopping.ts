import type { TextDecoder } from './generate.js';

const REPLACEMENT = '\uFFFD';

/**
 * Incremental text for a growing list of token ids: hands out only text that is final — not a
 * dangling partial UTF-8 character, and not a tail that could still become a stop string — and
 * reports when a stop string appears (the text is cut before it).
 */
export class StopStrings {
  private readonly ids: number[] = [];
  private readonly stream: { push(id: number): string; flush(): string } | null;
  /** text decoded so far (with a stream: only complete characters) */
  private decodedText = '';
  private emitted = 0;
  private final: string | null = null;
  private readonly longest: number;

  constructor(
    private readonly stops: readonly string[],
    private readonly tokenizer: TextDecoder,
  ) {
    this.longest = Math.max(0, ...stops.map((s) => s.length));
    this.stream = tokenizer.createDecodeStream?.({ skipSpecialTokens: true }) ?? null;
  }

  /** Adds a token; returns the new final text and whether a stop string ended the output. */
  push(token: number): { delta: string; stopped: boolean } {
    if (this.final !== null) return { delta: '', stopped: true };
    this.ids.push(token);
    // a stream decodes only the new token; otherwise decode everything again
    const text = this.stream ? (this.decodedText += this.stream.push(token)) : (this.decodedText = this.tokenizer.decode(this.ids, { skipSpecialTokens: true }));
    let cut = -1;
    for (const s of this.stops) {
      if (!s) continue;
      const at = text.indexOf(s, Math.max(0, this.emitted - this.longest));
      if (at >= 0 && (cut < 0 || at < cut)) cut = at;
    }
    if (cut >= 0) {
      this.final = text.slice(0, cut);
      const delta = this.final.slice(this.emitted);
      this.emitted = this.final.length;
      return { delta, stopped: true };
    }
    let safe = text.length;
    while (safe > this.emitted && text[safe - 1] === REPLACEMENT) safe--;
    safe -= this.pendingStopPrefix(text.slice(0, safe));
    if (safe <= this.emitted) return { delta: '', stopped: false };
    const delta = text.slice(this.emitted, safe);
    this.emitted = safe;
    return { delta, stopped: false };
  }

  /** Length of the longest tail of `text` that is a proper prefix of a stop string. */
  private pendingStopPrefix(text: string): number {
    let best = 0;
    for (const s of this.stops) {
      for (let n = Math.min(s.length - 1, text.length); n > best; n--) {
        if (text.endsWith(s.slice(0, n))) {
          best = n;
          break;
        }
      }
    }
    return best;
  }

  /** Everything not yet handed out (at the end of generation). */
  flush(): string {
    const text = this.text();
    const delta = text.slice(this.emitted);
    this.emitted = text.length;
    return delta;
  }

  /** The whole output text, cut before a stop string if one appeared. */
  text(): string {
    if (this.final === null && this.stream) {
      this.decodedText += this.stream.flush();
    }
    return this.final ?? this.decodedText;
  }
}
