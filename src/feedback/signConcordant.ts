import { ConfigError } from '../errors.js';
import { allocate, type Storage } from '../tensor/tensor.js';
import { MatrixFeedback, checkFlip } from './base.js';
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
 * signConcordant({ magnitude: 'lognormal', redraw: 'batch' });
 * batchManhattan(signConcordant());  // uSF with the Batch Manhattan update
 * ```
 */
export function signConcordant(options: SignConcordantOptions = {}): FeedbackStrategy {
  const magnitude = checkMagnitudeLaw(options.magnitude ?? { constant: 1 });
  const redraw = options.redraw ?? 'fixed';
  if (redraw !== 'fixed' && redraw !== 'batch') throw new ConfigError('redraw', redraw, "'fixed', 'batch'");
  const flip = checkFlip(options.flip ?? 0);
  const strategy: FeedbackStrategy = {
    name: nameOf(magnitude, redraw, flip),
    spec: { type: 'sign-concordant', magnitude, redraw, flip },
    bind: (context) => new SignConcordantFeedback(strategy, context, magnitude, redraw, flip),
  };
  return strategy;
}

/** Uniform sign-concordant feedback (uSF): V = sign(W). */
export function usf(options: { flip?: number } = {}): FeedbackStrategy {
  return signConcordant({ magnitude: { constant: 1 }, ...options });
}

/** Batchwise random-magnitude sign-concordant feedback (brSF): V = M ∘ sign(W), M redrawn every step. */
export function brsf(options: { magnitude?: MagnitudeLaw; flip?: number } = {}): FeedbackStrategy {
  return signConcordant({ magnitude: 'uniform', ...options, redraw: 'batch' });
}

/** Fixed random-magnitude sign-concordant feedback (frSF): V = M ∘ sign(W), M drawn once. */
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
    if (this.m) drawMagnitudes(law, this.m, this.rng);
    this.drawFlip(flip);
  }

  /**
   * V = M ∘ sign(W), sign(0) = 0. The sign is `(w > 0) − (w < 0)`, which compiles to branch-free
   * code: W's signs are a coin toss, so a branch on them (or `Math.sign`, which V8 does not inline
   * as well) is mispredicted half the time and costs 5× the whole loop.
   */
  protected fillMatrix(v: Storage, w: Storage): void {
    const m = this.m;
    if (m) {
      for (let i = 0; i < v.length; i++) {
        const wi = w[i]!;
        v[i] = m[i]! * (+(wi > 0) - +(wi < 0));
      }
    } else {
      const c = this.constant;
      for (let i = 0; i < v.length; i++) {
        const wi = w[i]!;
        v[i] = c * (+(wi > 0) - +(wi < 0));
      }
    }
  }

  /** brSF draws fresh magnitudes for the next mini-batch. */
  override afterStep(): void {
    if (this.redraw === 'batch' && this.m) drawMagnitudes(this.law, this.m, this.rng);
  }

  protected override arrays(): Record<string, Float32Array> {
    return this.m ? { magnitudes: this.m } : {};
  }
}
