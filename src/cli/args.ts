import { availableParallelism } from 'node:os';
import { ConfigError } from '../errors.js';
import { methodOptionFlags, methods } from '../feedback/registry.js';

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

/**
 * A count of threads or workers: a positive integer, at most 4 per core of this machine (more only
 * fills memory: each worker holds its own copy of the data and model).
 */
export function parallelOption(option: string, value: string | undefined): number | undefined {
  const n = intOption(option, value, true);
  const cores = availableParallelism();
  if (n !== undefined && n > 4 * cores) throw new ConfigError(option, n, `1 to ${4 * cores} (at most 4 per core; this machine has ${cores})`);
  return n;
}

/** The values of a repeatable option in raw arguments (`--import a.js --import=b.js`), read before the full parse. */
export function scanOption(args: readonly string[], flag: string): string[] {
  const found: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === flag && args[i + 1] !== undefined) found.push(args[++i]!);
    else if (a.startsWith(`${flag}=`)) found.push(a.slice(flag.length + 1));
  }
  return found;
}

/** The registered methods' option flags (`--decay`, `--mirror-rate`, …) for `parseArgs`. */
export function methodOptionTable(): Record<string, { type: 'string' }> {
  return Object.fromEntries(methodOptionFlags().map((o) => [o.flag, { type: 'string' as const }]));
}

/**
 * The method options given on the command line, by option name, for `feedback`; undefined when
 * none is given. A flag of another method is refused, naming the methods that take it (an
 * unknown method is left for the configuration to refuse).
 */
export function methodOptionsFrom(feedback: string, values: Readonly<Record<string, unknown>>): Record<string, number> | undefined {
  const method = methods().find((m) => m.name === feedback || m.aliases.includes(feedback));
  const given: Record<string, number> = {};
  for (const o of methodOptionFlags()) {
    const text = values[o.flag];
    if (typeof text !== 'string') continue;
    const own = method?.options.find((x) => x.flag === o.flag);
    const value = numberOption(o.flag, text)!;
    if (!own && method) throw new ConfigError(o.flag, value, `only with feedback ${o.methods.map((m) => `'${m}'`).join(' or ')} (feedback is '${method.name}')`);
    given[own?.name ?? o.name] = value;
  }
  return Object.keys(given).length > 0 ? given : undefined;
}
