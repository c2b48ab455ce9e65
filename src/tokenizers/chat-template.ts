// Chat templates: the Jinja source from tokenizer_config.json (or GGUF `tokenizer.chat_template`)
// rendered with @huggingface/jinja the way transformers' apply_chat_template renders it: the
// messages, tools, add_generation_prompt and the special token strings as variables, and the
// helpers transformers puts in the environment (raise_exception, strftime_now).

import { Environment, Interpreter, Template } from '@huggingface/jinja';
import { StrataError } from '../errors.js';
import type { ChatMessage, ChatTemplateOptions } from './tokenizer.js';

const OP = 'applyChatTemplate';

/** Special token strings a template may refer to (`bos_token`, `eos_token`, ...). */
export type TemplateTokens = Partial<Record<'bos_token' | 'eos_token' | 'unk_token' | 'pad_token' | 'sep_token' | 'cls_token' | 'mask_token', string>>;

/**
 * The chat template(s) of one tokenizer. tokenizer_config.json holds either one template (a
 * string) or a list of named ones (`[{name: 'default', template}, {name: 'tool_use', template}]`).
 */
export class ChatTemplates {
  private readonly sources: Map<string, string>;
  private readonly compiled = new Map<string, Template>();

  private constructor(
    sources: Map<string, string>,
    private readonly tokens: TemplateTokens,
    private readonly origin: string,
  ) {
    this.sources = sources;
  }

  /**
   * Reads a `chat_template` value; undefined when there is none. `origin` names the file and key
   * for messages (e.g. '/models/x/tokenizer_config.json: chat_template').
   */
  static from(value: unknown, tokens: TemplateTokens, origin: string): ChatTemplates | undefined {
    if (value === undefined || value === null) return undefined;
    const sources = new Map<string, string>();
    if (typeof value === 'string') {
      sources.set('default', value);
    } else if (Array.isArray(value)) {
      for (const [i, entry] of value.entries()) {
        const e = entry as { name?: unknown; template?: unknown } | null;
        if (typeof e !== 'object' || e === null || typeof e.name !== 'string' || typeof e.template !== 'string') {
          throw new StrataError('io', origin, `entry ${i} must be an object {name: string, template: string}`);
        }
        sources.set(e.name, e.template);
      }
      if (sources.size === 0) return undefined;
    } else {
      throw new StrataError('io', origin, `must be a string or a list of {name, template}, got ${typeof value}`);
    }
    return new ChatTemplates(sources, tokens, origin);
  }

  /** The source of the template used by default. */
  get defaultSource(): string {
    return this.sources.get('default') ?? this.sources.values().next().value!;
  }

  render(messages: readonly ChatMessage[], options: ChatTemplateOptions = {}): string {
    if (!Array.isArray(messages)) throw new StrataError('argument', OP, 'messages must be an array of {role, content}');
    for (const [i, m] of messages.entries()) {
      if (typeof m !== 'object' || m === null || typeof m.role !== 'string') {
        throw new StrataError('argument', OP, `message ${i} must be an object with a string 'role'`);
      }
    }
    const name = this.pickName(options);
    const template = this.compile(name);
    const now = options.now ?? new Date();
    const variables: Record<string, unknown> = {
      ...this.tokens,
      ...options.extra,
      messages: messages.map((m) => ({ ...m })),
      tools: options.tools ?? null,
      documents: (options.extra?.documents as unknown) ?? null,
      add_generation_prompt: options.addGenerationPrompt ?? false,
    };
    try {
      const env = globals(now);
      for (const [key, value] of Object.entries(variables)) if (!env.variables.has(key)) env.set(key, value);
      return String(new Interpreter(env).run(template.parsed).value);
    } catch (err) {
      if (err instanceof StrataError) throw err;
      throw new StrataError('argument', OP, `rendering ${this.origin} failed: ${(err as Error).message}`);
    }
  }

  private pickName(options: ChatTemplateOptions): string {
    if (options.templateName !== undefined) {
      if (!this.sources.has(options.templateName)) {
        throw new StrataError('argument', OP, `no chat template named '${options.templateName}'; available: ${[...this.sources.keys()].join(', ')}`);
      }
      return options.templateName;
    }
    if (options.tools && this.sources.has('tool_use')) return 'tool_use';
    if (this.sources.has('default')) return 'default';
    return this.sources.keys().next().value!;
  }

  private compile(name: string): Template {
    let template = this.compiled.get(name);
    if (!template) {
      try {
        template = new Template(this.sources.get(name)!);
      } catch (err) {
        throw new StrataError('io', this.origin, `template '${name}' does not parse: ${(err as Error).message}`);
      }
      this.compiled.set(name, template);
    }
    return template;
  }
}

/** Longest list range() may build: a template cannot make Strata allocate without bound. */
const MAX_RANGE = 1_000_000;

/**
 * The environment transformers renders chat templates in: Jinja's constants, range(), and its
 * two helpers, raise_exception (here a StrataError) and strftime_now.
 */
function globals(now: Date): Environment {
  const env = new Environment();
  for (const [name, value] of [['true', true], ['false', false], ['none', null], ['True', true], ['False', false], ['None', null]] as const) env.set(name, value);
  env.set('range', (start: number, stop?: number, step = 1) => {
    if (stop === undefined) [start, stop] = [0, start];
    if (![start, stop, step].every(Number.isInteger) || step === 0) throw new Error('range() takes integers and a non-zero step');
    const count = Math.max(0, Math.ceil((stop - start) / step));
    if (count > MAX_RANGE) throw new Error(`range() of ${count} items is too long`);
    return Array.from({ length: count }, (_, i) => start + i * step);
  });
  env.set('raise_exception', (message: unknown) => {
    throw new StrataError('argument', OP, `the chat template refused the conversation: ${String(message)}`);
  });
  env.set('strftime_now', (format: unknown) => strftime(now, String(format)));
  return env;
}

const MONTHS = ['January', 'February', 'March', 'April', 'May', 'June', 'July', 'August', 'September', 'October', 'November', 'December'];
const DAYS = ['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday'];

/** Python's time.strftime for the directives chat templates use (local time, C locale names). */
export function strftime(date: Date, format: string): string {
  const pad = (n: number, width = 2): string => String(n).padStart(width, '0');
  const dayOfYear = Math.floor((Date.UTC(date.getFullYear(), date.getMonth(), date.getDate()) - Date.UTC(date.getFullYear(), 0, 1)) / 86_400_000) + 1;
  const hour12 = date.getHours() % 12 === 0 ? 12 : date.getHours() % 12;
  return format.replace(/%([a-zA-Z%])/g, (whole, code: string) => {
    switch (code) {
      case 'Y': return String(date.getFullYear());
      case 'y': return pad(date.getFullYear() % 100);
      case 'm': return pad(date.getMonth() + 1);
      case 'd': return pad(date.getDate());
      case 'e': return String(date.getDate()).padStart(2, ' ');
      case 'H': return pad(date.getHours());
      case 'I': return pad(hour12);
      case 'M': return pad(date.getMinutes());
      case 'S': return pad(date.getSeconds());
      case 'p': return date.getHours() < 12 ? 'AM' : 'PM';
      case 'j': return pad(dayOfYear, 3);
      case 'B': return MONTHS[date.getMonth()]!;
      case 'b': return MONTHS[date.getMonth()]!.slice(0, 3);
      case 'A': return DAYS[date.getDay()]!;
      case 'a': return DAYS[date.getDay()]!.slice(0, 3);
      case '%': return '%';
      default: return whole;
    }
  });
}
