import type { EncodedArray } from '../tensor/encode.js';
import type { Initializer } from '../tensor/init.js';
import type { Param } from '../tensor/param.js';
import type { Rng, RngState } from '../tensor/rng.js';
import type { Shape, Tensor } from '../tensor/tensor.js';
import type { MagnitudeLaw } from './magnitude.js';

/**
 * How a weighted layer sends its error backward, and how its gradient reaches the optimizer.
 *
 * Forward, a dense layer computes `y = W x + b`. Backward, true backprop sends `dx = Wᵀ dy`. A
 * feedback strategy replaces W there by a feedback matrix V of the same shape (`dx = Vᵀ dy`); the
 * layer's own gradients stay the true ones (`dW = dy xᵀ`, `db = Σ dy`). A strategy may also reshape
 * those gradients before the optimizer sees them (Batch Manhattan takes their sign).
 *
 * A `FeedbackStrategy` is a value describing the rule (serialisable as {@link FeedbackSpec}); a
 * layer calls {@link FeedbackStrategy.bind} once to get its own {@link Feedback}, which holds the
 * layer's random matrices and generator. One strategy value can therefore be shared by every layer
 * of a model, and each layer can be given another.
 */
export interface FeedbackStrategy {
  /** Short display name: `bp`, `usf`, `brsf`, `frsf`, `fa`, `bm+usf`, … */
  readonly name: string;
  /** A JSON description that {@link feedbackFromSpec} turns back into an equal strategy. */
  readonly spec: FeedbackSpec;
  /** Creates the per-layer state for one weight. */
  bind(context: FeedbackContext): Feedback;
}

/** What a strategy learns about the weight it is bound to. */
export interface FeedbackContext {
  /** Shape of W (and of V). */
  readonly shape: Shape;
  /** Inputs per output unit (W's fan-in), for drawing B like W. */
  readonly fanIn: number;
  /** Outputs per input unit (W's fan-out). */
  readonly fanOut: number;
  /** The layer's weight initialiser: feedback alignment draws B with it. */
  readonly init: Initializer;
  /** A generator owned by this binding alone (saved and restored with it). */
  readonly rng: Rng;
  /** Name of the layer, for messages. */
  readonly layer: string;
}

/** A strategy bound to one layer's weight. */
export interface Feedback {
  readonly strategy: FeedbackStrategy;
  /**
   * The matrix V that carries the error to the layer's input, computed from the current W (the
   * backward pass calls this once per step). Symmetric feedback returns `weight` itself.
   */
  matrix(weight: Tensor): Tensor;
  /** Reshapes the layer's accumulated parameter gradients in place before the optimizer step. */
  shapeGradients(params: readonly Param[]): void;
  /** Called after every optimizer step: batchwise-random feedback redraws its magnitudes here. */
  afterStep(): void;
  /** Everything needed to resume: the generator and the drawn matrices and masks. */
  state(): FeedbackState;
  /** Restores {@link Feedback.state} (from a binding of the same strategy and weight shape). */
  loadState(state: FeedbackState): void;
}

/** JSON description of a strategy. */
export type FeedbackSpec =
  | { readonly type: 'symmetric'; readonly flip: number }
  | { readonly type: 'sign-concordant'; readonly magnitude: MagnitudeLaw; readonly redraw: 'fixed' | 'batch'; readonly flip: number }
  | { readonly type: 'random'; readonly flip: number }
  | { readonly type: 'batch-manhattan'; readonly inner: FeedbackSpec }
  /** A user-defined strategy: `feedbackFromSpec` rebuilds it through the factory registered under `name`. */
  | { readonly type: 'custom'; readonly name: string; readonly options?: Readonly<Record<string, unknown>> };

/** JSON-safe state of a bound {@link Feedback}. */
export interface FeedbackState {
  readonly spec: FeedbackSpec;
  readonly rng: RngState | null;
  readonly arrays: Readonly<Record<string, EncodedArray>>;
  readonly inner?: FeedbackState;
}
