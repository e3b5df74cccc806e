import { ConfigError } from '../errors.js';
import type { Rng } from './rng.js';
import type { Storage } from './tensor.js';

/**
 * A weight initialiser: fills `out` (a weight of `fanIn` inputs and `fanOut` outputs per unit)
 * with draws from `rng`. Feedback alignment draws its random matrix B with the same initialiser as
 * the forward weight, so B and W have the same scale.
 */
export interface Initializer {
  /** The initialiser's name, e.g. `he-normal` (see {@link initializerByName}). */
  readonly name: string;
  /**
   * Overwrites every element of `out` with an independent draw.
   *
   * @param out the weight's values, flat.
   * @param fanIn inputs feeding one output unit (for a conv layer: in-channels × kernel area).
   * @param fanOut outputs fed by one input unit (for a conv layer: out-channels × kernel area).
   * @param rng the generator to draw from.
   */
  fill(out: Storage, fanIn: number, fanOut: number, rng: Rng): void;
}

/** He (Kaiming) normal: N(0, 2 / fanIn), the protocol's initialiser for ReLU networks. */
export function heNormal(): Initializer {
  return { name: 'he-normal', fill: (out, fanIn, _fanOut, rng) => { rng.fillNormal(out, 0, Math.sqrt(2 / fanIn)); } };
}

/** Xavier/Glorot uniform: U(−a, a) with a = √(6 / (fanIn + fanOut)). */
export function xavierUniform(): Initializer {
  return {
    name: 'xavier-uniform',
    fill: (out, fanIn, fanOut, rng) => {
      const a = Math.sqrt(6 / (fanIn + fanOut));
      rng.fillUniform(out, -a, a);
    },
  };
}

/** Xavier/Glorot normal: N(0, 2 / (fanIn + fanOut)). */
export function xavierNormal(): Initializer {
  return { name: 'xavier-normal', fill: (out, fanIn, fanOut, rng) => { rng.fillNormal(out, 0, Math.sqrt(2 / (fanIn + fanOut))); } };
}

/** Uniform on [lo, hi) (default [−0.05, 0.05)); throws a {@link ConfigError} unless lo < hi, both finite. */
export function uniformInit(lo = -0.05, hi = 0.05): Initializer {
  if (!(Number.isFinite(lo) && Number.isFinite(hi) && lo < hi)) throw new ConfigError('uniform init range', [lo, hi], 'finite lo < hi');
  return { name: `uniform(${lo},${hi})`, fill: (out, _fanIn, _fanOut, rng) => { rng.fillUniform(out, lo, hi); } };
}

/**
 * Looks an initialiser up by name (`he-normal`, `xavier-uniform`, `xavier-normal`); throws a
 * {@link ConfigError} for any other name.
 */
export function initializerByName(name: string): Initializer {
  switch (name) {
    case 'he-normal': return heNormal();
    case 'xavier-uniform': return xavierUniform();
    case 'xavier-normal': return xavierNormal();
    default: throw new ConfigError('initializer', name, "'he-normal', 'xavier-uniform', 'xavier-normal'");
  }
}
