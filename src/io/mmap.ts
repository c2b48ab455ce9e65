// Reading weight files without copying them into the JS heap: memory mappings from the native
// addon when it is built, plain reads otherwise.
//
// Mappings are MAP_PRIVATE with PROT_READ | PROT_WRITE: copy-on-write. Tensors are typed-array
// views on them, and writing into one (an in-place update, a fine-tuning step) gives the process
// a private copy of the touched pages; the file never changes, and a stray write cannot fault the
// way it would on a read-only mapping. A mapping lives as long as any view of it (the
// ArrayBuffer's finalizer unmaps it).
//
// Node 20 caps one external ArrayBuffer at 4 GiB, so a larger file is mapped in ranges: one per
// tensor (or group of tensors) that asks for it.

import fs from 'node:fs';
import { constants as bufferConstants } from 'node:buffer';
import { StrataError } from '../errors.js';
import { loadAddon } from '../backend/native.js';

export interface MapOptions {
  /** false reads the file instead of mapping it (default: map when the addon is available) */
  mmap?: boolean;
}

/** The largest range one mapping (or one read) exposes as a single Uint8Array. */
export const MAX_RANGE_BYTES = Math.min(bufferConstants.MAX_LENGTH, 2 ** 32) - 65536;

function ioError(file: string, err: unknown, what: string): StrataError {
  // the addon's message is "mmapFile: '<path>': <problem>"
  const msg = err instanceof Error ? err.message.replace(/^mmapFile: '.*?': /s, '') : String(err);
  return new StrataError('io', file, what ? `${what} (${msg})` : msg);
}

/** A weight file opened for reading: its size, and its bytes by range. */
export class MappedFile {
  readonly file: string;
  readonly size: number;
  /** whether ranges are views on memory mappings (else copies read from the file) */
  readonly mapped: boolean;
  private whole: Uint8Array | null = null;

  private constructor(file: string, size: number, mapped: boolean) {
    this.file = file;
    this.size = size;
    this.mapped = mapped;
  }

  /** Opens `file`; missing files, directories, special and empty files are StrataError('io'). */
  static open(file: string, options: MapOptions = {}): MappedFile {
    let stat: fs.Stats;
    try {
      stat = fs.statSync(file);
    } catch (err) {
      throw ioError(file, err, 'cannot read file');
    }
    if (stat.isDirectory()) throw new StrataError('io', file, 'is a directory, not a file');
    if (!stat.isFile()) throw new StrataError('io', file, 'is not a regular file');
    if (stat.size === 0) throw new StrataError('io', file, 'is empty');
    const lib = options.mmap === false ? null : loadAddon();
    const mf = new MappedFile(file, stat.size, typeof lib?.mmapFile === 'function');
    if (mf.size <= MAX_RANGE_BYTES) mf.whole = mf.load(0, mf.size);
    return mf;
  }

  /** Bytes [start, end) of the file: a view of one mapping (or a copy without the addon). */
  range(start: number, end: number): Uint8Array {
    if (!(Number.isSafeInteger(start) && Number.isSafeInteger(end) && 0 <= start && start <= end && end <= this.size)) {
      throw new StrataError('io', this.file, `byte range [${start}, ${end}) is outside the ${this.size}-byte file`);
    }
    if (this.whole) return this.whole.subarray(start, end);
    if (end - start > MAX_RANGE_BYTES) {
      throw new StrataError('io', this.file, `a single tensor of ${end - start} bytes exceeds the ${MAX_RANGE_BYTES} bytes one buffer can hold`);
    }
    return start === end ? new Uint8Array(0) : this.load(start, end - start);
  }

  private load(offset: number, length: number): Uint8Array {
    const lib = this.mapped ? loadAddon() : null;
    if (lib) {
      try {
        return new Uint8Array(lib.mmapFile(this.file, offset, length));
      } catch (err) {
        throw ioError(this.file, err, '');
      }
    }
    const out = new Uint8Array(length);
    let fd: number | null = null;
    try {
      fd = fs.openSync(this.file, 'r');
      let done = 0;
      while (done < length) {
        const n = fs.readSync(fd, out, done, length - done, offset + done);
        if (n === 0) throw new Error(`the file ended after ${offset + done} bytes (it changed while being read?)`);
        done += n;
      }
    } catch (err) {
      throw ioError(this.file, err, 'cannot read file');
    } finally {
      if (fd !== null) fs.closeSync(fd);
    }
    return out;
  }
}

/** The whole of `file` (mapped when possible); files past MAX_RANGE_BYTES need MappedFile.range. */
export function mapFile(file: string, options: MapOptions = {}): Uint8Array {
  const mf = MappedFile.open(file, options);
  if (mf.size > MAX_RANGE_BYTES) {
    throw new StrataError('io', file, `is ${mf.size} bytes, more than the ${MAX_RANGE_BYTES} one buffer can hold; read it by range (MappedFile)`);
  }
  return mf.range(0, mf.size);
}

/** Whether the native addon can map files (else reads copy them into memory). */
export function mmapAvailable(): boolean {
  return typeof loadAddon()?.mmapFile === 'function';
}
