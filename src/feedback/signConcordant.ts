import { ConfigError } from '../errors.js';
import { allocate, type Storage } from '../tensor/tensor.js';
import { MatrixFeedback, checkFlip, kernelsOf } from './base.js';
import { defineStrategy } from './define.js';
import { checkMagnitudeLaw, drawMagnitudes, magnitudeName, type MagnitudeLaw } from './magnitude.js';
import type { FeedbackContext, FeedbackStrategy } from './strategy.js';

/** Options of {@link signConcordant}. */
export interface SignConcordantOptions {
  /** Law of the magnitudes M (default `{ constant: 1 }`, i.e. uSF). */
  magnitude?: MagnitudeLaw;
  /** `batch`: M is redrawn after every optimizer step (brSF); `fixed`: drawn once (frSF). Default `fixed`. */
  redraw?: 'fixed' | 'batch';
  /** Fraction of feedback signs flipped by a fixed random mask (default 0). */
  flip?: number;
}

/**
 * Sign-concordant feedback, V = M ∘ sign(W) (sign(0) = 0): V always has W's signs (up to the
 * optional flip mask), with magnitudes that ignore W's.
 *
 * - {@link usf}: M = 1 (uniform sign-concordant);
 * - {@link brsf}: M random, redrawn after every optimizer step (batchwise random magnitudes);
 * - {@link frsf}: M random, drawn once (fixed random magnitudes).
 *
 * @example
 * ```ts
 * import { batchManhattan, signConcordant } from 'asymprop';
 *
 * console.log(signConcordant().name);                                            // usf: M = 1
 * console.log(signConcordant({ magnitude: { constant: 10 } }).name);             // usf(const-10): M = 10
 * console.log(signConcordant({ magnitude: 'lognormal', redraw: 'batch' }).name); // brsf(lognormal)
 * console.log(batchManhattan(signConcordant()).name);                            // bm+usf: uSF with the Batch Manhattan update
 * ```
 */
export function signConcordant(options: SignConcordantOptions = {}): FeedbackStrategy {
  const magnitude = checkMagnitudeLaw(options.magnitude ?? { constant: 1 });
  const redraw = options.redraw ?? 'fixed';
  if (redraw !== 'fixed' && redraw !== 'batch') throw new ConfigError('redraw', redraw, "'fixed', 'batch'");
  const flip = checkFlip(options.flip ?? 0);
  return defineStrategy({
    name: nameOf(magnitude, redraw, flip),
    spec: { type: 'sign-concordant', magnitude, redraw, flip },
    bind: (context, strategy) => new SignConcordantFeedback(strategy, context, magnitude, redraw, flip),
  });
}

/**
 * Uniform sign-concordant feedback (uSF): V = sign(W), every magnitude 1.
 *
 * @param options `flip`: the fraction of V's signs flipped by a fixed random mask (default 0).
 *
 * @example
 * ```ts
 * import { Dense, Rng, usf } from 'asymprop';
 *
 * const layer = new Dense(4, 3, { rng: new Rng(0), feedback: usf() });
 * const w = layer.weight.value.data;
 * const v = layer.feedback.matrix(layer.weight.value)!.data; // the V that backward sends the error through
 * console.log(v.every((vi, i) => vi === Math.sign(w[i]!)));  // true: V = sign(W)
 * console.log(usf({ flip: 0.25 }).name);                     // usf(flip=0.25)
 * ```
 */
export function usf(options: { flip?: number } = {}): FeedbackStrategy {
  return signConcordant({ magnitude: { constant: 1 }, ...options });
}

/**
 * Batchwise random-magnitude sign-concordant feedback (brSF): V = M ∘ sign(W), with M drawn afresh
 * after every optimizer step, so that each mini-batch sees new magnitudes.
 *
 * @param options `magnitude`: the law of M (default `uniform`, U[0, 1)); `flip`: the fraction of
 * V's signs flipped by a fixed random mask (default 0).
 *
 * @example
 * ```ts
 * import { Dense, Rng, brsf } from 'asymprop';
 *
 * const layer = new Dense(4, 3, { rng: new Rng(0), feedback: brsf() });
 * const w = layer.weight.value;
 * const before = Float32Array.from(layer.feedback.matrix(w)!.data); // a copy: V's buffer is reused
 * layer.feedback.afterUpdate(layer);                               // what training does after each step
 * const after = layer.feedback.matrix(w)!.data;
 * console.log(after.every((v, i) => Math.sign(v) === Math.sign(w.data[i]!))); // true: still W's signs
 * console.log(after.some((v, i) => v !== before[i]));                         // true: new magnitudes
 * console.log(brsf({ magnitude: 'lognormal' }).name);                         // brsf(lognormal)
 * ```
 */
export function brsf(options: { magnitude?: MagnitudeLaw; flip?: number } = {}): FeedbackStrategy {
  return signConcordant({ magnitude: 'uniform', ...options, redraw: 'batch' });
}

/**
 * Fixed random-magnitude sign-concordant feedback (frSF): V = M ∘ sign(W), with M drawn once, when
 * the strategy is bound to the layer, and kept for the whole run.
 *
 * @param options `magnitude`: the law of M (default `uniform`, U[0, 1)); `flip`: the fraction of
 * V's signs flipped by a fixed random mask (default 0).
 *
 * @example
 * ```ts
 * import { Dense, Rng, frsf } from 'asymprop';
 *
 * const layer = new Dense(4, 3, { rng: new Rng(0), feedback: frsf() });
 * const w = layer.weight.value;
 * const before = Float32Array.from(layer.feedback.matrix(w)!.data); // a copy: V's buffer is reused
 * layer.feedback.afterUpdate(layer);                               // what training does after each step
 * const after = layer.feedback.matrix(w)!.data;
 * console.log(after.every((v, i) => v === before[i] && Math.abs(v) < 1)); // true: the same M, in [0, 1)
 * console.log(frsf({ magnitude: 'abs-normal', flip: 0.5 }).name);         // frsf(abs-normal)(flip=0.5)
 * ```
 */
export function frsf(options: { magnitude?: MagnitudeLaw; flip?: number } = {}): FeedbackStrategy {
  return signConcordant({ magnitude: 'uniform', ...options, redraw: 'fixed' });
}

function nameOf(law: MagnitudeLaw, redraw: 'fixed' | 'batch', flip: number): string {
  const constant = typeof law === 'object';
  let name: string;
  if (constant) name = law.constant === 1 ? 'usf' : `usf(${magnitudeName(law)})`;
  else name = `${redraw === 'batch' ? 'brsf' : 'frsf'}${law === 'uniform' ? '' : `(${law})`}`;
  return flip > 0 ? `${name}(flip=${flip})` : name;
}

class SignConcordantFeedback extends MatrixFeedback {
  /** The magnitudes M (null for a constant law, where M is the constant everywhere). */
  private readonly m: Float32Array | null;
  private readonly constant: number;

  constructor(
    strategy: FeedbackStrategy,
    context: FeedbackContext,
    private readonly law: MagnitudeLaw,
    private readonly redraw: 'fixed' | 'batch',
    flip: number,
  ) {
    super(strategy, context);
    this.constant = typeof law === 'object' ? law.constant : NaN;
    this.m = typeof law === 'object' ? null : (allocate('float32', this.size) as Float32Array);
    if (this.m) drawMagnitudes(law, this.m, this.rng, context.kernels);
    this.drawFlip(flip);
  }

  /**
   * V = M ∘ sign(W), sign(0) = 0. The sign is `(w > 0) − (w < 0)`, which compiles to branch-free
   * code: W's signs are a coin toss, so a branch on them (or `Math.sign`, which V8 does not inline
   * as well) is mispredicted half the time and costs 5× the whole loop.
   */
  protected fillMatrix(v: Storage, w: Storage): void {
    kernelsOf(this.context).signScale(v, w, this.m ?? this.constant); // V = M ∘ sign(W)
  }

  /** brSF draws fresh magnitudes for the next mini-batch. */
  override afterUpdate(): void {
    if (this.redraw === 'batch' && this.m) drawMagnitudes(this.law, this.m, this.rng, this.context.kernels);
  }

  protected override arrays(): Record<string, Float32Array> {
    return this.m ? { magnitudes: this.m } : {};
  }
}
