import type { Kernels } from '../kernels/kernels.js';
import { referenceKernels } from '../kernels/reference.js';
import { Tensor, sizeOf, type DType, type Shape, type Storage } from '../tensor/tensor.js';

/**
 * The arrays a layer's forward and backward passes hand out, kept so that the next pass can write
 * into them again instead of allocating: reuse is on only while a {@link Sequential} runs a
 * training step (see {@link Sequential.reuseBuffers}), where nothing outside the model holds a
 * layer's outputs from one step to the next (and likewise while `evaluate` runs its batches).
 *
 * Why it matters: a fresh typed array of a few hundred kilobytes or more comes from new memory
 * pages, and writing it the first time costs several times more than the arithmetic that fills it
 * (a ReLU over 470,000 values: 0.6 ms into a reused array, 1.9 ms into a fresh one). A conv net's
 * step hands out about a dozen such arrays.
 *
 * With reuse off every call returns a fresh array, and nothing is kept: an array a caller holds
 * is never written again by the layer.
 *
 * @internal
 */
export class Workspace {
  /** Whether calls may hand out the arrays of the previous step (set by the model around a training step). */
  reuse = false;
  private readonly slots = new Map<string, Storage | Int32Array>();

  /**
   * @param kernels the owner's kernels, asked for each array kept across steps (the fast kernels
   * hand out arrays in their own memory, which they then use in place).
   */
  constructor(private readonly kernels: () => Kernels = () => referenceKernels) {}

  /**
   * A tensor for the pass to fill: slot `name`'s array from the previous step when reuse is on
   * and it fits (cleared to zeros when `zero`, for a pass that adds into it), else a fresh one.
   */
  tensor(name: string, shape: Shape, dtype: DType, zero: boolean): Tensor {
    if (!this.reuse) return Tensor.zeros(shape, dtype);
    const size = sizeOf(shape);
    const wanted = dtype === 'float64' ? Float64Array : Float32Array;
    let data = this.slots.get(name);
    if (data instanceof wanted && data.length === size) {
      if (zero) data.fill(0);
    } else {
      if (data) this.kernels().release(data); // replaced: nothing outside holds a workspace's arrays from one pass to the next
      data = this.kernels().allocate(dtype, size);
      this.slots.set(name, data);
    }
    return new Tensor(data as Storage, shape);
  }

  /** An index array for the pass to fill completely (not cleared), reused like {@link Workspace.tensor}. */
  indices(name: string, size: number): Int32Array {
    if (!this.reuse) return new Int32Array(size);
    const data = this.slots.get(name);
    if (data instanceof Int32Array && data.length === size) return data;
    if (data) this.kernels().release(data);
    const fresh = this.kernels().allocateIndices(size);
    this.slots.set(name, fresh);
    return fresh;
  }
}
