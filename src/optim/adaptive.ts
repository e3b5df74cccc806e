import { ConfigError, DataFormatError, describeValue } from '../errors.js';
import { decodeArray, encodeArray, type EncodedArray } from '../tensor/encode.js';
import type { Param } from '../tensor/param.js';
import { allocate, type Storage } from '../tensor/tensor.js';
import type { Optimizer, OptimizerState } from './optimizer.js';

/**
 * What Adam and RMSprop share: the parameters, the step count, and named per-parameter buffers
 * created on the first step, saved as `"<buffer>:<parameter>"` (`"exp_avg:0.weight"`).
 */
abstract class AdaptiveOptimizer implements Optimizer {
  readonly params: readonly Param[];
  lr: number;
  /** λ: L2 weight decay added to the gradient (or, for AdamW's decoupled decay, applied to w). */
  readonly weightDecay: number;
  /** Steps taken (t of the last step). */
  protected stepCount = 0;
  /** Buffers per parameter, by buffer name; empty until the first step. */
  protected buffers: Record<string, Storage>[];

  constructor(
    private readonly kind: string,
    private readonly bufferNames: readonly string[],
    params: readonly Param[],
    lr: number,
    weightDecay: number,
  ) {
    this.params = [...params];
    this.lr = nonNegative('lr', lr);
    this.weightDecay = nonNegative('weightDecay', weightDecay);
    const names = new Set<string>();
    for (const p of this.params) {
      if (names.has(p.name)) throw new ConfigError('parameter names', p.name, 'unique names (put layers in a Sequential)');
      names.add(p.name);
    }
    this.buffers = this.params.map(() => ({}));
  }

  get steps(): number {
    return this.stepCount;
  }

  /** The buffers of parameter k, zero-filled on first use. */
  protected buffersOf(k: number): Record<string, Storage> {
    const b = this.buffers[k]!;
    const p = this.params[k]!;
    for (const name of this.bufferNames) b[name] ??= allocate(p.value.dtype, p.value.size);
    return b;
  }

  /** One update of every parameter from its gradient. */
  abstract step(): void;

  zeroGrad(): void {
    for (const p of this.params) p.zeroGrad();
  }

  state(): OptimizerState {
    const buffers: Record<string, EncodedArray> = {};
    this.params.forEach((p, k) => {
      for (const [name, b] of Object.entries(this.buffers[k]!)) buffers[`${name}:${p.name}`] = encodeArray(b);
    });
    return { type: this.kind, lr: this.lr, steps: this.stepCount, buffers };
  }

  loadState(state: OptimizerState): void {
    if (state?.type !== this.kind || !Number.isInteger(state.steps) || state.steps < 0) {
      throw new DataFormatError('optimizer state', `expected a ${this.kind} state, received type ${describeValue(state?.type)}`);
    }
    if (typeof state.buffers !== 'object' || state.buffers === null) {
      throw new DataFormatError('optimizer state', `"buffers" must be an object keyed by buffer and parameter name, received ${describeValue(state.buffers)}`);
    }
    const buffers = this.params.map((p) => {
      const out: Record<string, Storage> = {};
      for (const name of this.bufferNames) {
        const enc = state.buffers[`${name}:${p.name}`];
        if (!enc) {
          if (state.steps > 0) throw new DataFormatError('optimizer state', `no ${name} buffer for parameter "${p.name}"`);
          continue;
        }
        const a = decodeArray(enc, `optimizer state ${name}:${p.name}`);
        if (a.length !== p.value.size) throw new DataFormatError('optimizer state', `buffer "${name}:${p.name}" has ${a.length} values, expected ${p.value.size}`);
        const bad = a.findIndex((v) => !Number.isFinite(v));
        if (bad >= 0) throw new DataFormatError('optimizer state', `buffer "${name}:${p.name}" holds the non-finite value ${a[bad]} at index ${bad}`);
        const buf = allocate(p.value.dtype, a.length);
        buf.set(a);
        out[name] = buf;
      }
      return out;
    });
    const lr = nonNegative('lr', state.lr); // checked before anything changes
    this.buffers = buffers;
    this.lr = lr;
    this.stepCount = state.steps;
  }
}

/** Options of {@link Adam}, with PyTorch's names and defaults. */
export interface AdamOptions {
  /** Learning rate (default 1e-3). */
  lr?: number;
  /** β₁, β₂: decay of the first and second moment estimates (default [0.9, 0.999]), each in [0, 1). */
  betas?: readonly [number, number];
  /** ε, added to √v̂ in the denominator (default 1e-8). */
  eps?: number;
  /** λ (default 0): L2 decay added to the gradient, as `torch.optim.Adam`; with `decoupled`, AdamW's. */
  weightDecay?: number;
  /** Decoupled weight decay, `w ← w·(1 − lr·λ)` before the step, as `torch.optim.AdamW` (default false). */
  decoupled?: boolean;
}

/**
 * Adam (Kingma & Ba, 2015) with PyTorch's semantics (`torch.optim.Adam`, or `AdamW` with
 * `decoupled: true`), step t counted from 1:
 *
 * ```
 * g ← g + λ·w                       (L2 decay; AdamW instead: w ← w − lr·λ·w)
 * m ← β₁·m + (1 − β₁)·g
 * v ← β₂·v + (1 − β₂)·g²
 * w ← w − (lr / (1 − β₁ᵗ)) · m / (√v / √(1 − β₂ᵗ) + ε)
 * ```
 *
 * ε is added after the bias correction of √v, as PyTorch does (not to √v before it). Under Batch
 * Manhattan the gradients arrive already replaced by their signs, as with SGD.
 *
 * @example
 * ```ts
 * import { Adam, Param, Tensor } from 'asymprop';
 *
 * const w = new Param('w', Tensor.from([1, -2]));
 * const opt = new Adam([w], { lr: 0.1 });
 * w.grad.data.set([3, -0.5]);
 * opt.step(); // the first step moves every weight by about lr, against its gradient's sign
 * console.log(Array.from(w.value.data, (v) => +v.toFixed(4))); // [ 0.9, -1.9 ]
 * ```
 */
export class Adam extends AdaptiveOptimizer {
  /** β₁. */
  readonly beta1: number;
  /** β₂. */
  readonly beta2: number;
  /** ε. */
  readonly eps: number;
  /** Whether the weight decay is AdamW's. */
  readonly decoupled: boolean;

  /** @throws {@link ConfigError} naming the option for a negative or non-finite lr, eps or weightDecay, or a β outside [0, 1). */
  constructor(params: readonly Param[], options: AdamOptions = {}) {
    super(options.decoupled ? 'adamw' : 'adam', ['exp_avg', 'exp_avg_sq'], params, options.lr ?? 1e-3, options.weightDecay ?? 0);
    const [b1, b2] = options.betas ?? [0.9, 0.999];
    this.beta1 = fraction('betas[0]', b1);
    this.beta2 = fraction('betas[1]', b2);
    this.eps = nonNegative('eps', options.eps ?? 1e-8);
    this.decoupled = options.decoupled ?? false;
  }

  /** One Adam step of every parameter from its gradient (t counts from 1). */
  step(): void {
    const t = ++this.stepCount;
    const { lr, beta1, beta2, eps, weightDecay: wd, decoupled } = this;
    const stepSize = lr / (1 - beta1 ** t);
    const bc2Sqrt = Math.sqrt(1 - beta2 ** t);
    this.params.forEach((p, k) => {
      const { exp_avg: m, exp_avg_sq: v } = this.buffersOf(k) as { exp_avg: Storage; exp_avg_sq: Storage };
      const w = p.value.data, g = p.grad.data;
      for (let i = 0; i < w.length; i++) {
        let wi = w[i]!;
        let gi = g[i]!;
        if (decoupled) wi *= 1 - lr * wd; //                   AdamW: w ← w(1 − lr·λ)
        else gi += wd * wi; //                                 Adam:  g ← g + λw
        const mi = (m[i] = beta1 * m[i]! + (1 - beta1) * gi); //         m ← β₁m + (1 − β₁)g
        const vi = (v[i] = beta2 * v[i]! + (1 - beta2) * gi * gi); //    v ← β₂v + (1 − β₂)g²
        w[i] = wi - stepSize * (mi / (Math.sqrt(vi) / bc2Sqrt + eps)); // w ← w − (lr/bc₁)·m / (√v/√bc₂ + ε)
      }
    });
  }
}

/** Options of {@link RMSprop}, with PyTorch's names and defaults. */
export interface RMSpropOptions {
  /** Learning rate (default 1e-2). */
  lr?: number;
  /** α: decay of the running mean of g² (default 0.99), in [0, 1). */
  alpha?: number;
  /** ε, added to the root (default 1e-8). */
  eps?: number;
  /** L2 decay λ added to the gradient (default 0). */
  weightDecay?: number;
  /** Momentum μ on the scaled step (default 0). */
  momentum?: number;
  /** Divide by the variance estimate √(E[g²] − E[g]²) instead of √E[g²] (default false). */
  centered?: boolean;
}

/**
 * RMSprop with PyTorch's semantics (`torch.optim.RMSprop`):
 *
 * ```
 * g ← g + λ·w
 * s ← α·s + (1 − α)·g²                 (centered: also a ← α·a + (1 − α)·g, and s − a² below)
 * d ← √s + ε
 * w ← w − lr·g/d                        (momentum: b ← μ·b + g/d; w ← w − lr·b)
 * ```
 *
 * @example
 * ```ts
 * import { Param, RMSprop, Tensor } from 'asymprop';
 *
 * const w = new Param('w', Tensor.from([1]));
 * const opt = new RMSprop([w], { lr: 0.01 });
 * w.grad.data.set([2]);
 * opt.step(); // s = 0.01·4, so the step is 0.01 · 2 / 0.2 = 0.1
 * console.log(+w.value.data[0]!.toFixed(4)); // 0.9
 * ```
 */
export class RMSprop extends AdaptiveOptimizer {
  /** α. */
  readonly alpha: number;
  /** ε. */
  readonly eps: number;
  /** μ. */
  readonly momentum: number;
  /** Whether the denominator is centred. */
  readonly centered: boolean;

  /** @throws {@link ConfigError} naming the option for a negative or non-finite lr, eps, weightDecay or momentum, or α outside [0, 1). */
  constructor(params: readonly Param[], options: RMSpropOptions = {}) {
    const momentum = nonNegative('momentum', options.momentum ?? 0);
    if (momentum >= 1) throw new ConfigError('momentum', momentum, 'a number in [0, 1)');
    const centered = options.centered ?? false;
    super('rmsprop', ['square_avg', ...(momentum > 0 ? ['momentum_buffer'] : []), ...(centered ? ['grad_avg'] : [])], params, options.lr ?? 1e-2, options.weightDecay ?? 0);
    this.alpha = fraction('alpha', options.alpha ?? 0.99);
    this.eps = nonNegative('eps', options.eps ?? 1e-8);
    this.momentum = momentum;
    this.centered = centered;
  }

  /** One RMSprop step of every parameter from its gradient. */
  step(): void {
    this.stepCount++;
    const { lr, alpha, eps, weightDecay: wd, momentum: mu } = this;
    this.params.forEach((p, k) => {
      const b = this.buffersOf(k);
      const s = b['square_avg']!, buf = b['momentum_buffer'], avg = b['grad_avg'];
      const w = p.value.data, g = p.grad.data;
      for (let i = 0; i < w.length; i++) {
        const gi = g[i]! + wd * w[i]!; //                                   g ← g + λw
        const si = (s[i] = alpha * s[i]! + (1 - alpha) * gi * gi); //       s ← αs + (1 − α)g²
        let d: number;
        if (avg) {
          const ai = (avg[i] = alpha * avg[i]! + (1 - alpha) * gi); //      a ← αa + (1 − α)g
          d = Math.sqrt(si - ai * ai) + eps; //                             d ← √(s − a²) + ε
        } else {
          d = Math.sqrt(si) + eps; //                                       d ← √s + ε
        }
        if (buf) {
          const bi = (buf[i] = mu * buf[i]! + gi / d); //                   b ← μb + g/d
          w[i] = w[i]! - lr * bi;
        } else {
          w[i] = w[i]! - lr * (gi / d); //                                  w ← w − lr·g/d
        }
      }
    });
  }
}

function nonNegative(option: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) throw new ConfigError(option, value, 'a finite number ≥ 0');
  return value;
}

function fraction(option: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0 || value >= 1) throw new ConfigError(option, value, 'a number in [0, 1)');
  return value;
}
