// response_format → a constraint for the decoder, so JSON output always parses (and matches the
// schema when one is given).

import { StrataError } from '../errors.js';
import type { GenerateOptions } from '../generation/generate.js';
import type { Tokenizer } from '../tokenizers/tokenizer.js';
import type { WireGenerateOptions } from './protocol.js';

export async function buildResponseConstraint(
  _format: NonNullable<WireGenerateOptions['responseFormat']>,
  _tokenizer: Tokenizer,
  _stopTokens: readonly number[],
): Promise<Partial<GenerateOptions>> {
  throw new StrataError('unsupported', 'response_format', 'JSON output (constrained decoding) is not available yet');
}
