import fc from 'fast-check';
import ndarray from 'ndarray';
import { describe, expect, it } from 'vitest';
import {
  Conv2d,
  Dense,
  Flatten,
  ReLU,
  Rng,
  SGD,
  Sequential,
  ShapeError,
  StateError,
  Tensor,
  assertGradCheck,
  batchManhattan,
  defaultKernels,
  referenceKernels,
  brsf,
  frsf,
  geometry2d,
  outputSize,
  randomFeedback,
  softmaxCrossEntropy,
  symmetric,
  trainStep,
  usf,
  type FeedbackStrategy,
  type Size2,
} from '../src/index.js';
import { expectClose, randn, sgn, thrown } from './helpers.js';

// ---------------------------------------------------------------------------------------------
// Direct-loop references (slow, written from the definitions, independent of im2col)
// ---------------------------------------------------------------------------------------------

interface ConvGeom {
  n: number; c: number; h: number; w: number; o: number;
  kh: number; kw: number; sh: number; sw: number; ph: number; pw: number;
  oh: number; ow: number;
}

function convGeom(xShape: readonly number[], wShape: readonly number[], stride: [number, number], padding: [number, number]): ConvGeom {
  const [n, c, h, w] = xShape as [number, number, number, number];
  const [o, , kh, kw] = wShape as [number, number, number, number];
  const [sh, sw] = stride, [ph, pw] = padding;
  return { n, c, h, w, o, kh, kw, sh, sw, ph, pw, oh: Math.floor((h + 2 * ph - kh) / sh) + 1, ow: Math.floor((w + 2 * pw - kw) / sw) + 1 };
}

/** y[n,o,oy,ox] = b[o] + Σ_c Σ_ky Σ_kx W[o,c,ky,kx]·x[n,c,oy·sh−ph+ky, ox·sw−pw+kx] (zero outside). */
function convRef(x: Tensor, wt: Tensor, b: Tensor | null, stride: [number, number], padding: [number, number]): Float64Array {
  const g = convGeom(x.shape, wt.shape, stride, padding);
  const y = new Float64Array(g.n * g.o * g.oh * g.ow);
  for (let n = 0; n < g.n; n++) for (let o = 0; o < g.o; o++) for (let oy = 0; oy < g.oh; oy++) for (let ox = 0; ox < g.ow; ox++) {
    let s = b ? b.data[o]! : 0;
    for (let c = 0; c < g.c; c++) for (let ky = 0; ky < g.kh; ky++) for (let kx = 0; kx < g.kw; kx++) {
      const iy = oy * g.sh - g.ph + ky, ix = ox * g.sw - g.pw + kx;
      if (iy < 0 || iy >= g.h || ix < 0 || ix >= g.w) continue;
      s += wt.data[((o * g.c + c) * g.kh + ky) * g.kw + kx]! * x.data[((n * g.c + c) * g.h + iy) * g.w + ix]!;
    }
    y[((n * g.o + o) * g.oh + oy) * g.ow + ox] = s;
  }
  return y;
}

/**
 * The transposed convolution with V, written as a gather over input pixels:
 * dx[n,c,y,x] = Σ_o Σ_ky Σ_kx dy[n,o,oy,ox]·V[o,c,ky,kx] over the (oy, ox) with oy·sh−ph+ky = y and ox·sw−pw+kx = x.
 */
function convTransposeRef(dy: Tensor, v: Tensor, xShape: readonly number[], stride: [number, number], padding: [number, number]): Float64Array {
  const g = convGeom(xShape, v.shape, stride, padding);
  const dx = new Float64Array(g.n * g.c * g.h * g.w);
  for (let n = 0; n < g.n; n++) for (let c = 0; c < g.c; c++) for (let y = 0; y < g.h; y++) for (let x = 0; x < g.w; x++) {
    let s = 0;
    for (let o = 0; o < g.o; o++) for (let ky = 0; ky < g.kh; ky++) for (let kx = 0; kx < g.kw; kx++) {
      const ny = y + g.ph - ky, nx = x + g.pw - kx;
      if (ny < 0 || nx < 0 || ny % g.sh !== 0 || nx % g.sw !== 0) continue;
      const oy = ny / g.sh, ox = nx / g.sw;
      if (oy >= g.oh || ox >= g.ow) continue;
      s += dy.data[((n * g.o + o) * g.oh + oy) * g.ow + ox]! * v.data[((o * g.c + c) * g.kh + ky) * g.kw + kx]!;
    }
    dx[((n * g.c + c) * g.h + y) * g.w + x] = s;
  }
  return dx;
}

/** dW[o,c,ky,kx] = Σ_n Σ_oy Σ_ox dy[n,o,oy,ox]·x[n,c,oy·sh−ph+ky, ox·sw−pw+kx]; db[o] = Σ dy[n,o,·,·]. */
function convWeightGradRef(x: Tensor, dy: Tensor, wShape: readonly number[], stride: [number, number], padding: [number, number]): { dw: Float64Array; db: Float64Array } {
  const g = convGeom(x.shape, wShape, stride, padding);
  const dw = new Float64Array(g.o * g.c * g.kh * g.kw);
  const db = new Float64Array(g.o);
  for (let o = 0; o < g.o; o++) {
    for (let n = 0; n < g.n; n++) for (let oy = 0; oy < g.oh; oy++) for (let ox = 0; ox < g.ow; ox++) db[o] += dy.data[((n * g.o + o) * g.oh + oy) * g.ow + ox]!;
    for (let c = 0; c < g.c; c++) for (let ky = 0; ky < g.kh; ky++) for (let kx = 0; kx < g.kw; kx++) {
      let s = 0;
      for (let n = 0; n < g.n; n++) for (let oy = 0; oy < g.oh; oy++) for (let ox = 0; ox < g.ow; ox++) {
        const iy = oy * g.sh - g.ph + ky, ix = ox * g.sw - g.pw + kx;
        if (iy < 0 || iy >= g.h || ix < 0 || ix >= g.w) continue;
        s += dy.data[((n * g.o + o) * g.oh + oy) * g.ow + ox]! * x.data[((n * g.c + c) * g.h + iy) * g.w + ix]!;
      }
      dw[((o * g.c + c) * g.kh + ky) * g.kw + kx] = s;
    }
  }
  return { dw, db };
}

const asPair = (s: Size2): [number, number] => (typeof s === 'number' ? [s, s] : [s[0], s[1]]);

/** Random non-zero bias so that forward checks see it. */
function randomizeBias(conv: Conv2d, seed: number | string): void {
  if (conv.bias) conv.bias.value.data.set(randn([conv.outChannels], `bias:${seed}`, 'float64').data);
}

const fa = randomFeedback;

/** Every strategy of the protocol (and one BM composition), by name. */
const STRATEGIES: [string, () => FeedbackStrategy][] = [
  ['bp', () => symmetric()],
  ['usf', () => usf()],
  ['brsf', () => brsf()],
  ['frsf', () => frsf()],
  ['fa', () => fa()],
  ['bm+usf', () => batchManhattan(usf())],
];

// ---------------------------------------------------------------------------------------------
// 1. gradient checks, symmetric mode, float64, every element
// ---------------------------------------------------------------------------------------------

describe('Conv2d gradCheck (float64, input and parameters, every element)', () => {
  // [in, out, kernel, stride, padding, bias, input shape]
  const cases: [number, number, Size2, Size2, Size2, boolean, number[]][] = [
    [3, 2, 1, 1, 0, true, [2, 3, 4, 5]],
    [2, 3, 3, 1, 1, true, [1, 2, 7, 5]],
    [2, 2, 3, 2, 0, true, [3, 2, 7, 5]],
    [1, 2, 5, 1, 2, true, [1, 1, 7, 5]],
    [2, 2, 5, 2, 2, false, [3, 2, 7, 7]],
    [2, 3, [3, 2], [2, 1], [1, 0], true, [2, 2, 7, 5]],
    [1, 2, [3, 2], 1, 0, false, [3, 1, 5, 7]],
    [1, 3, 3, 2, 1, false, [3, 1, 5, 7]],
    [2, 2, 1, 2, 1, true, [1, 2, 5, 5]], // padding larger than the kernel: border outputs see only padding
    [2, 1, 5, 1, 0, true, [2, 2, 5, 5]], // input exactly the kernel size: 1×1 output
    [1, 2, 3, [1, 2], [0, 2], true, [1, 1, 6, 3]],
    [3, 2, [2, 3], 2, [1, 1], true, [1, 3, 7, 5]],
  ];
  const label = ([cin, cout, k, s, p, bias, shape]: (typeof cases)[number]) =>
    `in ${cin} out ${cout}, kernel ${asPair(k).join('×')}, stride ${asPair(s).join(',')}, padding ${asPair(p).join(',')}, ${bias ? 'bias' : 'no bias'}, input [${shape.join(', ')}]`;

  it.each(cases.map((c) => [label(c), c] as const))('%s', (name, [cin, cout, kernel, stride, padding, bias, shape]) => {
    const conv = new Conv2d(cin, cout, kernel, { rng: new Rng(name), stride, padding, bias, dtype: 'float64' });
    randomizeBias(conv, name);
    const result = assertGradCheck(conv, randn(shape, name));
    const weights = conv.weight.value.size + (bias ? cout : 0);
    expect(result.checked).toBe(shape.reduce((a, b) => a * b, 1) + weights); // every element
    expect(result.maxError).toBeLessThan(1e-6);
    expect(conv.params().map((p) => p.name)).toEqual(bias ? ['weight', 'bias'] : ['weight']);
  });
});

// ---------------------------------------------------------------------------------------------
// 2. property tests against the direct-loop references
// ---------------------------------------------------------------------------------------------

interface ConvCase {
  n: number; cin: number; cout: number; kh: number; kw: number; sh: number; sw: number; ph: number; pw: number;
  h: number; w: number; bias: boolean; seed: number;
}

/** Random shapes (odd sizes included), kernel, stride and padding, constrained so that the output is at least 1×1. */
const convCase: fc.Arbitrary<ConvCase> = fc
  .record({
    n: fc.integer({ min: 1, max: 3 }),
    cin: fc.integer({ min: 1, max: 3 }),
    cout: fc.integer({ min: 1, max: 3 }),
    kh: fc.integer({ min: 1, max: 5 }),
    kw: fc.integer({ min: 1, max: 6 }), // 5 has its own written-out path in im2col and col2im
    sh: fc.integer({ min: 1, max: 3 }),
    sw: fc.integer({ min: 1, max: 3 }),
    ph: fc.integer({ min: 0, max: 2 }),
    pw: fc.integer({ min: 0, max: 2 }),
    h: fc.integer({ min: 1, max: 9 }),
    w: fc.integer({ min: 1, max: 11 }),
    bias: fc.boolean(),
    seed: fc.integer({ min: 0, max: 1e6 }),
  })
  .filter((c) => c.h + 2 * c.ph >= c.kh && c.w + 2 * c.pw >= c.kw);

function makeConv(c: ConvCase, feedback: FeedbackStrategy = symmetric()): Conv2d {
  const conv = new Conv2d(c.cin, c.cout, [c.kh, c.kw], { rng: new Rng(c.seed), stride: [c.sh, c.sw], padding: [c.ph, c.pw], bias: c.bias, feedback, dtype: 'float64' });
  randomizeBias(conv, c.seed);
  return conv;
}

describe('Conv2d against direct-loop references (property tests over shapes)', () => {
  it('forward equals the direct convolution; output shape is ⌊(h + 2p − k)/s⌋ + 1 per axis', () => {
    fc.assert(
      fc.property(convCase, (c) => {
        const conv = makeConv(c);
        const x = randn([c.n, c.cin, c.h, c.w], `x:${c.seed}`);
        const y = conv.forward(x, true);
        const oh = outputSize(c.h, c.kh, c.sh, c.ph), ow = outputSize(c.w, c.kw, c.sw, c.pw);
        expect(oh).toBe(Math.floor((c.h + 2 * c.ph - c.kh) / c.sh) + 1);
        expect(y.shape).toEqual([c.n, c.cout, oh, ow]);
        expect(conv.outputShape([c.cin, c.h, c.w])).toEqual([c.cout, oh, ow]);
        expectClose(y.data, convRef(x, conv.weight.value, conv.bias?.value ?? null, [c.sh, c.sw], [c.ph, c.pw]), 1e-12, 'y', 1e-12);
      }),
      { numRuns: 150 },
    );
  });

  describe.each(STRATEGIES)('backward with %s', (name, make) => {
    it('dx is the transposed convolution with V; dW and db are the true gradients', () => {
      fc.assert(
        fc.property(convCase, (c) => {
          const conv = makeConv(c, make());
          expect(conv.feedback.strategy.name).toBe(name);
          const x = randn([c.n, c.cin, c.h, c.w], `x:${c.seed}`);
          const y = conv.forward(x, true);
          const dy = randn([...y.shape], `dy:${c.seed}`);
          const dx = conv.backward(dy);
          const v = conv.feedback.matrix(conv.weight.value)!; // right after backward: the V it used
          expect(v.shape).toEqual(conv.weight.value.shape);
          expect(dx.shape).toEqual(x.shape);
          expectClose(dx.data, convTransposeRef(dy, v, x.shape, [c.sh, c.sw], [c.ph, c.pw]), 1e-12, 'dx', 1e-12);

          const { dw, db } = convWeightGradRef(x, dy, conv.weight.value.shape, [c.sh, c.sw], [c.ph, c.pw]);
          expectClose(conv.weight.grad.data, dw, 1e-12, 'dW', 1e-12);
          // Batch Manhattan does not touch the gradient in backward: it signs it in shapeGradients.
          if (c.bias) expectClose(conv.bias!.grad.data, db, 1e-12, 'db', 1e-12);
        }),
        { numRuns: 40 },
      );
    });
  });

  it('with symmetric feedback, dx uses W itself; inputGradient through W agrees with backward', () => {
    fc.assert(
      fc.property(convCase, (c) => {
        const conv = makeConv(c);
        const x = randn([c.n, c.cin, c.h, c.w], `x:${c.seed}`);
        const dy = randn([...conv.forward(x, true).shape], `dy:${c.seed}`);
        const dx = conv.backward(dy);
        expectClose(dx.data, convTransposeRef(dy, conv.weight.value, x.shape, [c.sh, c.sw], [c.ph, c.pw]), 1e-12, 'dx', 1e-12);
        expectClose(conv.inputGradient(dy, conv.weight.value).data, dx.data, 0, 'inputGradient through W');
      }),
      { numRuns: 40 },
    );
  });

  it('parameter gradients accumulate across backward calls (twice the gradient after two calls)', () => {
    const conv = new Conv2d(2, 3, 3, { rng: new Rng(5), padding: 1, dtype: 'float64' });
    const x = randn([2, 2, 5, 4], 'acc-x');
    const dy = randn([2, 3, 5, 4], 'acc-dy');
    conv.forward(x, true);
    conv.backward(dy);
    const once = [Float64Array.from(conv.weight.grad.data), Float64Array.from(conv.bias!.grad.data)];
    conv.backward(dy);
    expectClose(conv.weight.grad.data, once[0]!.map((g) => 2 * g), 1e-12, 'dW');
    expectClose(conv.bias!.grad.data, once[1]!.map((g) => 2 * g), 1e-12, 'db');
    conv.zeroGrad();
    expect(conv.weight.grad.data.every((g) => g === 0)).toBe(true);
  });
});

// ---------------------------------------------------------------------------------------------
// 3. non-contiguous inputs
// ---------------------------------------------------------------------------------------------

describe('im2col, col2im and the bias gradient in float32: exactly the plain loops, in the same order', () => {
  /** The plain loops: row (sample, oy, ox), then (channel, ky, kx); padding reads as 0. */
  function visit(c: ConvCase, each: (row: number, col: number, pixel: number) => void): void {
    const oh = outputSize(c.h, c.kh, c.sh, c.ph), ow = outputSize(c.w, c.kw, c.sw, c.pw);
    for (let s = 0, row = 0; s < c.n; s++) for (let oy = 0; oy < oh; oy++) for (let ox = 0; ox < ow; ox++, row++) {
      for (let ch = 0, col = 0; ch < c.cin; ch++) for (let ky = 0; ky < c.kh; ky++) for (let kx = 0; kx < c.kw; kx++, col++) {
        const iy = oy * c.sh - c.ph + ky, ix = ox * c.sw - c.pw + kx;
        each(row, col, iy < 0 || iy >= c.h || ix < 0 || ix >= c.w ? -1 : ((s * c.cin + ch) * c.h + iy) * c.w + ix);
      }
    }
  }

  it.each([['reference', referenceKernels], ['fast', defaultKernels()]] as const)('%s kernels: im2col copies, col2im adds back in row order, db sums in (sample, position) order', (_, kernels) => {
    fc.assert(
      fc.property(convCase, (c) => {
        const g = geometry2d('test', [c.cin, c.h, c.w], { kernel: [c.kh, c.kw], stride: [c.sh, c.sw], padding: [c.ph, c.pw] }, 1);
        const r = new Rng(c.seed);
        const x = Float32Array.from({ length: c.n * c.cin * c.h * c.w }, () => r.normal());
        const k = c.cin * c.kh * c.kw, rows = c.n * g.oh * g.ow;
        const patches = new Float32Array(rows * k).fill(Number.NaN);
        kernels.im2col(x, c.n, g, patches);
        const want = new Float32Array(rows * k);
        visit(c, (row, col, pixel) => (want[col * rows + row] = pixel < 0 ? 0 : x[pixel]!)); // Pᵀ
        expect(patches.every((v, i) => Object.is(v, want[i]))).toBe(true);

        const dp = Float32Array.from({ length: rows * k }, () => r.normal());
        const dx = new Float32Array(x.length), dxWant = new Float32Array(x.length);
        kernels.col2im({ data: dp, offset: 0, ld: rows }, c.n, g, dx);
        visit(c, (row, col, pixel) => {
          if (pixel >= 0) dxWant[pixel] += dp[col * rows + row]!;
        });
        expect(dx.every((v, i) => Object.is(v, dxWant[i]))).toBe(true);

        const conv = new Conv2d(c.cin, c.cout, [c.kh, c.kw], { rng: new Rng(c.seed), stride: [c.sh, c.sw], padding: [c.ph, c.pw] });
        conv.useKernels(kernels);
        const y = conv.forward(new Tensor(x, [c.n, c.cin, c.h, c.w]), true);
        const dy = Tensor.from(Array.from({ length: y.size }, () => r.normal()), [...y.shape]);
        conv.backward(dy);
        const p = g.oh * g.ow;
        for (let o = 0; o < c.cout; o++) {
          const db = new Float32Array(1);
          for (let s = 0; s < c.n; s++) for (let q = 0; q < p; q++) db[0] += dy.data[(s * c.cout + o) * p + q]!;
          expect(conv.bias!.grad.data[o]).toBe(db[0]);
        }
      }),
      { numRuns: 150 },
    );
  });
});

describe('Conv2d on non-contiguous ndarray views', () => {
  it('conv of Tensor.fromNdarray(transposed, strided, offset, reversed view) equals conv of an explicit contiguous copy', () => {
    fc.assert(
      fc.property(convCase, fc.integer({ min: 0, max: 2 }), fc.boolean(), (c, lo, reverse) => {
        // Memory laid out as [C, N, 2H, W + lo]; the view is [N, C, H, W] through a transpose,
        // an offset along the last axis, every other row, and (optionally) a reversed last axis.
        const base = ndarray(randn([c.cin * c.n * 2 * c.h * (c.w + lo)], `base:${c.seed}`).data, [c.cin, c.n, 2 * c.h, c.w + lo]);
        const view = base.lo(0, 0, 0, lo).step(1, 1, 2, reverse ? -1 : 1).transpose(1, 0, 2, 3);
        expect(view.shape).toEqual([c.n, c.cin, c.h, c.w]);
        const copy = Tensor.zeros([c.n, c.cin, c.h, c.w], 'float64');
        for (let n = 0; n < c.n; n++) for (let ch = 0; ch < c.cin; ch++) for (let y = 0; y < c.h; y++) for (let x = 0; x < c.w; x++) {
          copy.set(view.get(n, ch, y, x), n, ch, y, x);
        }
        const conv = makeConv(c);
        const fromView = conv.forward(Tensor.fromNdarray(view, 'float64'), true);
        const yView = Float64Array.from(fromView.data);
        const dy = randn([...fromView.shape], `dy:${c.seed}`);
        const dxView = Float64Array.from(conv.backward(dy).data);
        const fromCopy = conv.forward(copy, true);
        expectClose(yView, fromCopy.data, 0, 'y');
        expectClose(dxView, conv.backward(dy).data, 0, 'dx');
        expectClose(yView, convRef(copy, conv.weight.value, conv.bias?.value ?? null, [c.sh, c.sw], [c.ph, c.pw]), 1e-12, 'y vs reference', 1e-12);
      }),
      { numRuns: 60 },
    );
  });
});

// ---------------------------------------------------------------------------------------------
// 4. every strategy on conv layers, exactly as on dense ones
// ---------------------------------------------------------------------------------------------

function disagreements(v: ArrayLike<number>, w: ArrayLike<number>): number {
  let k = 0;
  for (let i = 0; i < v.length; i++) if (sgn(v[i]!) !== sgn(w[i]!)) k++;
  return k;
}

function meanStd(a: ArrayLike<number>): { mean: number; std: number } {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]!;
  const mean = s / a.length;
  let q = 0;
  for (let i = 0; i < a.length; i++) q += (a[i]! - mean) ** 2;
  return { mean, std: Math.sqrt(q / a.length) };
}

describe('feedback strategies on Conv2d', () => {
  it('usf: V = sign(W) of the 4-D weight, sign(0) = 0', () => {
    const conv = new Conv2d(3, 4, [3, 2], { rng: new Rng(11), feedback: usf() });
    const zeros = [0, 7, 33, 71];
    for (const i of zeros) conv.weight.value.data[i] = 0;
    const v = conv.feedback.matrix(conv.weight.value)!;
    expect(v.shape).toEqual([4, 3, 3, 2]);
    expect(Array.from(v.data)).toEqual(Array.from(conv.weight.value.data, sgn));
    for (const i of zeros) expect(v.data[i]).toBe(0);
  });

  it('brsf: V = M ∘ sign(W), M in [0, 1), constant within a step and redrawn after afterStep', () => {
    const conv = new Conv2d(4, 6, 3, { rng: new Rng(12), feedback: brsf() });
    const w = conv.weight.value.data;
    const v0 = Float64Array.from(conv.feedback.matrix(conv.weight.value)!.data);
    expect(Float64Array.from(conv.feedback.matrix(conv.weight.value)!.data)).toEqual(v0);
    for (let i = 0; i < v0.length; i++) {
      expect(sgn(v0[i]!)).toBe(sgn(w[i]!));
      expect(Math.abs(v0[i]!)).toBeLessThan(1);
    }
    conv.feedback.afterUpdate(conv);
    const v1 = conv.feedback.matrix(conv.weight.value)!.data;
    let changed = 0;
    for (let i = 0; i < v1.length; i++) {
      expect(sgn(v1[i]!)).toBe(sgn(w[i]!));
      if (v1[i] !== v0[i]) changed++;
    }
    expect(changed).toBeGreaterThan(0.99 * v1.length);
  });

  it('brsf: Sequential.afterStep after a train step redraws the conv layer M', () => {
    const rng = new Rng(13);
    const conv = new Conv2d(1, 2, 3, { rng, feedback: brsf() });
    const model = new Sequential([conv, new ReLU(), new Flatten(), new Dense(2 * 4 * 4, 3, { rng, feedback: brsf() })], [1, 6, 6]);
    const v0 = Float64Array.from(conv.feedback.matrix(conv.weight.value)!.data);
    const w0 = Float64Array.from(conv.weight.value.data);
    const x = randn([4, 1, 6, 6], 'bx', 'float32');
    trainStep(model, new SGD(model.params(), { lr: 1e-6 }), x, [0, 1, 2, 0]);
    const v1 = conv.feedback.matrix(conv.weight.value)!.data;
    let changed = 0;
    for (let i = 0; i < v1.length; i++) {
      if (sgn(conv.weight.value.data[i]!) === sgn(w0[i]!) && Math.abs(v1[i]! - v0[i]!) > 1e-6) changed++;
    }
    expect(changed).toBeGreaterThan(0.9 * v1.length);
  });

  it('frsf: V = M ∘ sign(W) with M fixed across steps', () => {
    const conv = new Conv2d(4, 6, 3, { rng: new Rng(14), feedback: frsf() });
    const v0 = Float64Array.from(conv.feedback.matrix(conv.weight.value)!.data);
    for (let i = 0; i < v0.length; i++) expect(sgn(v0[i]!)).toBe(sgn(conv.weight.value.data[i]!));
    expect(new Set(Array.from(v0, Math.abs)).size).toBeGreaterThan(0.9 * v0.length);
    for (let s = 0; s < 3; s++) conv.feedback.afterUpdate(conv);
    expect(Float64Array.from(conv.feedback.matrix(conv.weight.value)!.data)).toEqual(v0);
    conv.weight.value.data[5] = -2 * conv.weight.value.data[5]!; // a new sign: the same magnitude, flipped
    expect(conv.feedback.matrix(conv.weight.value)!.data[5]).toBe(-v0[5]!);
  });

  it('fa: a fixed B independent of W, std ≈ √(2/(in·kh·kw)) (He-normal like W)', () => {
    const [cin, cout, kh, kw] = [16, 32, 5, 3];
    const conv = new Conv2d(cin, cout, [kh, kw], { rng: new Rng(15), feedback: fa() });
    const w = conv.weight.value;
    const b = Float64Array.from(conv.feedback.matrix(w)!.data);
    const { mean, std } = meanStd(b);
    expect(b.length).toBe(cin * cout * kh * kw);
    expect(Math.abs(mean)).toBeLessThan(3 * Math.sqrt(2 / (cin * kh * kw) / b.length) + 1e-4);
    expect(Math.abs(std / Math.sqrt(2 / (cin * kh * kw)) - 1)).toBeLessThan(0.03);
    expect(Math.abs(disagreements(b, w.data) / b.length - 0.5)).toBeLessThan(0.03); // unrelated to W's signs
    const saved = Float32Array.from(w.data);
    for (let i = 0; i < w.data.length; i += 2) w.data[i] = -w.data[i]!;
    conv.feedback.afterUpdate(conv);
    expect(Float64Array.from(conv.feedback.matrix(w)!.data)).toEqual(b);
    w.data.set(saved);
  });

  it.each([
    ['bp', (flip: number) => symmetric({ flip })],
    ['usf', (flip: number) => usf({ flip })],
    ['brsf', (flip: number) => brsf({ flip })],
    ['frsf', (flip: number) => frsf({ flip })],
  ] as const)('%s with flip: exactly round(flip·n) feedback signs disagree with the 4-D W, the same entries after steps', (_name, make) => {
    for (const flip of [0.1, 0.25, 0.5, 1]) {
      const conv = new Conv2d(3, 5, [3, 2], { rng: new Rng(16), feedback: make(flip) }); // n = 90
      const w = conv.weight.value;
      const n = w.size;
      const first = disagreements(conv.feedback.matrix(w)!.data, w.data);
      expect(first, `flip ${flip}`).toBe(Math.round(flip * n));
      conv.feedback.afterUpdate(conv);
      expect(disagreements(conv.feedback.matrix(w)!.data, w.data)).toBe(first);
    }
  });

  it('fa with flip: round(flip·n) signs of the same B are flipped', () => {
    for (const flip of [0.1, 0.5, 1]) {
      const plain = new Conv2d(3, 5, 3, { rng: new Rng(17), feedback: fa() });
      const flipped = new Conv2d(3, 5, 3, { rng: new Rng(17), feedback: fa({ flip }) });
      const a = plain.feedback.matrix(plain.weight.value)!.data;
      const b = flipped.feedback.matrix(flipped.weight.value)!.data;
      let count = 0;
      for (let i = 0; i < a.length; i++) {
        expect(Math.abs(b[i]!)).toBe(Math.abs(a[i]!));
        if (a[i] !== b[i]) count++;
      }
      expect(count).toBe(Math.round(flip * a.length));
    }
  });

  describe('Batch Manhattan signs the conv weight and bias gradients', () => {
    const lr = 0.01, mu = 0.9, lambda = 1e-4;
    const net = (feedback: FeedbackStrategy): Sequential => {
      const rng = new Rng(18);
      return new Sequential(
        [new Conv2d(2, 3, 3, { rng, padding: 1, stride: 2, feedback }), new ReLU(), new Flatten(), new Dense(3 * 3 * 3, 4, { rng, feedback })],
        [2, 5, 5],
      ).cast('float64');
    };

    it.each([
      ['bp', () => symmetric()],
      ['usf', () => usf()],
      ['frsf', () => frsf()],
    ])('bm+%s: shapeGradients gives sign(g); the first SGD step is −lr·(sign(g) + λ·w)', (_name, inner) => {
      const model = net(batchManhattan(inner()));
      const reference = net(inner()); // same seed: same weights and feedback draws, without BM
      const x = randn([5, 2, 5, 5], 'bm-x');
      const labels = [0, 3, 1, 2, 3];
      model.params().forEach((p, k) => expect(Array.from(p.value.data)).toEqual(Array.from(reference.params()[k]!.value.data)));

      reference.zeroGrad();
      reference.backward(softmaxCrossEntropy(reference.forward(x, true), labels).grad);
      const g = reference.params().map((p) => Float64Array.from(p.grad.data));
      expect(model.params().map((p) => p.name)).toEqual(['0.weight', '0.bias', '3.weight', '3.bias']);
      expect(g[0]!.filter((v) => v !== 0).length).toBeGreaterThan(10);
      expect(g[1]!.some((v) => v !== 0)).toBe(true);

      // shapeGradients alone: the conv (and dense) gradients become their signs.
      model.zeroGrad();
      model.backward(softmaxCrossEntropy(model.forward(x, true), labels).grad);
      model.params().forEach((p, k) => expectClose(p.grad.data, g[k]!, 1e-12, `raw ${p.name}`));
      model.beforeUpdate();
      model.params().forEach((p, k) => expect(Array.from(p.grad.data), p.name).toEqual(Array.from(g[k]!, sgn)));

      // trainStep with SGD(momentum 0.9, weight decay 1e-4): Δw = −lr·(sign(g) + λ·w0) on the first step.
      const w0 = model.params().map((p) => Float64Array.from(p.value.data));
      const opt = new SGD(model.params(), { lr, momentum: mu, weightDecay: lambda });
      expect(Number.isFinite(trainStep(model, opt, x, labels).loss)).toBe(true);
      model.params().forEach((p, k) => {
        const expected = Float64Array.from(w0[k]!, (wi, i) => wi - lr * (sgn(g[k]![i]!) + lambda * wi));
        expectClose(p.value.data, expected, 1e-15, `step 1: ${p.name}`);
      });
    });
  });
});

// ---------------------------------------------------------------------------------------------
// 5. shape errors
// ---------------------------------------------------------------------------------------------

describe('Conv2d shape errors name the layer and both shapes', () => {
  it('wrong number of channels', () => {
    const conv = new Conv2d(3, 4, 3, { rng: new Rng(1) });
    const e = thrown(() => conv.forward(Tensor.zeros([2, 2, 5, 5]), true));
    expect(e).toBeInstanceOf(ShapeError);
    expect((e as ShapeError).message).toContain('Conv2d(3→4, 3×3)');
    expect((e as ShapeError).message).toContain('[3, H, W]');
    expect((e as ShapeError).message).toContain('[2, 5, 5]');
    expect(() => conv.outputShape([2, 5, 5])).toThrow(ShapeError);
  });

  it('input of the wrong rank', () => {
    const conv = new Conv2d(1, 2, 3, { rng: new Rng(1) });
    expect(() => conv.forward(Tensor.zeros([1, 5, 5]), true)).toThrow('Conv2d(1→2, 3×3).forward: expected [N, 1, H, W], received [1, 5, 5]');
  });

  it('input smaller than the (padded) kernel', () => {
    const conv = new Conv2d(1, 2, 5, { rng: new Rng(1) });
    const e = thrown(() => conv.forward(Tensor.zeros([1, 1, 3, 7]), true)) as ShapeError;
    expect(e).toBeInstanceOf(ShapeError);
    expect(e.message).toContain('Conv2d(1→2, 5×5)');
    expect(e.message).toContain('5×5');
    expect(e.message).toContain('[1, 3, 7]');
    // With padding 1 a 3×3 input reaches 5×5 and is accepted; 2×2 is not.
    const padded = new Conv2d(1, 2, 5, { rng: new Rng(1), padding: 1 });
    expect(padded.forward(Tensor.zeros([1, 1, 3, 3]), true).shape).toEqual([1, 2, 1, 1]);
    expect(() => padded.forward(Tensor.zeros([1, 1, 2, 3]), true)).toThrow(/Conv2d\(1→2, 5×5, padding 1,1\).*received \[1, 2, 3\]/);
  });

  it('backward before forward is a StateError naming the layer', () => {
    const conv = new Conv2d(2, 3, 3, { rng: new Rng(1) });
    const e = thrown(() => conv.backward(Tensor.zeros([1, 3, 2, 2])));
    expect(e).toBeInstanceOf(StateError);
    expect((e as StateError).message).toContain('Conv2d(2→3, 3×3)');
  });

  it('a gradient of the wrong shape', () => {
    const conv = new Conv2d(2, 4, 3, { rng: new Rng(1), stride: 2 });
    conv.forward(Tensor.zeros([2, 2, 7, 7]), true); // output [2, 4, 3, 3]
    for (const bad of [[2, 4, 3, 4], [2, 3, 3, 3], [1, 4, 3, 3], [2, 36]]) {
      const e = thrown(() => conv.backward(Tensor.zeros(bad))) as ShapeError;
      expect(e).toBeInstanceOf(ShapeError);
      expect(e.message).toBe(`Conv2d(2→4, 3×3, stride 2,2).backward: expected [2, 4, 3, 3], received [${bad.join(', ')}]`);
    }
  });

  it('bad sizes and a missing generator are ConfigErrors at construction', () => {
    expect(() => new Conv2d(0, 2, 3, { rng: new Rng(1) })).toThrow(/inChannels/);
    expect(() => new Conv2d(1, 2, 0, { rng: new Rng(1) })).toThrow(/kernel/);
    expect(() => new Conv2d(1, 2, 3, { rng: new Rng(1), stride: 0 })).toThrow(/stride/);
    expect(() => new Conv2d(1, 2, 3, { rng: new Rng(1), padding: -1 })).toThrow(/padding/);
    expect(() => new Conv2d(1, 2, 3, {} as never)).toThrow(/rng/);
  });
});
