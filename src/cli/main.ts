#!/usr/bin/env node
// Entry of the `strata` bin (bin/strata.js imports the built dist/cli/main.js).
import './early.js'; // first: V8 flags that must precede the program's code
import { runCli } from './program.js';

process.exitCode = await runCli(process.argv);
