/** Where a command writes. Commands never touch process.stdout directly, so tests can capture them. */
export interface CliIO {
  out(text: string): void;
  err(text: string): void;
}
