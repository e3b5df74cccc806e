import { bindFeedback } from '../feedback/define.js';
import type { BackwardSignals, Feedback, FeedbackContext, FeedbackLayerKind, FeedbackStrategy } from '../feedback/strategy.js';
import { defaultKernels } from '../kernels/fast.js';
import type { Kernels } from '../kernels/kernels.js';
import type { Param } from '../tensor/param.js';
import type { Rng } from '../tensor/rng.js';
import type { Shape, Tensor } from '../tensor/tensor.js';
import { checkRng } from './checks.js';
import type { FeedbackLayer } from './layer.js';

/**
 * The feedback plumbing every feedback layer shares (dense, conv and BatchNorm alike): binding a
 * strategy (checked against the kinds of layer it applies to), naming the rule's own parameters
 * beside the layer's (`"3.weight"` → `"3.feedback.b"`), and listing them with the layer's. Each
 * subclass writes its own forward, parameter gradients and input gradient, side by side in its file.
 */
export abstract class FeedbackLayerBase implements FeedbackLayer {
  abstract get feedbackKind(): FeedbackLayerKind;
  abstract readonly weight: Param;
  /** The bound strategy: set by the subclass's constructor, replaced by {@link FeedbackLayerBase.setFeedback}. */
  feedback!: Feedback;
  /** The kernels this layer computes with (default {@link defaultKernels}; see {@link FeedbackLayerBase.useKernels}). */
  kernels: Kernels = defaultKernels();

  abstract describe(): string;
  abstract outputShape(inputShape: Shape): number[];
  abstract forward(x: Tensor, training: boolean): Tensor;
  abstract backward(dy: Tensor, signals?: BackwardSignals): Tensor;
  abstract backwardParams(dy: Tensor): void;
  abstract inputGradient(dy: Tensor, v: Tensor): Tensor;
  abstract lastInputShape(): Shape;
  /** The layer's own parameters (W and b; γ and β), without its feedback's. */
  protected abstract ownParams(): Param[];
  /** What the layer tells a strategy about its W, with the generator the binding will own. */
  protected abstract feedbackContext(rng: Rng): FeedbackContext;

  /** The layer's parameters, then its feedback rule's (Kolen-Pollack's B, say), which the optimizer updates too. */
  /** Computes with `kernels` from now on; the feedback's own passes follow. */
  useKernels(kernels: Kernels): void {
    this.kernels = kernels;
  }

  params(): Param[] {
    const own = this.ownParams();
    const learned = this.feedback.params();
    return learned.length === 0 ? own : [...own, ...learned];
  }

  zeroGrad(): void {
    for (const p of this.params()) p.zeroGrad();
  }

  setFeedback(strategy: FeedbackStrategy, rng: Rng): void {
    this.feedback = this.bindFeedback(strategy, checkRng(this.describe(), rng));
  }

  /** Binds `strategy` with its own generator `rng`, naming the rule's parameters after W's (`"feedback.b"` beside `"weight"`). */
  protected bindFeedback(strategy: FeedbackStrategy, rng: Rng): Feedback {
    const feedback = bindFeedback(strategy, this.feedbackContext(rng));
    const name = this.weight.name;
    const prefix = name.slice(0, name.lastIndexOf('weight'));
    for (const p of feedback.params()) p.name = `${prefix}feedback.${p.name}`;
    return feedback;
  }
}
