import { InvalidArgumentError } from 'commander';

/**
 * A commander argument parser for an integer in [1, max]. Accepts plain decimal digits only:
 * "1e3", "0x10", "2.0" and "-3" are refused rather than silently reinterpreted.
 */
export function positiveInt(max: number): (value: string) => number {
  return (value: string): number => {
    if (!/^\d+$/.test(value.trim())) throw new InvalidArgumentError('Expected a positive integer.');
    const n = Number(value);
    if (n < 1) throw new InvalidArgumentError('Expected a positive integer.');
    if (n > max) throw new InvalidArgumentError(`The most allowed is ${max}.`);
    return n;
  };
}

/** An integer >= 0 in plain decimal digits. */
export function nonNegativeInt(value: string): number {
  if (!/^\d+$/.test(value.trim())) throw new InvalidArgumentError('Expected an integer >= 0.');
  return Number(value);
}

/** A finite number > 0. */
export function positiveNumber(value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n <= 0) throw new InvalidArgumentError('Expected a number > 0.');
  return n;
}

/** A number in [0, 1) (a share of something, such as a held-out fraction). */
export function fraction(value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n < 0 || n >= 1) throw new InvalidArgumentError('Expected a number in [0, 1).');
  return n;
}

/** A number in [0, 1]. */
export function unitFraction(value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n < 0 || n > 1) throw new InvalidArgumentError('Expected a number in [0, 1].');
  return n;
}
