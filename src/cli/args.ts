import { ConfigError } from '../errors.js';

/** Parses a numeric command-line value, naming the option when it is not a number. */
export function numberOption(option: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n)) throw new ConfigError(`--${option}`, value, 'a finite number');
  return n;
}

/** Parses an integer command-line value. */
export function intOption(option: string, value: string | undefined): number | undefined {
  const n = numberOption(option, value);
  if (n !== undefined && !Number.isInteger(n)) throw new ConfigError(`--${option}`, value, 'an integer');
  return n;
}
