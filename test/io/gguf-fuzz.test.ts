// Fuzzes the GGUF reader with a few thousand mutated files: byte flips, truncations, absurd
// length / count fields, inserted and deleted bytes. Each must parse or throw StrataError('io')
// (never a crash, a hang, another exception or a huge allocation), and whatever parses must be
// usable: the tensors dequantize and multiply without touching memory outside their file.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as S from '../../src/index.js';
import { parseGguf, serializeGguf } from '../../src/io/index.js';

/** xorshift32: a fixed sequence, so a failure reproduces. */
function rng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s / 2 ** 32;
  };
}

function baseFile(): Uint8Array {
  const g = new S.Generator(99);
  return serializeGguf({
    metadata: {
      'general.architecture': 'llama',
      'llama.block_count': 2,
      'llama.rope.freq_base': 10000,
      'tokenizer.ggml.tokens': ['<s>', '</s>', 'a', 'ab', 'é', '🙂'],
      'tokenizer.ggml.scores': [0, 0, -1, -2, -3, -4],
      'tokenizer.ggml.token_type': [3, 3, 1, 1, 1, 1],
      'x.nested': [[1, 2], [3]],
      'x.u64': 2n ** 40n,
      'x.bools': [true, false],
      'x.f64': { type: 'f64', value: 0.5 },
    },
    tensors: {
      'tok.weight': S.randn([6, 64], { generator: g }).to('q8_0'),
      'a.weight': S.randn([2, 32], { generator: g }).to('q4_0'),
      'b.weight': S.randn([2, 256], { generator: g }).to('q4_k'),
      'c.weight': S.randn([1, 256], { generator: g }).to('q6_k'),
      'd.weight': S.randn([3, 8], { generator: g }).to('f16'),
      'e.weight': S.randn([2, 4], { generator: g }).to('bf16'),
      norm: S.randn([8], { generator: g }),
    },
  });
}

const EVIL_U64 = [2n ** 60n, 2n ** 40n, 2n ** 50n, 2n ** 64n - 1n, 2n ** 32n, 2n ** 31n, 2n ** 53n, 0n, 1n, 255n];

function mutate(base: Uint8Array, headerEnd: number, r: () => number): Uint8Array {
  const pick = (n: number) => Math.floor(r() * n);
  const at = () => (r() < 0.85 ? pick(headerEnd) : pick(base.length));
  const kind = pick(6);
  let b = base.slice();
  const dv = () => new DataView(b.buffer);
  switch (kind) {
    case 0: // byte flips
      for (let i = 0, n = 1 + pick(4); i < n; i++) b[at()] = pick(256);
      break;
    case 1: // truncation
      b = b.slice(0, pick(base.length));
      break;
    case 2: {
      // an absurd u64 (a length, count, dimension or offset) anywhere in the header
      const p = Math.min(at(), b.length - 8);
      dv().setBigUint64(p, r() < 0.7 ? EVIL_U64[pick(EVIL_U64.length)]! : BigInt(pick(2 ** 31)) * BigInt(pick(2 ** 31)), true);
      break;
    }
    case 3: {
      // a small u32 (a type code, a dimension count)
      const p = Math.min(at(), b.length - 4);
      dv().setUint32(p, pick(40), true);
      break;
    }
    case 4: {
      // bytes inserted into the header
      const p = at();
      const ins = Uint8Array.from({ length: 1 + pick(8) }, () => pick(256));
      b = new Uint8Array([...base.subarray(0, p), ...ins, ...base.subarray(p)]);
      break;
    }
    default: {
      // bytes deleted from the header
      const p = at();
      b = new Uint8Array([...base.subarray(0, p), ...base.subarray(p + 1 + pick(8))]);
      break;
    }
  }
  return b;
}

test('a few thousand mutated GGUF files each parse or throw StrataError io', () => {
  const base = baseFile();
  const headerEnd = parseGguf(base).dataOffset;
  const r = rng(0x5eed);
  const x = S.randn([2, 256]);
  let parsed = 0;
  let refused = 0;
  const messages = new Set<string>();
  const t0 = Date.now();
  for (let i = 0; i < 4000; i++) {
    const bytes = mutate(base, headerEnd, r);
    let file;
    try {
      file = parseGguf(bytes, `fuzz-${i}.gguf`);
    } catch (err) {
      if (!(err instanceof S.StrataError) || err.code !== 'io' || err.op !== `fuzz-${i}.gguf`) {
        assert.fail(`mutation ${i}: expected StrataError('io') naming the file, got ${err instanceof Error ? err.stack : String(err)}`);
      }
      refused++;
      messages.add(err.message.replace(/\d+/g, 'N').slice(0, 60));
      continue;
    }
    parsed++;
    // whatever parses is usable within its own bytes
    for (const t of Object.values(file.tensors)) {
      if (t.size > 1 << 16) continue;
      const f = t.to('f32');
      assert.deepEqual(f.shape, t.shape);
      if (t.ndim === 2 && t.shape[1] === 256 && t.shape[0]! > 0) S.linear(x, t);
      if (S.isQuantized(t.dtype) && t.ndim === 2 && t.shape[0]! > 0) S.embedding(t, S.tensor([0], { dtype: 'i32' }));
    }
  }
  const seconds = (Date.now() - t0) / 1000;
  if (process.env.FUZZ_VERBOSE) console.log(parsed, refused, seconds, [...messages].join("\n"));
  assert.ok(parsed > 100 && refused > 1000, `parsed ${parsed}, refused ${refused}`);
  assert.ok(messages.size > 15, `only ${messages.size} distinct errors: ${[...messages].join(' | ')}`);
  assert.ok(seconds < 20, `fuzzing took ${seconds} s`);
});
