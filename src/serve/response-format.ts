// response_format → a constraint for the decoder, so JSON output always parses (and matches the
// schema when one is given). A schema no value satisfies, one whose shortest value does not fit in
// max_tokens, or one using a keyword the decoder cannot enforce is the request's fault: the
// compiler's StrataError becomes a 400 before any token is generated.

import type { GenerateOptions } from '../generation/generate.js';
import { jsonSchemaConstraint } from '../generation/json-schema.js';
import type { Tokenizer } from '../tokenizers/tokenizer.js';
import type { WireGenerateOptions } from './protocol.js';

/** A constraint factory (one fresh constraint per batch row) for a response_format. */
export function buildResponseConstraint(format: NonNullable<WireGenerateOptions['responseFormat']>, tokenizer: Tokenizer, maxTokens: number): NonNullable<GenerateOptions['constraint']> {
  // json_object mode: any JSON object
  const schema = format.type === 'json_object' ? true : format.schema;
  return jsonSchemaConstraint(schema, tokenizer, { maxTokens });
}
