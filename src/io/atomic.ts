import fs from 'node:fs';
import path from 'node:path';
import { StrataError } from '../errors.js';

/**
 * Writes a file atomically: the chunks go to a temporary file in the same directory, which is
 * fsynced and renamed over `file`, so a reader (or a crash) never sees a half-written file.
 * `chunks` is consumed lazily; a StrataError it throws (bad input) is passed on unchanged, and
 * nothing is left behind.
 */
export function writeFileAtomic(file: string, chunks: Iterable<Uint8Array>): void {
  const dir = path.dirname(path.resolve(file));
  const tmp = path.join(dir, `.${path.basename(file)}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`);
  const it = chunks[Symbol.iterator]();
  let fd: number | null = null;
  try {
    // the first chunk is planned (and validated) before anything is created
    let r = it.next();
    fd = fs.openSync(tmp, 'wx', 0o644);
    for (; !r.done; r = it.next()) {
      const b = r.value;
      let written = 0;
      while (written < b.byteLength) written += fs.writeSync(fd, b, written, b.byteLength - written);
    }
    fs.fsyncSync(fd);
    fs.closeSync(fd);
    fd = null;
    fs.renameSync(tmp, file);
  } catch (err) {
    if (fd !== null) fs.closeSync(fd);
    fs.rmSync(tmp, { force: true });
    if (err instanceof StrataError) throw err;
    throw new StrataError('io', file, `cannot write file (${err instanceof Error ? err.message : String(err)})`);
  }
  // make the rename itself durable
  fsyncDir(dir);
}

/** fsyncs a directory so a rename inside it survives a crash (best effort: not every platform allows it). */
export function fsyncDir(dir: string): void {
  try {
    const dfd = fs.openSync(dir, 'r');
    try {
      fs.fsyncSync(dfd);
    } finally {
      fs.closeSync(dfd);
    }
  } catch {
    // best effort
  }
}
