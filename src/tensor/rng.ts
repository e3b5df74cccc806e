import alea from 'seedrandom/lib/alea.js';
import xor128 from 'seedrandom/lib/xor128.js';
import { ConfigError } from '../errors.js';
import { defaultKernels } from '../kernels/fast.js';
import type { Kernels } from '../kernels/kernels.js';
import type { Storage } from './tensor.js';

/** The complete state of an {@link Rng}: plain numbers, safe to put in JSON. */
export interface RngState {
  /** The generator's algorithm; only `alea` exists, and a state of another kind is refused. */
  readonly algorithm: 'alea';
  /**
   * Alea's carry, an integer in [0, 2091639]. Alea is a multiply-with-carry generator: each draw
   * computes `t = 2091639·s0 + c·2⁻³²`, shifts `s0 ← s1`, `s1 ← s2`, and splits t into its integer
   * part (the new c) and its fraction (the new s2, which is the number returned).
   */
  readonly c: number;
  /** The oldest of Alea's three lagged fractions, in [0, 1): the one the next draw multiplies. */
  readonly s0: number;
  /** The middle one of Alea's three lagged fractions, in [0, 1). */
  readonly s1: number;
  /** The newest of Alea's three lagged fractions, in [0, 1). */
  readonly s2: number;
  /** The second normal deviate of the last Box–Muller pair, if not yet used. */
  readonly spare: number | null;
  /** The state `[x, y, z, w]` of the bulk stream behind {@link Rng.fillUniform24}, once it has been used. */
  readonly bulk?: readonly [number, number, number, number] | null;
}

/**
 * Whether `state` is a generator state Alea can reach (what {@link Rng.setState} accepts): s0..s2
 * in [0, 1), c an integer in [0, 2091639], spare null or finite, bulk null or four int32 not all 0.
 */
export function isRngState(state: unknown): state is RngState {
  const r = state as Partial<RngState> | null;
  const unit = (v: unknown) => typeof v === 'number' && v >= 0 && v < 1;
  return (
    typeof r === 'object' && r !== null && r.algorithm === 'alea' &&
    unit(r.s0) && unit(r.s1) && unit(r.s2) &&
    Number.isInteger(r.c) && r.c! >= 0 && r.c! <= 2091639 &&
    (r.spare === null || r.spare === undefined || (typeof r.spare === 'number' && Number.isFinite(r.spare))) &&
    (r.bulk === null || r.bulk === undefined || (Array.isArray(r.bulk) && r.bulk.length === 4 && r.bulk.every((v) => Number.isInteger(v) && v === (v | 0)) && r.bulk.some((v) => v !== 0)))
  );
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
 * import { Rng } from 'asymprop';
 *
 * const rng = new Rng(42);
 * rng.uniform();                // in [0, 1)
 * rng.normal(0, 0.1);           // Gaussian, mean 0, standard deviation 0.1
 * const layerRng = rng.fork();  // an independent child stream
 * const saved = JSON.parse(JSON.stringify(rng.state())); // plain numbers, through JSON and back
 * console.log(Rng.fromState(saved).uniform() === rng.uniform(), layerRng.uniform() !== rng.uniform()); // true true
 * ```
 */
export class Rng {
  private prng: ReturnType<typeof alea>;
  private spare: number | null = null;
  /** xor128's state for {@link Rng.fillUniform24}; created from this generator on first use. */
  private bulk: Int32Array | null = null;

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
    return { algorithm: 'alea', ...this.prng.state(), spare: this.spare, bulk: this.bulk ? [this.bulk[0]!, this.bulk[1]!, this.bulk[2]!, this.bulk[3]!] : null };
  }

  /** Replaces this generator's state. */
  setState(state: RngState): void {
    if (!isRngState(state)) throw new ConfigError('rng state', state, "an object { algorithm: 'alea', c, s0, s1, s2, spare, bulk } from Rng.state()");
    const { c, s0, s1, s2 } = state;
    this.prng = alea('', { state: { c, s0, s1, s2 } });
    this.spare = state.spare ?? null;
    this.bulk = state.bulk ? Int32Array.from(state.bulk) : null;
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

  /**
   * Fills `out` with i.i.d. uniform values on the 2⁻²⁴ grid of [0, 1) (`floor(u · 2²⁴) / 2²⁴`,
   * exact in float32, so a value never rounds up to 1), for large per-step draws such as brSF's
   * magnitudes.
   *
   * These come from a second stream: seedrandom's xor128 (Marsaglia's xorshift), seeded from this
   * generator the first time it is needed and part of {@link Rng.state}. Its recurrence runs in
   * `kernels` (`Kernels.uniform24`; default the default kernels): a draw from Alea costs a float
   * multiply-add chain of several nanoseconds that cannot overlap from one draw to the next, a
   * draw from xorshift three shifts and xors, which made brSF's per-step redraw about four times
   * cheaper. The values are exactly those of seedrandom's xor128 generator,
   * `floor(prng() · 2²⁴) / 2²⁴`, whichever kernels compute them.
   */
  fillUniform24(out: Storage, kernels: Kernels = defaultKernels()): Storage {
    kernels.uniform24(out, (this.bulk ??= this.seedBulk()));
    return out;
  }

  /** xor128's state for the bulk stream, seeded by two draws of this generator. */
  private seedBulk(): Int32Array {
    const { x, y, z, w } = xor128(`bulk:${this.uint32()}:${this.uint32()}`, { state: true }).state();
    return Int32Array.of(x, y, z, w);
  }

  /** Fills `out` with normal values. */
  fillNormal(out: Storage, mean = 0, std = 1): Storage {
    for (let i = 0; i < out.length; i++) out[i] = this.normal(mean, std);
    return out;
  }

  /** Shuffles an array or a typed array in place (Fisher–Yates) and returns it. */
  shuffle<
    T extends {
      /** The number of elements. */
      length: number;
      [i: number]: unknown;
    },
  >(array: T): T {
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
