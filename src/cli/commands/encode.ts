import type { Command } from 'commander';
import { StrataError } from '../../errors.js';
import { setThreads } from '../../backend/threads.js';
import { BertForMaskedLM, BertModel } from '../../models/bert.js';
import { embedTexts, fillMask } from '../../pipelines/encoder.js';
import { loadForInference } from '../../pipelines/load.js';
import type { CliIO } from '../io.js';
import { positiveInt } from '../options.js';

interface EmbedFlags {
  model: string;
  pooling: 'mean' | 'cls';
  normalize: boolean;
  threads?: number;
  json: boolean;
}

interface FillMaskFlags {
  model: string;
  topK: number;
  threads?: number;
  json: boolean;
}

export function registerEncode(program: Command, io: CliIO): void {
  program
    .command('embed')
    .description('sentence embeddings from an encoder (feature extraction)')
    .argument('<TEXT...>', 'texts to embed')
    .requiredOption('--model <PATH>', 'a Hugging Face encoder directory (BERT, RoBERTa)')
    .option('--pooling <MODE>', 'mean over tokens or the first (cls) token', 'mean')
    .option('--normalize', 'scale vectors to unit length', false)
    .option('--threads <N>', 'native threads', positiveInt(1024))
    .option('--json', 'print one JSON line', false)
    .action(async (texts: string[], f: EmbedFlags) => {
      if (f.pooling !== 'mean' && f.pooling !== 'cls') throw new StrataError('argument', 'embed', `--pooling must be mean or cls, got '${f.pooling}'`);
      if (f.threads) setThreads(f.threads);
      const m = await loadForInference(f.model);
      const encoder = m.model instanceof BertModel ? m.model : 'encoder' in m.model && m.model.encoder instanceof BertModel ? m.model.encoder : null;
      if (!encoder || !m.tokenizer) throw new StrataError('unsupported', 'embed', `${m.architecture} is not an encoder with a tokenizer`);
      const vectors = embedTexts(encoder, m.tokenizer, texts, { pooling: f.pooling, normalize: f.normalize });
      if (f.json) io.out(`${JSON.stringify({ model: m.path, dim: vectors[0]?.length ?? 0, embeddings: vectors })}\n`);
      else vectors.forEach((v, i) => io.out(`${texts[i]}\t[${v.slice(0, 8).map((x) => x.toFixed(4)).join(', ')}${v.length > 8 ? ', …' : ''}] (${v.length})\n`));
    });

  program
    .command('fill-mask')
    .description('predict the masked token(s) of a text with a masked language model')
    .argument('<TEXT>', 'text holding the mask token ([MASK] or <mask>)')
    .requiredOption('--model <PATH>', 'a Hugging Face masked-LM directory (BertForMaskedLM, RobertaForMaskedLM)')
    .option('--top-k <K>', 'predictions per mask', positiveInt(1000), 5)
    .option('--threads <N>', 'native threads', positiveInt(1024))
    .option('--json', 'print one JSON line', false)
    .action(async (text: string, f: FillMaskFlags) => {
      if (f.threads) setThreads(f.threads);
      const m = await loadForInference(f.model);
      if (!(m.model instanceof BertForMaskedLM) || !m.tokenizer) throw new StrataError('unsupported', 'fill-mask', `${m.architecture} is not a masked language model with a tokenizer`);
      const preds = fillMask(m.model, m.tokenizer, text, f.topK);
      if (f.json) io.out(`${JSON.stringify({ masks: preds })}\n`);
      else
        preds.forEach((list, i) => {
          io.out(`mask ${i + 1}:\n`);
          for (const p of list) io.out(`  ${p.score.toFixed(4)}  ${p.tokenStr}\t${p.sequence}\n`);
        });
    });
}
