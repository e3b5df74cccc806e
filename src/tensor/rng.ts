import alea from 'seedrandom/lib/alea.js';
import { ConfigError } from '../errors.js';
import type { Storage } from './tensor.js';

/** The complete state of an {@link Rng}: plain numbers, safe to put in JSON. */
export interface RngState {
  readonly algorithm: 'alea';
  readonly c: number;
  readonly s0: number;
  readonly s1: number;
  readonly s2: number;
  /** The second normal deviate of the last Box–Muller pair, if not yet used. */
  readonly spare: number | null;
}

/**
 * A seeded random generator (seedrandom's Alea: fast, 32-bit, with a small saveable state).
 *
 * Every random draw in asymprop takes an `Rng` passed in explicitly: the same seed gives the same
 * run, feedback matrices included. {@link Rng.fork} derives independent child streams so that, for
 * example, each layer's feedback owns its own generator and saves it with the layer.
 *
 * @example
 * ```ts
 * const rng = new Rng(42);
 * rng.uniform();          // in [0, 1)
 * rng.normal(0, 0.1);     // Gaussian
 * const layerRng = rng.fork();
 * ```
 */
export class Rng {
  private prng: ReturnType<typeof alea>;
  private spare: number | null = null;

  constructor(seed: number | string) {
    if (typeof seed === 'number' && !Number.isFinite(seed)) throw new ConfigError('seed', seed, 'a finite number or a string');
    this.prng = alea(String(seed), { state: true });
  }

  /** Restores a generator from {@link Rng.state}. */
  static fromState(state: RngState): Rng {
    const r = new Rng(0);
    r.setState(state);
    return r;
  }

  /** The generator's complete state (restoring it replays the same numbers). */
  state(): RngState {
    return { algorithm: 'alea', ...this.prng.state(), spare: this.spare };
  }

  /** Replaces this generator's state. */
  setState(state: RngState): void {
    // Only states Alea can reach: s0..s2 in [0, 1), c an integer in [0, 2091639], spare null or finite.
    const unit = (v: unknown) => typeof v === 'number' && v >= 0 && v < 1;
    const valid =
      state?.algorithm === 'alea' &&
      unit(state.s0) && unit(state.s1) && unit(state.s2) &&
      Number.isInteger(state.c) && state.c >= 0 && state.c <= 2091639 &&
      (state.spare === null || state.spare === undefined || (typeof state.spare === 'number' && Number.isFinite(state.spare)));
    if (!valid) throw new ConfigError('rng state', state, "an object { algorithm: 'alea', c, s0, s1, s2, spare } from Rng.state()");
    const { c, s0, s1, s2 } = state;
    this.prng = alea('', { state: { c, s0, s1, s2 } });
    this.spare = state.spare ?? null;
  }

  /** A uniform number in [lo, hi) (default [0, 1)). */
  uniform(lo = 0, hi = 1): number {
    return lo + (hi - lo) * this.prng();
  }

  /** A uniform 32-bit unsigned integer. */
  uint32(): number {
    return this.prng.int32() >>> 0;
  }

  /** A uniform integer in [0, n). */
  int(n: number): number {
    if (!Number.isInteger(n) || n <= 0) throw new ConfigError('Rng.int bound', n, 'a positive integer');
    return Math.floor(this.prng() * n);
  }

  /** A normal deviate (Box–Muller; pairs are used in turn, the spare is part of the state). */
  normal(mean = 0, std = 1): number {
    if (this.spare !== null) {
      const z = this.spare;
      this.spare = null;
      return mean + std * z;
    }
    let u = this.prng();
    while (u === 0) u = this.prng();
    const v = this.prng();
    const r = Math.sqrt(-2 * Math.log(u));
    const theta = 2 * Math.PI * v;
    this.spare = r * Math.sin(theta);
    return mean + std * r * Math.cos(theta);
  }

  /** Fills `out` with uniform values in [lo, hi). */
  fillUniform(out: Storage, lo = 0, hi = 1): Storage {
    const prng = this.prng;
    const w = hi - lo;
    for (let i = 0; i < out.length; i++) out[i] = lo + w * prng();
    return out;
  }

  /** Fills `out` with normal values. */
  fillNormal(out: Storage, mean = 0, std = 1): Storage {
    for (let i = 0; i < out.length; i++) out[i] = this.normal(mean, std);
    return out;
  }

  /** Shuffles an array in place (Fisher–Yates) and returns it. */
  shuffle<T extends { length: number; [i: number]: unknown }>(array: T): T {
    for (let i = array.length - 1; i > 0; i--) {
      const j = Math.floor(this.prng() * (i + 1));
      const t = array[i];
      array[i] = array[j];
      array[j] = t;
    }
    return array;
  }

  /** A random permutation of 0..n-1. */
  permutation(n: number): Uint32Array {
    const p = new Uint32Array(n);
    for (let i = 0; i < n; i++) p[i] = i;
    return this.shuffle(p);
  }

  /**
   * A new generator whose seed is drawn from this one: an independent, reproducible stream.
   * Forking advances this generator by two draws.
   */
  fork(): Rng {
    return new Rng(`fork:${this.uint32()}:${this.uint32()}`);
  }
}
