#!/usr/bin/env node
// Entry of the `strata` bin (bin/strata.js imports the built dist/cli/main.js).
import './early.js'; // first: V8 flags that must precede the program's code
import { runCli } from './program.js';

// `strata ... | head`: once the reader has gone, stop quietly as other command-line tools do,
// rather than die on an unhandled EPIPE with a stack trace
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(process.exitCode ?? 0);
    throw err;
  });
}

process.exitCode = await runCli(process.argv);
