import { ConfigError, DataFormatError, ShapeError } from '../errors.js';
import type { FeedbackStats } from '../feedback/stats.js';
import type { FeedbackState, FeedbackStrategy } from '../feedback/strategy.js';
import { allFinite, angleDegrees } from '../tensor/ops.js';
import type { Param } from '../tensor/param.js';
import type { Rng } from '../tensor/rng.js';
import { assertFinite, type DType, type Shape, type Tensor } from '../tensor/tensor.js';
import { defaultBatchNormFeedback } from '../feedback/batchManhattan.js';
import { WeightedLayer } from './weighted.js';
import { isFeedbackLayer, type FeedbackLayer, type Layer, type LayerBuffers } from './layer.js';

/**
 * Layers applied in order. Parameters are named `"<index>.<name>"` (`"0.weight"`), and the model
 * is the place where whole-network feedback concerns live: setting a strategy on every layer,
 * shaping gradients before the optimizer (Batch Manhattan), redrawing after each step (brSF), and
 * instrumentation that compares each layer's error with true backprop's.
 *
 * @example
 * ```ts
 * import { Dense, Rng, Sequential, Tanh, Tensor, randomFeedback, softmaxCrossEntropy, usf } from 'asymprop';
 *
 * const rng = new Rng(1);
 * const model = new Sequential([new Dense(2, 8, { rng }), new Tanh(), new Dense(8, 2, { rng })], [2]);
 * model.setFeedback(usf(), rng);                                      // every feedback layer
 * model.setFeedback(randomFeedback(), rng, (index) => index === '2'); // or the one at model.layers[2]
 * console.log(model.params().map((p) => p.name)); // [ '0.weight', '0.bias', '2.weight', '2.bias' ]
 *
 * model.instrument();
 * model.zeroGrad();
 * const { grad } = softmaxCrossEntropy(model.forward(Tensor.from([[0.5, -1], [2, 0]]), true), [0, 1]);
 * model.backward(grad);
 * console.log(model.feedbackStats()['0']?.signConcordance); // 1: uSF keeps W's signs
 * ```
 */
export class Sequential implements Layer {
  /** The layers, in the order the forward pass applies them (a copy of the list given). */
  readonly layers: readonly Layer[];
  private instrumented = false;
  private feedbackList: readonly { readonly index: string; readonly layer: FeedbackLayer }[] | null = null;

  /**
   * Prefixes every parameter's name with its layer's index (a layer's `weight` becomes
   * `"0.weight"`), so build a layer into one model only.
   *
   * @param layers the layers, in order.
   * @param inputShape the per-sample input shape; when given, every layer's shape is checked now,
   *   so an incompatible model fails when built rather than mid-training.
   * @throws {@link ConfigError} when one layer instance appears twice.
   * @throws {@link ShapeError} naming the layer when `inputShape` does not fit the layers.
   */
  constructor(layers: readonly Layer[], readonly inputShape?: Shape) {
    this.layers = [...layers];
    const seen = new Set<Layer>();
    this.layers.forEach((layer, i) => {
      if (seen.has(layer)) {
        throw new ConfigError(`layer ${i}`, layer.describe(), 'a layer instance used once (its backward cache holds one input; build a second layer to repeat it)');
      }
      seen.add(layer);
    });
    // Parameter names get the layer's index in front: "weight" of layer 0 becomes "0.weight".
    this.layers.forEach((layer, i) => {
      for (const p of layer.params()) p.name = `${i}.${p.name}`;
    });
    if (inputShape) this.outputShape(inputShape);
  }

  describe(): string {
    return `Sequential(${this.layers.map((l) => l.describe()).join(', ')})`;
  }

  outputShape(inputShape: Shape): number[] {
    let shape = [...inputShape];
    this.layers.forEach((layer, i) => {
      try {
        shape = layer.outputShape(shape);
      } catch (e) {
        if (e instanceof ShapeError) throw new ShapeError(`layer ${i} ${e.where}`, e.expected, e.received);
        throw e;
      }
    });
    return shape;
  }

  forward(x: Tensor, training: boolean): Tensor {
    if (this.inputShape) {
      const expected = [-1, ...this.inputShape];
      if (x.rank !== expected.length || this.inputShape.some((d, i) => x.shape[i + 1] !== d)) {
        throw new ShapeError('Sequential.forward', `[N, ${this.inputShape.join(', ')}]`, x.shape);
      }
    }
    assertFinite('Sequential.forward input', x);
    let h = x;
    for (const layer of this.layers) h = layer.forward(h, training);
    return h;
  }

  /**
   * Lets every layer write its outputs and gradients into the arrays of its previous pass instead
   * of allocating new ones (see {@link Layer.reuseBuffers}), or stops it. {@link trainStep} turns
   * this on for its forward and backward pass and off again, and {@link evaluate} around its
   * batches, so nothing a caller holds is overwritten: no tensor a layer hands out there outlives
   * the step or the batch. Fresh arrays cost
   * more than the arithmetic in a conv net's elementwise layers (new memory pages), which is why
   * a training step avoids them. Results are bit-identical either way.
   */
  reuseBuffers(on: boolean): void {
    for (const layer of this.layers) layer.reuseBuffers?.(on);
  }

  /**
   * Backward for training: the same parameter gradients as {@link Sequential.backward}, without
   * the gradient with respect to the data, which training never uses. The first layer that has
   * parameters computes only its own (its `backwardParams`), and the layers before it (a Flatten,
   * say) are skipped. For a first conv layer that saves one of the costliest parts of the step (a
   * matrix product and a col2im). An instrumented model takes the full path, since its statistics
   * include the first layer's error.
   */
  backwardParams(dy: Tensor): void {
    const first = this.layers.findIndex((layer) => layer.params().length > 0);
    const layer = this.layers[first];
    if (this.instrumented || !layer?.backwardParams) {
      this.backward(dy);
      return;
    }
    let g = dy;
    for (let i = this.layers.length - 1; i > first; i--) g = this.layers[i]!.backward(g);
    layer.backwardParams(g);
  }

  /**
   * Backward through every layer in reverse. When instrumented, also carries true backprop's error
   * alongside and records, for each feedback layer, the angle between the two errors it sends down.
   */
  backward(dy: Tensor): Tensor {
    let g = dy;
    let gTrue = this.instrumented ? dy : null;
    for (let i = this.layers.length - 1; i >= 0; i--) {
      const layer = this.layers[i]!;
      const next = layer.backward(g);
      if (gTrue) {
        gTrue = layer.trueInputGradient(gTrue);
        if (isFeedbackLayer(layer)) layer.recordErrorAngle(angleDegrees(next, gTrue));
      }
      g = next;
    }
    return g;
  }

  /**
   * Where non-finite values first appear, for divergence reports: the first parameter (in layer
   * order) holding NaN or ±Inf, else the first layer whose output on `x` does (the forward is run
   * again, in train mode). Null when everything is finite.
   */
  locateNonFinite(x: Tensor): string | null {
    for (let i = 0; i < this.layers.length; i++) {
      for (const p of this.layers[i]!.params()) if (!allFinite(p.value)) return `parameter ${p.name} of layer ${i} ${this.layers[i]!.describe()}`;
    }
    let h = x;
    for (let i = 0; i < this.layers.length; i++) {
      h = this.layers[i]!.forward(h, true);
      if (!allFinite(h)) return `output of layer ${i} ${this.layers[i]!.describe()}`;
    }
    return null;
  }

  trueInputGradient(dy: Tensor): Tensor {
    let g = dy;
    for (let i = this.layers.length - 1; i >= 0; i--) g = this.layers[i]!.trueInputGradient(g);
    return g;
  }

  params(): Param[] {
    return this.layers.flatMap((layer) => layer.params());
  }

  zeroGrad(): void {
    for (const layer of this.layers) layer.zeroGrad();
  }

  /** Every layer's non-parameter state, named `"<index>.<name>"` like the parameters. */
  buffers(): Required<LayerBuffers> {
    const arrays: Record<string, Float32Array | Float64Array> = {};
    const rngs: Record<string, Rng> = {};
    this.layers.forEach((layer, i) => {
      const b = layer.buffers?.();
      for (const [k, v] of Object.entries(b?.arrays ?? {})) arrays[`${i}.${k}`] = v;
      for (const [k, v] of Object.entries(b?.rngs ?? {})) rngs[`${i}.${k}`] = v;
    });
    return { arrays, rngs };
  }

  /** Converts every parameter to a dtype (float64 for gradient checks). */
  cast(dtype: DType): this {
    for (const p of this.params()) p.cast(dtype);
    return this;
  }

  // --- feedback: whole-model concerns -------------------------------------------------------

  /**
   * The layers that take a feedback strategy, with their indices (nested containers flattened).
   * Found once: the layer list is fixed at construction, and the training step walks this list
   * several times per batch.
   */
  feedbackLayers(): readonly {
    /** The layer's index in {@link Sequential.layers} (`"3"`), dotted for nested containers (`"2.1"`). */
    readonly index: string;
    /** The layer. */
    readonly layer: FeedbackLayer;
  }[] {
    if (!this.feedbackList) {
      const out: { index: string; layer: FeedbackLayer }[] = [];
      this.layers.forEach((layer, i) => {
        if (isFeedbackLayer(layer)) out.push({ index: String(i), layer });
        else if (layer instanceof Sequential) for (const f of layer.feedbackLayers()) out.push({ index: `${i}.${f.index}`, layer: f.layer });
      });
      this.feedbackList = out;
    }
    return this.feedbackList;
  }

  /**
   * Sets a strategy, each layer getting its own generator forked from `rng` in layer order.
   *
   * Without `which`: every weighted layer (dense, conv) gets `strategy`, and every BatchNorm the
   * exact backward, with Batch Manhattan if `strategy` has it (the protocol's rule, as the model
   * builders do). With `which`: exactly the feedback layers it selects, BatchNorm included, get
   * `strategy` as given.
   */
  setFeedback(strategy: FeedbackStrategy, rng: Rng, which?: (index: string, layer: FeedbackLayer) => boolean): this {
    for (const { index, layer } of this.feedbackLayers()) {
      if (which) {
        if (which(index, layer)) layer.setFeedback(strategy, rng.fork());
      } else {
        layer.setFeedback(layer instanceof WeightedLayer ? strategy : defaultBatchNormFeedback(strategy), rng.fork());
      }
    }
    return this;
  }

  /** Applies each layer's strategy to its accumulated gradients (Batch Manhattan: g ← sign(g)). */
  shapeGradients(): void {
    for (const { layer } of this.feedbackLayers()) layer.feedback.shapeGradients(layer.params());
  }

  /** Tells each layer's strategy that the optimizer stepped (brSF redraws its magnitudes). */
  afterStep(): void {
    for (const { layer } of this.feedbackLayers()) layer.feedback.afterStep();
  }

  /** Turns per-layer feedback statistics on or off (costs about one extra backward pass). */
  instrument(enabled = true): this {
    this.instrumented = enabled;
    for (const { layer } of this.feedbackLayers()) layer.instrument = enabled;
    return this;
  }

  /** The statistics of the last instrumented backward pass, per feedback layer index. */
  feedbackStats(): Record<string, FeedbackStats | null> {
    const out: Record<string, FeedbackStats | null> = {};
    for (const { index, layer } of this.feedbackLayers()) out[index] = layer.stats;
    return out;
  }

  /** The feedback strategies' state (generators, random matrices, masks), JSON-safe, per layer index. */
  feedbackState(): Record<string, FeedbackState> {
    const out: Record<string, FeedbackState> = {};
    for (const { index, layer } of this.feedbackLayers()) out[index] = layer.feedback.state();
    return out;
  }

  /** Restores {@link Sequential.feedbackState} into a model of the same architecture and strategies. */
  loadFeedbackState(state: Record<string, FeedbackState>): void {
    if (typeof state !== 'object' || state === null) throw new DataFormatError('feedback state', 'expected an object keyed by layer index');
    const layers = this.feedbackLayers();
    const keys = Object.keys(state);
    if (keys.length !== layers.length) {
      throw new ConfigError('feedback state layers', keys, `the model's feedback layers ${JSON.stringify(layers.map((l) => l.index))}`);
    }
    for (const { index, layer } of layers) {
      const s = state[index];
      if (!s) throw new DataFormatError('feedback state', `no entry for layer ${index}`);
      layer.feedback.loadState(s);
    }
  }
}
