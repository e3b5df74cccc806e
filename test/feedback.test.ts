import { describe, expect, it } from 'vitest';
import {
  ConfigError,
  DataFormatError,
  Dense,
  methods,
  ReLU,
  Rng,
  SGD,
  Sequential,
  Tensor,
  batchManhattan,
  brsf,
  decodeArray,
  feedbackAlignment,
  feedbackByName,
  feedbackFromSpec,
  frsf,
  heNormal,
  mlp,
  randomFeedback,
  signConcordant,
  softmaxCrossEntropy,
  symmetric,
  trainStep,
  usf,
  xavierUniform,
  type Feedback,
  type FeedbackSite,
  type FeedbackSpec,
  type FeedbackStrategy,
  type Initializer,
  type Storage,
} from '../src/index.js';
import { randn } from './helpers.js';

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

const fa = randomFeedback;

/** sign with sign(0) = 0, the protocol's definition. */
const sgn = (x: number): number => (x > 0 ? 1 : x < 0 ? -1 : 0);

/** What the hooks of a binding made outside any layer get: the layer-wise rules do not read their site. */
const NO_SITE = null as unknown as FeedbackSite;

/** Binds a strategy to a weight of `shape` ([out, in]) outside any layer, with its own seeded generator. */
function bindTo(strategy: FeedbackStrategy, shape: [number, number], seed: number | string = 1, init: Initializer = heNormal()): Feedback {
  return strategy.bind({ kind: 'dense', dtype: 'float32', shape, fanIn: shape[1], fanOut: shape[0], init, rng: new Rng(seed), layer: 'test layer' });
}

/** A float32 weight with a few entries set to exactly zero. */
function weightWithZeros(shape: [number, number], seed: number, zeros: readonly number[]): Tensor {
  const w = randn(shape, seed, 'float32');
  for (const i of zeros) w.data[i] = 0;
  return w;
}

/** A copy of V (matrix() may hand back a buffer it reuses on the next call). */
const snapshot = (t: Tensor): Float64Array => Float64Array.from(t.data);

function mean(a: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]!;
  return s / a.length;
}

function std(a: ArrayLike<number>): number {
  const m = mean(a);
  let s = 0;
  for (let i = 0; i < a.length; i++) s += (a[i]! - m) ** 2;
  return Math.sqrt(s / a.length);
}

/** Elementwise equality (0 === -0), reporting the first differing index. */
function expectSameValues(actual: ArrayLike<number>, expected: ArrayLike<number>, what = 'values'): void {
  expect(actual.length, `${what}: length`).toBe(expected.length);
  for (let i = 0; i < actual.length; i++) {
    if (actual[i] !== expected[i]) expect(actual[i], `${what}[${i}]`).toBe(expected[i]);
  }
}

/** Elementwise closeness with an absolute tolerance, reporting the first offending index. */
function expectClose(actual: ArrayLike<number>, expected: ArrayLike<number>, tol: number, what = 'values'): void {
  expect(actual.length, `${what}: length`).toBe(expected.length);
  for (let i = 0; i < actual.length; i++) {
    if (!(Math.abs(actual[i]! - expected[i]!) <= tol)) {
      expect.fail(`${what}[${i}]: expected ${expected[i]} ± ${tol}, received ${actual[i]}`);
    }
  }
}

/** Byte-for-byte equality of two typed arrays. */
function sameBits(a: Storage, b: Storage): boolean {
  return a.constructor === b.constructor && Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
}

/** Catches a ConfigError and checks that it names the option and the offending value. */
function expectConfigError(fn: () => unknown, option: string, valueText: string): void {
  let caught: unknown;
  try {
    fn();
  } catch (e) {
    caught = e;
  }
  expect(caught, `expected a ConfigError for ${option} = ${valueText}`).toBeInstanceOf(ConfigError);
  const e = caught as ConfigError;
  expect(e.option).toBe(option);
  expect(e.message).toContain(option);
  expect(e.message).toContain(valueText);
}

/** A seeded classification batch. */
function batch(seed: number, n: number, features: number, classes: number, dtype: 'float32' | 'float64' = 'float32') {
  const x = randn([n, features], `x:${seed}`, dtype);
  const r = new Rng(`labels:${seed}`);
  const labels = Int32Array.from({ length: n }, () => r.int(classes));
  return { x, labels };
}

/** `a [r×k] · b [k×c]` with plain loops in float64. */
function matmulRef(a: ArrayLike<number>, b: ArrayLike<number>, r: number, k: number, c: number): Float64Array {
  const out = new Float64Array(r * c);
  for (let i = 0; i < r; i++) for (let j = 0; j < c; j++) {
    let s = 0;
    for (let p = 0; p < k; p++) s += a[i * k + p]! * b[p * c + j]!;
    out[i * c + j] = s;
  }
  return out;
}

/** `aᵀ b` for a [r×m], b [r×n] → [m×n]. */
function matmulTNRef(a: ArrayLike<number>, b: ArrayLike<number>, r: number, m: number, n: number): Float64Array {
  const out = new Float64Array(m * n);
  for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) {
    let s = 0;
    for (let p = 0; p < r; p++) s += a[p * m + i]! * b[p * n + j]!;
    out[i * n + j] = s;
  }
  return out;
}

/** Indices where sign(V) differs from sign(W). */
function disagreements(v: ArrayLike<number>, w: ArrayLike<number>): number[] {
  const out: number[] = [];
  for (let i = 0; i < v.length; i++) if (sgn(v[i]!) !== sgn(w[i]!)) out.push(i);
  return out;
}

/** The dense layers of a model, by index. */
function denseLayers(model: Sequential): { index: string; layer: Dense }[] {
  return model.feedbackLayers().map(({ index, layer }) => ({ index, layer: layer as Dense }));
}

const SGD_OPTIONS = { lr: 0.05, momentum: 0.9, weightDecay: 1e-4 } as const;

function smallMlp(seed: number, feedback: FeedbackStrategy | ((i: number) => FeedbackStrategy)): Sequential {
  return mlp({ rng: new Rng(seed), feedback, hidden: [16], inputShape: [8], classes: 3 });
}

// ---------------------------------------------------------------------------------------------
// 1. symmetric
// ---------------------------------------------------------------------------------------------

describe('symmetric (bp): V = W', () => {
  it('hands back W itself, the same object, before and after steps', () => {
    const w = randn([6, 5], 1, 'float32');
    const fb = bindTo(symmetric(), [6, 5]);
    expect(fb.strategy.name).toBe('bp');
    expect(fb.strategy.spec).toEqual({ type: 'symmetric', flip: 0 });
    expect(fb.matrix(w)!).toBe(w);
    fb.afterUpdate(NO_SITE);
    expect(fb.matrix(w)!).toBe(w);

    const layer = new Dense(5, 6, { rng: new Rng(2) });
    expect(layer.feedback.strategy.name).toBe('bp'); // the default strategy
    expect(layer.feedback.matrix(layer.weight.value)!).toBe(layer.weight.value);
  });

  it.each([0.1, 0.25, 0.5, 1])('with flip %s: V = W with exactly round(flip·n) signs flipped, |V| = |W|', (flip) => {
    const shape: [number, number] = [12, 25];
    const n = 300;
    const w = randn(shape, 3, 'float32');
    const v = bindTo(symmetric({ flip }), shape).matrix(w)!;
    expect(v).not.toBe(w);
    let flipped = 0;
    for (let i = 0; i < n; i++) {
      expect(Math.abs(v.data[i]!)).toBe(Math.abs(w.data[i]!));
      if (v.data[i] === -w.data[i]! && w.data[i] !== 0) flipped++;
      else expect(v.data[i]).toBe(w.data[i]);
    }
    expect(flipped).toBe(Math.round(flip * n));
  });
});

// ---------------------------------------------------------------------------------------------
// 2. usf
// ---------------------------------------------------------------------------------------------

describe('usf: V = sign(W)', () => {
  it('is exactly sign(W), with sign(0) = 0', () => {
    const w = weightWithZeros([7, 9], 4, [0, 5, 13, 62]);
    const v = bindTo(usf(), [7, 9]).matrix(w)!;
    expect(v.dtype).toBe(w.dtype);
    expectSameValues(v.data, Array.from(w.data, sgn), 'V');
    for (const i of [0, 5, 13, 62]) expect(v.data[i]).toBe(0);
    expect(usf().name).toBe('usf');
  });

  it('is recomputed from the current W', () => {
    const w = randn([5, 6], 5, 'float64');
    const fb = bindTo(usf(), [5, 6]);
    expectSameValues(fb.matrix(w)!.data, Array.from(w.data, sgn), 'V before');
    w.data[0] = -w.data[0]!;
    w.data[3] = 0;
    w.data[7] = -7.5;
    w.data[11] = 1e-30;
    fb.afterUpdate(NO_SITE);
    const v = fb.matrix(w)!;
    expectSameValues(v.data, Array.from(w.data, sgn), 'V after W changed');
    expect(v.data[3]).toBe(0);
    expect(v.data[7]).toBe(-1);
    expect(v.data[11]).toBe(1);
  });
});

// ---------------------------------------------------------------------------------------------
// 3. brsf
// ---------------------------------------------------------------------------------------------

describe('brsf: V = M ∘ sign(W), M redrawn after every step', () => {
  const shape: [number, number] = [40, 50];
  const zeros = [0, 17, 333, 1999];

  it('V = M ∘ sign(W) with M in [0, 1), magnitudes varying, zero where W is zero', () => {
    const w = weightWithZeros(shape, 6, zeros);
    const v = snapshot(bindTo(brsf(), shape).matrix(w)!);
    const mags: number[] = [];
    for (let i = 0; i < v.length; i++) {
      if (w.data[i] === 0) {
        expect(v[i]).toBe(0);
        continue;
      }
      expect(sgn(v[i]!)).toBe(sgn(w.data[i]!));
      expect(Math.abs(v[i]!)).toBeGreaterThanOrEqual(0);
      expect(Math.abs(v[i]!)).toBeLessThan(1);
      mags.push(Math.abs(v[i]!));
    }
    expect(new Set(mags).size).toBeGreaterThan(mags.length * 0.9); // |V| varies, unlike usf
    expect(mean(mags)).toBeCloseTo(0.5, 1); // U[0, 1)
    expect(std(mags)).toBeCloseTo(Math.sqrt(1 / 12), 1);
  });

  it('M is constant within a step and redrawn after every afterStep (same signs)', () => {
    const w = weightWithZeros(shape, 7, zeros);
    const fb = bindTo(brsf(), shape);
    const v1 = snapshot(fb.matrix(w)!);
    const v2 = snapshot(fb.matrix(w)!);
    expectSameValues(v2, v1, 'V within one step');

    fb.afterUpdate(NO_SITE);
    const v3 = snapshot(fb.matrix(w)!);
    fb.afterUpdate(NO_SITE);
    const v4 = snapshot(fb.matrix(w)!);
    for (const [a, b, what] of [[v1, v3, 'step 0 → 1'], [v3, v4, 'step 1 → 2']] as const) {
      let changed = 0;
      for (let i = 0; i < a.length; i++) {
        expect(sgn(b[i]!), `${what}: sign at ${i}`).toBe(sgn(a[i]!));
        if (a[i] !== b[i]) changed++;
      }
      expect(changed, what).toBeGreaterThan(0.99 * (a.length - zeros.length));
    }
  });

  describe('magnitude laws (large W for the statistics)', () => {
    const big: [number, number] = [300, 500];
    const w = randn(big, 8, 'float32');

    it("'abs-normal': |V| ≥ 0 with mean ≈ √(2/π)", () => {
      const fb = bindTo(brsf({ magnitude: 'abs-normal' }), big, 9);
      const v = fb.matrix(w)!.data;
      const mags = Float64Array.from(v, Math.abs);
      for (let i = 0; i < v.length; i++) if (sgn(v[i]!) !== sgn(w.data[i]!) && v[i] !== 0) expect.fail(`sign differs at ${i}`);
      expect(mags.every((m) => m >= 0)).toBe(true);
      expect(Math.abs(mean(mags) - Math.sqrt(2 / Math.PI))).toBeLessThan(0.01); // standard error ≈ 0.0016
      expect(Math.abs(std(mags) - Math.sqrt(1 - 2 / Math.PI))).toBeLessThan(0.01);
    });

    it("'lognormal': log|V| has mean ≈ 0 and std ≈ 2, redrawn after a step", () => {
      const fb = bindTo(brsf({ magnitude: 'lognormal' }), big, 10);
      for (let step = 0; step < 2; step++) {
        const v = fb.matrix(w)!.data;
        const logs = Float64Array.from(v, (x) => Math.log(Math.abs(x)));
        expect(Math.abs(mean(logs))).toBeLessThan(0.03); // standard error ≈ 0.005
        expect(Math.abs(std(logs) - 2)).toBeLessThan(0.03);
        fb.afterUpdate(NO_SITE);
      }
      expect(brsf({ magnitude: 'lognormal' }).name).toBe('brsf(lognormal)');
    });

    it('{ constant: 10 }: |V| = 10 wherever W ≠ 0, 0 where W = 0', () => {
      const wz = weightWithZeros([20, 30], 11, [1, 2, 599]);
      const fb = bindTo(brsf({ magnitude: { constant: 10 } }), [20, 30]);
      for (let step = 0; step < 2; step++) {
        expectSameValues(fb.matrix(wz)!.data, Array.from(wz.data, (x) => 10 * sgn(x)), `V at step ${step}`);
        fb.afterUpdate(NO_SITE);
      }
    });
  });

  // Regression: M is stored in float32, and a float64 draw in [1 − 2⁻²⁵, 1) used to round to
  // exactly 1.0f (about once in 3·10⁷ draws; with Rng(1) the 8,165,289th). Uniform magnitudes are
  // now drawn on the 2⁻²⁴ grid, exact in float32, so M stays in [0, 1).
  it('M stays strictly below 1 over many redraws (uniform law stored in float32)', () => {
    const side = 1024; // 2²⁰ magnitudes per draw
    const fb = bindTo(brsf(), [side, side], 1);
    const w = Tensor.full([side, side], 0.5); // sign(W) = 1 everywhere, so V = M
    let max = 0;
    for (let step = 0; step < 8 && max < 1; step++) {
      const v = fb.matrix(w)!.data;
      for (let i = 0; i < v.length; i++) if (v[i]! > max) max = v[i]!;
      fb.afterUpdate(NO_SITE);
    }
    expect(max).toBeLessThan(1);
  });
});

// ---------------------------------------------------------------------------------------------
// 4. frsf
// ---------------------------------------------------------------------------------------------

describe('frsf: V = M ∘ sign(W), M drawn once', () => {
  it('afterStep does not change V for an unchanged W', () => {
    const w = randn([20, 30], 12, 'float32');
    const fb = bindTo(frsf(), [20, 30]);
    const v0 = snapshot(fb.matrix(w)!);
    for (let i = 0; i < v0.length; i++) {
      expect(sgn(v0[i]!)).toBe(sgn(w.data[i]!));
      expect(Math.abs(v0[i]!)).toBeLessThan(1);
    }
    expect(new Set(Array.from(v0, Math.abs)).size).toBeGreaterThan(500); // random magnitudes
    for (let s = 0; s < 3; s++) fb.afterUpdate(NO_SITE);
    expectSameValues(fb.matrix(w)!.data, v0, 'V after three steps');
  });

  it("V's sign follows W's sign at an entry and its magnitude stays", () => {
    const w = randn([20, 30], 13, 'float32');
    const fb = bindTo(frsf(), [20, 30]);
    const v0 = snapshot(fb.matrix(w)!);
    const changed = [3, 17, 100, 599];
    for (const i of changed) w.data[i] = -0.5 * w.data[i]!; // new sign, new magnitude
    fb.afterUpdate(NO_SITE);
    const v1 = fb.matrix(w)!.data;
    for (let i = 0; i < v1.length; i++) {
      if (changed.includes(i)) {
        expect(v1[i]).toBe(-v0[i]!);
        expect(sgn(v1[i]!)).toBe(sgn(w.data[i]!));
      } else {
        expect(v1[i]).toBe(v0[i]);
      }
    }
  });
});

// ---------------------------------------------------------------------------------------------
// 5. random feedback (fa)
// ---------------------------------------------------------------------------------------------

describe('randomFeedback (fa): V = B, fixed, independent of W', () => {
  const layer = new Dense(500, 300, { rng: new Rng(14), feedback: randomFeedback() });
  const w = layer.weight.value;
  const b = snapshot(layer.feedback.matrix(w)!);

  it('B is He-normal, N(0, 2/fanIn), like W', () => {
    expect(layer.feedback.strategy.name).toBe('fa');
    expect(Math.abs(mean(b))).toBeLessThan(1e-3); // standard error ≈ 1.6e-4
    expect(Math.abs(std(b) / Math.sqrt(2 / 500) - 1)).toBeLessThan(0.02);
  });

  it('B has no relation to W: sign concordance ≈ 0.5 and correlation ≈ 0', () => {
    const agree = b.length - disagreements(b, w.data).length;
    expect(Math.abs(agree / b.length - 0.5)).toBeLessThan(0.01);
    let dot = 0;
    for (let i = 0; i < b.length; i++) dot += b[i]! * w.data[i]!;
    const corr = dot / (b.length * std(b) * std(w.data));
    expect(Math.abs(corr)).toBeLessThan(0.02);
  });

  it('changing W or stepping does not change V', () => {
    const copy = Float32Array.from(w.data);
    try {
      for (let i = 0; i < w.data.length; i += 3) w.data[i] = -2 * w.data[i]! + 0.1;
      w.data[5] = 0;
      layer.feedback.afterUpdate(layer);
      expectSameValues(layer.feedback.matrix(w)!.data, b, 'B after W changed');
    } finally {
      w.data.set(copy);
    }
  });

  it('B is drawn with the layer initialiser (xavier-uniform here)', () => {
    const a = Math.sqrt(6 / (40 + 30));
    const d = new Dense(40, 30, { rng: new Rng(15), init: xavierUniform(), feedback: fa() });
    const v = d.feedback.matrix(d.weight.value)!.data;
    for (const x of v) expect(Math.abs(x)).toBeLessThan(a);
    expect(Math.abs(std(v) - a / Math.sqrt(3))).toBeLessThan(0.1 * a);
    expect(feedbackAlignment).toBe(randomFeedback);
  });
});

describe('sign-concordant V of long float32 weights (the WebAssembly SIMD kernel): bit for bit M ∘ sign(W)', () => {
  const cases: [string, () => FeedbackStrategy, [number, number]][] = [
    ['usf', () => usf(), [301, 7]],
    ['usf(const-0.1)', () => signConcordant({ magnitude: { constant: 0.1 } }), [301, 7]],
    // A constant beyond float32's range: ∞ where W ≠ 0 and 0 where W = 0 (∞·0 would be NaN).
    ['usf(const-1e39)', () => signConcordant({ magnitude: { constant: 1e39 } }), [301, 7]],
    ['brsf', () => brsf(), [301, 7]],
    ['brsf, more than one chunk of 65,536', () => brsf(), [300, 230]],
    ['frsf(lognormal)', () => frsf({ magnitude: 'lognormal' }), [129, 5]],
    ['brsf, flip 0.25', () => brsf({ flip: 0.25 }), [301, 7]],
  ];
  it.each(cases)('%s', (_, make, shape) => {
    const strategy = make();
    const w = randn(shape, 77, 'float32');
    const special = [0, -0, NaN, Infinity, -Infinity, 1e-45, -1e-45, 3e38, -2];
    special.forEach((v, k) => (w.data[13 * k + 1] = v));
    const f = bindTo(strategy, shape, 5);
    for (let step = 0; step < 2; step++) {
      const v = f.matrix(w)!.data;
      const { arrays } = f.state();
      const m = arrays['magnitudes'] ? decodeArray(arrays['magnitudes']) : null;
      const mask = arrays['flip'] ? decodeArray(arrays['flip']) : null;
      const c = strategy.spec.type === 'sign-concordant' && typeof strategy.spec.magnitude === 'object' ? strategy.spec.magnitude.constant : NaN;
      for (let i = 0; i < w.size; i++) {
        const wi = w.data[i]!;
        let expected = Math.fround((m ? m[i]! : c) * (+(wi > 0) - +(wi < 0)));
        if (mask) expected *= mask[i]!;
        if (!Object.is(v[i], expected)) throw new Error(`step ${step + 1}, V[${i}] = ${v[i]}, expected ${expected} (w = ${wi}, m = ${m ? m[i] : c})`);
      }
      f.afterUpdate(NO_SITE); // brsf: new magnitudes for the second round
    }
  });
});

// ---------------------------------------------------------------------------------------------
// 6. partial sign concordance (flip)
// ---------------------------------------------------------------------------------------------

describe('flip: a fixed random mask flips round(flip·n) feedback signs', () => {
  const shape: [number, number] = [30, 40];
  const n = 1200;
  const w = randn(shape, 16, 'float32');
  const factories: [string, (o: { flip: number }) => FeedbackStrategy][] = [
    ['bp', (o) => symmetric(o)],
    ['usf', (o) => usf(o)],
    ['brsf', (o) => brsf(o)],
    ['frsf', (o) => frsf(o)],
    ['bm+usf', (o) => batchManhattan(usf(o))],
  ];

  it('the weight has no zeros (so every sign is ±1)', () => {
    expect(w.data.every((x) => x !== 0)).toBe(true);
  });

  describe.each(factories)('%s', (_name, make) => {
    it.each([0, 0.1, 0.25, 0.5, 1])('flip %s: the fraction of disagreeing signs is exactly round(flip·n)/n, fixed across steps', (flip) => {
      const fb = bindTo(make({ flip }), shape, 17);
      const first = disagreements(fb.matrix(w)!.data, w.data);
      expect(first.length / n).toBe(Math.round(flip * n) / n);
      for (let s = 0; s < 3; s++) {
        fb.afterUpdate(NO_SITE);
        expect(disagreements(fb.matrix(w)!.data, w.data), `after step ${s + 1}`).toEqual(first);
      }
      // The mask belongs to V's entries, not to W's values: negate W, the same entries disagree.
      const neg = new Tensor(Float32Array.from(w.data, (x) => -x), w.shape);
      expect(disagreements(fb.matrix(neg)!.data, neg.data)).toEqual(first);
    });

    it('rounds flip·n to the nearest count when it is not an integer (n = 63)', () => {
      const odd = randn([7, 9], 42, 'float32');
      // 0.1·63 = 6.3 → 6, 0.25·63 = 15.75 → 16, 0.5·63 = 31.5 → 32, 0.75·63 = 47.25 → 47
      for (const [flip, count] of [[0.1, 6], [0.25, 16], [0.5, 32], [0.75, 47]] as const) {
        expect(disagreements(bindTo(make({ flip }), [7, 9], 43).matrix(odd)!.data, odd.data).length, `flip ${flip}`).toBe(count);
      }
    });
  });

  it('brsf with flip: magnitudes are redrawn while the mask stays', () => {
    const fb = bindTo(brsf({ flip: 0.25 }), shape, 18);
    const v0 = snapshot(fb.matrix(w)!);
    fb.afterUpdate(NO_SITE);
    const v1 = snapshot(fb.matrix(w)!);
    let changed = 0;
    for (let i = 0; i < n; i++) if (v0[i] !== v1[i]) changed++;
    expect(changed).toBeGreaterThan(0.99 * n);
    expect(disagreements(v1, w.data)).toEqual(disagreements(v0, w.data));
  });

  it('fa with flip flips round(flip·n) signs of the same B', () => {
    for (const flip of [0.1, 0.5, 1]) {
      const plain = bindTo(fa(), shape, 19).matrix(w)!.data;
      const flipped = bindTo(fa({ flip }), shape, 19).matrix(w)!.data;
      let count = 0;
      for (let i = 0; i < n; i++) {
        expect(Math.abs(flipped[i]!)).toBe(Math.abs(plain[i]!));
        if (flipped[i] !== plain[i]) count++;
      }
      expect(count).toBe(Math.round(flip * n));
    }
  });

  it.each([
    ['symmetric', (flip: unknown) => symmetric({ flip: flip as number })],
    ['usf', (flip: unknown) => usf({ flip: flip as number })],
    ['brsf', (flip: unknown) => brsf({ flip: flip as number })],
    ['frsf', (flip: unknown) => frsf({ flip: flip as number })],
    ['signConcordant', (flip: unknown) => signConcordant({ flip: flip as number })],
    ['randomFeedback', (flip: unknown) => randomFeedback({ flip: flip as number })],
    ['feedbackByName', (flip: unknown) => feedbackByName('brsf', { flip: flip as number })],
  ])('%s rejects flip outside [0, 1], NaN and negative values with a ConfigError naming flip', (_name, make) => {
    for (const [flip, text] of [[-0.1, '-0.1'], [1.5, '1.5'], [-1, '-1'], [NaN, 'NaN'], [Infinity, 'Infinity'], ['0.5', '"0.5"']] as const) {
      expectConfigError(() => make(flip), 'flip', text);
    }
  });
});

// ---------------------------------------------------------------------------------------------
// 7. Batch Manhattan
// ---------------------------------------------------------------------------------------------

describe('batchManhattan(inner)', () => {
  it("matrix is the inner strategy's V", () => {
    const w = weightWithZeros([6, 7], 20, [2, 9]);
    expectSameValues(bindTo(batchManhattan(usf()), [6, 7]).matrix(w)!.data, Array.from(w.data, sgn), 'bm+usf V');
    expect(bindTo(batchManhattan(symmetric()), [6, 7]).matrix(w)!).toBe(w);
    expect(bindTo(batchManhattan(), [6, 7]).matrix(w)!).toBe(w); // default inner: symmetric

    // brsf inside BM: same V as brsf alone from the same generator, and redrawn the same way.
    const plain = bindTo(brsf(), [6, 7], 21);
    const bm = bindTo(batchManhattan(brsf()), [6, 7], 21);
    for (let s = 0; s < 3; s++) {
      expectSameValues(bm.matrix(w)!.data, snapshot(plain.matrix(w)!), `bm+brsf V at step ${s}`);
      bm.afterUpdate(NO_SITE);
      plain.afterUpdate(NO_SITE);
    }
    const a = bindTo(batchManhattan(fa()), [6, 7], 22).matrix(w)!.data;
    expectSameValues(a, snapshot(bindTo(fa(), [6, 7], 22).matrix(w)!), 'bm+fa V');
  });

  it('shapeGradients replaces every parameter gradient (weight and bias) by its sign, sign(0) = 0', () => {
    const layer = new Dense(4, 3, { rng: new Rng(23), feedback: batchManhattan(usf()) });
    const wg = [0.3, -2e-9, 0, 5, -0.5, 0, 1e-30, -7, 0.25, 0, -1, 2];
    const bg = [0, -0.01, 3e5];
    layer.weight.grad.data.set(wg);
    layer.bias!.grad.data.set(bg);
    layer.feedback.beforeUpdate(layer, { manhattan: false });
    expectSameValues(layer.weight.grad.data, wg.map(sgn), 'weight grad');
    expectSameValues(layer.bias!.grad.data, bg.map(sgn), 'bias grad');

    // Without BM the gradients are left alone.
    const plain = new Dense(4, 3, { rng: new Rng(23), feedback: usf() });
    plain.weight.grad.data.set(wg);
    plain.feedback.beforeUpdate(plain, { manhattan: false });
    expectSameValues(plain.weight.grad.data, Float32Array.from(wg), 'usf leaves the gradient');
  });

  it('the spec nests the inner spec; the name says bm+inner', () => {
    expect(batchManhattan(usf()).spec).toEqual({ type: 'batch-manhattan', inner: usf().spec });
    expect(batchManhattan(usf()).name).toBe('bm+usf');
    expect(batchManhattan().spec).toEqual({ type: 'batch-manhattan', inner: { type: 'symmetric', flip: 0 } });
    expect(batchManhattan(brsf({ flip: 0.25 })).spec).toEqual({
      type: 'batch-manhattan',
      inner: { type: 'sign-concordant', magnitude: 'uniform', redraw: 'batch', flip: 0.25 },
    });
  });

  it('batchManhattan(signConcordant()) is one strategy value usable by several Dense layers', () => {
    const s = batchManhattan(signConcordant());
    const rng = new Rng(24);
    const a = new Dense(3, 4, { rng, feedback: s });
    const b = new Dense(4, 2, { rng, feedback: s });
    expect(a.feedback.strategy).toBe(s);
    expect(b.feedback.strategy).toBe(s);
    expect(a.feedback).not.toBe(b.feedback); // each layer binds its own
    expectSameValues(b.feedback.matrix(b.weight.value)!.data, Array.from(b.weight.value.data, sgn), 'V of the second layer');
  });

  describe('end to end: trainStep + SGD(momentum 0.9, weight decay 1e-4) applies the BM rule', () => {
    const lr = 0.01;
    const mu = 0.9;
    const lambda = 1e-4;
    const net = (feedback: FeedbackStrategy): Sequential => {
      const rng = new Rng(25);
      return new Sequential([new Dense(6, 5, { rng, feedback }), new ReLU(), new Dense(5, 3, { rng, feedback })], [6]).cast('float64');
    };
    /** Gradients of a model at the given weights on a batch (no step taken). */
    const gradients = (model: Sequential, weights: Float64Array[], x: Tensor, labels: Int32Array): Float64Array[] => {
      model.params().forEach((p, k) => p.value.data.set(weights[k]!));
      model.zeroGrad();
      model.backward(softmaxCrossEntropy(model.forward(x, true), labels).grad);
      return model.params().map((p) => Float64Array.from(p.grad.data));
    };

    it.each([
      ['bp', () => symmetric()],
      ['usf', () => usf()],
      ['brsf', () => brsf()],
      ['fa', () => fa()],
    ])('bm+%s: w ← w − lr·buf, buf = μ·buf + sign(g) + λ·w, with g the mini-batch gradient', (name, inner) => {
      const model = net(batchManhattan(inner()));
      const reference = net(inner()); // same seed: same weights and same feedback draws, no BM
      const truth = net(symmetric()); // same weights, true gradients
      expect(model.params().every((p) => p.value.dtype === 'float64')).toBe(true);
      const opt = new SGD(model.params(), { lr, momentum: mu, weightDecay: lambda });
      const names = model.params().map((p) => p.name);
      expect(names).toEqual(['0.weight', '0.bias', '2.weight', '2.bias']);
      let buf: Float64Array[] | null = null;

      for (let step = 0; step < 2; step++) {
        const { x, labels } = batch(300 + step, 8, 6, 3, 'float64');
        const w0 = model.params().map((p) => Float64Array.from(p.value.data));
        const g = gradients(reference, w0, x, labels);
        const gTrue = gradients(truth, w0, x, labels);
        // The output layer receives the true error, so its gradient is the true one for every strategy.
        expectClose(g[2]!, gTrue[2]!, 1e-15, 'output weight gradient');
        expectClose(g[3]!, gTrue[3]!, 1e-15, 'output bias gradient');
        if (name === 'bp') g.forEach((gk, k) => expectClose(gk, gTrue[k]!, 1e-15, `${names[k]} gradient`));

        const result = trainStep(model, opt, x, labels);
        expect(Number.isFinite(result.loss)).toBe(true);
        reference.afterUpdate(); // keep brsf's redraws in step with the model's

        const nextBuf: Float64Array[] = w0.map((wk, k) =>
          Float64Array.from(wk, (wi, i) => (buf ? mu * buf[k]![i]! : 0) + (sgn(g[k]![i]!) + lambda * wi)),
        );
        model.params().forEach((p, k) => {
          const expected = Float64Array.from(w0[k]!, (wi, i) => wi - lr * nextBuf[k]![i]!);
          expectClose(p.value.data, expected, 1e-15, `step ${step + 1}: ${p.name}`);
          if (step === 0) {
            // The protocol's rule written out: Δw = −lr·(sign(g) + λ·w0) on the first step.
            const delta = Float64Array.from(p.value.data, (wi, i) => wi - w0[k]![i]!);
            expectClose(delta, Float64Array.from(w0[k]!, (wi, i) => -lr * (sgn(g[k]![i]!) + lambda * wi)), 1e-15, `Δ${p.name}`);
          }
        });
        // Sanity: the step is a sign step (|Δw| ≈ lr where g ≠ 0), not a gradient step.
        const nonzero = g[0]!.filter((x) => x !== 0).length;
        expect(nonzero).toBeGreaterThan(0);
        buf = nextBuf;
      }
    });
  });
});

// ---------------------------------------------------------------------------------------------
// 8. through a Dense layer: dX = dY·V, dW = dYᵀX, db = Σ dY
// ---------------------------------------------------------------------------------------------

const LAYER_STRATEGIES: [string, () => FeedbackStrategy][] = [
  ['bp', () => symmetric()],
  ['usf', () => usf()],
  ['brsf', () => brsf()],
  ['frsf', () => frsf()],
  ['fa', () => fa()],
  ['bm+bp', () => batchManhattan(symmetric())],
  ['bm+usf', () => batchManhattan(usf())],
  ['bm+brsf', () => batchManhattan(brsf())],
  ['bm+frsf', () => batchManhattan(frsf())],
  ['bm+fa', () => batchManhattan(fa())],
  ['bp flip 0.5', () => symmetric({ flip: 0.5 })],
  ['usf flip 0.25', () => usf({ flip: 0.25 })],
  ['frsf lognormal', () => frsf({ magnitude: 'lognormal' })],
];

describe.each(LAYER_STRATEGIES)('Dense backward with %s', (name, make) => {
  const [n, inF, outF] = [5, 7, 4];

  it('sends dX = dY·V down and keeps the true dW = dYᵀX and db = Σ dY', () => {
    const layer = new Dense(inF, outF, { rng: new Rng(26), feedback: make(), dtype: 'float64' });
    const x = randn([n, inF], 27);
    const dy = randn([n, outF], 28);
    layer.forward(x, true);
    const dx = snapshot(layer.backward(dy));
    const v = snapshot(layer.feedback.matrix(layer.weight.value)!); // M unchanged until afterStep
    expectClose(dx, matmulRef(dy.data, v, n, outF, inF), 1e-12, 'dX');
    expectClose(layer.weight.grad.data, matmulTNRef(dy.data, x.data, n, outF, inF), 1e-12, 'dW');
    const db = new Float64Array(outF);
    for (let i = 0; i < n; i++) for (let j = 0; j < outF; j++) db[j] += dy.data[i * outF + j]!;
    expectClose(layer.bias!.grad.data, db, 1e-12, 'db');

    const trueDx = matmulRef(dy.data, layer.weight.value.data, n, outF, inF);
    const gap = Math.max(...dx.map((d, i) => Math.abs(d - trueDx[i]!)));
    if (name === 'bp' || name === 'bm+bp') expect(gap).toBeLessThan(1e-12);
    else expect(gap).toBeGreaterThan(1e-3); // asymmetric feedback really is used

    // After a step (brsf redraws), the next backward uses the new V.
    layer.feedback.afterUpdate(layer);
    layer.zeroGrad();
    const dx2 = snapshot(layer.backward(dy));
    const v2 = snapshot(layer.feedback.matrix(layer.weight.value)!);
    expectClose(dx2, matmulRef(dy.data, v2, n, outF, inF), 1e-12, 'dX after a step');
    if (name.includes('brsf')) expect(v2).not.toEqual(v);
    else expect(v2).toEqual(v);
  });
});

// ---------------------------------------------------------------------------------------------
// 9. determinism
// ---------------------------------------------------------------------------------------------

function trainSmall(seed: number, feedback: FeedbackStrategy, steps: number, first = 0) {
  const model = smallMlp(seed, feedback);
  const opt = new SGD(model.params(), SGD_OPTIONS);
  for (let s = first; s < first + steps; s++) {
    const { x, labels } = batch(s, 10, 8, 3);
    expect(Number.isFinite(trainStep(model, opt, x, labels).loss)).toBe(true);
  }
  return { model, opt };
}

describe.each([
  ['brsf', () => brsf()],
  ['fa', () => fa()],
  ['bm+frsf', () => batchManhattan(frsf())],
])('determinism with %s', (_name, make) => {
  it('the same seed gives bit-identical weights and feedback states; another seed does not', () => {
    const a = trainSmall(7, make(), 5).model;
    const b = trainSmall(7, make(), 5).model;
    const c = trainSmall(8, make(), 5).model;
    const [pa, pb, pc] = [a.params(), b.params(), c.params()];
    pa.forEach((p, k) => expect(sameBits(p.value.data, pb[k]!.value.data), p.name).toBe(true));
    expect(a.feedbackState()).toEqual(b.feedbackState());
    expect(pa.some((p, k) => !sameBits(p.value.data, pc[k]!.value.data))).toBe(true);
    expect(a.feedbackState()).not.toEqual(c.feedbackState());
    // The model did train: weights moved from their initial values.
    const init = smallMlp(7, make()).params();
    expect(pa.some((p, k) => !sameBits(p.value.data, init[k]!.value.data))).toBe(true);
  });
});

// ---------------------------------------------------------------------------------------------
// 10. serialisation and resume
// ---------------------------------------------------------------------------------------------

const RESUME_STRATEGIES: [string, () => FeedbackStrategy, boolean][] = [
  // [name, strategy, has random feedback state]
  ['bp', () => symmetric(), false],
  ['usf', () => usf(), false],
  ['brsf', () => brsf(), true],
  ['frsf', () => frsf(), true],
  ['fa', () => fa(), true],
  ['bm+bp', () => batchManhattan(symmetric()), false],
  ['bm+usf', () => batchManhattan(usf()), false],
  ['bm+brsf', () => batchManhattan(brsf()), true],
  ['bm+frsf', () => batchManhattan(frsf()), true],
  ['bm+fa', () => batchManhattan(fa()), true],
  ['brsf(flip=0.25)', () => brsf({ flip: 0.25 }), true],
];

describe.each(RESUME_STRATEGIES)('resume with %s', (name, make, random) => {
  it('a model rebuilt from another seed and loaded from JSON continues bit-identically', () => {
    const { model: a, opt: optA } = trainSmall(21, make(), 3, 0);
    expect(a.feedbackLayers()[0]!.layer.feedback.strategy.name).toBe(name);
    const saved = JSON.parse(JSON.stringify({ feedback: a.feedbackState(), optimizer: optA.state() }));
    const params = a.params().map((p) => Float32Array.from(p.value.data));

    const resume = (loadFeedback: boolean) => {
      const m = smallMlp(99, make());
      const o = new SGD(m.params(), SGD_OPTIONS);
      expect(m.params().some((p, k) => !sameBits(p.value.data, params[k]!))).toBe(true); // really another start
      m.params().forEach((p, k) => p.value.data.set(params[k]!));
      if (loadFeedback) m.loadFeedbackState(saved.feedback);
      o.loadState(saved.optimizer);
      return { m, o };
    };
    const { m: b, o: optB } = resume(true);
    expect(b.feedbackState()).toEqual(a.feedbackState());
    const { m: c, o: optC } = resume(false); // control: feedback state not loaded

    for (let s = 3; s < 6; s++) {
      const { x, labels } = batch(s, 10, 8, 3);
      trainStep(a, optA, x, labels);
      trainStep(b, optB, x, labels);
      trainStep(c, optC, x, labels);
    }
    a.params().forEach((p, k) => expect(sameBits(p.value.data, b.params()[k]!.value.data), p.name).toBe(true));
    expect(b.feedbackState()).toEqual(a.feedbackState());
    const controlSame = a.params().every((p, k) => sameBits(p.value.data, c.params()[k]!.value.data));
    expect(controlSame).toBe(!random); // the feedback state matters exactly when it holds random draws
  });

  it('feedbackFromSpec(spec) rebuilds a strategy with the same name, spec and draws', () => {
    const s = make();
    const rebuilt = feedbackFromSpec(JSON.parse(JSON.stringify(s.spec)) as FeedbackSpec);
    expect(rebuilt.name).toBe(s.name);
    expect(rebuilt.spec).toEqual(s.spec);
    const w = randn([6, 5], 29, 'float32');
    expectSameValues(bindTo(rebuilt, [6, 5], 30).matrix(w)!.data, snapshot(bindTo(s, [6, 5], 30).matrix(w)!), 'V');
  });
});

describe('feedback state errors', () => {
  const strategies: [string, () => FeedbackStrategy][] = [
    ['bp', () => symmetric()],
    ['usf', () => usf()],
    ['brsf', () => brsf()],
    ['frsf', () => frsf()],
    ['fa', () => fa()],
    ['bm+usf', () => batchManhattan(usf())],
    ['bm+fa', () => batchManhattan(fa())],
    ['brsf(flip=0.25)', () => brsf({ flip: 0.25 })],
    ['bp(flip=0.5)', () => symmetric({ flip: 0.5 })],
  ];

  it('loading the state of another strategy throws a DataFormatError', () => {
    for (const [from, makeFrom] of strategies) {
      const state = JSON.parse(JSON.stringify(smallMlp(31, makeFrom()).feedbackState()));
      for (const [to, makeTo] of strategies) {
        const target = smallMlp(32, makeTo());
        if (from === to) {
          expect(() => target.loadFeedbackState(state)).not.toThrow();
          continue;
        }
        let caught: unknown;
        try {
          target.loadFeedbackState(state);
        } catch (e) {
          caught = e;
        }
        expect(caught, `${from} → ${to}`).toBeInstanceOf(DataFormatError);
      }
    }
  });

  it('a state with a missing or wrong-sized array throws a DataFormatError', () => {
    const state = JSON.parse(JSON.stringify(smallMlp(33, brsf()).feedbackState()));
    const missing = structuredClone(state);
    delete missing['1'].arrays.magnitudes;
    expect(() => smallMlp(34, brsf()).loadFeedbackState(missing)).toThrow(DataFormatError);
    const wrong = structuredClone(state);
    wrong['1'].arrays.magnitudes = state['3'].arrays.magnitudes; // layer 3's M has another size
    expect(() => smallMlp(34, brsf()).loadFeedbackState(wrong)).toThrow(DataFormatError);
  });

  it('feedbackFromSpec rejects an unknown spec type with a ConfigError', () => {
    expectConfigError(() => feedbackFromSpec({ type: 'mystery' } as unknown as FeedbackSpec), 'feedback spec type', '"mystery"');
  });
});

// ---------------------------------------------------------------------------------------------
// 11. per-layer strategies
// ---------------------------------------------------------------------------------------------

describe('per-layer feedback', () => {
  it('setFeedback with a selector changes only the selected layer', () => {
    const model = mlp({ rng: new Rng(35), feedback: usf(), hidden: [16, 12], inputShape: [8], classes: 3 });
    const before = denseLayers(model).map(({ layer }) => layer.feedback);
    expect(denseLayers(model).map(({ index }) => index)).toEqual(['1', '3', '5']);
    model.setFeedback(fa(), new Rng(36), (index) => index === '1');
    const after = denseLayers(model);
    expect(after.map(({ layer }) => layer.feedback.strategy.name)).toEqual(['fa', 'usf', 'usf']);
    expect(after[1]!.layer.feedback).toBe(before[1]); // untouched, not rebound
    expect(after[2]!.layer.feedback).toBe(before[2]);
    // The new strategy is live: layer 1 now sends B, independent of W.
    const l1 = after[0]!.layer;
    const v = snapshot(l1.feedback.matrix(l1.weight.value)!);
    expect(v).not.toEqual(Float64Array.from(l1.weight.value.data, sgn));
    const { x, labels } = batch(37, 10, 8, 3);
    expect(Number.isFinite(trainStep(model, new SGD(model.params(), SGD_OPTIONS), x, labels).loss)).toBe(true);
  });

  it('mlp takes a function choosing the strategy per dense layer', () => {
    const seen: number[] = [];
    const model = smallMlp(38, (i) => {
      seen.push(i);
      return i === 0 ? usf() : symmetric();
    });
    expect(seen).toEqual([0, 1]);
    const layers = denseLayers(model);
    expect(layers.map(({ index, layer }) => [index, layer.feedback.strategy.name])).toEqual([['1', 'usf'], ['3', 'bp']]);
    const [first, last] = [layers[0]!.layer, layers[1]!.layer];
    expectSameValues(first.feedback.matrix(first.weight.value)!.data, Array.from(first.weight.value.data, sgn), 'V of layer 1');
    expect(last.feedback.matrix(last.weight.value)!).toBe(last.weight.value);
  });
});

// ---------------------------------------------------------------------------------------------
// 12. instrumentation
// ---------------------------------------------------------------------------------------------

describe('instrumentation', () => {
  const run = (feedback: FeedbackStrategy) => {
    const model = mlp({ rng: new Rng(39), feedback, hidden: [64], inputShape: [64], classes: 10 }).instrument(true);
    const { x, labels } = batch(40, 16, 64, 10);
    model.zeroGrad();
    model.backward(softmaxCrossEntropy(model.forward(x, true), labels).grad);
    const stats = model.feedbackStats();
    expect(Object.keys(stats)).toEqual(['1', '3']);
    return { s1: stats['1']!, s3: stats['3']! };
  };

  it('symmetric: angle 0, concordance 1, norm ratio 1, error angle 0 at every layer', () => {
    for (const s of Object.values(run(symmetric()))) {
      expect(s).not.toBeNull();
      expect(s.angleVW).toBeLessThan(1e-3);
      expect(s.signConcordance).toBe(1);
      expect(s.normRatio).toBeCloseTo(1, 12);
      expect(s.errorAngle).toBeLessThan(1e-3);
      expect(s.localErrorAngle).toBeLessThan(1e-3);
    }
  });

  it('usf: concordance 1 and angle(V, W) ≈ arccos(√(2/π)) ≈ 37° for Gaussian W', () => {
    const expected = (Math.acos(Math.sqrt(2 / Math.PI)) * 180) / Math.PI;
    const { s1, s3 } = run(usf());
    for (const s of [s1, s3]) {
      expect(s.signConcordance).toBe(1);
      expect(s.angleVW).toBeGreaterThan(0);
    }
    expect(Math.abs(s1.angleVW - expected)).toBeLessThan(2); // 4096 entries
    expect(Math.abs(s3.angleVW - expected)).toBeLessThan(4); // 640 entries
    expect(s1.errorAngle).toBeGreaterThan(0);
  });

  it('fa: concordance ≈ 0.5, angle(V, W) ≈ 90°, error angle > 0 below the output', () => {
    const { s1, s3 } = run(fa());
    expect(Math.abs(s1.signConcordance - 0.5)).toBeLessThan(0.05);
    expect(Math.abs(s3.signConcordance - 0.5)).toBeLessThan(0.1);
    expect(Math.abs(s1.angleVW - 90)).toBeLessThan(5);
    expect(s1.errorAngle).toBeGreaterThan(10);
    expect(s3.errorAngle).toBeGreaterThan(10);
  });

  it('flip 1.0: concordance 0 (symmetric flip 1 gives V = −W: angle 180°, norm ratio 1)', () => {
    for (const s of Object.values(run(symmetric({ flip: 1 })))) {
      expect(s.signConcordance).toBe(0);
      expect(s.angleVW).toBeCloseTo(180, 3);
      expect(s.normRatio).toBeCloseTo(1, 12);
    }
    for (const s of Object.values(run(usf({ flip: 1 })))) expect(s.signConcordance).toBe(0);
    for (const s of Object.values(run(frsf({ flip: 1 })))) expect(s.signConcordance).toBe(0);
  });
});

// ---------------------------------------------------------------------------------------------
// 13. feedbackByName
// ---------------------------------------------------------------------------------------------

describe('feedbackByName', () => {
  const sc = (magnitude: unknown, redraw: 'fixed' | 'batch', flip = 0) => ({ type: 'sign-concordant', magnitude, redraw, flip });
  const EXPECTED: Record<string, { name: string; spec: object }> = {
    bp: { name: 'bp', spec: { type: 'symmetric', flip: 0 } },
    symmetric: { name: 'bp', spec: { type: 'symmetric', flip: 0 } },
    usf: { name: 'usf', spec: sc({ constant: 1 }, 'fixed') },
    brsf: { name: 'brsf', spec: sc('uniform', 'batch') },
    frsf: { name: 'frsf', spec: sc('uniform', 'fixed') },
    fa: { name: 'fa', spec: { type: 'random', flip: 0 } },
    random: { name: 'fa', spec: { type: 'random', flip: 0 } },
  };

  it.each(methods('protocol').flatMap((m) => [m.name, ...m.aliases]))('%s, alone, with bm and with flip', (name) => {
    const e = EXPECTED[name];
    expect(e, `no expectation for ${name}`).toBeDefined();
    const s = feedbackByName(name);
    expect(s.name).toBe(e!.name);
    expect(s.spec).toEqual(e!.spec);

    const bm = feedbackByName(name, { bm: true });
    expect(bm.name).toBe(`bm+${e!.name}`);
    expect(bm.spec).toEqual({ type: 'batch-manhattan', inner: e!.spec });

    const flipped = feedbackByName(name, { flip: 0.25 });
    expect(flipped.spec).toEqual({ ...e!.spec, flip: 0.25 });
    expect(flipped.name).toBe(`${e!.name}(flip=0.25)`);
    const both = feedbackByName(name, { bm: true, flip: 0.1 });
    expect(both.spec).toEqual({ type: 'batch-manhattan', inner: { ...e!.spec, flip: 0.1 } });
  });

  it('brsf and frsf take a magnitude law, by name or as a value', () => {
    expect(feedbackByName('brsf', { magnitude: 'lognormal' }).spec).toEqual(sc('lognormal', 'batch'));
    expect(feedbackByName('frsf', { magnitude: 'abs-normal' }).spec).toEqual(sc('abs-normal', 'fixed'));
    expect(feedbackByName('brsf', { magnitude: 'const-10' }).spec).toEqual(sc({ constant: 10 }, 'batch'));
    expect(feedbackByName('frsf', { magnitude: 'const-0.1' }).spec).toEqual(sc({ constant: 0.1 }, 'fixed'));
    expect(feedbackByName('frsf', { magnitude: { constant: 0.1 } }).spec).toEqual(sc({ constant: 0.1 }, 'fixed'));
    expect(feedbackByName('brsf', { magnitude: 'uniform' }).spec).toEqual(sc('uniform', 'batch'));
    const all = feedbackByName('brsf', { bm: true, flip: 0.25, magnitude: 'lognormal' });
    expect(all.spec).toEqual({ type: 'batch-manhattan', inner: sc('lognormal', 'batch', 0.25) });
    expect(all.name).toBe('bm+brsf(lognormal)(flip=0.25)');

    // The law is live: const-10 gives |V| = 10.
    const w = randn([4, 5], 41, 'float32');
    expectSameValues(bindTo(feedbackByName('brsf', { magnitude: 'const-10' }), [4, 5]).matrix(w)!.data, Array.from(w.data, (x) => 10 * sgn(x)), 'V');
  });

  it('unknown names throw a ConfigError naming the option and the value', () => {
    for (const name of ['sgd', '', 'BP', 'usf ', 'bm+usf']) expectConfigError(() => feedbackByName(name), 'feedback', JSON.stringify(name));
  });

  it('a magnitude with a method other than brsf/frsf throws a ConfigError naming magnitude and the value', () => {
    for (const name of ['bp', 'symmetric', 'usf', 'fa', 'random']) {
      expectConfigError(() => feedbackByName(name, { magnitude: 'lognormal' }), 'magnitude', '"lognormal"');
      expectConfigError(() => feedbackByName(name, { magnitude: 'const-10' }), 'magnitude', '"const-10"');
      expectConfigError(() => feedbackByName(name, { magnitude: { constant: 10 } }), 'magnitude', '{"constant":10}');
    }
  });

  it('an invalid magnitude law throws a ConfigError naming magnitude and the value', () => {
    for (const m of ['gaussian', 'const-0', 'const-abc', 'const-']) expectConfigError(() => feedbackByName('brsf', { magnitude: m }), 'magnitude', JSON.stringify(m));
    expectConfigError(() => feedbackByName('frsf', { magnitude: { constant: -1 } }), 'magnitude', '{"constant":-1}');
  });
});
