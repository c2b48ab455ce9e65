// A BERT-style WordPiece tokenizer.json with a 100-token vocabulary, for the tiny BERT fixtures.
import { writeFileSync } from 'node:fs';
import path from 'node:path';

const SPECIALS = ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]'];
const WORDS = (
  'the a of is was in on . , what cat dog paris france capital city river little no here mask ' +
  'to and it that he for are as with his they at be this from have or by one had not but all were when we there can an your ' +
  'which their said if do will each about how up out them then she many some so these would other into has more her two like ' +
  'him see time could make than first been its who now people my made over did down ##s ##ing ##ed'
).split(' ');

export function writeTinyWordPiece(dir: string, maxLength = 40): void {
  const vocab: Record<string, number> = {};
  [...SPECIALS, ...WORDS].slice(0, 100).forEach((t, i) => (vocab[t] = i));
  const added = SPECIALS.map((content, id) => ({ id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true }));
  const special = (t: string) => ({ id: t, ids: [vocab[t]!], tokens: [t] });
  const tokenizer = {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: added,
    normalizer: { type: 'BertNormalizer', clean_text: true, handle_chinese_chars: true, strip_accents: null, lowercase: true },
    pre_tokenizer: { type: 'BertPreTokenizer' },
    post_processor: {
      type: 'TemplateProcessing',
      single: [{ SpecialToken: { id: '[CLS]', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }, { SpecialToken: { id: '[SEP]', type_id: 0 } }],
      pair: [
        { SpecialToken: { id: '[CLS]', type_id: 0 } },
        { Sequence: { id: 'A', type_id: 0 } },
        { SpecialToken: { id: '[SEP]', type_id: 0 } },
        { Sequence: { id: 'B', type_id: 1 } },
        { SpecialToken: { id: '[SEP]', type_id: 1 } },
      ],
      special_tokens: { '[CLS]': special('[CLS]'), '[SEP]': special('[SEP]') },
    },
    decoder: { type: 'WordPiece', prefix: '##', cleanup: true },
    model: { type: 'WordPiece', unk_token: '[UNK]', continuing_subword_prefix: '##', max_input_chars_per_word: 100, vocab },
  };
  writeFileSync(path.join(dir, 'tokenizer.json'), JSON.stringify(tokenizer));
  writeFileSync(
    path.join(dir, 'tokenizer_config.json'),
    JSON.stringify({ cls_token: '[CLS]', sep_token: '[SEP]', mask_token: '[MASK]', pad_token: '[PAD]', unk_token: '[UNK]', model_max_length: maxLength, do_lower_case: true }),
  );
}
