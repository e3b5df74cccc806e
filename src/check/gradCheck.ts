import { AsympropError, ConfigError } from '../errors.js';
import type { Layer } from '../layers/layer.js';
import { Rng } from '../tensor/rng.js';
import { Tensor, assertSameShape } from '../tensor/tensor.js';

/** Options of {@link gradCheck}. */
export interface GradCheckOptions {
  /** Central-difference step (default 1e-6). */
  eps?: number;
  /** Allowed error: `|analytic − numeric| ≤ atol + rtol·max(|analytic|, |numeric|)` (defaults 1e-7 and 1e-5). */
  atol?: number;
  /** The relative part of the allowed error (see `atol`; default 1e-5). */
  rtol?: number;
  /** Check the input gradient (default true). Asymmetric feedback is expected to fail it. */
  inputs?: boolean;
  /** Check the parameter gradients (default true). */
  params?: boolean;
  /** Elements checked per tensor: all when the tensor has at most this many (default 2,000), else a seeded sample. */
  maxElements?: number;
  /** Forward in train mode (default true). */
  training?: boolean;
  /** Seeds the random upstream gradient and element sampling (default `new Rng('gradCheck')`). */
  rng?: Rng;
}

/** One mismatch found by {@link gradCheck}. */
export interface GradMismatch {
  /** `input` or a parameter name. */
  readonly argument: string;
  /** Flat index of the element. */
  readonly index: number;
  /** Central-difference value. */
  readonly expected: number;
  /** Backward's value. */
  readonly received: number;
}

/** What {@link gradCheck} found. */
export interface GradCheckResult {
  /** The layer checked, as it describes itself (e.g. `Dense(3→2)`). */
  readonly layer: string;
  /** Elements compared. */
  readonly checked: number;
  /** Largest `|analytic − numeric| / max(1, |numeric|)`. */
  readonly maxError: number;
  /** Every element outside the tolerance, in the order checked (input first, then the parameters). */
  readonly mismatches: GradMismatch[];
  /** Whether every element checked was within the tolerance. */
  readonly ok: boolean;
}

/** Thrown by {@link assertGradCheck}: names the layer, argument, index, expected and received values. */
export class GradCheckError extends AsympropError {
  constructor(
    /** The full result of the check (all mismatches, not only the first). */
    readonly result: GradCheckResult,
  ) {
    const m = result.mismatches[0]!;
    super(
      `gradCheck ${result.layer}: gradient of ${m.argument}[${m.index}] expected ${m.expected} (central difference), ` +
        `received ${m.received} (backward); ${result.mismatches.length} of ${result.checked} elements differ`,
    );
  }
}

/**
 * Checks a layer's backward pass against central finite differences in float64.
 *
 * The scalar checked is `L = Σ R ∘ layer(x)` for a fixed random R, so `∂L/∂y = R` is passed to
 * `backward`. Each checked element of the input and of every parameter is moved by ±`eps`, and
 * `(L(+eps) − L(−eps)) / 2eps` is compared with what `backward` returned (the input gradient) or
 * accumulated (the parameter gradients, zeroed first). The layer's parameters and the input are
 * converted to float64 for the check (and the parameters converted back afterwards); the layer is
 * left with the last forward's cache and the check's gradients.
 *
 * With asymmetric feedback the input gradient is, by design, not the true one: the error a layer
 * sends down is `dY V`, not `dY W`. Its parameter gradients are still exact. Check such layers with
 * `inputs: false`, and compare the input gradient with the feedback's own definition instead (see
 * [Writing your own feedback strategy](../../docs/custom-strategy.md)).
 *
 * @param layer the layer to check; a whole model (a `Sequential`) works too.
 * @param input a batch small enough to perturb element by element (see `maxElements`).
 * @throws {@link ConfigError} unless `eps > 0`. Whatever the layer throws (a `ShapeError` for a
 * wrong input) propagates.
 *
 * @example
 * ```ts
 * import { Dense, Rng, Tensor, gradCheck, usf } from 'asymprop';
 *
 * const x = Tensor.from([[1, -2, 3], [0.5, 0, -1]]);
 * const bp = gradCheck(new Dense(3, 2, { rng: new Rng(0) }), x);
 * console.log(bp.ok, bp.checked); // true 14 (6 inputs, 6 weights, 2 biases)
 *
 * // uSF: the layer's own gradients are exact; the error it sends down is deliberately not.
 * const sf = new Dense(3, 2, { rng: new Rng(0), feedback: usf() });
 * console.log(gradCheck(sf, x, { inputs: false }).ok);   // true
 * console.log(gradCheck(sf, x).mismatches[0]?.argument); // input
 * ```
 */
export function gradCheck(layer: Layer, input: Tensor, options: GradCheckOptions = {}): GradCheckResult {
  const { eps = 1e-6, atol = 1e-7, rtol = 1e-5, inputs = true, params = true, maxElements = 2000, training = true } = options;
  if (!(eps > 0)) throw new ConfigError('eps', eps, 'a number > 0');
  const rng = options.rng ?? new Rng('gradCheck');
  const originalDtypes = layer.params().map((p) => p.value.dtype);
  for (const p of layer.params()) p.cast('float64');
  try {
    const x = input.clone('float64');
    const y0 = layer.forward(x, training);
    const r = Tensor.zeros(y0.shape, 'float64');
    rng.fillNormal(r.data);
    const objective = (): number => {
      const y = layer.forward(x, training);
      assertSameShape(`gradCheck ${layer.describe()} output`, r, y);
      let s = 0;
      for (let i = 0; i < y.size; i++) s += r.data[i]! * y.data[i]!;
      return s;
    };

    layer.zeroGrad();
    layer.forward(x, training);
    const dx = layer.backward(r);
    const targets: { argument: string; value: Tensor; analytic: Tensor }[] = [];
    if (inputs) targets.push({ argument: 'input', value: x, analytic: dx.clone('float64') });
    // A learning rule's own parameters (Kolen-Pollack's B) get the rule's update, not a loss gradient.
    if (params) for (const p of layer.params().filter((q) => !q.feedback)) targets.push({ argument: p.name, value: p.value, analytic: p.grad.clone('float64') });

    const mismatches: GradMismatch[] = [];
    let checked = 0, maxError = 0;
    for (const { argument, value, analytic } of targets) {
      for (const i of elementsToCheck(value.size, maxElements, rng)) {
        const orig = value.data[i]!;
        value.data[i] = orig + eps;
        const plus = objective();
        value.data[i] = orig - eps;
        const minus = objective();
        value.data[i] = orig;
        const numeric = (plus - minus) / (2 * eps);
        const a = analytic.data[i]!;
        const diff = Math.abs(a - numeric);
        checked++;
        maxError = Math.max(maxError, diff / Math.max(1, Math.abs(numeric)));
        if (!(diff <= atol + rtol * Math.max(Math.abs(a), Math.abs(numeric)))) mismatches.push({ argument, index: i, expected: numeric, received: a });
      }
    }
    return { layer: layer.describe(), checked, maxError, mismatches, ok: mismatches.length === 0 };
  } finally {
    layer.params().forEach((p, k) => p.cast(originalDtypes[k]!));
  }
}

/**
 * Runs {@link gradCheck} and throws a {@link GradCheckError} describing the first mismatch; for
 * tests.
 *
 * @example
 * ```ts
 * import { GradCheckError, Rng, Sequential, Dense, Tanh, Tensor, assertGradCheck } from 'asymprop';
 *
 * const rng = new Rng(1);
 * const model = new Sequential([new Dense(4, 3, { rng }), new Tanh(), new Dense(3, 2, { rng })]);
 * const x = Tensor.from([[0.1, 0.2, -0.3, 0.4]]);
 * console.log(assertGradCheck(model, x).checked); // 27: 4 inputs and 23 parameters
 *
 * // A deliberately wrong backward pass is caught, naming the argument, the index and both values.
 * model.backward = (dy) => Tensor.zeros([dy.shape[0]!, 4]);
 * try {
 *   assertGradCheck(model, x);
 * } catch (e) {
 *   if (e instanceof GradCheckError) console.log(e.result.mismatches[0]?.argument); // input
 * }
 * ```
 */
export function assertGradCheck(layer: Layer, input: Tensor, options: GradCheckOptions = {}): GradCheckResult {
  const result = gradCheck(layer, input, options);
  if (!result.ok) throw new GradCheckError(result);
  return result;
}

function elementsToCheck(size: number, max: number, rng: Rng): Iterable<number> {
  if (size <= max) return Array.from({ length: size }, (_, i) => i);
  return Array.from(rng.permutation(size).subarray(0, max));
}
