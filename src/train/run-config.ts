// The settings file of a training run (RUN/train_config.json): written when a run starts, and
// read back when it resumes, so a resumed run continues with the settings it started with.

import fs from 'node:fs';
import path from 'node:path';
import { writeFileAtomic } from '../io/atomic.js';

export const TRAIN_CONFIG_FILE = 'train_config.json';

/**
 * The config a resumed run continues with: the saved one, with only `steps` allowed to change
 * (settings added to the program since the run started take the given values).
 */
export function resumedConfig<C extends { out: string; steps: number }>(given: C): C {
  const file = path.join(given.out, TRAIN_CONFIG_FILE);
  if (!fs.existsSync(file)) return given;
  const saved = JSON.parse(fs.readFileSync(file, 'utf8')) as C;
  return { ...given, ...saved, steps: given.steps, out: given.out };
}

/**
 * The settings a run trains with, validated (the saved ones when resuming), after creating the run
 * folder and writing them to train_config.json (without `out`, so a run folder can move).
 */
export function startRunConfig<C extends { out: string; steps: number }, V extends C>(given: C, resume: boolean, validate: (c: C) => V): V {
  const c = validate(resume ? resumedConfig(given) : given);
  fs.mkdirSync(c.out, { recursive: true });
  writeFileAtomic(path.join(c.out, TRAIN_CONFIG_FILE), [Buffer.from(`${JSON.stringify({ ...c, out: undefined }, null, 2)}\n`)]);
  return c;
}
