import { StateError } from '../errors.js';
import type { Param } from '../tensor/param.js';
import { assertSameShape, type Shape, type Storage, type Tensor } from '../tensor/tensor.js';
import { defaultKernels } from '../kernels/fast.js';
import type { Kernels } from '../kernels/kernels.js';
import type { Layer } from './layer.js';
import { Workspace } from './workspace.js';

/**
 * An elementwise activation `y = f(x)`. Backward is `dx = dy ∘ f'(x)`, where each subclass writes
 * f' as a function of the output y (cheaper, and the output is what the cache keeps).
 */
abstract class Activation implements Layer {
  private cache: { y: Tensor } | null = null;
  /** The kernels this layer computes with (default {@link defaultKernels}). */
  kernels: Kernels = defaultKernels();
  private readonly workspace = new Workspace(() => this.kernels);

  /** Computes with `kernels` from now on. */
  useKernels(kernels: Kernels): void {
    this.kernels = kernels;
  }

  /** The activation's name: `ReLU`, `Tanh` or `Sigmoid`. */
  abstract describe(): string;
  /** f(x). */
  protected abstract f(x: number): number;
  /** f'(x) expressed through y = f(x). */
  protected abstract dfFromOutput(y: number): number;

  outputShape(inputShape: Shape): number[] {
    return [...inputShape];
  }

  forward(x: Tensor, _training: boolean): Tensor {
    const y = this.workspace.tensor('y', x.shape, x.dtype, false);
    this.map(x.data, y.data);
    this.cache = { y };
    return y;
  }

  /** `y = f(x)` elementwise. */
  protected map(x: Storage, y: Storage): void {
    for (let i = 0; i < y.length; i++) y[i] = this.f(x[i]!);
  }

  /** `dx = dy ∘ f'(x)` elementwise, f' written through the output y. */
  protected mapBackward(dy: Storage, y: Storage, dx: Storage): void {
    for (let i = 0; i < dx.length; i++) dx[i] = dy[i]! * this.dfFromOutput(y[i]!);
  }

  backward(dy: Tensor): Tensor {
    if (!this.cache) throw new StateError(`${this.describe()}.backward called before forward`);
    const { y } = this.cache;
    assertSameShape(`${this.describe()}.backward`, y, dy);
    const dx = this.workspace.tensor('dx', dy.shape, dy.dtype, false);
    this.mapBackward(dy.data, y.data, dx.data); // dx = dy ∘ f'(x)
    return dx;
  }

  /** With `on`, passes write into the arrays of the previous pass (see {@link Layer.reuseBuffers}). */
  reuseBuffers(on: boolean): void {
    this.workspace.reuse = on;
  }

  params(): Param[] {
    return [];
  }

  zeroGrad(): void {}
}

/**
 * Rectified linear unit, `max(0, x)`; its derivative at 0 is taken as 0 (as in PyTorch).
 *
 * The two loops are written out rather than going through `f` and `dfFromOutput`: about half the
 * units are off, so a branch per element would be mispredicted half the time, and ReLU runs on
 * every hidden activation of every step. Both forms below compile to branch-free code.
 *
 * Special values: −0 gives 0, NaN stays NaN, +∞ stays +∞, and −∞ gives NaN (−∞ · 0), where
 * PyTorch gives 0: a pre-activation that overflowed to −∞ makes the run count as diverged rather
 * than being masked.
 */
export class ReLU extends Activation {
  /** `ReLU`. */
  describe(): string { return 'ReLU'; }
  protected f(x: number): number { return x > 0 ? x : 0; }
  protected dfFromOutput(y: number): number { return y > 0 ? 1 : 0; }
  protected override map(x: Storage, y: Storage): void {
    this.kernels.relu(y, x); //                y = x · [x > 0] + 0
  }
  protected override mapBackward(dy: Storage, y: Storage, dx: Storage): void {
    this.kernels.reluBackward(dx, dy, y); //   dx = dy ∘ [y > 0]
  }
}

/** Hyperbolic tangent; `f' = 1 − y²`. */
export class Tanh extends Activation {
  /** `Tanh`. */
  describe(): string { return 'Tanh'; }
  protected f(x: number): number { return Math.tanh(x); }
  protected dfFromOutput(y: number): number { return 1 - y * y; }
}

/** Logistic sigmoid `1 / (1 + e^−x)`; `f' = y (1 − y)`. */
export class Sigmoid extends Activation {
  /** `Sigmoid`. */
  describe(): string { return 'Sigmoid'; }
  protected f(x: number): number { return x >= 0 ? 1 / (1 + Math.exp(-x)) : Math.exp(x) / (1 + Math.exp(x)); }
  protected dfFromOutput(y: number): number { return y * (1 - y); }
}
