import { ConfigError, DataFormatError, formatShape } from '../errors.js';
import { decodeArray, encodeArray, type EncodedArray } from '../tensor/encode.js';
import { Param } from '../tensor/param.js';
import type { Rng } from '../tensor/rng.js';
import { defaultKernels } from '../kernels/fast.js';
import type { Kernels } from '../kernels/kernels.js';
import { Tensor, sameShape, sizeOf, type DType, type Storage } from '../tensor/tensor.js';
import type { BackwardSignals, Feedback, FeedbackContext, FeedbackSite, FeedbackState, FeedbackStrategy, UpdateOptions } from './strategy.js';

/** The kernels a binding computes with: its layer's, or the default ones for a context made by hand. */
export function kernelsOf(context: FeedbackContext): Kernels {
  return context.kernels ?? defaultKernels();
}

/** Throws a {@link ConfigError} unless `flip` is a fraction in [0, 1]. */
export function checkFlip(flip: unknown): number {
  if (typeof flip !== 'number' || !Number.isFinite(flip) || flip < 0 || flip > 1) {
    throw new ConfigError('flip', flip, 'a fraction in [0, 1]');
  }
  return flip;
}

/**
 * A mask of ±1 that flips the sign of exactly `round(flip · n)` entries, chosen uniformly at random
 * (partial Fisher–Yates). Partial sign concordance: `flip = 0.5` makes half of V's signs disagree.
 */
export function drawFlipMask(n: number, flip: number, rng: Rng): Int8Array {
  const mask = new Int8Array(n).fill(1);
  const count = Math.round(flip * n);
  const index = new Uint32Array(n);
  for (let i = 0; i < n; i++) index[i] = i;
  for (let i = 0; i < count; i++) {
    const j = i + Math.floor(rng.uniform() * (n - i));
    const t = index[i]!;
    index[i] = index[j]!;
    index[j] = t;
    mask[index[i]!] = -1;
  }
  return mask;
}

/**
 * Saving and restoring a binding's generator and the arrays it drew, checked against the spec and
 * the sizes it expects: what every built-in binding's `state` and `loadState` share.
 */
export class BindingState {
  constructor(
    private readonly strategy: FeedbackStrategy,
    private readonly rng: Rng,
    private readonly layer: string,
  ) {}

  /** The state: the spec, the generator, and `arrays` encoded. */
  save(arrays: Readonly<Record<string, Float32Array | Float64Array | Int8Array>>): FeedbackState {
    const encoded: Record<string, EncodedArray> = {};
    for (const [k, a] of Object.entries(arrays)) encoded[k] = encodeArray(a);
    return { spec: this.strategy.spec, rng: this.rng.state(), arrays: encoded };
  }

  /**
   * Checks `state` (its spec, generator and every array in `sizes`, by length) and only then
   * restores the generator; returns the decoded arrays for the binding to copy in.
   */
  load(state: FeedbackState, sizes: Readonly<Record<string, number>>): Record<string, Float32Array | Float64Array | Int8Array> {
    const where = `${this.layer} feedback state`;
    if (JSON.stringify(state?.spec) !== JSON.stringify(this.strategy.spec)) {
      throw new DataFormatError(where, `strategy ${JSON.stringify(state?.spec)} does not match ${JSON.stringify(this.strategy.spec)}`);
    }
    if (!state.rng) throw new DataFormatError(where, 'missing generator state');
    if (typeof state.arrays !== 'object' || state.arrays === null) throw new DataFormatError(where, '"arrays" must be an object of encoded arrays');
    const decoded: Record<string, Float32Array | Float64Array | Int8Array> = {};
    for (const [key, size] of Object.entries(sizes)) {
      const enc = state.arrays[key];
      if (!enc) throw new DataFormatError(where, `missing array "${key}"`);
      const a = decodeArray(enc, `${where}.${key}`);
      if (a.length !== size) throw new DataFormatError(where, `array "${key}" has ${a.length} values, expected ${size}`);
      decoded[key] = a;
    }
    this.rng.setState(state.rng);
    return decoded;
  }
}

/**
 * What every layer-wise rule shares: the error goes down through a matrix V of W's shape,
 * `site.inputGradient(dy, V)`, with V refilled from the current W on every backward pass; the
 * optional flip mask; saving and restoring the generator and the drawn arrays. A subclass says
 * only how V is filled from W (`fillMatrix`) and which arrays it draws (`arrays`).
 */
export abstract class MatrixFeedback implements Feedback {
  /**
   * The binding's own generator (`context.rng`), saved and restored with its state. Subclasses
   * draw from it in their constructor (and in {@link Feedback.afterUpdate}), always in the same order.
   */
  protected readonly rng: Rng;
  /** The shape of W, and so of V and of every array the strategy draws (`context.shape`). */
  protected readonly shape: readonly number[];
  /** ±1 per entry when some feedback signs are flipped, else null. */
  protected flipMask: Int8Array | null = null;
  /** V, allocated on the first {@link MatrixFeedback.matrix} call and refilled on every call after. */
  private v: Tensor | null = null;
  private readonly saved: BindingState;

  /**
   * @param strategy the strategy this binding comes from; its `spec` is saved with the state.
   */
  constructor(
    readonly strategy: FeedbackStrategy,
    /** What the layer told the strategy about its weight: shape, fan-in and fan-out, initialiser, generator and name. */
    protected readonly context: FeedbackContext,
  ) {
    this.rng = context.rng;
    this.shape = context.shape;
    this.saved = new BindingState(strategy, context.rng, context.layer);
  }

  /** Draws the flip mask; subclasses call it after drawing their own arrays, so draws keep one order. */
  protected drawFlip(flip: number): void {
    if (flip > 0) this.flipMask = drawFlipMask(this.size, flip, this.rng);
  }

  /** The number of entries of W (and of V): the product of {@link MatrixFeedback.shape}. */
  protected get size(): number {
    let n = 1;
    for (const d of this.shape) n *= d;
    return n;
  }

  /** Writes V (before any sign flips) into `v`, given the current weight values `w`. */
  protected abstract fillMatrix(v: Storage, w: Storage): void;

  /** The arrays this strategy drew (saved with its state). */
  protected arrays(): Record<string, Float32Array | Float64Array> {
    return {};
  }

  /** The error sent down: `dY V`, through the layer's own input gradient. */
  backward(site: FeedbackSite, dy: Tensor, _signals: BackwardSignals | undefined): Tensor {
    return site.inputGradient(dy, this.matrix(site.weight.value));
  }

  matrix(weight: Tensor): Tensor {
    if (!sameShape(weight.shape, this.shape)) {
      throw new ConfigError(`${this.context.layer} feedback weight shape`, formatShape(weight.shape), formatShape(this.shape));
    }
    if (!this.v || this.v.dtype !== weight.dtype) this.v = new Tensor(kernelsOf(this.context).allocate(weight.dtype, weight.size), this.shape); // in the kernels' memory
    const v = this.v.data;
    this.fillMatrix(v, weight.data);
    const mask = this.flipMask;
    if (mask) for (let i = 0; i < v.length; i++) v[i] *= mask[i]!;
    return this.v;
  }

  params(): Param[] {
    return [];
  }

  beforeUpdate(_site: FeedbackSite, _options: UpdateOptions): void {}

  afterUpdate(_site: FeedbackSite): void {}

  state(): FeedbackState {
    return this.saved.save({ ...this.arrays(), ...(this.flipMask ? { flip: this.flipMask } : {}) });
  }

  loadState(state: FeedbackState): void {
    const own = this.arrays();
    const sizes: Record<string, number> = {};
    for (const key of [...Object.keys(own), ...(this.flipMask ? ['flip'] : [])]) sizes[key] = this.size;
    const decoded = this.saved.load(state, sizes);
    for (const [k, a] of Object.entries(own)) a.set(decoded[k]!);
    if (this.flipMask) this.flipMask.set(decoded['flip']!);
  }
}

/**
 * What every rule with a learned feedback matrix shares (Kolen-Pollack, weight mirrors): V = B, a
 * parameter of W's shape and dtype named `b` (the layer names it `"<layer>.feedback.b"`), drawn
 * at the start like feedback alignment's B (with the layer's initialiser, from the binding's
 * generator), which the optimizer then updates with the gradient the rule writes into `b.grad` in
 * {@link Feedback.beforeUpdate}. A checkpoint saves B as a parameter and the generator here.
 */
export abstract class LearnedFeedback implements Feedback {
  /** B: the learned feedback matrix, in W's layout. */
  protected readonly b: Param;
  private readonly saved: BindingState;

  constructor(
    readonly strategy: FeedbackStrategy,
    /** What the layer told the strategy about its weight. */
    protected readonly context: FeedbackContext,
  ) {
    const inKernels = (dtype: DType, size: number) => kernelsOf(context).allocate(dtype, size);
    const value = new Tensor(inKernels(context.dtype, sizeOf(context.shape)), context.shape);
    if (context.dtype === 'float32') {
      context.init.fill(value.data, context.fanIn, context.fanOut, context.rng);
    } else {
      // Drawn in float32 and widened, as feedback alignment's B: the same start for either dtype.
      const b = new Float32Array(value.size);
      context.init.fill(b, context.fanIn, context.fanOut, context.rng);
      value.data.set(b);
    }
    this.b = new Param('b', value, { feedback: true, allocate: inKernels });
    this.saved = new BindingState(strategy, context.rng, context.layer);
  }

  /** The error sent down: `dY B`, through the layer's own input gradient. */
  backward(site: FeedbackSite, dy: Tensor, _signals: BackwardSignals | undefined): Tensor {
    return site.inputGradient(dy, this.matrix(site.weight.value));
  }

  /** V = B, the learned matrix as it stands. */
  matrix(weight: Tensor): Tensor {
    if (!sameShape(weight.shape, this.context.shape)) {
      throw new ConfigError(`${this.context.layer} feedback weight shape`, formatShape(weight.shape), formatShape(this.context.shape));
    }
    return this.b.value;
  }

  params(): Param[] {
    return [this.b];
  }

  /** The rule's update of B, written into `b.grad` (and its work on W's gradient, if any). */
  abstract beforeUpdate(site: FeedbackSite, options: UpdateOptions): void;

  afterUpdate(_site: FeedbackSite): void {}

  state(): FeedbackState {
    return this.saved.save({});
  }

  loadState(state: FeedbackState): void {
    this.saved.load(state, {});
  }
}

/** Throws a {@link ConfigError} naming `option` unless `value` is a finite number ≥ 0 (> 0 with `positive`). */
export function checkRate(option: string, value: unknown, positive = false): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0 || (positive && value === 0)) {
    throw new ConfigError(option, value, positive ? 'a finite number > 0' : 'a finite number ≥ 0');
  }
  return value;
}
