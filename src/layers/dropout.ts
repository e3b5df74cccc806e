import { ConfigError, ShapeError, StateError, formatShape } from '../errors.js';
import type { Param } from '../tensor/param.js';
import type { Rng } from '../tensor/rng.js';
import { Tensor, allocate, sameShape, type Shape, type Storage } from '../tensor/tensor.js';
import { checkRng } from './checks.js';
import type { Layer, LayerBuffers } from './layer.js';

/**
 * Inverted dropout: in train mode each element is zeroed with probability p and the survivors are
 * scaled by 1/(1 − p); in eval mode it is the identity. The mask comes from the generator passed
 * in, so a seeded run drops the same units every time.
 */
export class Dropout implements Layer {
  private cache: { mask: Storage | null; shape: Shape } | null = null;

  /** @throws {@link ConfigError} unless `p` is in [0, 1) and `rng` is an {@link Rng}. */
  constructor(
    /** The probability that an element is dropped, in [0, 1). */
    readonly p: number,
    /** The generator the masks are drawn from (its state is the layer's state). */
    readonly rng: Rng,
  ) {
    if (typeof p !== 'number' || !(p >= 0 && p < 1)) throw new ConfigError('Dropout p', p, 'a probability in [0, 1)');
    checkRng('Dropout', rng);
  }

  describe(): string {
    return `Dropout(${this.p})`;
  }

  outputShape(inputShape: Shape): number[] {
    return [...inputShape];
  }

  forward(x: Tensor, training: boolean): Tensor {
    if (!training || this.p === 0) {
      this.cache = { mask: null, shape: x.shape };
      return x;
    }
    const keep = 1 - this.p;
    const mask = allocate(x.dtype, x.size); // in the input's precision: survivors are exactly x/(1 − p)
    for (let i = 0; i < mask.length; i++) mask[i] = this.rng.uniform() < keep ? 1 / keep : 0;
    const y = Tensor.zeros(x.shape, x.dtype);
    for (let i = 0; i < mask.length; i++) y.data[i] = x.data[i]! * mask[i]!;
    this.cache = { mask, shape: x.shape };
    return y;
  }

  backward(dy: Tensor): Tensor {
    if (!this.cache) throw new StateError(`${this.describe()}.backward called before forward`);
    const { mask, shape } = this.cache;
    if (!sameShape(shape, dy.shape)) throw new ShapeError(`${this.describe()}.backward`, formatShape(shape), dy.shape);
    if (!mask) return dy;
    const dx = Tensor.zeros(dy.shape, dy.dtype);
    for (let i = 0; i < mask.length; i++) dx.data[i] = dy.data[i]! * mask[i]!; // same units, same scale
    return dx;
  }

  params(): Param[] {
    return [];
  }

  buffers(): LayerBuffers {
    return { rngs: { rng: this.rng } };
  }

  zeroGrad(): void {}
}
