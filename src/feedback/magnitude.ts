import { ConfigError } from '../errors.js';
import type { Kernels } from '../kernels/kernels.js';
import type { Rng } from '../tensor/rng.js';
import type { Storage } from '../tensor/tensor.js';

/**
 * The law of the feedback magnitudes M in `V = M ∘ sign(W)` (protocol names):
 * - `uniform`: U[0, 1) (the default);
 * - `abs-normal`: |N(0, 1)|;
 * - `lognormal`: exp(2·N(0, 1));
 * - `{ constant: c }`: every magnitude c (`const-10`, `const-0.1` on the command line); c = 1 is uSF.
 */
export type MagnitudeLaw =
  | 'uniform'
  | 'abs-normal'
  | 'lognormal'
  | {
      /** c, the value of every magnitude (c > 0). */
      readonly constant: number;
    };

/** Names accepted by {@link parseMagnitudeLaw}. */
export const MAGNITUDE_NAMES = "'uniform', 'abs-normal', 'lognormal', 'const-<c>' (c > 0)";

/** Throws a {@link ConfigError} unless `law` is a valid magnitude law. */
export function checkMagnitudeLaw(law: unknown): MagnitudeLaw {
  if (law === 'uniform' || law === 'abs-normal' || law === 'lognormal') return law;
  if (typeof law === 'object' && law !== null && 'constant' in law) {
    const c = (law as { constant: unknown }).constant;
    if (typeof c === 'number' && Number.isFinite(c) && c > 0) return { constant: c };
  }
  throw new ConfigError('magnitude', law, MAGNITUDE_NAMES);
}

/** Parses a command-line magnitude name: `uniform`, `abs-normal`, `lognormal`, `const-10`. */
export function parseMagnitudeLaw(name: string): MagnitudeLaw {
  const m = /^const-(.+)$/.exec(name);
  if (m) {
    const c = Number(m[1]);
    if (m[1]!.trim() !== '' && Number.isFinite(c) && c > 0) return { constant: c };
    throw new ConfigError('magnitude', name, MAGNITUDE_NAMES);
  }
  return checkMagnitudeLaw(name);
}

/** The command-line name of a law (inverse of {@link parseMagnitudeLaw}). */
export function magnitudeName(law: MagnitudeLaw): string {
  return typeof law === 'string' ? law : `const-${law.constant}`;
}

/** Fills `out` with i.i.d. draws of the law (the uniform law's long fills on `kernels`, default the default kernels). */
export function drawMagnitudes(law: MagnitudeLaw, out: Storage, rng: Rng, kernels?: Kernels): void {
  if (typeof law === 'object') {
    out.fill(law.constant);
  } else if (law === 'uniform') {
    // On the 2⁻²⁴ grid: exact in float32, so a draw never rounds up to 1 (M stays in [0, 1)).
    rng.fillUniform24(out, kernels);
  } else if (law === 'abs-normal') {
    for (let i = 0; i < out.length; i++) out[i] = Math.abs(rng.normal());
  } else {
    for (let i = 0; i < out.length; i++) out[i] = Math.exp(2 * rng.normal());
  }
}
