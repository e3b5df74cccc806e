import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  AvgPool2d,
  ConfigError,
  MaxPool2d,
  Rng,
  ShapeError,
  StateError,
  Tensor,
  assertGradCheck,
  geometry2d,
  outputSize,
  type Size2,
} from '../src/index.js';
import { expectClose, randn, thrown } from './helpers.js';

// ---------------------------------------------------------------------------------------------
// Direct-loop references, written from the definitions (PyTorch semantics, floor mode)
// ---------------------------------------------------------------------------------------------

interface PoolCase {
  n: number; c: number; h: number; w: number;
  kh: number; kw: number; sh: number; sw: number; ph: number; pw: number;
  seed: number;
}

const outSize = (size: number, k: number, s: number, p: number) => Math.floor((size + 2 * p - k) / s) + 1;

/**
 * Max pooling: padding is −∞ (never chosen). Returns the output and, per output, the flat input
 * index of the winner: the first maximum in row-major window order.
 */
function maxPoolRef(x: Tensor, c: PoolCase): { y: Float64Array; arg: Int32Array } {
  const oh = outSize(c.h, c.kh, c.sh, c.ph), ow = outSize(c.w, c.kw, c.sw, c.pw);
  const y = new Float64Array(c.n * c.c * oh * ow);
  const arg = new Int32Array(y.length);
  for (let n = 0; n < c.n; n++) for (let ch = 0; ch < c.c; ch++) for (let oy = 0; oy < oh; oy++) for (let ox = 0; ox < ow; ox++) {
    let best = -Infinity, at = -1;
    for (let ky = 0; ky < c.kh; ky++) for (let kx = 0; kx < c.kw; kx++) {
      const iy = oy * c.sh - c.ph + ky, ix = ox * c.sw - c.pw + kx;
      if (iy < 0 || iy >= c.h || ix < 0 || ix >= c.w) continue;
      const idx = ((n * c.c + ch) * c.h + iy) * c.w + ix;
      if (at < 0 || x.data[idx]! > best) { best = x.data[idx]!; at = idx; }
    }
    const o = ((n * c.c + ch) * oh + oy) * ow + ox;
    y[o] = best;
    arg[o] = at;
  }
  return { y, arg };
}

/** dx of max pooling: each output's gradient goes to its winner. */
function maxPoolBackwardRef(dy: Tensor, arg: Int32Array, size: number): Float64Array {
  const dx = new Float64Array(size);
  for (let o = 0; o < arg.length; o++) dx[arg[o]!] += dy.data[o]!;
  return dx;
}

/**
 * Average pooling, PyTorch's rule: the divisor is the window clipped to the padded input
 * (count_include_pad = true) or the number of real pixels in it (false).
 * Returns the forward output and, for a given dy, the input gradient.
 */
function avgPoolRef(x: Tensor, dy: Tensor | null, c: PoolCase, includePad: boolean): { y: Float64Array; dx: Float64Array } {
  const oh = outSize(c.h, c.kh, c.sh, c.ph), ow = outSize(c.w, c.kw, c.sw, c.pw);
  const y = new Float64Array(c.n * c.c * oh * ow);
  const dx = new Float64Array(x.size);
  for (let n = 0; n < c.n; n++) for (let ch = 0; ch < c.c; ch++) for (let oy = 0; oy < oh; oy++) for (let ox = 0; ox < ow; ox++) {
    const y0 = oy * c.sh - c.ph, x0 = ox * c.sw - c.pw;
    const padded = (Math.min(y0 + c.kh, c.h + c.ph) - y0) * (Math.min(x0 + c.kw, c.w + c.pw) - x0);
    let real = 0;
    for (let ky = 0; ky < c.kh; ky++) for (let kx = 0; kx < c.kw; kx++) {
      const iy = y0 + ky, ix = x0 + kx;
      if (iy >= 0 && iy < c.h && ix >= 0 && ix < c.w) real++;
    }
    const divisor = includePad ? padded : real;
    const o = ((n * c.c + ch) * oh + oy) * ow + ox;
    for (let ky = 0; ky < c.kh; ky++) for (let kx = 0; kx < c.kw; kx++) {
      const iy = y0 + ky, ix = x0 + kx;
      if (iy < 0 || iy >= c.h || ix < 0 || ix >= c.w) continue;
      const idx = ((n * c.c + ch) * c.h + iy) * c.w + ix;
      y[o] += x.data[idx]! / divisor;
      if (dy) dx[idx] += dy.data[o]! / divisor;
    }
  }
  return { y, dx };
}

/** Inputs with pairwise distinct values, far apart relative to a finite-difference step (no ties). */
function distinct(shape: number[], seed: number | string): Tensor {
  const t = Tensor.zeros(shape, 'float64');
  const perm = new Rng(seed).permutation(t.size);
  const jitter = randn([t.size], `jitter:${seed}`);
  for (let i = 0; i < t.size; i++) t.data[i] = (perm[i]! - t.size / 2) * 0.1 + 0.01 * Math.tanh(jitter.data[i]!);
  return t;
}

/** Random pooling configurations (odd sizes included) with padding ≤ kernel/2 and an output of at least 1×1. */
const poolCase: fc.Arbitrary<PoolCase> = fc
  .record({
    n: fc.integer({ min: 1, max: 3 }),
    c: fc.integer({ min: 1, max: 3 }),
    h: fc.integer({ min: 1, max: 9 }),
    w: fc.integer({ min: 1, max: 9 }),
    kh: fc.integer({ min: 1, max: 4 }),
    kw: fc.integer({ min: 1, max: 4 }),
    sh: fc.integer({ min: 1, max: 3 }),
    sw: fc.integer({ min: 1, max: 3 }),
    ph: fc.integer({ min: 0, max: 2 }),
    pw: fc.integer({ min: 0, max: 2 }),
    seed: fc.integer({ min: 0, max: 1e6 }),
  })
  .filter((c) => 2 * c.ph <= c.kh && 2 * c.pw <= c.kw && c.h + 2 * c.ph >= c.kh && c.w + 2 * c.pw >= c.kw);

const sum = (a: ArrayLike<number>): number => Array.from(a).reduce((s, v) => s + v, 0);

const options = (c: PoolCase) => ({ stride: [c.sh, c.sw] as const, padding: [c.ph, c.pw] as const });

// ---------------------------------------------------------------------------------------------
// 1. gradient checks
// ---------------------------------------------------------------------------------------------

// [kernel, stride, padding, input shape]
const GRAD_CASES: [number, number, number, number[]][] = [
  [2, 2, 0, [2, 2, 6, 4]],
  [2, 2, 0, [1, 3, 7, 5]], // odd sizes: the last row and column are dropped
  [2, 1, 0, [2, 1, 5, 7]],
  [2, 2, 1, [1, 2, 7, 5]],
  [2, 1, 1, [3, 1, 5, 5]],
  [3, 3, 0, [2, 2, 7, 7]],
  [3, 2, 0, [1, 2, 7, 5]],
  [3, 1, 1, [2, 1, 5, 7]],
  [3, 2, 1, [3, 2, 7, 5]],
  [3, 3, 1, [1, 1, 9, 5]],
];
const gradLabel = ([k, s, p, shape]: (typeof GRAD_CASES)[number]) => `kernel ${k}, stride ${s}, padding ${p}, input [${shape.join(', ')}]`;

describe('MaxPool2d gradCheck (distinct input values, no ties)', () => {
  it.each(GRAD_CASES.map((c) => [gradLabel(c), c] as const))('%s', (name, [k, s, p, shape]) => {
    const result = assertGradCheck(new MaxPool2d(k, { stride: s, padding: p }), distinct(shape, name));
    expect(result.checked).toBe(shape.reduce((a, b) => a * b, 1));
  });
});

describe('AvgPool2d gradCheck', () => {
  for (const countIncludePad of [true, false]) {
    it.each(GRAD_CASES.map((c) => [gradLabel(c), c] as const))(`%s, countIncludePad ${countIncludePad}`, (name, [k, s, p, shape]) => {
      const result = assertGradCheck(new AvgPool2d(k, { stride: s, padding: p, countIncludePad }), randn(shape, name));
      expect(result.checked).toBe(shape.reduce((a, b) => a * b, 1));
    });
  }
});

// ---------------------------------------------------------------------------------------------
// 2. property tests against the references
// ---------------------------------------------------------------------------------------------

describe('pooling against direct-loop references (property tests)', () => {
  it('MaxPool2d forward and backward (distinct values)', () => {
    fc.assert(
      fc.property(poolCase, (c) => {
        const pool = new MaxPool2d([c.kh, c.kw], options(c));
        const x = distinct([c.n, c.c, c.h, c.w], c.seed);
        const { y, arg } = maxPoolRef(x, c);
        const out = pool.forward(x, true);
        expect(out.shape).toEqual([c.n, c.c, outSize(c.h, c.kh, c.sh, c.ph), outSize(c.w, c.kw, c.sw, c.pw)]);
        expectClose(out.data, y, 0, 'y');
        const dy = randn([...out.shape], `dy:${c.seed}`);
        expectClose(pool.backward(dy).data, maxPoolBackwardRef(dy, arg, x.size), 1e-15, 'dx');
      }),
      { numRuns: 150 },
    );
  });

  it('MaxPool2d with ties: the first maximum in window order takes the gradient', () => {
    fc.assert(
      fc.property(poolCase, (c) => {
        const pool = new MaxPool2d([c.kh, c.kw], options(c));
        const r = new Rng(c.seed);
        const x = Tensor.from(Array.from({ length: c.n * c.c * c.h * c.w }, () => r.int(3)), [c.n, c.c, c.h, c.w], 'float64');
        const { y, arg } = maxPoolRef(x, c);
        const out = pool.forward(x, true);
        expectClose(out.data, y, 0, 'y');
        const dy = randn([...out.shape], `dy:${c.seed}`);
        expectClose(pool.backward(dy).data, maxPoolBackwardRef(dy, arg, x.size), 1e-15, 'dx');
      }),
      { numRuns: 100 },
    );
  });

  it('MaxPool2d with NaN and ±∞, padded or not: a NaN wins only when it comes first in its window, like the reference', () => {
    const values = [0, 1, -1, Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY];
    fc.assert(
      fc.property(poolCase, (c) => {
        const pool = new MaxPool2d([c.kh, c.kw], options(c));
        const r = new Rng(c.seed);
        const x = Tensor.from(Array.from({ length: c.n * c.c * c.h * c.w }, () => values[r.int(values.length)]!), [c.n, c.c, c.h, c.w], 'float32');
        const { y, arg } = maxPoolRef(x, c);
        const out = pool.forward(x, true);
        expect(Array.from(out.data).every((v, i) => Object.is(v, Math.fround(y[i]!)))).toBe(true);
        const dy = Tensor.from(Array.from({ length: out.size }, (_, i) => i + 1), [...out.shape], 'float32');
        const dx = pool.backward(dy).data;
        const expected = new Float32Array(x.size);
        arg.forEach((at, o) => (expected[at] += o + 1));
        expect(Array.from(dx)).toEqual(Array.from(expected));
      }),
      { numRuns: 150 },
    );
  });

  it.each([true, false])('AvgPool2d forward and backward, countIncludePad %s', (includePad) => {
    fc.assert(
      fc.property(poolCase, (c) => {
        const pool = new AvgPool2d([c.kh, c.kw], { ...options(c), countIncludePad: includePad });
        const x = randn([c.n, c.c, c.h, c.w], c.seed);
        const out = pool.forward(x, true);
        const dy = randn([...out.shape], `dy:${c.seed}`);
        const ref = avgPoolRef(x, dy, c, includePad);
        expectClose(out.data, ref.y, 1e-13, 'y', 1e-13);
        expectClose(pool.backward(dy).data, ref.dx, 1e-13, 'dx', 1e-13);
      }),
      { numRuns: 150 },
    );
  });

  it('output shapes: geometry2d, outputSize and outputShape agree with ⌊(h + 2p − k)/s⌋ + 1', () => {
    fc.assert(
      fc.property(poolCase, fc.boolean(), (c, defaultStride) => {
        const stride: Size2 = defaultStride ? [c.kh, c.kw] : [c.sh, c.sw];
        const expected = [outSize(c.h, c.kh, stride[0], c.ph), outSize(c.w, c.kw, stride[1], c.pw)];
        expect(outputSize(c.h, c.kh, stride[0], c.ph)).toBe(expected[0]);
        expect(outputSize(c.w, c.kw, stride[1], c.pw)).toBe(expected[1]);
        const g = geometry2d('test', [c.c, c.h, c.w], { kernel: [c.kh, c.kw], stride, padding: [c.ph, c.pw] }, 1);
        expect([g.oh, g.ow]).toEqual(expected);
        expect([g.c, g.h, g.w, g.kh, g.kw, g.sh, g.sw, g.ph, g.pw]).toEqual([c.c, c.h, c.w, c.kh, c.kw, stride[0], stride[1], c.ph, c.pw]);
        // The pools' stride defaults to the kernel.
        const poolOptions = defaultStride ? { padding: [c.ph, c.pw] as const } : options(c);
        for (const pool of [new MaxPool2d([c.kh, c.kw], poolOptions), new AvgPool2d([c.kh, c.kw], poolOptions)]) {
          expect(pool.outputShape([c.c, c.h, c.w])).toEqual([c.c, ...expected]);
          expect(pool.geometry([c.c, c.h, c.w])).toEqual(g);
          expect(pool.forward(Tensor.zeros([c.n, c.c, c.h, c.w]), false).shape).toEqual([c.n, c.c, ...expected]);
        }
      }),
      { numRuns: 200 },
    );
  });
});

// ---------------------------------------------------------------------------------------------
// 3. borders and padding
// ---------------------------------------------------------------------------------------------

describe('pooling at the borders', () => {
  it('AvgPool2d countIncludePad true divides by the kernel area at the borders; false by the real pixels', () => {
    const x = Tensor.full([1, 1, 4, 4], 1, 'float64');
    const withPad = new AvgPool2d(3, { stride: 1, padding: 1 }).forward(x, true);
    const without = new AvgPool2d(3, { stride: 1, padding: 1, countIncludePad: false }).forward(x, true);
    const [c, e, m] = [4 / 9, 6 / 9, 1];
    expectClose(withPad.data, [c, e, e, c, e, m, m, e, e, m, m, e, c, e, e, c], 1e-15, 'countIncludePad true');
    expectClose(without.data, new Array(16).fill(1), 1e-15, 'countIncludePad false');
    // Away from the padding the two agree.
    const big = randn([1, 2, 5, 5], 'interior');
    const a = new AvgPool2d(3, { stride: 1, padding: 1 }).forward(big, true);
    const b = new AvgPool2d(3, { stride: 1, padding: 1, countIncludePad: false }).forward(big, true);
    for (const ch of [0, 1]) for (let y = 1; y < 4; y++) for (let xx = 1; xx < 4; xx++) expect(a.get(0, ch, y, xx)).toBeCloseTo(b.get(0, ch, y, xx), 14);
    expect(a.get(0, 0, 0, 0)).toBeCloseTo((b.get(0, 0, 0, 0) * 4) / 9, 14);
  });

  it('AvgPool2d backward at the borders: countIncludePad false sends the whole gradient to the real pixels', () => {
    const x = randn([1, 1, 5, 3], 'border');
    for (const countIncludePad of [true, false]) {
      const pool = new AvgPool2d(2, { padding: 1, countIncludePad });
      const y = pool.forward(x, true);
      const dx = pool.backward(Tensor.full([...y.shape], 1, 'float64'));
      const total = sum(dx.data);
      // Windows of 2×2 over the padded 7×5 input: 3×2 outputs, each sums its weights to (real pixels)/4 or 1.
      if (countIncludePad) expect(total).toBeCloseTo(x.size / 4, 12);
      else expect(total).toBeCloseTo(y.size, 12);
    }
  });

  it('MaxPool2d with padding never picks the padding (all-negative input)', () => {
    fc.assert(
      fc.property(poolCase, (c) => {
        if (c.ph === 0 && c.pw === 0) return;
        const x = distinct([c.n, c.c, c.h, c.w], c.seed);
        for (let i = 0; i < x.size; i++) x.data[i] = -10 - Math.abs(x.data[i]!); // every value < 0, the pad's zero would win
        const pool = new MaxPool2d([c.kh, c.kw], options(c));
        const y = pool.forward(x, true);
        expect(y.data.every((v) => v <= -10)).toBe(true);
        const dy = Tensor.full([...y.shape], 1, 'float64');
        const dx = pool.backward(dy);
        expect(sum(dx.data)).toBeCloseTo(y.size, 12); // all the gradient reaches real pixels
        expectClose(y.data, maxPoolRef(x, c).y, 0, 'y');
      }),
      { numRuns: 100 },
    );
  });

  it('a corner window of kernel 2, padding 1 sees one real pixel and passes its value', () => {
    const x = Tensor.from([[[[-5, -1], [-2, -3]]]], undefined, 'float64');
    const y = new MaxPool2d(2, { padding: 1 }).forward(x, true);
    expect(y.toArray()).toEqual([[[[-5, -1], [-2, -3]]]]);
  });
});

// ---------------------------------------------------------------------------------------------
// 4. errors
// ---------------------------------------------------------------------------------------------

describe('pooling configuration and shape errors', () => {
  it.each([
    ['kernel 2, padding 2', 2, 2],
    ['kernel 3, padding 2', 3, 2],
    ['kernel 1, padding 1', 1, 1],
    ['kernel [3, 2], padding [1, 2]', [3, 2] as const, [1, 2] as const],
    ['kernel [2, 5], padding [2, 0]', [2, 5] as const, [2, 0] as const],
  ])('padding more than half the kernel is a ConfigError (%s)', (_name, kernel, padding) => {
    for (const make of [() => new MaxPool2d(kernel, { padding }), () => new AvgPool2d(kernel, { padding })]) {
      const e = thrown(make);
      expect(e).toBeInstanceOf(ConfigError);
      expect((e as ConfigError).option).toMatch(/^(Max|Avg)Pool2d padding$/);
      expect((e as ConfigError).message).toContain(JSON.stringify(padding));
    }
  });

  it('padding of exactly half the kernel is accepted (kernel 2 pad 1, kernel 4 pad 2, kernel 5 pad 2)', () => {
    for (const [k, p] of [[2, 1], [4, 2], [5, 2], [3, 1]] as const) {
      expect(new MaxPool2d(k, { padding: p }).outputShape([1, 5, 5])).toEqual([1, outSize(5, k, k, p), outSize(5, k, k, p)]);
      expect(() => new AvgPool2d(k, { padding: p })).not.toThrow();
    }
  });

  it('bad kernel and stride values are ConfigErrors', () => {
    expect(() => new MaxPool2d(0)).toThrow(ConfigError);
    expect(() => new MaxPool2d(2, { stride: 0 })).toThrow(ConfigError);
    expect(() => new AvgPool2d(2.5)).toThrow(ConfigError);
    expect(() => new AvgPool2d(2, { padding: -1 })).toThrow(ConfigError);
  });

  it('input smaller than the kernel, wrong rank, wrong dy and backward before forward', () => {
    const pool = new MaxPool2d(3);
    expect(() => pool.forward(Tensor.zeros([1, 1, 2, 5]), true)).toThrow(/MaxPool2d\(3×3, stride 3,3\).*received \[1, 2, 5\]/);
    expect(() => pool.forward(Tensor.zeros([1, 5, 5]), true)).toThrow('MaxPool2d(3×3, stride 3,3).forward: expected [N, C, H, W], received [1, 5, 5]');
    const e = thrown(() => pool.backward(Tensor.zeros([1, 1, 1, 1])));
    expect(e).toBeInstanceOf(StateError);
    expect((e as StateError).message).toContain('MaxPool2d(3×3, stride 3,3)');
    const avg = new AvgPool2d(2, { padding: 1 });
    avg.forward(Tensor.zeros([2, 3, 5, 4]), true); // output [2, 3, 3, 3]
    const bad = thrown(() => avg.backward(Tensor.zeros([2, 3, 3, 2]))) as ShapeError;
    expect(bad).toBeInstanceOf(ShapeError);
    expect(bad.message).toBe('AvgPool2d(2×2, stride 2,2, padding 1,1).backward: expected [2, 3, 3, 3], received [2, 3, 3, 2]');
  });
});
