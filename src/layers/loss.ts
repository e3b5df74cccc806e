import { ShapeError, ValueError } from '../errors.js';
import { Tensor, assertSameShape } from '../tensor/tensor.js';

/** Class labels: one integer in [0, classes) per sample. */
export type Labels = ArrayLike<number>;

/** A loss value, its gradient with respect to the prediction, and (for classification) the hits. */
export interface LossResult {
  /** Mean loss over the batch. */
  readonly loss: number;
  /** ∂loss/∂prediction, same shape as the prediction. */
  readonly grad: Tensor;
  /** Number of samples whose arg-max matched the label (classification losses only). */
  readonly correct?: number;
}

/**
 * Throws a {@link ShapeError} unless there are `n` labels, and a {@link ValueError} unless each is
 * an integer in [0, classes).
 *
 * @param where names the caller in the error message.
 */
export function checkLabels(where: string, labels: Labels, n: number, classes: number): void {
  if (labels.length !== n) throw new ShapeError(where, `${n} labels (one per row)`, [labels.length]);
  for (let i = 0; i < n; i++) {
    const c = labels[i]!;
    if (!Number.isInteger(c) || c < 0 || c >= classes) {
      throw new ValueError(where, `label ${c} at index ${i} is outside [0, ${classes})`);
    }
  }
}

/**
 * Softmax cross-entropy, averaged over the batch: `L = −(1/N) Σ_i log softmax(z_i)[y_i]`, with
 * gradient `(softmax(z) − onehot(y)) / N`. Computed stably (the row max is subtracted first).
 * A non-finite logit gives a non-finite loss, which training treats as divergence.
 *
 * @param logits `[N, classes]` scores.
 * @param labels one class index per row.
 * @throws {@link ShapeError} unless `logits` has rank 2 and there is one label per row.
 * @throws {@link ValueError} for a label that is not an integer in [0, classes).
 *
 * @example
 * ```ts
 * import { Tensor, softmaxCrossEntropy } from 'asymprop';
 *
 * const logits = Tensor.from([[2, 0, 0], [0, 0, 0]]);
 * const { loss, grad, correct } = softmaxCrossEntropy(logits, [0, 2]);
 * console.log(loss.toFixed(4), correct, grad.shape); // 0.6691 1 [2, 3]
 * ```
 */
export function softmaxCrossEntropy(logits: Tensor, labels: Labels): LossResult {
  if (logits.rank !== 2) throw new ShapeError('softmaxCrossEntropy', 'logits [N, classes]', logits.shape);
  const [n, c] = logits.shape as [number, number];
  checkLabels('softmaxCrossEntropy', labels, n, c);
  const grad = Tensor.zeros(logits.shape, logits.dtype);
  const z = logits.data, g = grad.data;
  let total = 0;
  let correct = 0;
  for (let i = 0; i < n; i++) {
    const row = i * c;
    let max = -Infinity, arg = 0;
    for (let j = 0; j < c; j++) if (z[row + j]! > max) { max = z[row + j]!; arg = j; }
    let s = 0;
    for (let j = 0; j < c; j++) {
      const e = Math.exp(z[row + j]! - max);
      g[row + j] = e;
      s += e;
    }
    const y = labels[i]!;
    total += Math.log(s) - (z[row + y]! - max);
    if (arg === y) correct++;
    for (let j = 0; j < c; j++) g[row + j] = (g[row + j]! / s - (j === y ? 1 : 0)) / n;
  }
  return { loss: n === 0 ? 0 : total / n, grad, correct };
}

/**
 * Mean squared error over all elements, `L = mean((p − t)²)`, gradient `2 (p − t) / size`
 * (PyTorch's `MSELoss` with its default mean reduction). Throws a {@link ShapeError} unless
 * `prediction` and `target` have the same shape.
 */
export function meanSquaredError(prediction: Tensor, target: Tensor): LossResult {
  assertSameShape('meanSquaredError target', prediction, target);
  const grad = Tensor.zeros(prediction.shape, prediction.dtype);
  const p = prediction.data, t = target.data, g = grad.data;
  const size = p.length;
  let total = 0;
  for (let i = 0; i < size; i++) {
    const d = p[i]! - t[i]!;
    total += d * d;
    g[i] = (2 * d) / size;
  }
  return { loss: size === 0 ? 0 : total / size, grad };
}
