import type { Command } from 'commander';
import { loadForInference } from '../../pipelines/load.js';
import fs from 'node:fs';
import path from 'node:path';
import { SPEECH_LM_DIR, loadSpeechLanguageModel } from '../../pipelines/speech-lm.js';
import type { CliIO } from '../io.js';
import { bytesPerElement, type DType } from '../../tensor/dtype.js';

function storageBytes(dtype: DType, size: number, data: { byteLength: number }, full: boolean): number {
  // quantized tensors hold their blocks; the storage's byte length is exact for whole tensors
  return full ? data.byteLength : size * bytesPerElement(dtype);
}

function human(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB'];
  let v = bytes;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return `${v.toFixed(u ? 1 : 0)} ${units[u]}`;
}

export function registerInspect(program: Command, io: CliIO): void {
  program
    .command('inspect')
    .description("a model's architecture, parameters, dtypes, memory and card")
    .argument('<PATH>', 'a Hugging Face model directory or a .gguf file')
    .option('--json', 'print one JSON line', false)
    .action(async (p: string, f: { json: boolean }) => {
      const m = await loadForInference(p);
      const dtypes: Record<string, { tensors: number; parameters: number; bytes: number }> = {};
      let parameters = 0;
      let bytes = 0;
      const seen = new Set<unknown>();
      for (const [, t] of m.model.namedParameters()) {
        const d = (dtypes[t.dtype] ??= { tensors: 0, parameters: 0, bytes: 0 });
        d.tensors++;
        d.parameters += t.size;
        parameters += t.size;
        const b = storageBytes(t.dtype, t.size, t.data, t.data.length === t.size || !['f32', 'f64', 'f16', 'bf16', 'i32', 'u8', 'bool'].includes(t.dtype));
        if (!seen.has(t)) bytes += b;
        d.bytes += b;
        seen.add(t);
      }
      // a speech model's word LM (language_model/), which transcription decodes with
      const slm = m.format === 'hf' && fs.existsSync(path.join(m.path, SPEECH_LM_DIR)) ? loadSpeechLanguageModel(m.path) : null;
      const languageModel = slm ? { order: slm.lm.order, words: slm.lm.words.length, alpha: slm.alpha, beta: slm.beta, num_beams: slm.numBeams } : null;
      const report = {
        path: m.path,
        format: m.format,
        model_type: m.modelType,
        architecture: m.architecture,
        parameters,
        memory_bytes: bytes,
        dtypes,
        tokenizer: m.tokenizer ? { vocab_size: m.tokenizer.vocabSize, special: m.tokenizer.special, chat_template: !!m.tokenizer.chatTemplate } : null,
        card: m.card,
        language_model: languageModel,
        ...m.info,
      };
      if (f.json) {
        io.out(`${JSON.stringify(report)}\n`);
        return;
      }
      const c = m.card;
      io.out(`${m.architecture} (${m.modelType}, ${m.format}) — ${m.path}\n`);
      io.out(`parameters: ${parameters.toLocaleString('en-US')}   memory: ${human(bytes)}\n`);
      io.out(`dtypes: ${Object.entries(dtypes).map(([k, v]) => `${k} ${v.tensors} tensors / ${human(v.bytes)}`).join(', ')}\n`);
      if (m.tokenizer) io.out(`tokenizer: ${m.tokenizer.vocabSize} tokens${m.tokenizer.chatTemplate ? ', chat template' : ''}\n`);
      if (languageModel) io.out(`language model: word ${languageModel.order}-gram of ${languageModel.words.toLocaleString('en-US')} words (${SPEECH_LM_DIR}/; alpha ${languageModel.alpha}, beta ${languageModel.beta}, ${languageModel.num_beams} beams)\n`);
      io.out(`card:\n  families: ${c.families.join(', ')}\n  input → output: ${c.inputModalities.join(', ')} → ${c.outputModalities.join(', ')}\n`);
      io.out(`  architecture: ${c.architecture}\n  adaptability: ${c.adaptability.join(', ')}\n  applications: ${c.applications.join(', ')}\n`);
    });
}
