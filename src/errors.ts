/** Machine-readable category of a StrataError. */
export type StrataErrorCode =
  | 'shape'
  | 'dtype'
  | 'argument'
  | 'index'
  | 'autograd'
  | 'backend'
  | 'io'
  | 'numeric'
  | 'unsupported';

/**
 * The one error type Strata throws on bad input. The message names the op (or file)
 * and what is wrong, e.g. `matmul: inner dimensions differ: a (2, 3) vs b (4, 5)`.
 */
export class StrataError extends Error {
  readonly code: StrataErrorCode;
  readonly op: string;

  constructor(code: StrataErrorCode, op: string, message: string) {
    super(`${op}: ${message}`);
    this.name = 'StrataError';
    this.code = code;
    this.op = op;
  }
}

export function fmtShape(shape: readonly number[]): string {
  return `(${shape.join(', ')}${shape.length === 1 ? ',' : ''})`;
}
