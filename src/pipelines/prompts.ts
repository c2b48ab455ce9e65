import { StrataError } from '../errors.js';

/** One worked example for a few-shot prompt. */
export interface Shot {
  input: string;
  output: string;
}

export interface PromptFormat {
  /** label before each input (default "Input") */
  inputLabel?: string;
  /** label before each output (default "Output") */
  outputLabel?: string;
}

/** "instruction\n\nInput: …\nOutput:" — the zero-shot pattern a base model continues. */
export function zeroShotPrompt(instruction: string, input: string, format: PromptFormat = {}): string {
  return fewShotPrompt(instruction, [], input, format);
}

/** The instruction, then each example as an input/output pair, then the new input awaiting its output. */
export function fewShotPrompt(instruction: string, shots: readonly Shot[], input: string, format: PromptFormat = {}): string {
  const inLabel = format.inputLabel ?? 'Input';
  const outLabel = format.outputLabel ?? 'Output';
  const parts: string[] = [];
  if (instruction.trim()) parts.push(instruction.trim(), '');
  for (const s of shots) parts.push(`${inLabel}: ${s.input}`, `${outLabel}: ${s.output}`, '');
  parts.push(`${inLabel}: ${input}`, `${outLabel}:`);
  return parts.join('\n');
}

export function summarizationPrompt(text: string, options: { maxWords?: number } = {}): string {
  const limit = options.maxWords ? ` in at most ${options.maxWords} words` : '';
  return zeroShotPrompt(`Summarize the following text${limit}.`, text, { inputLabel: 'Text', outputLabel: 'Summary' });
}

export function translationPrompt(text: string, from: string, to: string): string {
  if (!to.trim()) throw new StrataError('argument', 'translate', 'the target language is empty');
  return zeroShotPrompt(`Translate the following text from ${from || 'its language'} to ${to}.`, text, { inputLabel: from || 'Text', outputLabel: to });
}

export function questionAnsweringPrompt(question: string, context?: string): string {
  const instruction = context ? `Answer the question using the context.\n\nContext: ${context}` : 'Answer the question.';
  return zeroShotPrompt(instruction, question, { inputLabel: 'Question', outputLabel: 'Answer' });
}
