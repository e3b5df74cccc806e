import { ConfigError } from '../errors.js';
import { Rng } from '../tensor/rng.js';

/** Throws a {@link ConfigError} unless `value` is a positive integer. */
export function checkPositiveInt(option: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value <= 0) {
    throw new ConfigError(option, value, 'a positive integer');
  }
  return value;
}

/** Throws a {@link ConfigError} unless an `Rng` was passed (randomness is never implicit). */
export function checkRng(where: string, rng: unknown): Rng {
  if (!(rng instanceof Rng)) throw new ConfigError(`${where} rng`, rng, 'an Rng instance, e.g. new Rng(seed)');
  return rng;
}
