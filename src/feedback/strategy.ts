import type { Kernels } from '../kernels/kernels.js';
import type { EncodedArray } from '../tensor/encode.js';
import type { Initializer } from '../tensor/init.js';
import type { Param } from '../tensor/param.js';
import type { Rng, RngState } from '../tensor/rng.js';
import type { DType, Shape, Tensor } from '../tensor/tensor.js';
import type { MagnitudeLaw } from './magnitude.js';

/**
 * How a layer sends its error backward, and what else a learning rule does in a training step.
 *
 * Forward, a dense layer computes `y = W x + b`. Backward, the layer always computes its own
 * parameter gradients from the error `dY` that reached it (`dW = dYᵀ X`, `db = Σ dY`), and the
 * bound feedback decides what it sends down to the layer below:
 *
 * - layer-wise rules send `dY V` through a matrix V of W's shape: backprop's V = W, sign-concordant
 *   V = M ∘ sign(W), feedback alignment's fixed random B, Kolen-Pollack's and weight mirrors' learned B;
 * - direct feedback alignment sends `e B`, the error e at the network's output through a fixed
 *   random B of its own, whatever arrived from above.
 *
 * A rule can also reshape the gradients before the optimizer (Batch Manhattan takes their sign),
 * own parameters of its own that the optimizer updates (Kolen-Pollack's and weight mirrors' B),
 * and add work before and after the optimizer step (brSF's redraw, the weight mirror's phase).
 *
 * A `FeedbackStrategy` is a value describing the rule (serialisable as {@link FeedbackSpec}); a
 * layer calls {@link FeedbackStrategy.bind} once to get its own {@link Feedback}, which holds the
 * layer's matrices, parameters and generator. One strategy value can therefore be shared by every
 * layer of a model, and each layer can be given another.
 */
export interface FeedbackStrategy {
  /** Short display name: `bp`, `usf`, `brsf`, `frsf`, `fa`, `dfa`, `kp`, `wm`, `bm+usf`, … */
  readonly name: string;
  /** A JSON description that {@link feedbackFromSpec} turns back into an equal strategy. */
  readonly spec: FeedbackSpec;
  /** The kinds of layer the rule can be bound to; binding it to another kind is a `ConfigError`. */
  readonly appliesTo: readonly FeedbackLayerKind[];
  /**
   * What a BatchNorm beside layers that use this rule gets when nothing is chosen for it: the
   * exact BN backward, with the Batch Manhattan update when the rule has it (the protocol's rule).
   * Model builders and `Sequential.setFeedback` read it here, and nowhere else decides it.
   */
  readonly batchNorm: FeedbackStrategy;
  /**
   * Whether the rule reads the error at the network's output (direct feedback): the model's top
   * weighted layer must then be dense, since that layer's error is the `e` the rule projects.
   */
  readonly readsOutputError: boolean;
  /** Creates the per-layer state for one layer. */
  bind(context: FeedbackContext): Feedback;
}

/** The kinds of layer a feedback rule can be bound to: dense, convolutional, and BatchNorm's γ. */
export type FeedbackLayerKind = 'dense' | 'conv' | 'batchnorm';

/** What a strategy learns about the layer it is bound to. */
export interface FeedbackContext {
  /** The kind of layer. */
  readonly kind: FeedbackLayerKind;
  /** Shape of W (and of a matrix V that stands in for it). */
  readonly shape: Shape;
  /** The storage type of W (a learned B gets the same). */
  readonly dtype: DType;
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
  /**
   * The kernels the layer computes with, which a rule's own passes (filling V, redrawing M) use
   * too; a context made by hand may leave them out for the default kernels.
   */
  readonly kernels?: Kernels;
}

/**
 * What a binding sees of its layer in the backward pass and around the optimizer step: W, the
 * layer's parameters, and the one operation every rule needs from a layer: the input gradient
 * through a given matrix. Dense, Conv2d and BatchNorm implement it.
 */
export interface FeedbackSite {
  /** The kind of layer. */
  readonly feedbackKind: FeedbackLayerKind;
  /** W: the forward weight a feedback matrix stands in for (BatchNorm's γ). */
  readonly weight: Param;
  /** The layer's name, for messages. */
  describe(): string;
  /** The kernels the layer computes with. */
  readonly kernels: Kernels;
  /** The layer's parameters (its own, then its feedback's). */
  params(): Param[];
  /**
   * The error the layer would send to its input through the matrix `v` (W's shape) for the error
   * `dy` at its output, from the last forward pass's cache: `dY V` for a dense layer. With `v = W`
   * it is backprop's input gradient. Accumulates nothing.
   */
  inputGradient(dy: Tensor, v: Tensor): Tensor;
  /** The shape of the last forward pass's input, batch first (what the layer sends an error to). */
  lastInputShape(): Shape;
}

/** What the container hands every layer in the backward pass besides the error from above. */
export interface BackwardSignals {
  /** e: the error at the network's output (the top weighted layer's error), this step's. */
  readonly outputError: Tensor | null;
}

/** How the training step calls {@link Feedback.beforeUpdate}. */
export interface UpdateOptions {
  /** True when a Batch Manhattan wrapper has just replaced the layer's gradients by their signs. */
  readonly manhattan: boolean;
}

/**
 * A strategy bound to one layer: the per-layer object a {@link FeedbackStrategy} creates in
 * {@link FeedbackStrategy.bind}. It owns whatever the rule draws or learns for that layer (random
 * magnitudes, a random matrix B, a learned B, a flip mask) and the generator it draws from. Each
 * method is called at one point of a training step (`trainStep`).
 */
export interface Feedback {
  /** The strategy this binding came from. */
  readonly strategy: FeedbackStrategy;
  /**
   * The error the layer sends to its input, given the error `dy` that reached its output (the
   * layer has already accumulated its own parameter gradients from it). Layer-wise rules return
   * `site.inputGradient(dy, V)`; direct feedback returns `e B` from `signals.outputError`.
   */
  backward(site: FeedbackSite, dy: Tensor, signals: BackwardSignals | undefined): Tensor;
  /**
   * The matrix V that stands in for W in the backward pass (W's shape), computed from the
   * current W; symmetric feedback returns `weight` itself. Null for a rule that sends no error
   * through a matrix of W's shape (direct feedback). The statistics compare it with W.
   */
  matrix(weight: Tensor): Tensor | null;
  /** Parameters the rule learns (Kolen-Pollack's and weight mirrors' B, named `b`); empty for a fixed rule. */
  params(): Param[];
  /**
   * After the whole backward pass, before the optimizer step: Batch Manhattan replaces the
   * layer's gradients by their signs, Kolen-Pollack gives B W's update, the weight mirror runs
   * its mirror phase.
   */
  beforeUpdate(site: FeedbackSite, options: UpdateOptions): void;
  /** After the optimizer step: batchwise-random feedback redraws its magnitudes here. */
  afterUpdate(site: FeedbackSite): void;
  /** Everything needed to resume besides the learned parameters: the generator, the drawn matrices and masks. */
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
      /** {@link directFeedback} (direct feedback alignment): the error sent down is e B. */
      readonly type: 'direct';
    }
  | {
      /** {@link kolenPollack}: V = B, B learned with W's own update, both decayed. */
      readonly type: 'kolen-pollack';
      /** The decay λ added to both W's and B's gradients (`g + λ·W`, `g + λ·B`). */
      readonly decay: number;
    }
  | {
      /** {@link weightMirror}: V = B, B learned in a mirror phase from noise sent through W. */
      readonly type: 'weight-mirror';
      /** η: the mirror rate, the scale of the mirror signal in B's gradient. */
      readonly mirrorRate: number;
      /** λ: the decay of B in its gradient. */
      readonly decay: number;
      /** σ: the standard deviation of the noise sent through W. */
      readonly noise: number;
      /** Mirror batches per training step (each as many noise samples as the training batch). */
      readonly mirrorBatches: number;
    }
  | {
      /** {@link batchManhattan}: the inner strategy's backward, with every parameter gradient replaced by its sign. */
      readonly type: 'batch-manhattan';
      /** The spec of the strategy whose backward is used. */
      readonly inner: FeedbackSpec;
    }
  /** A user-defined strategy: `feedbackFromSpec` rebuilds it through the method registered under `name`. */
  | {
      /** A strategy defined outside the library. */
      readonly type: 'custom';
      /** The name it is registered under (see {@link registerMethod}), or the key of its factory in the map passed to {@link feedbackFromSpec}. */
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
  /** The arrays the binding drew (magnitudes, B, the flip mask as `flip`), by name. Learned parameters are saved as parameters, not here. */
  readonly arrays: Readonly<Record<string, EncodedArray>>;
  /** The wrapped strategy's state, for a wrapper such as Batch Manhattan. */
  readonly inner?: FeedbackState;
}
