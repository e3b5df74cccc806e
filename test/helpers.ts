import { Rng, Tensor, type DType } from '../src/index.js';

/** A tensor of the given shape filled with seeded normal values. */
export function randn(shape: number[], seed: number | string = 0, dtype: DType = 'float64'): Tensor {
  const t = Tensor.zeros(shape, dtype);
  new Rng(seed).fillNormal(t.data);
  return t;
}

/** sign with sign(0) = 0, the protocol's definition. */
export const sgn = (x: number): number => (x > 0 ? 1 : x < 0 ? -1 : 0);

/**
 * Elementwise closeness, `|a − e| ≤ atol + rtol·|e|`, failing with the first offending index
 * (a per-element `expect` would be slow on large arrays).
 */
export function expectClose(actual: ArrayLike<number>, expected: ArrayLike<number>, atol: number, what = 'values', rtol = 0): void {
  if (actual.length !== expected.length) throw new Error(`${what}: length ${actual.length}, expected ${expected.length}`);
  for (let i = 0; i < actual.length; i++) {
    const a = actual[i]!, e = expected[i]!;
    if (!(Math.abs(a - e) <= atol + rtol * Math.abs(e))) throw new Error(`${what}[${i}]: expected ${e} ± ${atol + rtol * Math.abs(e)}, received ${a}`);
  }
}

/** Runs `fn` and returns what it threw (or fails when it did not throw). */
export function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (e) {
    return e;
  }
  throw new Error('expected a throw');
}
