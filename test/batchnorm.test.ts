import { describe, expect, it } from 'vitest';
import {
  BatchNorm,
  BatchNorm1d,
  BatchNorm2d,
  ConfigError,
  Rng,
  Sequential,
  ShapeError,
  StateError,
  Tensor,
  assertGradCheck,
  batchManhattan,
  symmetric,
  usf,
  type FeedbackStrategy,
} from '../src/index.js';
import { expectClose, randn, sgn, thrown } from './helpers.js';

// ---------------------------------------------------------------------------------------------
// Helpers and a loop reference
// ---------------------------------------------------------------------------------------------

/** `[n, c, s]`: batch, channels, spatial positions per channel (1 for `[N, C]`). */
const layout = (shape: readonly number[]) => ({ n: shape[0]!, c: shape[1]!, s: shape.length === 4 ? shape[2]! * shape[3]! : 1 });

/** The values of channel `ch` of an NC or NCHW tensor, in order. */
function channel(t: { data: ArrayLike<number>; shape: readonly number[] }, ch: number): number[] {
  const { n, c, s } = layout(t.shape);
  const out: number[] = [];
  for (let i = 0; i < n; i++) for (let q = 0; q < s; q++) out.push(t.data[(i * c + ch) * s + q]!);
  return out;
}

const mean = (a: readonly number[]) => a.reduce((s, v) => s + v, 0) / a.length;
const biasedVar = (a: readonly number[]) => mean(a.map((v) => (v - mean(a)) ** 2));

/**
 * The BN backward in train mode, from the chain rule through μ and σ², with the scale `v`
 * (γ for the exact backward). Per channel, with m values:
 * dx̂ = dy·v; dσ² = Σ dx̂·(x − μ)·(−½)(σ² + ε)^(−3/2); dμ = −Σ dx̂/√(σ² + ε) + dσ²·(−2/m)Σ(x − μ);
 * dx = dx̂/√(σ² + ε) + dσ²·2(x − μ)/m + dμ/m.
 */
function bnBackwardRef(x: Tensor, dy: Tensor, v: ArrayLike<number>, eps: number): Float64Array {
  const { n, c, s } = layout(x.shape);
  const m = n * s;
  const dx = new Float64Array(x.size);
  for (let ch = 0; ch < c; ch++) {
    const idx: number[] = [];
    for (let i = 0; i < n; i++) for (let q = 0; q < s; q++) idx.push((i * c + ch) * s + q);
    const xs = idx.map((k) => x.data[k]!);
    const mu = mean(xs), varB = biasedVar(xs), sd = Math.sqrt(varB + eps);
    const dxhat = idx.map((k) => dy.data[k]! * v[ch]!);
    let dvar = 0, dmu = 0, sumDev = 0;
    idx.forEach((_k, j) => { dvar += dxhat[j]! * (xs[j]! - mu) * -0.5 * (varB + eps) ** -1.5; sumDev += xs[j]! - mu; });
    idx.forEach((_k, j) => { dmu += -dxhat[j]! / sd; });
    dmu += (dvar * -2 * sumDev) / m;
    idx.forEach((k, j) => { dx[k] = dxhat[j]! / sd + (dvar * 2 * (xs[j]! - mu)) / m + dmu / m; });
  }
  return dx;
}

function makeBn(c: number, seed: number | string, feedback?: FeedbackStrategy): BatchNorm {
  const bn = new BatchNorm(c, { rng: new Rng(seed), dtype: 'float64', ...(feedback ? { feedback } : {}) });
  bn.gamma.value.data.set(randn([c], `gamma:${seed}`).data.map((g) => g + (g >= 0 ? 0.5 : -0.5)));
  bn.beta.value.data.set(randn([c], `beta:${seed}`).data);
  return bn;
}

/** An input with per-channel offsets and scales, so normalisation has work to do. */
function shifted(shape: number[], seed: number | string): Tensor {
  const x = randn(shape, seed);
  const { n, c, s } = layout(shape);
  for (let i = 0; i < n; i++) for (let ch = 0; ch < c; ch++) for (let q = 0; q < s; q++) x.data[(i * c + ch) * s + q] = x.data[(i * c + ch) * s + q]! * (1 + ch) + 3 * ch - 2;
  return x;
}

const SHAPES: [string, number[]][] = [
  ['[N, C] = [6, 4]', [6, 4]],
  ['[N, C] = [2, 3] (small batch)', [2, 3]],
  ['[N, C, H, W] = [3, 2, 3, 5]', [3, 2, 3, 5]],
  ['[N, C, H, W] = [1, 3, 2, 3] (batch 1, spatial statistics)', [1, 3, 2, 3]],
];

// ---------------------------------------------------------------------------------------------
// 1. gradient checks
// ---------------------------------------------------------------------------------------------

describe('BatchNorm gradCheck (float64; input, gamma and beta; every element)', () => {
  it.each(SHAPES)('train mode, %s', (name, shape) => {
    const bn = makeBn(shape[1]!, name);
    const result = assertGradCheck(bn, shifted(shape, name));
    expect(result.checked).toBe(shape.reduce((a, b) => a * b, 1) + 2 * shape[1]!);
  });

  it.each(SHAPES)('eval mode (running statistics), %s', (name, shape) => {
    const bn = makeBn(shape[1]!, name);
    for (let k = 0; k < 3; k++) bn.forward(shifted([4, ...shape.slice(1)], `warm:${k}`), true); // non-trivial running stats
    const rm = Float64Array.from(bn.runningMean), rv = Float64Array.from(bn.runningVar);
    const result = assertGradCheck(bn, shifted(shape, name), { training: false });
    expect(result.checked).toBe(shape.reduce((a, b) => a * b, 1) + 2 * shape[1]!);
    expect(Float64Array.from(bn.runningMean)).toEqual(rm); // eval forwards leave them alone
    expect(Float64Array.from(bn.runningVar)).toEqual(rv);
  });

  it.each(SHAPES)('exact backward equals the chain-rule reference, %s', (name, shape) => {
    const bn = makeBn(shape[1]!, name);
    const x = shifted(shape, name);
    bn.forward(x, true);
    const dy = randn(shape, `dy:${name}`);
    expectClose(bn.backward(dy).data, bnBackwardRef(x, dy, bn.gamma.value.data, bn.eps), 1e-10, 'dx', 1e-9);
  });
});

// ---------------------------------------------------------------------------------------------
// 2. forward statistics
// ---------------------------------------------------------------------------------------------

describe('BatchNorm forward', () => {
  it.each([
    ['[N, C]', [64, 5]],
    ['[N, C, H, W]', [4, 3, 5, 7]],
  ])('train mode, %s: per channel, x̂ = (y − β)/γ has mean ≈ 0 and biased variance ≈ 1', (_name, shape) => {
    const c = shape[1]!;
    for (const custom of [false, true]) {
      const bn = new BatchNorm(c, { rng: new Rng(1), dtype: 'float64' });
      if (custom) {
        bn.gamma.value.data.set(Array.from({ length: c }, (_, i) => (i % 2 ? -1 : 1) * (0.5 + i)));
        bn.beta.value.data.set(Array.from({ length: c }, (_, i) => i - 1.5));
      }
      const x = shifted(shape, 'stats');
      const y = bn.forward(x, true);
      for (let ch = 0; ch < c; ch++) {
        const g = bn.gamma.value.data[ch]!, b = bn.beta.value.data[ch]!;
        const xhat = channel(y, ch).map((v) => (v - b) / g);
        const sigma2 = biasedVar(channel(x, ch));
        expect(Math.abs(mean(xhat))).toBeLessThan(1e-12);
        expect(biasedVar(xhat)).toBeCloseTo(sigma2 / (sigma2 + 1e-5), 12); // 1 up to ε
        expect(Math.abs(biasedVar(xhat) - 1)).toBeLessThan(1e-5);
      }
    }
  });

  it('normalises with the biased batch variance (hand example)', () => {
    const bn = new BatchNorm(2, { rng: new Rng(1), dtype: 'float64' });
    const y = bn.forward(Tensor.from([[1, 10], [3, 20], [5, 60]], undefined, 'float64'), true);
    // channel 0: μ = 3, σ² = 8/3; channel 1: μ = 30, σ² = 1400/3
    const s0 = Math.sqrt(8 / 3 + 1e-5), s1 = Math.sqrt(1400 / 3 + 1e-5);
    expectClose(y.data, [-2 / s0, -20 / s1, 0, -10 / s1, 2 / s0, 30 / s1], 1e-14, 'y');
  });

  it('running mean and variance: momentum 0.1 with the unbiased batch variance, by hand over two forwards ([N, C])', () => {
    const bn = new BatchNorm(2, { rng: new Rng(1) });
    expect(bn.momentum).toBe(0.1);
    expect(bn.eps).toBe(1e-5);
    expect(Array.from(bn.runningMean)).toEqual([0, 0]);
    expect(Array.from(bn.runningVar)).toEqual([1, 1]);
    // channel 0: 1, 3, 5 → μ 3, unbiased variance 4; channel 1: 10, 20, 60 → μ 30, unbiased variance 700
    bn.forward(Tensor.from([[1, 10], [3, 20], [5, 60]]), true);
    expectClose(bn.runningMean, [0.3, 3], 1e-12, 'running mean after 1');
    expectClose(bn.runningVar, [0.9 + 0.4, 0.9 + 70], 1e-12, 'running var after 1');
    // channel 0: 0, 2, 4 → μ 2, var 4; channel 1: −1, 1, 3 → μ 1, var 4
    bn.forward(Tensor.from([[0, -1], [2, 1], [4, 3]]), true);
    expectClose(bn.runningMean, [0.9 * 0.3 + 0.2, 0.9 * 3 + 0.1], 1e-12, 'running mean after 2');
    expectClose(bn.runningVar, [0.9 * 1.3 + 0.4, 0.9 * 70.9 + 0.4], 1e-12, 'running var after 2');
  });

  it('running statistics over [N, C, H, W] pool the batch and the spatial positions (two forwards)', () => {
    const bn = new BatchNorm(2, { rng: new Rng(1) });
    // channel 0: 1, 3 → μ 2, unbiased var 2; channel 1: 4, 8 → μ 6, var 8
    bn.forward(Tensor.from([1, 3, 4, 8], [1, 2, 1, 2]), true);
    expectClose(bn.runningMean, [0.2, 0.6], 1e-12, 'running mean after 1');
    expectClose(bn.runningVar, [1.1, 1.7], 1e-12, 'running var after 1');
    // channel 0: 2, 6 → μ 4, var 8; channel 1: −1, −1 → μ −1, var 0
    bn.forward(Tensor.from([2, 6, -1, -1], [1, 2, 1, 2]), true);
    expectClose(bn.runningMean, [0.58, 0.44], 1e-12, 'running mean after 2');
    expectClose(bn.runningVar, [1.79, 1.53], 1e-12, 'running var after 2');
  });

  it('momentum is configurable: running ← (1 − m)·running + m·batch', () => {
    const bn = new BatchNorm(1, { rng: new Rng(1), momentum: 0.5 });
    bn.forward(Tensor.from([[2], [4]]), true); // μ 3, unbiased var 2
    expectClose(bn.runningMean, [1.5], 1e-12);
    expectClose(bn.runningVar, [1.5], 1e-12);
    const frozen = new BatchNorm(1, { rng: new Rng(1), momentum: 0 });
    frozen.forward(Tensor.from([[2], [4]]), true);
    expect(Array.from(frozen.runningMean)).toEqual([0]);
    expect(Array.from(frozen.runningVar)).toEqual([1]);
  });

  it('eval mode uses the running statistics, not the batch, and does not update them', () => {
    const bn = new BatchNorm(2, { rng: new Rng(1), dtype: 'float64' });
    bn.gamma.value.data.set([2, -0.5]);
    bn.beta.value.data.set([0.25, 1]);
    bn.forward(Tensor.from([[1, 10], [3, 20], [5, 60]], undefined, 'float64'), true);
    bn.forward(Tensor.from([[0, -1], [2, 1], [4, 3]], undefined, 'float64'), true);
    const rm = Float64Array.from(bn.runningMean), rv = Float64Array.from(bn.runningVar);
    const x = Tensor.from([[7, -3], [7, 5]], undefined, 'float64');
    const y = bn.forward(x, false);
    const expected = [0, 1, 2, 3].map((k) => {
      const ch = k % 2;
      return bn.gamma.value.data[ch]! * ((x.data[k]! - rm[ch]!) / Math.sqrt(rv[ch]! + 1e-5)) + bn.beta.value.data[ch]!;
    });
    expectClose(y.data, expected, 1e-12, 'eval y');
    expect(Float64Array.from(bn.runningMean)).toEqual(rm);
    expect(Float64Array.from(bn.runningVar)).toEqual(rv);
    // A batch of one sample is fine in eval mode.
    expect(bn.forward(Tensor.from([[1, 2]], undefined, 'float64'), false).shape).toEqual([1, 2]);
    // Eval backward: dx = dy·γ/√(running var + ε).
    const dy = Tensor.from([[1, 1], [2, -1]], undefined, 'float64');
    bn.forward(x, false);
    const dx = bn.backward(dy);
    expectClose(dx.data, [0, 1, 2, 3].map((k) => (dy.data[k]! * bn.gamma.value.data[k % 2]!) / Math.sqrt(rv[k % 2]! + 1e-5)), 1e-12, 'eval dx');
  });
});

// ---------------------------------------------------------------------------------------------
// 3. feedback on γ
// ---------------------------------------------------------------------------------------------

// The statistics and the channel sums run two channels side by side (two chains of additions at
// once); each sum must still be the one-channel-at-a-time sum, to the last bit.
describe('BatchNorm sums, bit for bit the one-channel-at-a-time loops', () => {
  it.each([
    ['[N, C, H, W], odd C, float32', [6, 5, 3, 4], 'float32'],
    ['[N, C], float32', [9, 7], 'float32'],
    ['[N, C, H, W], float64', [4, 4, 2, 3], 'float64'],
  ] as const)('%s', (_, shape, dtype) => {
    const [n, c] = shape;
    const s = shape.length === 4 ? shape[2] * shape[3] : 1;
    const bn = new BatchNorm(c, { rng: new Rng(1), dtype });
    bn.gamma.value.data.set(Array.from({ length: c }, (_, k) => 0.5 + k));
    bn.beta.value.data.set(Array.from({ length: c }, (_, k) => k - 1));
    const x = randn([...shape], 3, dtype);
    for (let k = 0; k < x.size; k += 7) x.data[k] = x.data[k]! * 1e3 + 17; // uneven magnitudes: order matters
    const dy = randn([...shape], 4, dtype);
    const y = bn.forward(x, true);
    bn.zeroGrad();
    const dx = bn.backward(dy);

    const round = dtype === 'float32' ? Math.fround : (v: number) => v;
    const same = (got: number, want: number, what: string): void => {
      if (!Object.is(got, want)) throw new Error(`${what}: ${got} ≠ ${want}`);
    };
    for (let ch = 0; ch < c; ch++) {
      const at = (i: number, q: number): number => (i * c + ch) * s + q;
      let sum = 0;
      for (let i = 0; i < n; i++) for (let q = 0; q < s; q++) sum += x.data[at(i, q)]!;
      const mu = sum / (n * s);
      let sq = 0;
      for (let i = 0; i < n; i++) for (let q = 0; q < s; q++) sq += (x.data[at(i, q)]! - mu) ** 2;
      same(bn.runningMean[ch]!, 0.9 * 0 + 0.1 * mu, `running mean ${ch}`);
      same(bn.runningVar[ch]!, 0.9 * 1 + 0.1 * (sq / (n * s - 1)), `running variance ${ch}`);
      const is = 1 / Math.sqrt(sq / (n * s) + 1e-5);
      let sumDy = 0, sumDyXhat = 0;
      for (let i = 0; i < n; i++) {
        for (let q = 0; q < s; q++) {
          const h = (x.data[at(i, q)]! - mu) * is; // x̂ in double precision; the backward reads it as stored
          same(y.data[at(i, q)]!, round(bn.gamma.value.data[ch]! * h + bn.beta.value.data[ch]!), `y[${at(i, q)}]`);
          sumDy += dy.data[at(i, q)]!;
          sumDyXhat += dy.data[at(i, q)]! * round(h);
        }
      }
      same(bn.beta.grad.data[ch]!, round(sumDy), `dβ ${ch}`);
      same(bn.gamma.grad.data[ch]!, round(sumDyXhat), `dγ ${ch}`);
    }
    expect(dx.shape).toEqual([...shape]);
  });
});

describe('BatchNorm with asymmetric feedback', () => {
  // γ of various signs and magnitudes, one exactly zero.
  const GAMMAS = [2.5, -0.3, 0, -4, 1e-3, 0.75];

  it.each([
    ['[N, C]', [5, 6]],
    ['[N, C, H, W]', [3, 6, 2, 3]],
  ])('usf, %s: dx is the exact BN backward with γ replaced by sign(γ); dγ and dβ stay true', (_name, shape) => {
    const x = shifted(shape, 'usf-x');
    const dy = randn(shape, 'usf-dy');
    const bn = new BatchNorm(6, { rng: new Rng(2), feedback: usf(), dtype: 'float64' });
    const exact = new BatchNorm(6, { rng: new Rng(2), dtype: 'float64' }); // symmetric, γ as in bn
    const signed = new BatchNorm(6, { rng: new Rng(2), dtype: 'float64' }); // symmetric, γ := sign(γ)
    for (const layer of [bn, exact]) layer.gamma.value.data.set(GAMMAS);
    signed.gamma.value.data.set(GAMMAS.map(sgn));
    for (const layer of [bn, exact, signed]) layer.beta.value.data.set([0.1, -0.2, 0.3, 0, 1, -1]);

    expect(bn.feedback.strategy.name).toBe('usf');
    expect(Array.from(bn.feedback.matrix(bn.gamma.value)!.data)).toEqual(GAMMAS.map(sgn));
    const y = bn.forward(x, true);
    expectClose(y.data, exact.forward(x, true).data, 0, 'forward is unchanged');
    signed.forward(x, true);
    const dx = bn.backward(dy);
    const dxExact = exact.backward(dy);
    const dxSigned = signed.backward(dy);

    expectClose(dx.data, dxSigned.data, 1e-12, 'dx vs exact BN with sign(γ)', 1e-12);
    expectClose(dx.data, bnBackwardRef(x, dy, GAMMAS.map(sgn), 1e-5), 1e-10, 'dx vs chain-rule reference', 1e-9);
    // It is not the true input gradient (γ ≠ sign(γ)), and the channel with γ = 0 receives nothing.
    expect(Math.max(...dx.data.map((v, i) => Math.abs(v - dxExact.data[i]!)))).toBeGreaterThan(1e-3);
    expect(channel(dx, 2).every((v) => v === 0)).toBe(true);
    expectClose(bn.inputGradient(dy, bn.gamma.value).data, dxExact.data, 1e-12, 'inputGradient through γ', 1e-12);
    // dγ = Σ dy·x̂ and dβ = Σ dy: the true gradients, equal to the exact layer's.
    expectClose(bn.gamma.grad.data, exact.gamma.grad.data, 1e-12, 'dγ', 1e-12);
    expectClose(bn.beta.grad.data, exact.beta.grad.data, 1e-12, 'dβ', 1e-12);
    for (let ch = 0; ch < 6; ch++) expect(bn.beta.grad.data[ch]).toBeCloseTo(mean(channel(dy, ch)) * channel(dy, ch).length, 12);
    // And they pass a gradient check of the parameters alone.
    const fresh = new BatchNorm(6, { rng: new Rng(2), feedback: usf(), dtype: 'float64' });
    fresh.gamma.value.data.set(GAMMAS);
    assertGradCheck(fresh, x, { inputs: false });
  });

  it('batchManhattan(symmetric()) on BN: model.shapeGradients signs dγ and dβ; dx stays the exact BN backward', () => {
    const shape = [4, 3, 2, 2];
    const x = shifted(shape, 'bm-x');
    const dy = randn(shape, 'bm-dy');
    const bm = new BatchNorm(3, { rng: new Rng(3), feedback: batchManhattan(symmetric()), dtype: 'float64' });
    const plain = new BatchNorm(3, { rng: new Rng(3), dtype: 'float64' });
    for (const layer of [bm, plain]) layer.gamma.value.data.set([1.5, -0.5, 2]);
    const model = new Sequential([bm], [3, 2, 2]);
    expect(model.feedbackLayers().map(({ layer }) => layer.feedback.strategy.name)).toEqual(['bm+bp']);
    expect(model.params().map((p) => p.name)).toEqual(['0.weight', '0.bias']);

    model.zeroGrad();
    model.forward(x, true);
    plain.forward(x, true);
    expectClose(model.backward(dy).data, plain.backward(dy).data, 0, 'dx');
    expectClose(bm.gamma.grad.data, plain.gamma.grad.data, 0, 'raw dγ');
    model.beforeUpdate();
    expect(Array.from(bm.gamma.grad.data)).toEqual(Array.from(plain.gamma.grad.data, sgn));
    expect(Array.from(bm.beta.grad.data)).toEqual(Array.from(plain.beta.grad.data, sgn));
    expect([...bm.gamma.grad.data, ...bm.beta.grad.data].every((g) => Math.abs(g) === 1)).toBe(true);
    // Without BM, shapeGradients leaves them alone.
    const ref = new Sequential([plain], [3, 2, 2]);
    const before = Float64Array.from(plain.gamma.grad.data);
    ref.beforeUpdate();
    expect(Float64Array.from(plain.gamma.grad.data)).toEqual(before);
  });
});

// ---------------------------------------------------------------------------------------------
// 4. errors
// ---------------------------------------------------------------------------------------------

describe('BatchNorm errors', () => {
  it('a train-mode batch with one value per channel is a ShapeError', () => {
    for (const shape of [[1, 4], [1, 4, 1, 1]]) {
      const bn = new BatchNorm(4, { rng: new Rng(1) });
      const e = thrown(() => bn.forward(Tensor.zeros(shape), true)) as ShapeError;
      expect(e).toBeInstanceOf(ShapeError);
      expect(e.message).toContain('BatchNorm(4)');
      expect(e.message).toContain(`[${shape.join(', ')}]`);
      expect(bn.forward(Tensor.zeros(shape), false).shape).toEqual(shape); // fine in eval mode
    }
    // Two values per channel are enough, from the batch or from the positions.
    expect(() => new BatchNorm(4, { rng: new Rng(1) }).forward(Tensor.zeros([1, 4, 1, 2]), true)).not.toThrow();
    expect(() => new BatchNorm(4, { rng: new Rng(1) }).forward(Tensor.zeros([2, 4]), true)).not.toThrow();
  });

  it('wrong channels or rank are ShapeErrors naming the layer and both shapes; backward before forward is a StateError', () => {
    const bn = new BatchNorm(4, { rng: new Rng(1) });
    expect(() => bn.forward(Tensor.zeros([2, 3]), true)).toThrow(/BatchNorm\(4\).*\[4\].*received \[3\]/);
    expect(() => bn.forward(Tensor.zeros([2, 3, 2, 2]), true)).toThrow(ShapeError);
    expect(() => bn.forward(Tensor.zeros([2, 4, 2]), true)).toThrow('BatchNorm(4).forward: expected [N, 4] or [N, 4, H, W], received [2, 4, 2]');
    expect(() => bn.outputShape([5])).toThrow(ShapeError);
    expect(thrown(() => bn.backward(Tensor.zeros([2, 4])))).toBeInstanceOf(StateError);
    bn.forward(Tensor.zeros([2, 4]), true);
    expect(() => bn.backward(Tensor.zeros([2, 5]))).toThrow('BatchNorm(4).backward: expected [2, 4], received [2, 5]');
  });

  it.each([
    ['eps', 0, '0'],
    ['eps', -1e-5, '-0.00001'],
    ['eps', NaN, 'NaN'],
    ['eps', Infinity, 'Infinity'],
    ['momentum', -0.1, '-0.1'],
    ['momentum', 1.5, '1.5'],
    ['momentum', NaN, 'NaN'],
  ] as const)('bad %s %s is a ConfigError naming it', (option, value, text) => {
    const e = thrown(() => new BatchNorm(3, { rng: new Rng(1), [option]: value })) as ConfigError;
    expect(e).toBeInstanceOf(ConfigError);
    expect(e.option).toBe(`BatchNorm ${option}`);
    expect(e.message).toContain(text);
  });

  it('the rng option is required (a ConfigError naming rng)', () => {
    for (const options of [{}, { rng: 42 }, { rng: undefined }]) {
      const e = thrown(() => new BatchNorm(4, options as never)) as ConfigError;
      expect(e).toBeInstanceOf(ConfigError);
      expect(e.option).toBe('BatchNorm(4) rng');
      expect(e.message).toContain('rng');
    }
    expect(() => new BatchNorm(0, { rng: new Rng(1) })).toThrow(ConfigError);
  });
});

describe('BatchNorm1d and BatchNorm2d', () => {
  it('accept only their own layout and otherwise behave as BatchNorm', () => {
    const x2 = randn([4, 3], 'bn1d');
    const x4 = randn([2, 3, 2, 2], 'bn2d');
    expect(new BatchNorm1d(3, { rng: new Rng(0) }).forward(x2, true).data).toEqual(new BatchNorm(3, { rng: new Rng(0) }).forward(x2, true).data);
    expect(new BatchNorm2d(3, { rng: new Rng(0) }).forward(x4, true).data).toEqual(new BatchNorm(3, { rng: new Rng(0) }).forward(x4, true).data);
    expect(() => new BatchNorm1d(3, { rng: new Rng(0) }).forward(x4, true)).toThrow(ShapeError);
    expect(() => new BatchNorm2d(3, { rng: new Rng(0) }).forward(x2, true)).toThrow(/BatchNorm2d\(3\): expected per-sample input \[3, H, W\], received \[3\]/);
  });
});
