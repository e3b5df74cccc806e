import { ConfigError, DataFormatError, ShapeError } from '../errors.js';
import { measureFeedback, type FeedbackStats } from '../feedback/stats.js';
import type { BackwardSignals, FeedbackState, FeedbackStrategy } from '../feedback/strategy.js';
import { defaultKernels } from '../kernels/fast.js';
import type { Kernels } from '../kernels/kernels.js';
import { allFinite } from '../tensor/ops.js';
import type { Param } from '../tensor/param.js';
import type { Rng } from '../tensor/rng.js';
import { assertFinite, type DType, type Shape, type Tensor } from '../tensor/tensor.js';
import { childBuffers, outputShapeThrough, walkInto } from './children.js';
import { isContainer, isFeedbackLayer, type ContainerLayer, type FeedbackLayer, type Layer, type LayerBuffers, type LeafBackward, type NamedChild } from './layer.js';

/** One layer of a model's chain, nested containers flattened: its dotted index and the layer. */
export interface Link {
  /** `"3"`, or `"2.1"` inside a nested container. */
  readonly index: string;
  /** The layer itself. */
  readonly layer: Layer;
}

/**
 * Layers applied in order. Parameters are named `"<index>.<name>"` (`"0.weight"`, and a learning
 * rule's own `"0.feedback.b"`), and the model is the place where whole-network concerns live:
 * setting a strategy on every layer (with BatchNorm's default stated by the strategy), the
 * network's output error that direct feedback sends down, the rules' work before and after the
 * optimizer step, and the instrumentation that compares each layer's errors with true backprop's.
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
export class Sequential implements ContainerLayer {
  /** The layers, in the order the forward pass applies them (a copy of the list given). */
  readonly layers: readonly Layer[];
  private instrumented = false;
  private reusing = false;
  private chainList: readonly Link[] | null = null;
  private feedbackList: readonly { readonly index: string; readonly layer: FeedbackLayer }[] | null = null;
  /** The statistics of the last instrumented backward pass, per feedback layer index. */
  private stats: Record<string, FeedbackStats> = {};

  /**
   * Prefixes every parameter's name with its layer's index (a layer's `weight` becomes
   * `"0.weight"`), so build a layer into one model only.
   *
   * @param layers the layers, in order.
   * @param inputShape the per-sample input shape; when given, every layer's shape is checked now,
   *   so an incompatible model fails when built rather than mid-training (and so does direct
   *   feedback in a model whose top weighted layer is not dense).
   * @throws {@link ConfigError} when one layer instance appears twice, or direct feedback has no dense top layer.
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
    if (inputShape) {
      this.outputShape(inputShape);
      this.checkDirectFeedback();
    }
  }

  describe(): string {
    return `Sequential(${this.layers.map((l) => l.describe()).join(', ')})`;
  }

  outputShape(inputShape: Shape): number[] {
    return outputShapeThrough(this.children(), inputShape);
  }

  forward(x: Tensor, training: boolean): Tensor {
    if (this.inputShape) {
      const expected = [-1, ...this.inputShape];
      if (x.rank !== expected.length || this.inputShape.some((d, i) => x.shape[i + 1] !== d)) {
        throw new ShapeError('Sequential.forward', `[N, ${this.inputShape.join(', ')}]`, x.shape);
      }
    }
    if (!this.kernels.allFinite(x.data)) assertFinite('Sequential.forward input', x); // the loop that names the value
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
    this.reusing = on;
    for (const layer of this.layers) layer.reuseBuffers?.(on);
  }

  /**
   * Computes with `kernels` from now on, in every layer, nested ones included: the reference
   * kernels to check a model against its definition, or fast kernels of one's own.
   *
   * @example
   * ```ts
   * import { Rng, Tensor, mlp, referenceKernels } from 'asymprop';
   *
   * const model = mlp({ rng: new Rng(1) });
   * const x = Tensor.zeros([2, 1, 28, 28]);
   * const fast = Float32Array.from(model.forward(x, false).data);
   * model.useKernels(referenceKernels);
   * console.log(model.forward(x, false).data.every((v, i) => Math.abs(v - fast[i]!) < 1e-5)); // true
   * ```
   */
  useKernels(kernels: Kernels): void {
    this.kernels = kernels;
    for (const layer of this.layers) layer.useKernels?.(kernels);
  }

  /** The kernels of the model's own checks (its layers have theirs; {@link Sequential.useKernels} sets all). */
  kernels: Kernels = defaultKernels();

  /** The layers with their indices as names (`"0"`, `"1"`, …): what parameter names are prefixed with. */
  children(): readonly NamedChild[] {
    return this.layers.map((layer, i) => ({ name: String(i), layer }));
  }

  /** The backward pass with every leaf's backward done by `leaf` (see {@link ContainerLayer.backwardThrough}). */
  backwardThrough(dy: Tensor, leaf: LeafBackward): Tensor {
    const chain = this.chain();
    let g = dy;
    for (let i = chain.length - 1; i >= 0; i--) g = walkInto(chain[i]!.layer, g, leaf);
    return g;
  }

  /**
   * Every layer in forward order, nested Sequentials flattened, with its dotted index: the chain
   * the backward pass walks. A container that is not a chain (a {@link Residual} block) is one
   * link, walked into by {@link ContainerLayer.backwardThrough}. Found once: the layer list is
   * fixed at construction.
   */
  chain(): readonly Link[] {
    if (!this.chainList) {
      const out: Link[] = [];
      this.layers.forEach((layer, i) => {
        if (layer instanceof Sequential) for (const l of layer.chain()) out.push({ index: `${i}.${l.index}`, layer: l.layer });
        else out.push({ index: String(i), layer });
      });
      this.chainList = out;
    }
    return this.chainList;
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
    this.backwardChain(dy, undefined, false);
  }

  /**
   * Backward through every layer in reverse, each layer's feedback deciding what it sends down.
   * The error arriving at the top weighted layer is the network's output error e, handed to every
   * layer below in `signals` (direct feedback sends it down through its own matrix). When
   * instrumented, also runs true backprop's backward beforehand and records, for each feedback
   * layer, how the errors it received and sent compare with backprop's ({@link feedbackStats}).
   */
  backward(dy: Tensor, signals?: BackwardSignals): Tensor {
    return this.backwardChain(dy, signals, true)!;
  }

  private backwardChain(dy: Tensor, outer: BackwardSignals | undefined, toInput: boolean): Tensor | null {
    if (!outer) this.checkDirectFeedback();
    if (this.instrumented) return this.instrumentedBackward(dy, outer);
    const chain = this.chain();
    const first = toInput ? -1 : this.firstTrainedLink();
    let signals = outer;
    const leaf: LeafBackward = (layer, g) => {
      signals = withOutputError(signals, layer, g);
      return layer.backward(g, signals);
    };
    let g = dy;
    for (let i = chain.length - 1; i >= 0; i--) {
      const layer = chain[i]!.layer;
      if (i === first) {
        signals = withOutputError(signals, layer, g);
        layer.backwardParams!(g);
        return null;
      }
      g = walkInto(layer, g, leaf);
    }
    return g;
  }

  /** The chain position of the first layer with parameters, when it can compute them alone; else −1 (a full backward). */
  private firstTrainedLink(): number {
    const chain = this.chain();
    const first = chain.findIndex(({ layer }) => layer.params().length > 0);
    return first >= 0 && !isContainer(chain[first]!.layer) && chain[first]!.layer.backwardParams ? first : -1;
  }

  /**
   * The instrumented backward, the one place where every rule's errors are measured: first true
   * backprop's errors through the whole chain (W at every feedback layer, no gradient
   * accumulated), then the step's own backward, then the statistics of each feedback layer from
   * what it received and sent in both. Every array is fresh here, so both passes' errors coexist.
   */
  private instrumentedBackward(dy: Tensor, outer: BackwardSignals | undefined): Tensor {
    const chain = this.chain();
    const reusing = this.reusing;
    if (reusing) this.reuseBuffers(false);
    try {
      const truth = new Map<Layer, { received: Tensor; sent: Tensor }>();
      const own = new Map<Layer, { received: Tensor; sent: Tensor }>();
      const backprop: LeafBackward = (layer, g) => {
        const sent = backpropError(layer, g);
        truth.set(layer, { received: g, sent });
        return sent;
      };
      let signals = outer;
      const step: LeafBackward = (layer, g) => {
        signals = withOutputError(signals, layer, g);
        const sent = layer.backward(g, signals);
        own.set(layer, { received: g, sent });
        return sent;
      };
      let g = dy;
      for (let i = chain.length - 1; i >= 0; i--) g = walkInto(chain[i]!.layer, g, backprop);
      g = dy;
      for (let i = chain.length - 1; i >= 0; i--) g = walkInto(chain[i]!.layer, g, step);
      this.stats = {};
      for (const { index, layer } of this.feedbackLayers()) {
        const t = truth.get(layer)!, o = own.get(layer)!;
        this.stats[index] = measureFeedback(layer, { received: o.received, sent: o.sent, backpropReceived: t.received, backpropSent: t.sent });
      }
      return g;
    } finally {
      if (reusing) this.reuseBuffers(true);
    }
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

  /** Every parameter, the feedback rules' own (`"3.feedback.b"`) included: what an optimizer is built on. */
  params(): Param[] {
    return this.layers.flatMap((layer) => layer.params());
  }

  zeroGrad(): void {
    for (const layer of this.layers) layer.zeroGrad();
  }

  /** Every layer's non-parameter state, named `"<index>.<name>"` like the parameters. */
  buffers(): Required<LayerBuffers> {
    return childBuffers(this.children());
  }

  /** Converts every parameter to a dtype (float64 for gradient checks). */
  cast(dtype: DType): this {
    for (const p of this.params()) p.cast(dtype);
    return this;
  }

  // --- feedback: whole-model concerns -------------------------------------------------------

  /**
   * The layers that take a feedback strategy, with their indices (nested containers flattened),
   * in forward order.
   */
  feedbackLayers(): readonly {
    /** The layer's index in {@link Sequential.layers} (`"3"`), dotted for nested containers (`"2.1"`). */
    readonly index: string;
    /** The layer. */
    readonly layer: FeedbackLayer;
  }[] {
    if (!this.feedbackList) {
      this.feedbackList = leaves(this, '').flatMap(({ index, layer }) => (isFeedbackLayer(layer) ? [{ index, layer }] : []));
    }
    return this.feedbackList;
  }

  /**
   * Sets a strategy, each layer getting its own generator forked from `rng` in layer order.
   *
   * Without `which`: every weighted layer (dense, conv) gets `strategy`, and every BatchNorm the
   * strategy's {@link FeedbackStrategy.batchNorm} (the exact backward, with Batch Manhattan if
   * `strategy` has it), as the model builders do. With `which`: exactly the feedback layers it
   * selects, BatchNorm included, get `strategy` as given. Nothing changes when one of them
   * cannot take it.
   *
   * An optimizer holds the parameters it was built on: after giving a layer a rule with
   * parameters of its own (Kolen-Pollack, weight mirrors), build the optimizer again on
   * `model.params()` (a training step refuses one that misses them).
   *
   * @throws {@link ConfigError} when a selected layer is of a kind the strategy does not apply to,
   * or the strategy reads the output error and the model's top weighted layer is not dense.
   */
  setFeedback(strategy: FeedbackStrategy, rng: Rng, which?: (index: string, layer: FeedbackLayer) => boolean): this {
    const chosen = this.feedbackLayers().flatMap(({ index, layer }) => {
      if (which) return which(index, layer) ? [{ layer, strategy }] : [];
      return [{ layer, strategy: layer.feedbackKind === 'batchnorm' ? strategy.batchNorm : strategy }];
    });
    for (const { layer, strategy: s } of chosen) {
      if (!s?.appliesTo?.includes(layer.feedbackKind)) {
        throw new ConfigError(`feedback of ${layer.describe()}`, s?.name ?? s, `a rule for ${layer.feedbackKind} layers${s?.appliesTo ? ` (${s.name} applies to ${s.appliesTo.join(', ')} layers)` : ''}`);
      }
    }
    this.checkDirectFeedback(chosen.map((c) => c.strategy));
    for (const { layer, strategy: s } of chosen) layer.setFeedback(s, rng.fork());
    return this;
  }

  /**
   * Refuses direct feedback in a model whose top weighted layer is not dense: the output error
   * e that direct feedback projects is that layer's error, `[N, classes]`.
   */
  private checkDirectFeedback(extra: readonly FeedbackStrategy[] = []): void {
    const layers = this.feedbackLayers();
    const direct = [...layers.map(({ layer }) => layer.feedback.strategy), ...extra].find((s) => s.readsOutputError);
    if (!direct) return;
    const top = [...layers].reverse().find(({ layer }) => layer.feedbackKind !== 'batchnorm');
    if (top && top.layer.feedbackKind !== 'dense') {
      throw new ConfigError('feedback', direct.name, `a model whose top weighted layer is dense (${direct.name} sends the output error down, and layer ${top.index} ${top.layer.describe()} is not dense)`);
    }
  }

  /**
   * The rules' work after the backward pass and before the optimizer step, layer by layer: Batch
   * Manhattan's g ← sign(g), Kolen-Pollack's update of B, the weight mirror's phase.
   */
  beforeUpdate(): void {
    for (const { layer } of this.feedbackLayers()) layer.feedback.beforeUpdate(layer, { manhattan: false });
  }

  /** The rules' work after the optimizer step (brSF redraws its magnitudes). */
  afterUpdate(): void {
    for (const { layer } of this.feedbackLayers()) layer.feedback.afterUpdate(layer);
  }

  /** Turns per-layer feedback statistics on or off (costs about one extra backward pass). */
  instrument(enabled = true): this {
    this.instrumented = enabled;
    return this;
  }

  /** The statistics of the last instrumented backward pass, per feedback layer index (null before one). */
  feedbackStats(): Record<string, FeedbackStats | null> {
    const out: Record<string, FeedbackStats | null> = {};
    for (const { index } of this.feedbackLayers()) out[index] = this.stats[index] ?? null;
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
    for (const { index } of layers) if (!state[index]) throw new DataFormatError('feedback state', `no entry for layer ${index}`);
    // All or nothing: a state a layer refuses puts back the ones loaded before it.
    const before = this.feedbackState();
    let loaded = 0;
    try {
      for (const { index, layer } of layers) {
        layer.feedback.loadState(state[index]!);
        loaded++;
      }
    } catch (e) {
      for (const { index, layer } of layers.slice(0, loaded + 1)) layer.feedback.loadState(before[index]!);
      throw e;
    }
  }
}

/** Every leaf (non-container) layer under `layer`, in forward order, with its dotted index. */
function leaves(layer: Layer, prefix: string): Link[] {
  if (!isContainer(layer)) return [{ index: prefix, layer }];
  return layer.children().flatMap(({ name, layer: child }) => leaves(child, prefix ? `${prefix}.${name}` : name));
}

/** The signals below `layer`: once the top weighted layer is reached, its error `g` is the output error e. */
function withOutputError(signals: BackwardSignals | undefined, layer: Layer, g: Tensor): BackwardSignals | undefined {
  if (signals?.outputError || !isFeedbackLayer(layer) || layer.feedbackKind === 'batchnorm') return signals;
  return { outputError: g };
}

/**
 * The error true backprop sends through `layer` for `g`, accumulating nothing: a feedback layer's
 * input gradient through W itself; a parameter-free layer's backward; any other layer's backward
 * with its gradients put back afterwards.
 */
function backpropError(layer: Layer, g: Tensor): Tensor {
  if (isFeedbackLayer(layer)) return layer.inputGradient(g, layer.weight.value);
  const params = layer.params();
  if (params.length === 0) return layer.backward(g);
  const saved = params.map((p) => p.grad.clone());
  try {
    return layer.backward(g);
  } finally {
    params.forEach((p, k) => p.grad.data.set(saved[k]!.data));
  }
}
