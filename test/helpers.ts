import { Rng, Tensor, type DType } from '../src/index.js';

/** A tensor of the given shape filled with seeded normal values. */
export function randn(shape: number[], seed: number | string = 0, dtype: DType = 'float64'): Tensor {
  const t = Tensor.zeros(shape, dtype);
  new Rng(seed).fillNormal(t.data);
  return t;
}
