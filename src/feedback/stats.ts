import { angleDegrees, norm, signAgreement } from '../tensor/ops.js';
import type { Tensor } from '../tensor/tensor.js';

/**
 * How a layer's feedback relates to its forward weights, measured on demand (see
 * `Sequential.instrument`). Angles are in degrees; NaN where undefined (a zero vector).
 */
export interface FeedbackStats {
  /** Angle between V and W as flat vectors (0 for backprop). */
  readonly angleVW: number;
  /** Fraction of entries where sign(V) = sign(W) (1 for backprop and sign-concordant feedback). */
  readonly signConcordance: number;
  /** ‖V‖ / ‖W‖ (Frobenius norms). */
  readonly normRatio: number;
  /**
   * Angle between the error this layer passed to its input, Vᵀ·δ, and the error true backprop
   * would pass there, Wᵀ·δ*, where δ* is true backprop's error arriving at this layer (so the
   * angle compounds the mismatch of every layer above). NaN until an instrumented backward pass.
   */
  readonly errorAngle: number;
  /** Angle between Vᵀ·δ and Wᵀ·δ for the same arriving δ: this layer's own contribution. */
  readonly localErrorAngle: number;
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
