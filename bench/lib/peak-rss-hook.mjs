// Preloaded with `node --import` into a process the bench does not write (the strata CLI): on
// exit it writes that process's peak resident set (VmHWM), in bytes, to $STRATA_BENCH_RSS_OUT.
import { readFileSync, writeFileSync } from 'node:fs';

const out = process.env.STRATA_BENCH_RSS_OUT;
if (out) {
  process.on('exit', () => {
    const kb = Number(/^VmHWM:\s+(\d+) kB/m.exec(readFileSync('/proc/self/status', 'utf8'))?.[1] ?? NaN);
    writeFileSync(out, JSON.stringify({ peakRss: kb * 1024 }));
  });
}
