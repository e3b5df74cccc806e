import { Tensor, allocate, type DType, type Storage } from './tensor.js';

/**
 * A trainable parameter: its value, the gradient accumulated into it by backward passes, and a
 * name. Layers name their own parameters (`"weight"`, `"bias"`); containers prefix them with the
 * layer's index (`"0.weight"`), so optimizers, checkpoints and metrics all see the same names.
 *
 * A learning rule's own parameter (Kolen-Pollack's and weight mirrors' feedback matrix B, named
 * `"3.feedback.b"`) is a `Param` with `feedback: true`: the optimizer updates it like the others,
 * checkpoints save it, but its gradient is the rule's update, not a gradient of the loss, so
 * `gradCheck` leaves it out.
 */
export class Param {
  /** Gradient of the loss with respect to `value` (or a rule's update, for a feedback parameter), accumulated (`+=`) by backward passes. */
  grad: Tensor;
  /** Whether the parameter belongs to a feedback rule (its gradient is not the loss's). */
  readonly feedback: boolean;

  constructor(
    /** Dotted name, e.g. `"weight"` inside a layer, `"0.weight"` inside a `Sequential`. */
    public name: string,
    /** The current value. Layers read it on every call, so {@link Param.cast} can replace it. */
    public value: Tensor,
    options: {
      /** True for a feedback rule's own parameter (default false). */
      feedback?: boolean;
      /** Where the gradient's array comes from (a layer passes its kernels' `allocate`, so the kernels work on it in place); zero-filled. */
      allocate?: (dtype: DType, size: number) => Storage;
    } = {},
  ) {
    this.grad = new Tensor((options.allocate ?? allocate)(value.dtype, value.size), value.shape);
    this.feedback = options.feedback ?? false;
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
