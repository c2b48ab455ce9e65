// The lexicon / word-LM decoding rule (src/generation/word-decoding.ts) on a character-level
// speech tokenizer: which next tokens it allows after a partial transcript, the LM score it adds
// when a word or the transcript ends, the pruning to the best candidates, and bad settings.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { WordDecodingRule } from '../../src/generation/word-decoding.js';
import { trainKneserNey } from '../../src/text/ngram.js';
import { hfTokenizerFromJson } from '../../src/tokenizers/hf.js';
import { speechTokenIds, trainSpeechTokenizer } from '../../src/train/asr.js';

const SENTENCES = ['the cat sat', 'the car is red', 'a cat is here', 'the red car sat'];
const trained = trainSpeechTokenizer(SENTENCES, { vocabSize: 259, maxLength: 64 });
const tokenizer = hfTokenizerFromJson({ tokenizer: trained.tokenizerJson, config: trained.tokenizerConfig, source: 'test' });
const ids = speechTokenIds(tokenizer);
const V = tokenizer.vocabSize;
const lm = trainKneserNey(SENTENCES, { order: 2 });
const PROMPT = [ids.startOfTranscript, ids.noTimestamps];
const idOf = (ch: string) => {
  const t = tokenizer.encode(ch);
  assert.equal(t.length, 1, ch);
  return t[0]!;
};
const tokensOf = (text: string) => [...PROMPT, ...tokenizer.encode(text)];
/** Runs the rule on flat scores (every text token equally likely, so none is pruned) after `text`. */
function after(rule: WordDecodingRule, text: string, base = 0): Float32Array {
  const scores = new Float32Array(V).fill(base);
  rule.process(scores, tokensOf(text), PROMPT.length);
  return scores;
}

describe('WordDecodingRule', () => {
  const alpha = 0.5;
  const beta = 1;
  const rule = new WordDecodingRule(tokenizer, V, ids.endOfText, { languageModel: lm, alpha, beta, candidates: V });

  test('inside a word only letters that lead to a lexicon word are allowed', () => {
    const s = after(rule, ' the ca');
    assert.equal(s[idOf('t')], 0); // cat
    assert.equal(s[idOf('r')], 0); // car
    for (const ch of ['s', 'x', 'a', ' ']) assert.equal(s[idOf(ch)], -Infinity, ch);
    assert.equal(s[ids.endOfText], -Infinity, '"ca" is not a word');
    // the prompt's special tokens are not text: left alone
    assert.equal(s[ids.startOfTranscript], 0);
  });

  test('a completed word scores alpha * ln P(word | previous word) + beta; the end adds ln P(</s>)', () => {
    const s = after(rule, ' the cat');
    const word = alpha * lm.logProb(['<s>', 'the'], 'cat') + beta;
    assert.ok(Math.abs(s[idOf(' ')]! - word) < 1e-5, `space: ${s[idOf(' ')]} vs ${word}`);
    const end = word + alpha * lm.logProb(['the', 'cat'], '</s>');
    assert.ok(Math.abs(s[ids.endOfText]! - end) < 1e-5, `end: ${s[ids.endOfText]} vs ${end}`);
    // "cat" may not grow into a non-word
    assert.equal(s[idOf('s')], -Infinity);
    // the first word follows the sentence start
    const first = after(rule, ' the');
    assert.ok(Math.abs(first[idOf(' ')]! - (alpha * lm.logProb(['<s>'], 'the') + beta)) < 1e-5);
    assert.notEqual(lm.logProb(['<s>'], 'the'), lm.logProb([], 'the'));
  });

  test('the leading space is free, a second space is not, and an empty transcript is left to the model', () => {
    const start = after(rule, '');
    assert.equal(start[idOf(' ')], 0);
    assert.equal(start[ids.endOfText], 0);
    const s = after(rule, ' the ');
    assert.equal(s[idOf(' ')], -Infinity);
    assert.equal(s[idOf('c')], 0);
    assert.equal(s[idOf('z')], -Infinity);
  });

  test('without a language model the lexicon alone constrains (beta per word)', () => {
    const lexOnly = new WordDecodingRule(tokenizer, V, ids.endOfText, { languageModel: null, lexicon: ['the', 'cat'], beta: 0.25, candidates: V });
    const s = after(lexOnly, ' the cat');
    assert.equal(s[idOf(' ')], 0.25);
    assert.equal(s[ids.endOfText], 0.25);
    assert.equal(after(lexOnly, ' the c')[idOf('a')], 0);
    assert.equal(after(lexOnly, ' the c')[idOf('r')], -Infinity);
  });

  test('only the best candidates are examined; the rest are ruled out, and all are examined when none may follow', () => {
    const narrow = new WordDecodingRule(tokenizer, V, ids.endOfText, { languageModel: lm, alpha, beta, candidates: 2 });
    const scores = new Float32Array(V).fill(-5);
    scores[idOf('t')] = -1; // allowed after " the ca"
    scores[idOf('x')] = -0.5; // best, but no word goes "cax"
    scores[idOf('r')] = -3; // allowed, but third
    narrow.process(scores, tokensOf(' the ca'), PROMPT.length);
    assert.equal(scores[idOf('t')], -1);
    assert.equal(scores[idOf('x')], -Infinity);
    assert.equal(scores[idOf('r')], -Infinity, 'outside the 2 examined');
    // the two best both break the lexicon: every token is examined and the allowed ones survive
    const worse = new Float32Array(V).fill(-5);
    worse[idOf('x')] = -0.5;
    worse[idOf('q')] = -0.6;
    narrow.process(worse, tokensOf(' the ca'), PROMPT.length);
    assert.equal(worse[idOf('t')], -5);
    assert.equal(worse[idOf('r')], -5);
    assert.equal(worse[idOf('x')], -Infinity);
  });

  test('bad settings are StrataErrors', () => {
    assert.throws(() => new WordDecodingRule(tokenizer, V, ids.endOfText, { languageModel: null, lexicon: [] }), /lexicon is empty/);
    assert.throws(() => new WordDecodingRule(tokenizer, V, ids.endOfText, { languageModel: null, lexicon: ['two words'] }), /hold no spaces/);
    assert.throws(() => new WordDecodingRule(tokenizer, V, ids.endOfText, { languageModel: lm, alpha: -1 }), /alpha must be/);
    assert.throws(() => new WordDecodingRule(tokenizer, V, ids.endOfText, { languageModel: lm, candidates: 0 }), /candidates must be/);
  });
});
