// Word n-gram LM: Kneser-Ney probabilities computed by hand and by a direct (recursive,
// interpolated-form) reference written here, normalization of every context, ARPA round trip,
// backoff scoring of hand-written ARPA texts (orders 3 and 5), and hostile ARPA input.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { StrataError } from '../../src/errors.js';
import { type WordLanguageModel, parseArpa, toArpa, trainKneserNey } from '../../src/text/ngram.js';

const LN10 = Math.LN10;

/** Deterministic PRNG (mulberry32) so the corpus and the fuzz cases are the same on every run. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** 400 sentences over 20 words with a skewed, context-dependent next-word choice. */
function corpus(): string[] {
  const r = rng(7);
  const vocab = Array.from({ length: 20 }, (_, i) => `w${i}`);
  const out: string[] = [];
  for (let s = 0; s < 400; s++) {
    const len = 1 + Math.floor(r() * 7);
    const words: string[] = [];
    let prev = 0;
    for (let i = 0; i < len; i++) {
      const k = r() < 0.5 ? (prev * 3 + 1) % 20 : Math.floor(r() * r() * 20);
      words.push(vocab[k]);
      prev = k;
    }
    out.push(words.join(' '));
  }
  return out;
}

/**
 * Interpolated KN straight from the definition, independent of the backoff form:
 * p_n(w | h) = max(a(h w) - D, 0) / c(h) + D N1+(h .) / c(h) * p_{n-1}(w | h'), with a = raw counts
 * at the top order and for n-grams starting with <s>, continuation counts otherwise, and
 * p_1(w) = a(w) / sum a. An unseen context falls through to the lower order.
 */
function referenceKN(sentences: string[], order: number, D: number): (ctx: string[], w: string) => number {
  const grams = new Map<string, number>();
  for (const s of sentences) {
    const p = ['<s>', ...s.split(' '), '</s>'];
    for (let n = 1; n <= order; n++) {
      for (let i = 0; i + n <= p.length; i++) {
        const k = p.slice(i, i + n).join(' ');
        grams.set(k, (grams.get(k) ?? 0) + 1);
      }
    }
  }
  const leftCache = new Map<string, number>();
  const adj = (g: string[]): number => {
    const key = g.join(' ');
    if (g.length === order || g[0] === '<s>') return grams.get(key) ?? 0;
    let left = leftCache.get(key);
    if (left === undefined) {
      left = 0; // distinct words seen right before g
      for (const k of grams.keys()) {
        const f = k.split(' ');
        if (f.length === g.length + 1 && f.slice(1).join(' ') === key) left++;
      }
      leftCache.set(key, left);
    }
    return left;
  };
  const follow = new Map<string, string[]>(); // context -> distinct followers
  for (const k of grams.keys()) {
    const f = k.split(' ');
    const h = f.slice(0, -1).join(' ');
    if (!follow.has(h)) follow.set(h, []);
    follow.get(h)!.push(f[f.length - 1]);
  }
  const p = (h: string[], w: string): number => {
    if (h.length === 0) {
      let tot = 0;
      for (const v of follow.get('')!) if (v !== '<s>') tot += adj([v]);
      return adj([w]) / tot;
    }
    const fl = follow.get(h.join(' ')) ?? [];
    let c = 0;
    for (const v of fl) c += adj([...h, v]);
    if (c === 0) return p(h.slice(1), w);
    return Math.max(adj([...h, w]) - D, 0) / c + ((D * fl.length) / c) * p(h.slice(1), w);
  };
  return (ctx, w) => p(ctx.slice(Math.max(0, ctx.length - order + 1)), w);
}

function sumOver(lm: WordLanguageModel, ctx: string[]): number {
  let s = Math.exp(lm.logProb(ctx, '</s>'));
  for (const w of lm.words) s += Math.exp(lm.logProb(ctx, w));
  return s;
}

test('bigram KN on a two-sentence corpus equals the hand computation', () => {
  // "a b", "b b" -> <s> a b </s>, <s> b b </s>. Bigram counts: <s>a 1, ab 1, b</s> 2, <s>b 1, bb 1.
  // Continuation counts: a {<s>} 1, b {<s>, a, b} 3, </s> {b} 1; total 5 -> p1 = .2, .6, .2.
  // D = .5. Context <s>: c = 2, 2 types, gamma = .5*2/2 = .5:
  //   p(a|<s>) = .5/2 + .5*.2 = .35, p(b|<s>) = .25 + .5*.6 = .55, p(</s>|<s>) = .5*.2 = .1
  // Context a: c = 1, gamma = .5: p(b|a) = .5 + .5*.6 = .8, p(a|a) = p(</s>|a) = .5*.2 = .1
  // Context b: c = 3, 2 types, gamma = 1/3: p(</s>|b) = 1.5/3 + .2/3 = 17/30,
  //   p(b|b) = .5/3 + .6/3 = 11/30, p(a|b) = .2/3 = 2/30
  const lm = trainKneserNey(['a b', 'b b'], { order: 2, discount: 0.5 });
  const want: [string, string, number][] = [
    ['<s>', 'a', 0.35], ['<s>', 'b', 0.55], ['<s>', '</s>', 0.1],
    ['a', 'b', 0.8], ['a', 'a', 0.1], ['a', '</s>', 0.1],
    ['b', '</s>', 17 / 30], ['b', 'b', 11 / 30], ['b', 'a', 2 / 30],
  ];
  for (const [h, w, p] of want) assert.ok(Math.abs(lm.logProb([h], w) - Math.log(p)) < 1e-12, `${h} ${w}`);
  // Unigram level for an empty context; an unknown word without <unk> is impossible.
  assert.ok(Math.abs(lm.logProb([], 'b') - Math.log(0.6)) < 1e-12);
  assert.equal(lm.logProb(['a'], 'zzz'), -Infinity);
  assert.deepEqual(lm.words, ['a', 'b']);
  assert.ok(lm.has('a') && !lm.has('</s>') && !lm.has('<s>') && !lm.has('c'));
  // Estimated discount: bigram counts-of-counts n1 = 4, n2 = 1 -> D = 4/6; p(a|a) = (2/3)*1*.2.
  const est = trainKneserNey(['a b', 'b b'], { order: 2 });
  assert.ok(Math.abs(est.logProb(['a'], 'a') - Math.log((2 / 3) * 0.2)) < 1e-12);
});

test('trigram KN: raw counts after <s>, interpolation down two levels, by hand', () => {
  // Same corpus. Bigrams starting with <s> keep raw counts (1 each), so the bigram level
  // equals the table above. Trigram "<s> b b" 1 is the only follower of (<s> b): c = 1,
  // gamma = .5: p(b|<s> b) = .5 + .5*11/30, p(</s>|<s> b) = .5*17/30, p(a|<s> b) = .5*2/30.
  const lm = trainKneserNey(['a b', 'b b'], { order: 3, discount: 0.5 });
  const want: [string, number][] = [['b', 0.5 + 0.5 * (11 / 30)], ['</s>', 0.5 * (17 / 30)], ['a', 0.5 * (2 / 30)]];
  for (const [w, p] of want) assert.ok(Math.abs(lm.logProb(['<s>', 'b'], w) - Math.log(p)) < 1e-12, w);
  // Unseen trigram context (a a): falls to the bigram p(b|a) = .8.
  assert.ok(Math.abs(lm.logProb(['a', 'a'], 'b') - Math.log(0.8)) < 1e-12);
  // Only the last order-1 context words count.
  assert.equal(lm.logProb(['a', 'a', '<s>', 'b'], 'b'), lm.logProb(['<s>', 'b'], 'b'));
});

for (const order of [2, 3] as const) {
  test(`order ${order}: equals the direct interpolated-KN reference and every context sums to 1`, () => {
    const sents = corpus();
    const lm = trainKneserNey(sents, { order, discount: 0.7 });
    const ref = referenceKN(sents, order, 0.7);
    const targets = [...lm.words, '</s>'];
    const ctxs: string[][] = [['<s>'], ...lm.words.map((w) => [w])];
    if (order === 3) for (const a of ['<s>', ...lm.words]) for (const b of lm.words) ctxs.push([a, b]);
    let maxDiff = 0;
    let maxSumErr = 0;
    for (const c of ctxs) {
      for (const w of targets) maxDiff = Math.max(maxDiff, Math.abs(Math.exp(lm.logProb(c, w)) - ref(c, w)));
      maxSumErr = Math.max(maxSumErr, Math.abs(sumOver(lm, c) - 1));
    }
    assert.ok(maxDiff < 1e-12, `max |p - reference| ${maxDiff}`);
    assert.ok(maxSumErr < 1e-9, `max |sum - 1| ${maxSumErr}`);
    // The estimated-discount model is normalized too.
    const est = trainKneserNey(sents, { order });
    for (const c of ctxs) assert.ok(Math.abs(sumOver(est, c) - 1) < 1e-9, c.join(' '));
  });

  test(`order ${order}: parseArpa(toArpa(lm)) scores like lm`, () => {
    const lm = trainKneserNey(corpus(), { order });
    const text = toArpa(lm);
    const back = parseArpa(text, 'roundtrip.arpa');
    assert.equal(back.order, order);
    assert.deepEqual(back.words, lm.words);
    const targets = [...lm.words, '</s>'];
    const ctxs: string[][] = [[], ['<s>'], ...lm.words.map((w) => [w])];
    if (order === 3) {
      const r = rng(3);
      for (let k = 0; k < 300; k++) {
        const a = r() < 0.2 ? '<s>' : lm.words[Math.floor(r() * lm.words.length)];
        ctxs.push([a, lm.words[Math.floor(r() * lm.words.length)]]);
      }
    }
    // 12 significant log10 digits: |d ln p| <= 0.5e-11 * |log10 p| * ln 10, ~1e-10 for p ~ 1e-9.
    let maxDiff = 0;
    for (const c of ctxs) for (const w of targets) maxDiff = Math.max(maxDiff, Math.abs(back.logProb(c, w) - lm.logProb(c, w)));
    assert.ok(maxDiff <= 1e-9, `max |diff| ${maxDiff}`);
    assert.equal(toArpa(back), text, 'writing the parsed copy reproduces the text');
  });
}

const TRIGRAM_ARPA = `some header text a toolkit wrote

\\data\\
ngram 1=5
ngram 2=4
ngram 3=2

\\1-grams:
-1.0\t<unk>
-99\t<s>\t-0.5
-0.7\t</s>

-0.6\ta\t-0.3
-0.8 b  -0.2

\\2-grams:
-0.4\t<s> a\t-0.1
-0.3\ta b\t-0.15
-0.5\tb </s>
-0.9\tb a

\\3-grams:
-0.2\t<s> a b
-0.25\ta b </s>

\\end\\
`;

test('parseArpa: backoff scoring of a hand-written trigram ARPA with <unk>', () => {
  const lm = parseArpa(TRIGRAM_ARPA, 'hand.arpa');
  assert.equal(lm.order, 3);
  assert.deepEqual(lm.words, ['a', 'b']);
  const want: [string[], string, number][] = [
    [['<s>', 'a'], 'b', -0.2], // listed trigram
    [['<s>', 'a'], '</s>', -0.1 - 0.3 - 0.7], // bow(<s> a) + bow(a) + p(</s>)
    [['a', 'b'], 'a', -0.15 - 0.9], // bow(a b) + p(a | b)
    [['a', 'b'], '</s>', -0.25],
    [['b', 'b'], 'b', -0.2 - 0.8], // (b b) is no context: bow 1; then bow(b) + p(b)
    [['a'], 'zzz', -0.3 - 1.0], // unknown word reads as <unk>: bow(a) + p(<unk>)
    [['zzz', 'a'], 'b', -0.3], // unknown context word: (<unk> a) unlisted, p(b | a)
    [['<s>'], 'a', -0.4],
    [[], 'a', -0.6],
    [[], '<s>', -99],
    [['x', 'y', '<s>', 'a'], 'b', -0.2], // only the last two context words count
  ];
  for (const [c, w, l10] of want) {
    assert.ok(Math.abs(lm.logProb(c, w) - l10 * LN10) < 1e-12, `${c.join(' ')} | ${w}: ${lm.logProb(c, w) / LN10}`);
  }
});

const FIVEGRAM_ARPA = `\\data\\
ngram 1=3
ngram 2=2
ngram 3=1
ngram 4=1
ngram 5=1

\\1-grams:
-0.5 a -0.1
-0.4 b
-0.6 </s>

\\2-grams:
-0.3 a a -0.2
-0.35 a b

\\3-grams:
-0.25 a a a -0.3

\\4-grams:
-0.2 a a a a -0.4

\\5-grams:
-0.1 a a a a b

\\end\\
`;

test('parseArpa: a 5-gram model backs off through every order', () => {
  const lm = parseArpa(FIVEGRAM_ARPA);
  assert.equal(lm.order, 5);
  const want: [string[], string, number][] = [
    [['a', 'a', 'a', 'a'], 'b', -0.1],
    [['a', 'a', 'a', 'a'], 'a', -0.4 - 0.2], // bow(aaaa) + p(a | aaa) listed as "a a a a"
    [['a', 'a', 'a', 'a'], '</s>', -0.4 - 0.3 - 0.2 - 0.1 - 0.6],
    [['a', 'a', 'a'], 'b', -0.3 - 0.2 - 0.35],
    [['b', 'a', 'a', 'a'], 'b', -0.3 - 0.2 - 0.35], // (b a a a) unlisted
  ];
  for (const [c, w, l10] of want) assert.ok(Math.abs(lm.logProb(c, w) - l10 * LN10) < 1e-12, `${c.join(' ')} | ${w}`);
  assert.equal(lm.logProb(['a'], 'zzz'), -Infinity, 'no <unk>: an unknown word is impossible');
  // The written text parses to the same scores.
  const back = parseArpa(toArpa(lm));
  for (const [c, w] of want) assert.ok(Math.abs(back.logProb(c, w) - lm.logProb(c, w)) < 1e-12);
});

function assertArpaError(text: string, ...patterns: RegExp[]): void {
  assert.throws(
    () => parseArpa(text, 'bad.arpa'),
    (err: unknown) => {
      assert.ok(err instanceof StrataError, `expected a StrataError, got ${String(err)}`);
      for (const p of patterns) assert.match(err.message, p);
      return true;
    },
  );
}

test('parseArpa: bad input is a StrataError naming the line and the defect', () => {
  const lines = TRIGRAM_ARPA.split('\n');
  const edit = (lineNo: number, to: string): string => lines.map((l, i) => (i === lineNo - 1 ? to : l)).join('\n');
  assertArpaError(TRIGRAM_ARPA.slice(0, TRIGRAM_ARPA.indexOf('\\3-grams:') + 22), /bad\.arpa/, /line 22/, /declares 2 3-grams but the section has 1/);
  assertArpaError(TRIGRAM_ARPA.replace('\\end\\', ''), /missing \\end\\/);
  assertArpaError(edit(4, 'ngram 1=6'), /line 8/, /declares 6 1-grams but the section has 5/);
  assertArpaError(edit(5, 'ngram 2=3'), /line 20/, /more 2-grams than the 3 declared/);
  assertArpaError(edit(9, 'x1.0\t<unk>'), /line 9/, /probability "x1\.0" is not a number/);
  assertArpaError(edit(13, '-0.6\ta\tNaN'), /line 13/, /backoff weight "NaN"/);
  assertArpaError(edit(17, '-0.4\t<s> a b c\t-0.1'), /line 17/, /2-gram entry needs/, /got 6 fields/);
  assertArpaError(edit(23, '-0.2\t<s> a b -0.1'), /line 23/, /backoff weight but 3 is the highest order/);
  assertArpaError(edit(9, '0.5 <unk>'), /line 9/, /above 0/);
  assertArpaError(edit(20, '-0.9\ta b'), /line 20/, /duplicate 2-gram "a b"/);
  assertArpaError(edit(4, 'ngram 2=5'), /line 4/, /expected ngram 1=/);
  assertArpaError(edit(4, 'ngram one=5'), /line 4/, /ngram N=count/);
  assertArpaError(edit(16, '\\3-grams:'), /line 16/, /expected \\2-grams:/);
  assertArpaError(edit(26, '\\4-grams:'), /line 26/, /expected \\end\\/);
  assertArpaError('no data here', /no \\data\\ header/);
  assertArpaError('\\data\\\nngram 1=0\n', /no unigrams/);
  // A huge claimed count is checked against the entries, never allocated.
  assertArpaError(edit(4, 'ngram 1=9007199254740991'), /declares 9007199254740991 1-grams but the section has 5/);
  assertArpaError(edit(4, 'ngram 1=99999999999999999999'), /too large/);
});

test('trainKneserNey and toArpa refuse bad arguments', () => {
  const bad = (fn: () => unknown, re: RegExp): void => {
    assert.throws(fn, (e: unknown) => e instanceof StrataError && re.test(e.message));
  };
  bad(() => trainKneserNey(['a b'], { order: 4 as 3 }), /order must be 2 or 3/);
  bad(() => trainKneserNey(['a b'], { discount: 1.5 }), /discount must be in/);
  bad(() => trainKneserNey(['a b'], { discount: 0 }), /discount must be in/);
  bad(() => trainKneserNey(['', '  ']), /no sentences/);
  bad(() => trainKneserNey(['a <s> b']), /reserved token <s>/);
  const fake: WordLanguageModel = { order: 2, logProb: () => 0, has: () => false, words: [] };
  bad(() => toArpa(fake), /trainKneserNey or parseArpa/);
});

test('parseArpa fuzz: every mutated text gives a model or a StrataError', () => {
  const base = toArpa(trainKneserNey(corpus().slice(0, 40), { order: 3 }));
  const r = rng(11);
  const pick = (n: number): number => Math.floor(r() * n);
  const junk = ['\\', '-', '0', '9', '.', 'e', ' ', '\t', '\n', '=', 'a', '\\end\\', 'ngram 3=99999999999'];
  let models = 0;
  let errors = 0;
  for (let k = 0; k < 400; k++) {
    let t = base;
    for (let m = 1 + pick(3); m > 0; m--) {
      const ls = t.split('\n');
      const op = pick(5);
      if (op === 0) ls.splice(pick(ls.length), 1);
      else if (op === 1) ls.splice(pick(ls.length), 0, ls[pick(ls.length)]);
      else if (op === 2) {
        const at = pick(t.length);
        t = t.slice(0, at) + junk[pick(junk.length)] + t.slice(at + 1);
        continue;
      } else if (op === 3) {
        t = t.slice(0, pick(t.length));
        continue;
      } else {
        const a = pick(ls.length);
        const b = pick(ls.length);
        [ls[a], ls[b]] = [ls[b], ls[a]];
      }
      t = ls.join('\n');
    }
    try {
      const lm = parseArpa(t, 'fuzz.arpa');
      for (const w of [...lm.words.slice(0, 3), '</s>', 'zzz']) {
        assert.equal(typeof lm.logProb(['<s>', 'w1'], w), 'number');
        assert.equal(typeof lm.logProb([], w), 'number');
      }
      models++;
    } catch (err) {
      assert.ok(err instanceof StrataError, `case ${k}: ${String(err)}`);
      errors++;
    }
  }
  assert.equal(models + errors, 400);
  assert.ok(errors > 200, `most mutations must be refused (${errors})`);
});
