import v8 from 'node:v8';
import vm from 'node:vm';

/**
 * Keeps V8's young generation at its initial size (1 MB) instead of letting it double up to
 * 16 MB. Decoding allocates small tensors every token; in a large young generation their
 * backing stores pile up between scavenges, ≈ 20 MB of a `strata generate` process's peak RSS
 * on a 133 MB model. Scavenging the small generation more often costs no measurable time there,
 * but training keeps many tensors alive across a step and runs 4–13% slower with it, so only the
 * commands that load a model to run it call this. The flag is read whenever new space resizes,
 * so setting it after start takes effect (the semi-space maximum, by contrast, is fixed at start).
 */
export function keepYoungGenerationSmall(): void {
  v8.setFlagsFromString('--semi-space-growth-factor=1');
}

let minorGc: (() => void) | null | undefined;

/**
 * A function that runs a young-generation collection (a scavenge), for a decode loop to call
 * after each token; null where V8 does not offer one. A decode step leaves ≈ 1 MB of tensor
 * buffers behind, outside V8's heap, and V8 scavenges only when its young generation of JS
 * objects fills, every 3–4 tokens on a 768-wide model: those buffers pile up in malloc's heap
 * meanwhile. Collecting each step frees them while they are the last step's, ≈ 3 MB less at the
 * peak of a `strata generate` run on the 133 MB Q8_0 bench model, for ≈ 0.5 ms a token (the
 * young generation is 1 MB, see keepYoungGenerationSmall, and holds little that survives).
 */
export function youngCollector(): (() => void) | null {
  if (minorGc === undefined) {
    minorGc = null;
    try {
      // --expose-gc at run time puts gc() on contexts created after it, not on this one
      v8.setFlagsFromString('--expose-gc');
      const gc: unknown = vm.runInNewContext('gc');
      if (typeof gc === 'function') minorGc = () => (gc as (o: { type: 'minor' }) => void)({ type: 'minor' });
    } catch {
      minorGc = null;
    }
  }
  return minorGc;
}

/**
 * Turns V8's optimizing compiler (TurboFan) off for the rest of the process: its code pages in
 * Node's binary and its compilation zones and worker threads are ≈ 7.5 MB of a `strata generate`
 * run's peak (the 133 MB Q8_0 bench model: 177.6 -> 169.9 MB, 1.33x -> 1.28x the file, when set
 * before the CLI's code runs, see ./early.ts). The JS around the kernels then runs on the baseline
 * tiers; a llama-family decode step runs on raw rows (src/models/llama-decode.ts), so little of it
 * is left: on that model greedy decoding is ≈ 10% slower on 1 thread (97-110 against 108-122
 * tok/s) and no slower on 2 (234-246 against 223-226: in a short run, TurboFan's compiling takes
 * CPU from the kernels).
 */
export function withoutOptimizingCompiler(): void {
  v8.setFlagsFromString('--no-opt');
}

/**
 * Whether a CLI invocation runs without the optimizing compiler: `generate` does by default (a
 * one-shot run where the kernels do the work and the process floor is a large part of a small
 * model's footprint; `--no-low-memory` keeps TurboFan), except with beam search (`--num-beams`
 * above 1), whose scoring walks every beam's vocabulary in JavaScript and ran 2x slower without it
 * (3.4 against 1.65 s for 64 tokens, 4 beams, the 133 MB Q8_0 bench model); any command given
 * `--low-memory` does. args are the arguments after the script; the command is the first that is
 * not an option.
 */
export function lowMemoryByArgv(args: readonly string[]): boolean {
  if (args.includes('--no-low-memory')) return false;
  if (args.includes('--low-memory')) return true;
  if (args.find((a) => !a.startsWith('-')) !== 'generate') return false;
  const at = args.findIndex((a) => a === '--num-beams' || a.startsWith('--num-beams='));
  const beams = at < 0 ? 1 : Number(args[at]!.includes('=') ? args[at]!.split('=')[1] : args[at + 1]);
  return !(beams > 1);
}
