import cliProgress from 'cli-progress';
import type { Command } from 'commander';
import { saveTrainedTokenizer, trainByteLevelBpe } from '../../tokenizers/bpe-trainer.js';
import { readDocuments } from '../../train/sources.js';
import type { CliIO } from '../io.js';
import { positiveInt } from '../options.js';
import { formatDuration } from '../progress.js';

interface TrainTokenizerFlags {
  data: string;
  vocabSize: number;
  out: string;
  minFrequency: number;
  specialTokens?: string;
  field?: string;
  json: boolean;
}

/** Largest vocabulary the trainer takes (its ids stay below 2^24). */
const MAX_VOCAB = 1 << 24;

export function registerTokenizer(program: Command, io: CliIO): void {
  const group = program.command('tokenizer').description('train tokenizers');

  group
    .command('train')
    .description('train a byte-level BPE tokenizer (GPT-2 style) and write tokenizer.json + tokenizer_config.json')
    .requiredOption('--data <SPEC>', 'a text file, a .jsonl/.json file, a folder of them, or corpus:moby-dick | corpus:sotu | corpus:spam-assassin')
    .requiredOption('--vocab-size <N>', 'vocabulary size, the 256 byte tokens and the special tokens included', positiveInt(MAX_VOCAB))
    .requiredOption('--out <DIR>', 'folder to write tokenizer.json and tokenizer_config.json into')
    .option('--min-frequency <N>', 'merge a pair only if it occurs at least N times', positiveInt(Number.MAX_SAFE_INTEGER), 2)
    .option('--special-tokens <LIST>', 'comma-separated special tokens, given ids 0, 1, ... (default <|endoftext|>; <|im_start|> and <|im_end|> are added for the ChatML template)')
    .option('--field <NAME>', 'JSONL/JSON: the field holding the text (default text)')
    .option('--json', 'print one JSON line with the result (no progress)', false)
    .action((f: TrainTokenizerFlags) => {
      const specialTokens = f.specialTokens === undefined ? undefined : f.specialTokens.split(',').map((t) => t.trim()).filter((t) => t.length > 0);
      // checked here, before any reading: a bad spec fails at once
      const documents = readDocuments(f.data, f.field === undefined ? {} : { field: f.field });
      const progress = new TokenizerProgress(io, f.json);
      const started = performance.now();
      let trained;
      try {
        progress.note(`reading ${f.data}`);
        trained = trainByteLevelBpe(progress.texts(documents), {
          vocabSize: f.vocabSize,
          minFrequency: f.minFrequency,
          ...(specialTokens === undefined ? {} : { specialTokens }),
          onProgress: (merges, target) => progress.merged(merges, target),
        });
      } finally {
        progress.stop();
      }
      saveTrainedTokenizer(f.out, trained);
      const seconds = (performance.now() - started) / 1000;
      const model = (trained.tokenizerJson as { model: { vocab: Record<string, number>; merges: unknown[] } }).model;
      const vocabSize = Object.keys(model.vocab).length;
      const summary = { out: f.out, vocab_size: vocabSize, merges: model.merges.length, seconds: Math.round(seconds * 1000) / 1000 };
      if (f.json) {
        io.out(`${JSON.stringify(summary)}\n`);
        return;
      }
      if (vocabSize < f.vocabSize) io.err(`strata: the text ran out of pairs seen at least ${f.minFrequency} times at ${vocabSize} tokens (of ${f.vocabSize} asked for)\n`);
      io.out(`trained a byte-level BPE tokenizer: ${vocabSize} tokens, ${summary.merges} merges, in ${seconds < 60 ? `${seconds.toFixed(1)}s` : formatDuration(seconds)}\ntokenizer: ${f.out}\n`);
    });
}

/** Reading and merging progress on stderr: a bar on a terminal, a line every 10% otherwise, nothing with --json. */
class TokenizerProgress {
  private bar: cliProgress.SingleBar | null = null;
  private lastTenth = -1;
  private readonly tty = process.stderr.isTTY === true;

  constructor(
    private readonly io: CliIO,
    private readonly quiet: boolean,
  ) {}

  note(message: string): void {
    if (!this.quiet) this.io.err(`strata: ${message}\n`);
  }

  /** The documents' texts, counted as they pass; a note once all are read. */
  *texts(documents: Iterable<{ text: string }>): Generator<string> {
    let count = 0;
    let chars = 0;
    for (const d of documents) {
      count++;
      chars += d.text.length;
      yield d.text;
    }
    this.note(`read ${count.toLocaleString('en-US')} document${count === 1 ? '' : 's'} (${chars.toLocaleString('en-US')} characters); merging`);
  }

  merged(merges: number, target: number): void {
    if (this.quiet) return;
    if (this.tty) {
      if (!this.bar) {
        this.bar = new cliProgress.SingleBar(
          { format: 'merges |{bar}| {value}/{total} ETA {eta_formatted}', hideCursor: true, stream: process.stderr },
          cliProgress.Presets.shades_classic,
        );
        this.bar.start(target, 0);
      }
      this.bar.update(merges);
      return;
    }
    const tenth = target > 0 ? Math.floor((10 * merges) / target) : 10;
    if (tenth === this.lastTenth) return;
    this.lastTenth = tenth;
    this.io.err(`merges ${merges}/${target}\n`);
  }

  stop(): void {
    this.bar?.stop();
    this.bar = null;
  }
}
