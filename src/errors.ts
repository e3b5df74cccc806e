/**
 * Typed errors. Every error the library throws for bad input is one of these, and its message
 * names what was wrong, what was expected and what was received, so that a user can fix the call
 * without reading our source.
 *
 * @example
 * ```ts
 * import { ShapeError } from 'asymprop';
 * try { model.forward(x, true); } catch (e) { if (e instanceof ShapeError) console.log(e.expected, e.received); }
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

/** An option had an invalid value: names the option, the value and what is allowed. */
export class ConfigError extends AsympropError {
  constructor(
    readonly option: string,
    readonly value: unknown,
    readonly allowed: string,
  ) {
    super(`invalid ${option}: ${describeValue(value)} (allowed: ${allowed})`);
  }
}

/** Input values were not usable: NaN or Inf in an input tensor, labels out of range. */
export class ValueError extends AsympropError {
  constructor(
    readonly where: string,
    readonly detail: string,
  ) {
    super(`${where}: ${detail}`);
  }
}

/** A data or model file was unreadable or malformed: names the file, the field and the offset. */
export class DataFormatError extends AsympropError {
  constructor(
    readonly file: string,
    readonly detail: string,
    readonly offset?: number,
  ) {
    super(`${file}${offset === undefined ? '' : ` (byte ${offset})`}: ${detail}`);
  }
}

/** Training produced a non-finite loss or weight and the caller asked for that to be an error. */
export class DivergenceError extends AsympropError {
  constructor(
    readonly epoch: number,
    readonly step: number,
    readonly detail: string,
  ) {
    super(`training diverged at epoch ${epoch}, step ${step}: ${detail}`);
  }
}

/** An operation was called in the wrong order, e.g. `backward` before `forward`. */
export class StateError extends AsympropError {}

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
