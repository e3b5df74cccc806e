import type { Storage } from '../tensor/tensor.js';
import { LearnedFeedback, checkRate, kernelsOf } from './base.js';
import { defineStrategy } from './define.js';
import type { FeedbackContext, FeedbackSite, FeedbackStrategy, UpdateOptions } from './strategy.js';
import { ConfigError } from '../errors.js';

/** Options of {@link weightMirror}. */
export interface WeightMirrorOptions {
  /** η: the mirror rate, the scale of the mirror signal in B's gradient (default {@link WEIGHT_MIRROR_DEFAULTS}). */
  mirrorRate?: number;
  /** λ: B's decay, added to its gradient as `λ·B`. */
  decay?: number;
  /** σ: the standard deviation of the noise sent through W. */
  noise?: number;
  /** Mirror batches per training step, each of as many noise samples as the training batch (a positive integer). */
  mirrorBatches?: number;
}

/**
 * The defaults of {@link weightMirror}: with η·σ² = λ, B's fixed point ησ²W / (λ + weightDecay) is
 * W's own scale, and B aligns with W within one epoch of the mlp and lenet on the embedded digits.
 */
export const WEIGHT_MIRROR_DEFAULTS = {
  /** {@inheritDoc WeightMirrorOptions.mirrorRate} */
  mirrorRate: 0.1,
  /** {@inheritDoc WeightMirrorOptions.decay} */
  decay: 0.1,
  /** {@inheritDoc WeightMirrorOptions.noise} */
  noise: 1,
  /** {@inheritDoc WeightMirrorOptions.mirrorBatches} */
  mirrorBatches: 1,
} as const;

/**
 * Weight mirrors (WM; Akrout et al., "Deep learning without weight transport", NeurIPS 2019): the
 * error goes down through a learned feedback matrix B (V = B) that starts random, like feedback
 * alignment's, and learns in a *mirror phase* of its own before each optimizer step. The layer's
 * input is replaced by noise x ~ N(0, σ²) (`mirrorBatches` batches of the training batch's size,
 * each sample a vector of W's fan-in: a patch for a conv layer), sent forward through W alone,
 * `y = W x`, and B's gradient is the negated mean correlation of what went in and came out, plus
 * its decay:
 *
 * ```text
 * ∇B = −η · mean over the noise samples of (y xᵀ) + λ·B      (y xᵀ is in W's layout, out × fan-in)
 * ```
 *
 * Since E[y xᵀ] = σ²W, the optimizer drives B to its fixed point ησ²W / (λ + weightDecay), a
 * multiple of W, without reading W: only what W does to the noise. Under Batch Manhattan the
 * mirror signal is replaced by its sign before the decay is added (as BM does for every gradient).
 *
 * WM applies to dense and conv layers; a BatchNorm beside it keeps its exact backward. B is a
 * parameter (`"<layer>.feedback.b"`); build the optimizer after the feedback is set. The noise is
 * drawn from the binding's generator, so a run is reproducible and resumes exactly.
 *
 * @throws {@link ConfigError} unless `mirrorRate`, `decay` and `noise` are finite numbers ≥ 0
 * (`noise` > 0) and `mirrorBatches` is a positive integer.
 *
 * @example
 * ```ts
 * import { Rng, mlp, weightMirror } from 'asymprop';
 *
 * const model = mlp({ rng: new Rng(1), feedback: weightMirror({ mirrorBatches: 2 }) });
 * console.log(model.params().length); // 9: each dense layer's weight, bias and learned B
 * console.log(weightMirror({ mirrorBatches: 2 }).name); // wm(mirrorBatches=2)
 * ```
 */
export function weightMirror(options: WeightMirrorOptions = {}): FeedbackStrategy {
  const o = { ...WEIGHT_MIRROR_DEFAULTS, ...stripUndefined(options) };
  checkRate('mirror-rate', o.mirrorRate);
  checkRate('decay', o.decay);
  checkRate('mirror-noise', o.noise, true);
  if (!Number.isInteger(o.mirrorBatches) || o.mirrorBatches < 1) throw new ConfigError('mirror-batches', o.mirrorBatches, 'a positive integer');
  const changed = (Object.keys(WEIGHT_MIRROR_DEFAULTS) as (keyof WeightMirrorOptions)[]).filter((k) => o[k] !== WEIGHT_MIRROR_DEFAULTS[k]);
  const spec = { type: 'weight-mirror', mirrorRate: o.mirrorRate, decay: o.decay, noise: o.noise, mirrorBatches: o.mirrorBatches } as const;
  return defineStrategy({
    name: changed.length === 0 ? 'wm' : `wm(${changed.map((k) => `${k}=${o[k]}`).join(',')})`,
    spec,
    appliesTo: ['dense', 'conv'],
    bind: (context, strategy) => new WeightMirrorFeedback(strategy, context, spec),
  });
}

class WeightMirrorFeedback extends LearnedFeedback {
  /** Scratch: the noise x `[n, fanIn]`, its image y `[n, out]`, and Σ y xᵀ `[out, fanIn]`. */
  private work: { x: Storage; y: Storage; sum: Storage } | null = null;

  constructor(
    strategy: FeedbackStrategy,
    context: FeedbackContext,
    private readonly options: Required<WeightMirrorOptions>,
  ) {
    super(strategy, context);
  }

  /** The mirror phase: ∇B = −η·mean(y xᵀ) (its sign under BM) + λ·B, with y = W x for noise x. */
  beforeUpdate(site: FeedbackSite, { manhattan }: UpdateOptions): void {
    const n = site.lastInputShape()[0]!; // as many noise samples as the training batch
    const w = site.weight.value;
    const out = w.shape[0]!, fanIn = w.size / out;
    const dtype = w.dtype;
    const kernels = kernelsOf(this.context);
    const allocate = (size: number) => kernels.allocate(dtype, size);
    if (!this.work || this.work.x.length !== n * fanIn || this.work.sum.length !== out * fanIn || this.work.sum instanceof Float64Array !== (dtype === 'float64')) {
      this.work = { x: allocate(n * fanIn), y: allocate(n * out), sum: allocate(out * fanIn) };
    }
    const { x, y, sum } = this.work;
    const { mirrorRate, decay, noise, mirrorBatches } = this.options;
    for (let k = 0; k < mirrorBatches; k++) {
      this.context.rng.fillNormal(x, 0, noise); //                             x ~ N(0, σ²), [n, fanIn]
      kernels.gemm(false, true, n, out, fanIn, x, w.data, y); //                y = x Wᵀ,     [n, out]
      kernels.gemm(true, false, out, fanIn, n, y, x, sum, k > 0); //            Σ y xᵀ,       [out, fanIn]
    }
    const g = this.b.grad.data;
    kernels.scale(g, -mirrorRate / (n * mirrorBatches), sum); //               ∇B = −η Σ y xᵀ / (n·batches)
    if (manhattan) kernels.sign(g, g);
    if (decay > 0) kernels.axpy(decay, this.b.value.data, g); //               ∇B += λ·B
  }
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
