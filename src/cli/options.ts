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
