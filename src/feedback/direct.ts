import { DataFormatError, ShapeError } from '../errors.js';
import { gemm } from '../tensor/matmul.js';
import type { Param } from '../tensor/param.js';
import { Tensor, sizeOf } from '../tensor/tensor.js';
import { BindingState } from './base.js';
import { defineStrategy } from './define.js';
import type { BackwardSignals, Feedback, FeedbackContext, FeedbackSite, FeedbackState, FeedbackStrategy, UpdateOptions } from './strategy.js';

/**
 * Direct feedback alignment (DFA; Nøkland, 2016): the error a layer sends down is not `dY V` but
 * `e B`, the error e at the network's output (the top dense layer's error, `softmax − onehot`
 * over the batch) through a fixed random matrix B of the layer's own, whatever arrived from above.
 * No error travels from layer to layer.
 *
 * **Where B sits.** The binding belongs to the layer that sends the error, and B maps e to that
 * layer's *input*, the output of the block below (B is `[classes, units of that input]`). The
 * error then passes the exact backward of what lies between (ReLU's derivative, max-pooling's
 * routing, BatchNorm), so the layer below trains on `δ = (e B) ⊙ f′(a)`: Nøkland's rule, with
 * B_l attached to the layer above l. For a conv net this means B maps e to the channels ×
 * positions of the block below's output *after pooling*, and the pooling's backward brings it to
 * the conv layer's own output positions. The top layer's B therefore plays the role of feedback
 * alignment's B (its `dY` is e itself), and the first layer's B is never used in training, since
 * nothing is sent to the data.
 *
 * B is drawn on the first backward pass (when the number of classes and the input's shape are
 * known), from the binding's generator, with the layer's initialiser as for a dense layer from
 * that input straight to the output (fan-in: the input's units, fan-out: the classes).
 *
 * DFA applies to dense and conv layers; a BatchNorm beside it keeps its exact backward. It needs
 * the model's top weighted layer to be dense (`Sequential` checks). It combines with Batch
 * Manhattan like any rule. Its statistics have no V of W's shape, so `angleVW`,
 * `signConcordance` and `normRatio` are NaN; the error angles are measured as for every rule.
 *
 * @example
 * ```ts
 * import { Rng, directFeedback, mlp } from 'asymprop';
 *
 * const model = mlp({ rng: new Rng(1), feedback: directFeedback() });
 * console.log(directFeedback().name, directFeedback().readsOutputError); // dfa true
 * console.log(model.params().length);                                    // 6: B is fixed, not learned
 * ```
 */
export function directFeedback(): FeedbackStrategy {
  return defineStrategy({
    name: 'dfa',
    spec: { type: 'direct' },
    appliesTo: ['dense', 'conv'],
    readsOutputError: true,
    bind: (context, strategy) => new DirectFeedback(strategy, context),
  });
}

class DirectFeedback implements Feedback {
  /** B, `[classes, input units]`, float32 as drawn; null until the first backward pass. */
  private b: Float32Array | null = null;
  /** B in float64, for a layer checked in float64. */
  private b64: Float64Array | null = null;
  private readonly saved: BindingState;

  constructor(
    readonly strategy: FeedbackStrategy,
    private readonly context: FeedbackContext,
  ) {
    this.saved = new BindingState(strategy, context.rng, context.layer);
  }

  /** `e B`, shaped like the layer's input; `e` is the step's output error (or `dy` for a layer on its own). */
  backward(site: FeedbackSite, dy: Tensor, signals: BackwardSignals | undefined): Tensor {
    const e = signals?.outputError ?? dy;
    if (e.rank !== 2) throw new ShapeError(`${this.context.layer} direct feedback output error`, '[batch, classes]', e.shape);
    const [n, classes] = e.shape as [number, number];
    const input = site.lastInputShape().slice(1);
    const units = sizeOf(input);
    const b = this.matrixFor(classes, units);
    const out = Tensor.zeros([n, ...input], e.dtype);
    gemm(false, false, n, units, classes, e.data, e.dtype === 'float64' ? (this.b64 ??= Float64Array.from(b)) : b, out.data); // e B
    return out;
  }

  /** B for `classes` outputs and `units` inputs: drawn the first time, then checked. */
  private matrixFor(classes: number, units: number): Float32Array {
    if (!this.b) {
      this.b = new Float32Array(classes * units);
      this.context.init.fill(this.b, units, classes, this.context.rng);
    }
    if (this.b.length !== classes * units) {
      throw new ShapeError(`${this.context.layer} direct feedback`, `an output error and input whose B has ${this.b.length} entries (as drawn)`, [classes, units]);
    }
    return this.b;
  }

  /** No matrix of W's shape: the error does not go through W's place at all. */
  matrix(_weight: Tensor): null {
    return null;
  }

  params(): Param[] {
    return [];
  }

  beforeUpdate(_site: FeedbackSite, _options: UpdateOptions): void {}

  afterUpdate(_site: FeedbackSite): void {}

  state(): FeedbackState {
    return this.saved.save(this.b ? { b: this.b } : {});
  }

  loadState(state: FeedbackState): void {
    const saved = state?.arrays?.['b'];
    const sizes: Record<string, number> = {};
    if (saved) sizes['b'] = this.b ? this.b.length : decodedLength(saved.length, this.context.layer);
    const decoded = this.saved.load(state, sizes);
    const b = decoded['b'];
    if (b && !(b instanceof Float32Array)) throw new DataFormatError(`${this.context.layer} feedback state`, 'array "b" must be float32');
    this.b = b ? Float32Array.from(b) : null;
    this.b64 = null;
  }
}

/** The length an encoded array declares, before it is checked against anything (B is drawn lazily). */
function decodedLength(length: unknown, layer: string): number {
  if (!Number.isInteger(length) || (length as number) < 0) throw new DataFormatError(`${layer} feedback state`, `array "b" has an invalid length ${JSON.stringify(length)}`);
  return length as number;
}
