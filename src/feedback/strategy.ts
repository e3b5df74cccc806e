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

/**
 * A strategy bound to one layer's weight: the per-layer object a {@link FeedbackStrategy} creates
 * in {@link FeedbackStrategy.bind}. It owns whatever the rule draws for that layer (random
 * magnitudes, a random matrix B, a flip mask) and the generator it draws them from.
 */
export interface Feedback {
  /** The strategy this binding came from. */
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

/**
 * JSON description of a strategy: what checkpoints and results files store, and what
 * {@link feedbackFromSpec} turns back into a strategy. One variant per kind of rule.
 *
 * @example
 * ```ts
 * import { batchManhattan, feedbackFromSpec, frsf } from 'asymprop';
 *
 * const spec = batchManhattan(frsf({ flip: 0.25 })).spec;
 * console.log(JSON.stringify(spec));
 * // {"type":"batch-manhattan","inner":{"type":"sign-concordant","magnitude":"uniform","redraw":"fixed","flip":0.25}}
 * console.log(feedbackFromSpec(spec).name); // bm+frsf(flip=0.25)
 * ```
 */
export type FeedbackSpec =
  | {
      /** {@link symmetric}: V = W. */
      readonly type: 'symmetric';
      /** Fraction of V's signs flipped by a fixed random mask, in [0, 1]. */
      readonly flip: number;
    }
  | {
      /** {@link signConcordant} (uSF, brSF, frSF): V = M ∘ sign(W). */
      readonly type: 'sign-concordant';
      /** The law of the magnitudes M. */
      readonly magnitude: MagnitudeLaw;
      /** `batch`: M is redrawn after every optimizer step (brSF); `fixed`: drawn once (frSF, uSF). */
      readonly redraw: 'fixed' | 'batch';
      /** Fraction of V's signs flipped by a fixed random mask, in [0, 1]. */
      readonly flip: number;
    }
  | {
      /** {@link randomFeedback} (feedback alignment): V = B, fixed and random. */
      readonly type: 'random';
      /** Fraction of V's signs flipped by a fixed random mask, in [0, 1]. */
      readonly flip: number;
    }
  | {
      /** {@link batchManhattan}: the inner strategy's V, with every parameter gradient replaced by its sign. */
      readonly type: 'batch-manhattan';
      /** The spec of the strategy whose V is used. */
      readonly inner: FeedbackSpec;
    }
  /** A user-defined strategy: `feedbackFromSpec` rebuilds it through the factory registered under `name`. */
  | {
      /** A strategy defined outside the library. */
      readonly type: 'custom';
      /** The key of its factory in the registry passed to {@link feedbackFromSpec}. */
      readonly name: string;
      /** Passed to that factory (default `{}`); must be JSON-safe. */
      readonly options?: Readonly<Record<string, unknown>>;
    };

/** JSON-safe state of a bound {@link Feedback}: what {@link Feedback.state} saves and {@link Feedback.loadState} restores. */
export interface FeedbackState {
  /** The strategy's spec; restoring into a binding of another strategy is refused. */
  readonly spec: FeedbackSpec;
  /** The binding's generator, or null for a wrapper that draws nothing itself (Batch Manhattan). */
  readonly rng: RngState | null;
  /** The arrays the binding drew (magnitudes, B, the flip mask as `flip`), by name. */
  readonly arrays: Readonly<Record<string, EncodedArray>>;
  /** The wrapped strategy's state, for a wrapper such as Batch Manhattan. */
  readonly inner?: FeedbackState;
}
