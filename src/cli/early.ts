// Imported first by main.ts, before the program and its commands are loaded: V8 flags that
// must be set before any JS is hot. `--low-memory` turns the optimizing compiler off
// (src/cli/memory.ts); set once the command runs, TurboFan has already compiled the CLI's start
// and its code pages are resident, ≈ 4 MB of the 7 MB the flag saves.
import { withoutOptimizingCompiler } from './memory.js';

if (process.argv.includes('--low-memory')) withoutOptimizingCompiler();
