// Weight files through memory mappings (src/io/mmap.ts): whole files and byte ranges, files
// larger than one 4 GiB buffer, the copy-on-write guarantee, the read fallback, and clear errors.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as S from '../../src/index.js';
import { MappedFile, mapFile, mmapAvailable, parseGguf, readGguf, readSafetensors, serializeGguf, writeSafetensors } from '../../src/io/index.js';
import { loadAddon, readMappedRows } from '../../src/backend/native.js';

function withDir(fn: (dir: string) => void): void {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'strata-mmap-'));
  try {
    fn(dir);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

const ioError = (fn: () => unknown, re: RegExp) => assert.throws(fn, (e: unknown) => e instanceof S.StrataError && e.code === 'io' && re.test(e.message));

test('whole files and ranges, mapped or read, are the same bytes', () => {
  withDir((dir) => {
    const file = path.join(dir, 'f.bin');
    const bytes = Uint8Array.from({ length: 70000 }, (_, i) => (i * 31) & 255);
    fs.writeFileSync(file, bytes);
    for (const mmap of [true, false]) {
      const mf = MappedFile.open(file, { mmap });
      assert.equal(mf.size, 70000);
      assert.equal(mf.mapped, mmap && mmapAvailable());
      assert.deepEqual(mf.range(65530, 65540), bytes.subarray(65530, 65540));
      assert.equal(mf.range(5, 5).length, 0);
      assert.deepEqual(mapFile(file, { mmap }), bytes);
      ioError(() => mf.range(69999, 70001), /outside the 70000-byte file/);
    }
    ioError(() => mapFile(path.join(dir, 'missing')), /cannot read file/);
    ioError(() => mapFile(dir), /is a directory/);
    fs.writeFileSync(path.join(dir, 'empty'), '');
    ioError(() => mapFile(path.join(dir, 'empty')), /is empty/);
  });
});

test('safetensors tensors are copy-on-write views of the mapping', () => {
  withDir((dir) => {
    const file = path.join(dir, 'model.safetensors');
    const w = S.randn([16, 16]);
    writeSafetensors(file, { w, h: w.to('f16') });
    const { tensors } = readSafetensors(file);
    if (mmapAvailable()) assert.equal(tensors.w!.data.buffer.byteLength, fs.statSync(file).size, 'a view of the whole-file mapping');
    assert.deepEqual(tensors.w!.toArray(), w.toArray());
    (tensors.w!.data as Float32Array).fill(7); // writes go to private pages, never to the file
    assert.deepEqual(readSafetensors(file).tensors.w!.toArray(), w.toArray());
    assert.deepEqual(readSafetensors(file, { mmap: false }).tensors.h!.toArray(), w.to('f16').toArray());
  });
});

test('a GGUF file past 4 GiB is mapped range by range (a sparse file)', () => {
  withDir((dir) => {
    const file = path.join(dir, 'big.gguf');
    const a = S.tensor([1, 2, 3, 4]);
    const b = S.randn([2, 32]).to('q8_0');
    const image = serializeGguf({ tensors: { a, b } });
    const parsed = parseGguf(image);
    // move b's data past 4 GiB: patch its offset in the header and write it there
    const far = 2 ** 32 + 4096;
    const offsetField = image.lastIndexOf(0x62) + 1 + 4 + 2 * 8 + 4; // after "b", n_dims, ne, type
    new DataView(image.buffer).setBigUint64(offsetField, BigInt(far), true);
    const fd = fs.openSync(file, 'w');
    try {
      fs.writeSync(fd, image, 0, parsed.dataOffset + 32);
      fs.writeSync(fd, b.data as Uint8Array, 0, b.nbytes, parsed.dataOffset + far);
    } finally {
      fs.closeSync(fd);
    }
    assert.ok(fs.statSync(file).size > 2 ** 32);
    for (const mmap of [true, false]) {
      const r = readGguf(file, { mmap });
      assert.deepEqual(r.tensors.a!.toArray(), [1, 2, 3, 4]);
      assert.equal(r.tensorInfos[1]!.fileOffset, parsed.dataOffset + far);
      assert.deepEqual(r.tensors.b!.data, b.data);
      assert.deepEqual(r.tensors.b!.to('f32').toArray(), b.to('f32').toArray());
    }
    ioError(() => mapFile(file), /more than the \d+ one buffer can hold/);
  });
});

test('rows of a mapped table are read from the file: the same bytes, without mapping their pages', { skip: mmapAvailable() ? false : 'no native mmap' }, () => {
  withDir((dir) => {
    const file = path.join(dir, 'table.bin');
    // 2,000 rows of 100 bytes after a 37-byte header; read rows are 60 bytes of each
    const bytes = Uint8Array.from({ length: 37 + 2000 * 100 }, (_, i) => (i * 131 + (i >> 8)) & 255);
    fs.writeFileSync(file, bytes);
    const table = mapFile(file).subarray(37);
    const ids = Int32Array.from([0, 1999, 5, 5, 1024]);
    const rows = readMappedRows(table, 100, 60, ids);
    assert.ok(rows);
    const want = Uint8Array.from([...ids].flatMap((r) => [...bytes.subarray(37 + r * 100, 37 + r * 100 + 60)]));
    assert.deepEqual(rows, want);
    // a copy in memory is not a mapping: the caller reads it in place
    assert.equal(readMappedRows(table.slice(), 100, 60, ids), null);
    // rows outside the table are refused, not read
    assert.throws(() => readMappedRows(table, 100, 60, Int32Array.from([2000])), /row 2000 is outside src/);
    assert.throws(() => readMappedRows(table, 100, 60, Int32Array.from([-1])), /outside src/);
    // hostile calls to the addon itself: wrong types, a short output, a fractional stride
    const lib = loadAddon()!;
    assert.throws(() => lib.readMappedRows(table, 100, 60, Float32Array.from([1]) as unknown as Int32Array, new Uint8Array(60)), /ids must be an Int32Array/);
    assert.throws(() => lib.readMappedRows(table, 100, 60, Int32Array.from([1, 2]), new Uint8Array(100)), /out holds fewer/);
    assert.throws(() => lib.readMappedRows(table, 100.5, 60, Int32Array.from([1]), new Uint8Array(60)), /ld/);
    assert.throws(() => lib.readMappedRows([1, 2] as unknown as Uint8Array, 1, 1, Int32Array.from([0]), new Uint8Array(1)), /src must be a typed array/);
    // the path now names another file: the mapping's bytes are not that file's, so no rows come from it
    const other = mapFile(file);
    fs.rmSync(file);
    fs.writeFileSync(file, new Uint8Array(bytes.length));
    assert.equal(readMappedRows(other.subarray(37), 100, 60, ids), null);
  });
});

test('a quantized embedding on a mapped GGUF reads its rows from the file, with the values read in place', () => {
  withDir((dir) => {
    const file = path.join(dir, 'emb.gguf');
    const w = S.randn([300, 64], { generator: new S.Generator(2) });
    const q = w.to('q8_0');
    fs.writeFileSync(file, serializeGguf({ metadata: { 'general.architecture': 'llama' }, tensors: { 'token_embd.weight': q } }));
    const mapped = readGguf(file).tensors['token_embd.weight']!;
    const ids = S.fromArray(Int32Array.from([3, 299, 0, 3, 150]), [5], { dtype: 'i32' });
    const got = S.embedding(mapped, ids);
    assert.deepEqual([...(got.data as Float32Array)], [...(S.embedding(q, ids).data as Float32Array)]);
    assert.deepEqual(got.shape, [5, 64]);
    // the weight is a view of a mapping, so storedEmbedding took its rows from the file
    assert.ok(readMappedRows((mapped.data as Uint8Array), 68, 68, Int32Array.from([0])));
  });
});
