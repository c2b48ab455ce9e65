import type { Command } from 'commander';
import type { CliIO } from '../io.js';

/** Adds one command group (e.g. `strata bench ...`) under the root program. */
export type RegisterCommand = (program: Command, io: CliIO) => void;

/** A command group: the commands it adds, and its module, imported only when it is needed. */
export interface CommandGroup {
  readonly commands: readonly string[];
  readonly load: () => Promise<RegisterCommand>;
}

/**
 * Every command group of the `strata` CLI, one file each under commands/. To add one
 * (generate, serve, train, ...): write commands/<name>.ts exporting a RegisterCommand and list it
 * here with the commands it adds. A run imports only the group of the command it names, so
 * `strata generate` does not carry training, audio, vision or the HTTP stack in its memory; a
 * command missing from `commands` still works (every group is then loaded), and
 * test/cli/commands.test.ts says which names are missing.
 */
export const commandGroups = {
  asr: { commands: ['train-asr'], load: async () => (await import('./asr.js')).registerAsr },
  bench: { commands: ['bench'], load: async () => (await import('./bench.js')).registerBench },
  caption: { commands: ['caption', 'train-captioner'], load: async () => (await import('./caption.js')).registerCaption },
  clip: { commands: ['train-clip', 'classify-image', 'similarity'], load: async () => (await import('./clip.js')).registerClip },
  generate: { commands: ['generate', 'chat'], load: async () => (await import('./generate.js')).registerGenerate },
  encode: { commands: ['embed', 'fill-mask'], load: async () => (await import('./encode.js')).registerEncode },
  inspect: { commands: ['inspect'], load: async () => (await import('./inspect.js')).registerInspect },
  serve: { commands: ['serve'], load: async () => (await import('./serve.js')).registerServe },
  tasks: { commands: ['summarize', 'translate', 'classify', 'answer', 'complete'], load: async () => (await import('./tasks.js')).registerTasks },
  models: { commands: ['models'], load: async () => (await import('./models.js')).registerModels },
  tokenizer: { commands: ['tokenizer'], load: async () => (await import('./tokenizer.js')).registerTokenizer },
  train: { commands: ['pretrain', 'finetune', 'eval', 'export'], load: async () => (await import('./train.js')).registerTrain },
  transcribe: { commands: ['transcribe'], load: async () => (await import('./transcribe.js')).registerTranscribe },
} as const satisfies Record<string, CommandGroup>;

export type CommandGroupName = keyof typeof commandGroups;

/** The groups a run needs: the one listing the command argv names, else all (help, a typo, an unlisted command). */
export function groupsFor(argv: readonly string[]): CommandGroup[] {
  // argv is [node, script, ...]; the root program has no options that take a value
  const name = argv.slice(2).find((a) => !a.startsWith('-'));
  const all: CommandGroup[] = Object.values(commandGroups);
  const named = all.filter((g) => name !== undefined && g.commands.includes(name));
  return named.length ? named : all;
}

/** Registers the groups `argv` needs (every group when argv is omitted), in the order listed above. */
export async function registerCommands(program: Command, io: CliIO, argv?: readonly string[]): Promise<void> {
  for (const group of argv ? groupsFor(argv) : Object.values(commandGroups)) (await group.load())(program, io);
}
