#!/usr/bin/env node
// Entry of the `strata` bin (bin/strata.js imports the built dist/cli/main.js).
import { runCli } from './program.js';

process.exitCode = await runCli(process.argv);
