import type { Command } from 'commander';
import { InvalidArgumentError } from 'commander';
import { StrataError } from '../../errors.js';
import { setThreads } from '../../backend/threads.js';
import { readWav } from '../../io/audio.js';
import { toMono16k } from '../../audio/resample.js';
import { loadSpeechRecognizer, transcribe } from '../../pipelines/transcribe.js';
import type { CliIO } from '../io.js';
import { positiveInt } from '../options.js';

interface TranscribeFlags {
  model: string;
  language?: string;
  translate: boolean;
  timestamps: boolean;
  temperature?: number;
  seed?: number;
  maxTokens?: number;
  batchSize?: number;
  beams?: number;
  lm: boolean;
  threads?: number;
  json: boolean;
}

function temperature(v: string): number {
  const n = Number(v);
  if (v.trim() === '' || !Number.isFinite(n) || n < 0 || n > 100) throw new InvalidArgumentError('temperature must be a number in [0, 100].');
  return n;
}

function integer(v: string): number {
  if (!/^-?\d+$/.test(v.trim())) throw new InvalidArgumentError('seed must be an integer.');
  return Number(v);
}

/** --beams: 1..16 (OpenAI's Whisper decodes with 5; every beam is one more decoder row each step). */
function beamCount(v: string): number {
  const n = Number(v);
  if (!/^\d+$/.test(v.trim()) || n < 1 || n > 16) throw new StrataError('argument', '--beams', `must be an integer in [1, 16], got '${v}'`);
  return n;
}

const seconds = (x: number) => x.toFixed(2);

export function registerTranscribe(program: Command, io: CliIO): void {
  program
    .command('transcribe')
    .description('speech recognition: transcribe (or translate to English) a WAV file with a Whisper model')
    .argument('<AUDIO>', 'a WAV file (PCM 8/16/24/32-bit or float, any rate, mono or stereo)')
    .requiredOption('--model <PATH>', 'a Hugging Face Whisper directory (config.json, model.safetensors, tokenizer.json)')
    .option('--language <LANG>', 'the spoken language: a code (en), a name (English) or a token (<|en|>); default: detected')
    .option('--translate', 'translate to English instead of transcribing', false)
    .option('--timestamps', 'timed segments', false)
    .option('--temperature <T>', 'sampling temperature (0 = greedy, the default)', temperature)
    .option('--seed <S>', 'random seed when sampling', integer)
    .option('--max-tokens <N>', 'most tokens per window (30 s for released Whisper models)', positiveInt(1 << 16))
    .option('--batch-size <N>', 'windows decoded together', positiveInt(256))
    .option('--beams <N>', "beam search with N beams in each window (1..16; default 1: greedy, or sampled with --temperature; with the model's language model, its attrs.json num_beams)", beamCount)
    .option('--no-lm', "ignore the model's language_model/ folder (word lexicon and n-gram LM): the acoustic model's tokens alone")
    .option('--threads <N>', 'native threads', positiveInt(1024))
    .option('--json', 'print one JSON line: {"text", "language", "segments" (with --timestamps)}', false)
    .action(async (audio: string, f: TranscribeFlags) => {
      if (f.threads) setThreads(f.threads);
      const samples = toMono16k(readWav(audio));
      if (samples.length === 0) throw new StrataError('io', audio, 'holds no audio (zero samples)');
      const r = await loadSpeechRecognizer(f.model);
      const result = transcribe(r.model, r.tokenizer, samples, {
        language: f.language ?? null,
        task: f.translate ? 'translate' : 'transcribe',
        timestamps: f.timestamps,
        generationConfig: r.generationConfig,
        features: r.features,
        temperature: f.temperature,
        seed: f.seed,
        maxTokens: f.maxTokens,
        batchSize: f.batchSize,
        numBeams: f.beams,
        // a sampled transcript (--temperature) is the model's own: the LM decodes greedy or beam search only
        languageModel: f.lm && !(f.temperature && f.temperature > 0) ? r.languageModel : null,
      });
      if (f.json) {
        const out: Record<string, unknown> = { text: result.text, language: result.language };
        if (result.segments) out.segments = result.segments;
        io.out(`${JSON.stringify(out)}\n`);
      } else if (result.segments) {
        for (const s of result.segments) io.out(`[${seconds(s.start)} → ${seconds(s.end)}] ${s.text}\n`);
      } else io.out(`${result.text}\n`);
    });
}
