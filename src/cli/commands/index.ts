import type { Command } from 'commander';
import type { CliIO } from '../io.js';
import { registerAsr } from './asr.js';
import { registerBench } from './bench.js';
import { registerCaption } from './caption.js';
import { registerClip } from './clip.js';
import { registerEncode } from './encode.js';
import { registerGenerate } from './generate.js';
import { registerInspect } from './inspect.js';
import { registerServe } from './serve.js';
import { registerTasks } from './tasks.js';
import { registerModels } from './models.js';
import { registerTokenizer } from './tokenizer.js';
import { registerTrain } from './train.js';
import { registerTranscribe } from './transcribe.js';

/** Adds one command group (e.g. `strata bench ...`) under the root program. */
export type RegisterCommand = (program: Command, io: CliIO) => void;

/**
 * Every command group of the `strata` CLI, one file each under commands/. To add one
 * (generate, serve, train, ...): write commands/<name>.ts exporting a RegisterCommand and list it here.
 */
export const commandGroups = {
  asr: registerAsr,
  bench: registerBench,
  caption: registerCaption,
  clip: registerClip,
  generate: registerGenerate,
  encode: registerEncode,
  inspect: registerInspect,
  serve: registerServe,
  tasks: registerTasks,
  models: registerModels,
  tokenizer: registerTokenizer,
  train: registerTrain,
  transcribe: registerTranscribe,
} as const satisfies Record<string, RegisterCommand>;

export type CommandGroupName = keyof typeof commandGroups;

export function registerCommands(program: Command, io: CliIO): void {
  for (const register of Object.values(commandGroups)) register(program, io);
}
