import { ConfigError } from '../errors.js';

/** Parses a numeric command-line value, naming the option when it is not a number. */
export function numberOption(option: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n)) throw new ConfigError(option, value, 'a finite number');
  return n;
}

/**
 * Joins `--option -1` into `--option=-1` for options that take a value, so that a negative number
 * reaches our validation (and its clear message) instead of being read as an unknown flag.
 */
export function joinNegativeValues(args: readonly string[], valued: ReadonlySet<string>): string[] {
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    const next = args[i + 1];
    if (valued.has(a) && next !== undefined && /^-(\d|\.\d|Infinity)/.test(next)) {
      out.push(`${a}=${next}`);
      i++;
    } else {
      out.push(a);
    }
  }
  return out;
}

/**
 * Parses an integer command-line value; `positive` also rejects zero and negative numbers. Every
 * rejection names the same allowed values, whatever was wrong with the text.
 */
export function intOption(option: string, value: string | undefined, positive = false): number | undefined {
  if (value === undefined) return undefined;
  const allowed = positive ? 'a positive integer' : 'an integer';
  const n = Number(value);
  if (!/^\s*[+-]?\d+\s*$/.test(value) || !Number.isSafeInteger(n)) throw new ConfigError(option, value, allowed);
  if (positive && n < 1) throw new ConfigError(option, n, allowed);
  return n;
}
