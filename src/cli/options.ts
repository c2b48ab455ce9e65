import { type Command, InvalidArgumentError } from 'commander';

/**
 * A commander argument parser for an integer in [1, max]. Accepts plain decimal digits only:
 * "1e3", "0x10", "2.0" and "-3" are refused rather than silently reinterpreted.
 */
export function positiveInt(max: number): (value: string) => number {
  return (value: string): number => {
    if (!/^\d+$/.test(value.trim())) throw new InvalidArgumentError('Expected a positive integer.');
    const n = Number(value);
    if (n < 1) throw new InvalidArgumentError('Expected a positive integer.');
    if (n > max) throw new InvalidArgumentError(`The most allowed is ${max}.`);
    return n;
  };
}

/** An integer >= 0 in plain decimal digits. */
export function nonNegativeInt(value: string): number {
  if (!/^\d+$/.test(value.trim())) throw new InvalidArgumentError('Expected an integer >= 0.');
  return Number(value);
}

/** A finite number > 0. */
export function positiveNumber(value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n <= 0) throw new InvalidArgumentError('Expected a number > 0.');
  return n;
}

/** A number in [0, 1) (a share of something, such as a held-out fraction). */
export function fraction(value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n < 0 || n >= 1) throw new InvalidArgumentError('Expected a number in [0, 1).');
  return n;
}

/** A number in [0, 1]. */
export function unitFraction(value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n < 0 || n > 1) throw new InvalidArgumentError('Expected a number in [0, 1].');
  return n;
}

/** A finite number in [min, max], named in the error. */
export function numberIn(name: string, min: number, max: number): (value: string) => number {
  return (value: string): number => {
    const n = Number(value);
    if (value.trim() === '' || !Number.isFinite(n) || n < min || n > max) throw new InvalidArgumentError(`${name} must be a number in [${min}, ${max}].`);
    return n;
  };
}

/** Any integer in plain decimal digits (a seed may be negative). */
export function integer(name: string): (value: string) => number {
  return (value: string): number => {
    if (!/^-?\d+$/.test(value.trim())) throw new InvalidArgumentError(`${name} must be an integer.`);
    return Number(value);
  };
}

/** A repeatable flag: each use adds one value. */
export function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

/** The flags of every command that generates text (generate, chat and the task commands). */
export interface SamplingFlags {
  model: string;
  maxTokens?: number;
  temperature?: number;
  topP?: number;
  topK?: number;
  minP?: number;
  repetitionPenalty?: number;
  presencePenalty?: number;
  frequencyPenalty?: number;
  seed?: number;
  threads?: number;
  stop?: string[];
  json: boolean;
}

/** Adds --model, the sampling flags, --threads and --json to a command that generates text. */
export function addSamplingFlags(cmd: Command): Command {
  return cmd
    .requiredOption('--model <PATH>', 'a Hugging Face model directory or a .gguf file')
    .option('--max-tokens <N>', 'most tokens to generate', positiveInt(1 << 20))
    .option('--temperature <T>', 'sampling temperature (0 = greedy)', numberIn('temperature', 0, 100))
    .option('--top-p <P>', 'nucleus sampling mass', numberIn('top-p', 1e-9, 1))
    .option('--top-k <K>', 'sample among the K most likely tokens', positiveInt(1 << 20))
    .option('--min-p <P>', 'drop tokens below P times the best one', numberIn('min-p', 0, 1))
    .option('--repetition-penalty <R>', 'penalize tokens already seen (1 = off)', numberIn('repetition-penalty', 1e-3, 100))
    .option('--presence-penalty <X>', 'OpenAI presence penalty', numberIn('presence-penalty', -2, 2))
    .option('--frequency-penalty <X>', 'OpenAI frequency penalty', numberIn('frequency-penalty', -2, 2))
    .option('--seed <S>', 'random seed', integer('seed'))
    .option('--stop <TEXT>', 'stop string (repeatable)', collect)
    .option('--threads <N>', 'native threads', positiveInt(1024))
    .option('--json', 'print one JSON line', false);
}
