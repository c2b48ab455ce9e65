// Imported first by main.ts, before the program and its commands are loaded: V8 flags that must
// be set before any JS is hot, and the collector's before the program allocates much.
// `strata generate` runs without the optimizing compiler unless given --no-low-memory, and any
// command with --low-memory does too (src/cli/memory.ts); set once the command runs, TurboFan has
// already compiled the CLI's start and its code pages are resident, ≈ 4 MB of the 7.5 MB the flag
// saves.
import { lowMemoryByArgv, withoutOptimizingCompiler } from './memory.js';
import { useMainThreadGc } from '../backend/threads.js';

if (lowMemoryByArgv(process.argv.slice(2))) withoutOptimizingCompiler();
// the strata command computes: V8's collector stays off the cores the kernel pool uses
useMainThreadGc();
