import { angleDegrees, norm, signAgreement } from '../tensor/ops.js';
import type { Tensor } from '../tensor/tensor.js';
import type { Feedback, FeedbackSite } from './strategy.js';

/**
 * How a layer's feedback relates to its forward weights and to backprop, measured by the
 * container on an instrumented backward pass (see `Sequential.instrument`), the same way for
 * every rule. Angles are in degrees; NaN where undefined (a zero vector, or no matrix of W's
 * shape: direct feedback has none).
 */
export interface FeedbackStats {
  /** Angle between V and W as flat vectors (0 for backprop; for Kolen-Pollack and weight mirrors, between the learned B and W). */
  readonly angleVW: number;
  /** Fraction of entries where sign(V) = sign(W) (1 for backprop and sign-concordant feedback). */
  readonly signConcordance: number;
  /** ‖V‖ / ‖W‖ (Frobenius norms). */
  readonly normRatio: number;
  /**
   * Angle between the error this layer passed to its input, Vᵀ·δ, and the error true backprop
   * would pass there, Wᵀ·δ*, where δ* is true backprop's error arriving at this layer (so the
   * angle compounds the mismatch of every layer above).
   */
  readonly errorAngle: number;
  /** Angle between the error this layer passed to its input and Wᵀ·δ for the same arriving δ: this layer's own contribution. */
  readonly localErrorAngle: number;
  /**
   * Angle between the error δ this layer received at its output and δ*, the one true backprop
   * delivers there: the error its weight gradient is computed from (0 for the top layer).
   */
  readonly receivedErrorAngle: number;
}

/** The weight-only part of {@link FeedbackStats}. */
export function matrixStats(v: Tensor, w: Tensor): Pick<FeedbackStats, 'angleVW' | 'signConcordance' | 'normRatio'> {
  const nw = norm(w);
  return {
    angleVW: angleDegrees(v, w),
    signConcordance: signAgreement(v, w),
    normRatio: nw === 0 ? NaN : norm(v) / nw,
  };
}

/** The errors a layer received and sent in one backward pass, and the ones true backprop gave it. */
export interface ErrorsSeen {
  /** The error that reached the layer's output (δ). */
  readonly received: Tensor;
  /** The error the layer sent to its input. */
  readonly sent: Tensor;
  /** True backprop's error at the layer's output (δ*). */
  readonly backpropReceived: Tensor;
  /** True backprop's error at the layer's input (Wᵀ·δ*). */
  readonly backpropSent: Tensor;
}

/**
 * A feedback layer's {@link FeedbackStats} from the errors of an instrumented backward pass and
 * its current W and V (before the optimizer step). One function for every rule, direct feedback
 * included.
 */
export function measureFeedback(site: FeedbackSite & { readonly feedback: Feedback }, errors: ErrorsSeen): FeedbackStats {
  const w = site.weight.value;
  const v = site.feedback.matrix(w);
  return {
    ...(v ? matrixStats(v, w) : { angleVW: NaN, signConcordance: NaN, normRatio: NaN }),
    localErrorAngle: v === w ? 0 : angleDegrees(errors.sent, site.inputGradient(errors.received, w)),
    errorAngle: angleDegrees(errors.sent, errors.backpropSent),
    receivedErrorAngle: angleDegrees(errors.received, errors.backpropReceived),
  };
}
