import { ShapeError, StateError } from '../errors.js';
import type { Param } from '../tensor/param.js';
import { sizeOf, type Shape, type Tensor } from '../tensor/tensor.js';
import type { Layer } from './layer.js';

/** Flattens `[N, ...]` to `[N, prod(...)]` (shares memory; backward restores the shape). */
export class Flatten implements Layer {
  private cache: { shape: Shape } | null = null;

  describe(): string {
    return 'Flatten';
  }

  outputShape(inputShape: Shape): number[] {
    return [sizeOf(inputShape)];
  }

  forward(x: Tensor, _training: boolean): Tensor {
    if (x.rank < 1) throw new ShapeError('Flatten.forward', 'a batch [N, ...]', x.shape);
    this.cache = { shape: x.shape };
    return x.reshape([x.shape[0]!, sizeOf(x.shape.slice(1))]);
  }

  backward(dy: Tensor): Tensor {
    if (!this.cache) throw new StateError('Flatten.backward called before forward');
    return dy.reshape(this.cache.shape);
  }

  params(): Param[] {
    return [];
  }

  zeroGrad(): void {}
}
