// Runs the strata CLI in this process (runCli, as bin/strata.js does) and collects what it prints.
import { runCli } from '../../src/cli/program.js';

export interface CliRun {
  status: number;
  stdout: string;
  stderr: string;
}

/** `strata ARGS...`: the exit status and the text written to stdout and stderr. */
export async function strata(...args: string[]): Promise<CliRun> {
  let stdout = '';
  let stderr = '';
  const status = await runCli(['node', 'strata', ...args], { out: (t) => void (stdout += t), err: (t) => void (stderr += t) });
  return { status, stdout, stderr };
}
