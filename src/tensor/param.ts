import { Tensor, type DType } from './tensor.js';

/**
 * A trainable parameter: its value, the gradient accumulated into it by backward passes, and a
 * name. Layers name their own parameters (`"weight"`, `"bias"`); containers prefix them with the
 * layer's index (`"0.weight"`), so optimizers, checkpoints and metrics all see the same names.
 */
export class Param {
  /** Gradient of the loss with respect to `value`, accumulated (`+=`) by backward passes. */
  grad: Tensor;

  constructor(
    /** Dotted name, e.g. `"weight"` inside a layer, `"0.weight"` inside a `Sequential`. */
    public name: string,
    /** The current value. Layers read it on every call, so {@link Param.cast} can replace it. */
    public value: Tensor,
  ) {
    this.grad = Tensor.zeros(value.shape, value.dtype);
  }

  /** Sets the accumulated gradient to zero (done once per step, before the backward pass). */
  zeroGrad(): void {
    this.grad.data.fill(0);
  }

  /** Converts value and gradient to another dtype (e.g. float64 for a gradient check). */
  cast(dtype: DType): void {
    if (this.value.dtype === dtype) return;
    this.value = this.value.clone(dtype);
    this.grad = this.grad.clone(dtype);
  }
}
