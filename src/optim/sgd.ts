import { ConfigError, DataFormatError, describeValue } from '../errors.js';
import { decodeArray, encodeArray, type EncodedArray } from '../tensor/encode.js';
import type { Param } from '../tensor/param.js';
import { defaultKernels } from '../kernels/fast.js';
import { FLUSH_BELOW, type Kernels } from '../kernels/kernels.js';
import type { Storage } from '../tensor/tensor.js';
import type { Optimizer, OptimizerState } from './optimizer.js';

/** Options of {@link SGD}, with PyTorch's names and defaults. */
export interface SGDOptions {
  /** Learning rate (≥ 0, finite). */
  lr: number;
  /** Momentum μ (default 0). */
  momentum?: number;
  /** Dampening of the gradient in the momentum buffer (default 0). */
  dampening?: number;
  /** Nesterov momentum (default false; needs momentum > 0 and dampening 0). */
  nesterov?: boolean;
  /** L2 weight decay λ added to the gradient (default 0). */
  weightDecay?: number;
  /** The kernels that run the update (default {@link defaultKernels}); the momentum buffers live in their memory. */
  kernels?: Kernels;
}

export { FLUSH_BELOW };

/**
 * Stochastic gradient descent with momentum, PyTorch semantics (`torch.optim.SGD`):
 *
 * ```
 * g   ← g + λ·w                         weight decay
 * buf ← g                 (first step)
 * buf ← μ·buf + (1 − d)·g (later steps)
 * g   ← g + μ·buf  if nesterov, else buf
 * w   ← w − lr·g
 * ```
 *
 * With μ = 0.9, λ = 1e-4 this is the protocol's update; with Batch Manhattan feedback the
 * gradients arrive already replaced by their signs, which is the protocol's BM rule.
 *
 * One deviation from PyTorch, on purpose: momentum values whose magnitude falls below the
 * smallest normal float32 (≈1.18e-38) are set to zero. JavaScript cannot turn on the CPU's
 * flush-to-zero mode, and arithmetic on such subnormal numbers is many times slower.
 *
 * @example
 * ```ts
 * import { Param, SGD, Tensor } from 'asymprop';
 *
 * // A model's parameters go in the same way: new SGD(model.params(), { lr: 0.1, momentum: 0.9, weightDecay: 1e-4 }).
 * const w = new Param('w', Tensor.from([1, -2]));
 * const opt = new SGD([w], { lr: 0.1, momentum: 0.9 });
 * w.grad.data.set([1, 1]); // the same gradient at both steps
 * opt.step();              // buf = g = [1, 1];               w = [1, -2] − 0.1·buf   = [0.9, -2.1]
 * opt.step();              // buf = 0.9·buf + g = [1.9, 1.9]; w = [0.9, -2.1] − 0.1·buf = [0.71, -2.29]
 * console.log(Array.from(w.value.data, (v) => +v.toFixed(2)), opt.steps); // [ 0.71, -2.29 ] 2
 * ```
 */
export class SGD implements Optimizer {
  readonly params: readonly Param[];
  lr: number;
  /** μ, the fraction of the momentum buffer (the previous step's direction) each step keeps; 0 is plain SGD, without buffers. */
  readonly momentum: number;
  /** d: the fraction of the gradient held back from the momentum buffer after the first step. */
  readonly dampening: number;
  /** Whether the step is Nesterov's, `g + μ·buf` (looking ahead), rather than `buf`. */
  readonly nesterov: boolean;
  /** λ, the L2 weight decay: `λ·w` is added to every gradient before the momentum update. */
  readonly weightDecay: number;
  /** The momentum buffers, one per parameter in the order of `params`; null until its first step. */
  private buffers: (Storage | null)[];
  private readonly kernels: Kernels;
  private stepCount = 0;

  /**
   * @param params the parameters to update (their names must be unique, as a `Sequential` makes them).
   * @throws {@link ConfigError} when `lr`, `momentum`, `dampening` or `weightDecay` is not a finite
   * number ≥ 0, `momentum` is 1 or more, `dampening` more than 1, `nesterov` is asked for without momentum or with dampening, or two parameters share
   * a name.
   */
  constructor(params: readonly Param[], options: SGDOptions) {
    this.params = [...params];
    this.lr = checkNonNegative('lr', options.lr);
    this.momentum = checkNonNegative('momentum', options.momentum ?? 0);
    // μ ≥ 1 never forgets a gradient: the velocity grows without bound (5 is a typo, not a setting).
    if (this.momentum >= 1) throw new ConfigError('momentum', this.momentum, 'a number in [0, 1)');
    this.dampening = checkNonNegative('dampening', options.dampening ?? 0);
    if (this.dampening > 1) throw new ConfigError('dampening', this.dampening, 'a number in [0, 1]');
    this.weightDecay = checkNonNegative('weightDecay', options.weightDecay ?? 0);
    this.nesterov = options.nesterov ?? false;
    if (this.nesterov && (this.momentum <= 0 || this.dampening !== 0)) {
      throw new ConfigError('nesterov', true, 'only with momentum > 0 and dampening 0');
    }
    const names = new Set<string>();
    for (const p of this.params) {
      if (names.has(p.name)) throw new ConfigError('parameter names', p.name, 'unique names (put layers in a Sequential)');
      names.add(p.name);
    }
    this.buffers = this.params.map(() => null);
    this.kernels = options.kernels ?? defaultKernels();
  }

  get steps(): number {
    return this.stepCount;
  }

  step(): void {
    const { lr, momentum: mu, dampening, weightDecay: wd, nesterov } = this;
    const first = this.stepCount === 0;
    this.params.forEach((p, k) => {
      const w = p.value.data, g = p.grad.data;
      if (mu === 0) {
        for (let i = 0; i < w.length; i++) w[i] -= lr * (g[i]! + wd * w[i]!);
        return;
      }
      const buf = (this.buffers[k] ??= this.kernels.allocate(p.value.dtype, w.length));
      // First step: buf ← g (μ·0 + 1·g); later steps: buf ← μ·buf + (1 − d)·g.
      const keep = first ? 0 : mu, gain = first ? 1 : 1 - dampening;
      this.kernels.sgdMomentum(w, g, buf, { lr, keep, gain, weightDecay: wd, momentum: mu, nesterov }); // buf ← keep·buf + gain·(g + λw); w ← w − lr·buf
    });
    this.stepCount++;
  }

  zeroGrad(): void {
    for (const p of this.params) p.zeroGrad();
  }

  state(): OptimizerState {
    const buffers: Record<string, EncodedArray> = {};
    this.params.forEach((p, k) => {
      const b = this.buffers[k];
      if (b) buffers[p.name] = encodeArray(b);
    });
    return { type: 'sgd', lr: this.lr, steps: this.stepCount, buffers };
  }

  loadState(state: OptimizerState): void {
    if (state?.type !== 'sgd' || !Number.isInteger(state.steps) || state.steps < 0) {
      throw new DataFormatError('optimizer state', `expected an SGD state, received type ${describeValue(state?.type)}`);
    }
    if (typeof state.buffers !== 'object' || state.buffers === null) {
      throw new DataFormatError('optimizer state', `"buffers" must be an object keyed by parameter name, received ${describeValue(state.buffers)}`);
    }
    const buffers = this.params.map((p) => {
      const enc = state.buffers[p.name];
      if (!enc) {
        if (state.steps > 0 && this.momentum > 0) throw new DataFormatError('optimizer state', `no momentum buffer for parameter "${p.name}"`);
        return null;
      }
      const a = decodeArray(enc, `optimizer state ${p.name}`);
      if (a.length !== p.value.size) throw new DataFormatError('optimizer state', `buffer "${p.name}" has ${a.length} values, expected ${p.value.size}`);
      const bad = a.findIndex((v) => !Number.isFinite(v));
      if (bad >= 0) throw new DataFormatError('optimizer state', `buffer "${p.name}" holds the non-finite value ${a[bad]} at index ${bad}`);
      const buf = this.kernels.allocate(p.value.dtype, a.length);
      buf.set(a);
      return buf;
    });
    const lr = checkNonNegative('lr', state.lr); // checked before anything changes
    this.buffers = buffers;
    this.lr = lr;
    this.stepCount = state.steps;
  }
}

function checkNonNegative(option: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
    throw new ConfigError(option, value, 'a finite number ≥ 0');
  }
  return value;
}
