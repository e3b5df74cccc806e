import { StateError } from '../errors.js';
import type { Param } from '../tensor/param.js';
import { Tensor, assertSameShape, type Shape } from '../tensor/tensor.js';
import type { Layer } from './layer.js';

/**
 * An elementwise activation `y = f(x)`. Backward is `dx = dy ∘ f'(x)`, where each subclass writes
 * f' as a function of the output y (cheaper, and the output is what the cache keeps).
 */
abstract class Activation implements Layer {
  private cache: { y: Tensor } | null = null;

  abstract describe(): string;
  /** f(x). */
  protected abstract f(x: number): number;
  /** f'(x) expressed through y = f(x). */
  protected abstract dfFromOutput(y: number): number;

  outputShape(inputShape: Shape): number[] {
    return [...inputShape];
  }

  forward(x: Tensor, _training: boolean): Tensor {
    const y = Tensor.zeros(x.shape, x.dtype);
    const xd = x.data, yd = y.data;
    for (let i = 0; i < yd.length; i++) yd[i] = this.f(xd[i]!);
    this.cache = { y };
    return y;
  }

  backward(dy: Tensor): Tensor {
    if (!this.cache) throw new StateError(`${this.describe()}.backward called before forward`);
    const { y } = this.cache;
    assertSameShape(`${this.describe()}.backward`, y, dy);
    const dx = Tensor.zeros(dy.shape, dy.dtype);
    const g = dy.data, yd = y.data, o = dx.data;
    for (let i = 0; i < o.length; i++) o[i] = g[i]! * this.dfFromOutput(yd[i]!); // dx = dy ∘ f'(x)
    return dx;
  }

  trueInputGradient(dy: Tensor): Tensor {
    return this.backward(dy);
  }

  params(): Param[] {
    return [];
  }

  zeroGrad(): void {}
}

/** Rectified linear unit, `max(0, x)`; its derivative at 0 is taken as 0 (as in PyTorch). */
export class ReLU extends Activation {
  describe(): string { return 'ReLU'; }
  protected f(x: number): number { return x > 0 ? x : 0; }
  protected dfFromOutput(y: number): number { return y > 0 ? 1 : 0; }
}

/** Hyperbolic tangent; `f' = 1 − y²`. */
export class Tanh extends Activation {
  describe(): string { return 'Tanh'; }
  protected f(x: number): number { return Math.tanh(x); }
  protected dfFromOutput(y: number): number { return 1 - y * y; }
}

/** Logistic sigmoid `1 / (1 + e^−x)`; `f' = y (1 − y)`. */
export class Sigmoid extends Activation {
  describe(): string { return 'Sigmoid'; }
  protected f(x: number): number { return x >= 0 ? 1 / (1 + Math.exp(-x)) : Math.exp(x) / (1 + Math.exp(x)); }
  protected dfFromOutput(y: number): number { return y * (1 - y); }
}
