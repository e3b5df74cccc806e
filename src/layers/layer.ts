import type { BackwardSignals, Feedback, FeedbackSite, FeedbackStrategy } from '../feedback/strategy.js';
import type { Kernels } from '../kernels/kernels.js';
import type { Param } from '../tensor/param.js';
import type { Rng } from '../tensor/rng.js';
import type { Shape, Tensor } from '../tensor/tensor.js';

/**
 * The one interface every layer implements.
 *
 * `forward` computes the output and fills the layer's backward cache; `backward` reads that
 * cache, accumulates (`+=`) the gradients of the layer's parameters, and returns the gradient with
 * respect to the layer's input. Calling `backward` before `forward` throws a `StateError`. Inputs
 * are batches, the first axis indexing the samples: `[N, features]` or `[N, channels, height, width]`.
 *
 * @example
 * ```ts
 * import { Dense, Rng, Tensor, type Layer } from 'asymprop';
 *
 * const layer: Layer = new Dense(3, 2, { rng: new Rng(0) });
 * const y = layer.forward(Tensor.from([[1, 2, 3]]), true);  // [1, 2]
 * layer.zeroGrad();
 * const dx = layer.backward(Tensor.from([[1, 0]]));         // dL/dy in, dL/dx out: [1, 3]
 * console.log(y.shape, dx.shape, layer.params().map((p) => p.name)); // [1, 2] [1, 3] [ 'weight', 'bias' ]
 * ```
 */
export interface Layer {
  /** Human-readable description used in messages, e.g. `Dense(784→256)`. */
  describe(): string;
  /**
   * The per-sample output shape for a per-sample input shape (the batch axis left out). Throws a
   * `ShapeError` when the layer cannot take that input, so that models fail when built, not mid-training.
   */
  outputShape(inputShape: Shape): number[];
  /** Output for a batch. `training` selects train-mode behaviour (batch statistics, dropout). */
  forward(x: Tensor, training: boolean): Tensor;
  /**
   * Accumulates parameter gradients and returns the error sent to the input (for a feedback
   * layer, the one its feedback sends down). `signals` carries what the container knows beyond
   * the error from above (the network's output error, for direct feedback); layers without
   * feedback ignore it.
   */
  backward(dy: Tensor, signals?: BackwardSignals): Tensor;
  /**
   * Accumulates the parameter gradients only, as `backward` does, without computing the input
   * gradient: for the first layer of a model, whose input is the data. Optional; layers without
   * it are run through `backward`.
   */
  backwardParams?(dy: Tensor): void;
  /** The layer's parameters, with names relative to the layer (`weight`, `bias`). */
  params(): Param[];
  /** Sets every parameter gradient to zero. */
  zeroGrad(): void;
  /**
   * State that is not a parameter but that a checkpoint must keep for a resumed run to continue
   * exactly: arrays (BatchNorm's running statistics) and generators (Dropout's). Optional.
   */
  buffers?(): LayerBuffers;
  /**
   * Optional. With `on`, the next forward and backward passes may write their outputs into the
   * arrays they handed out the last time (instead of allocating), so those earlier results are
   * overwritten; with `false`, every pass returns fresh arrays again. It is on only inside a training
   * step and an evaluation (see {@link Sequential.reuseBuffers}).
   */
  reuseBuffers?(on: boolean): void;
  /**
   * Computes with `kernels` from now on (a container passes them to its layers). Layers without
   * loops of their own (Flatten) have nothing to change.
   */
  useKernels?(kernels: Kernels): void;
}

/** Non-parameter state of a layer, by name. */
export interface LayerBuffers {
  /** Arrays a checkpoint saves and restores in place, e.g. BatchNorm's `running_mean`. */
  readonly arrays?: Readonly<Record<string, Float32Array | Float64Array>>;
  /** Generators whose state a checkpoint saves and restores, e.g. Dropout's `rng`. */
  readonly rngs?: Readonly<Record<string, Rng>>;
}

/**
 * A layer whose backward pass runs through a feedback strategy (dense, conv, batch norm). Its
 * `backward` accumulates its own parameter gradients (`backwardParams`) and hands the error on to
 * its bound {@link Feedback}, which decides what goes down, usually through
 * {@link FeedbackSite.inputGradient} with a matrix V standing in for W.
 */
export interface FeedbackLayer extends Layer, FeedbackSite {
  /** The bound strategy (per-layer state included). */
  readonly feedback: Feedback;
  /** Replaces the layer's strategy; `rng` seeds the new strategy's draws. */
  setFeedback(strategy: FeedbackStrategy, rng: Rng): void;
  /** Accumulates the parameter gradients for the error `dy` at the output, sending nothing down. */
  backwardParams(dy: Tensor): void;
}

/** Whether a layer takes a feedback strategy. */
export function isFeedbackLayer(layer: Layer): layer is FeedbackLayer {
  return typeof (layer as Partial<FeedbackLayer>).setFeedback === 'function' && typeof (layer as Partial<FeedbackLayer>).inputGradient === 'function';
}

/**
 * A leaf's backward as a container's walk calls it: the error `dy` arriving at `layer`'s output
 * in, the error sent to its input out. The model decides what it does (the step's own backward,
 * true backprop's for instrumentation, with the network's output error in the signals).
 */
export type LeafBackward = (layer: Layer, dy: Tensor) => Tensor;

/** A container's sublayer with its name. */
export interface NamedChild {
  /** The name its parameters are prefixed with: `"0"` in a Sequential, `"conv1"` or `"shortcut.conv"` in a block. */
  readonly name: string;
  /** The sublayer. */
  readonly layer: Layer;
}

/**
 * A layer made of named sublayers that is more than a chain ({@link Residual}): the model walks
 * into it to name parameters, find feedback layers and run each leaf's backward itself, so every
 * rule, the output error and the instrumentation reach the layers inside.
 */
export interface ContainerLayer extends Layer {
  /** The direct sublayers in forward order, each with the name its parameters carry (`conv1`, `shortcut.conv`). */
  children(): readonly NamedChild[];
  /**
   * The container's backward with every leaf's (non-container's) backward done by `leaf`: the
   * graph's own work (a shortcut's sum) stays here. `backward(dy)` is this with the leaves' own.
   */
  backwardThrough(dy: Tensor, leaf: LeafBackward): Tensor;
}

/** Whether a layer is a {@link ContainerLayer}. */
export function isContainer(layer: Layer): layer is ContainerLayer {
  return typeof (layer as Partial<ContainerLayer>).children === 'function' && typeof (layer as Partial<ContainerLayer>).backwardThrough === 'function';
}
