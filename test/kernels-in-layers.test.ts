import { describe, expect, it } from 'vitest';
import { Conv2d, Dense, Rng, Tensor, brsf, gemmKernel, usf, type FeedbackStrategy } from '../src/index.js';
import { randn } from './helpers.js';

// The layers' float32 fast paths (the SIMD kernel, products read in place with a row stride,
// dW formed as its transpose, strided col2im, backwardParams) against direct loops written from
// the definitions in float64, independent of im2col and of every kernel. Shapes are large enough
// that every product takes the SIMD path.

/** max |a − b| / (1 + |b|) over two arrays. */
function worst(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let w = 0;
  for (let i = 0; i < b.length; i++) w = Math.max(w, Math.abs(a[i]! - b[i]!) / (1 + Math.abs(b[i]!)));
  return w;
}

interface Reference {
  y: Float64Array;
  dx: Float64Array;
  dw: Float64Array;
  db: Float64Array;
}

/** y = W ⋆ x + b; dW = Σ dy·x; db = Σ dy; dx = the transposed convolution of dy with V. Direct loops. */
function convReference(layer: Conv2d, x: Tensor, dy: (shape: number[]) => Tensor, v: ArrayLike<number>): Reference & { dyT: Tensor } {
  const [n, c, h, w] = x.shape as number[];
  const [o, , kh, kw] = layer.weight.value.shape as number[];
  const [sh, sw] = layer.stride, [ph, pw] = layer.padding;
  const oh = Math.floor((h! + 2 * ph - kh!) / sh) + 1, ow = Math.floor((w! + 2 * pw - kw!) / sw) + 1;
  const W = layer.weight.value.data, b = layer.bias!.value.data, X = x.data;
  const y = new Float64Array(n! * o! * oh * ow);
  const dyT = dy([n!, o!, oh, ow]), D = dyT.data;
  const dx = new Float64Array(X.length), dw = new Float64Array(W.length), db = new Float64Array(o!);
  for (let s = 0; s < n!; s++) for (let f = 0; f < o!; f++) for (let oy = 0; oy < oh; oy++) for (let ox = 0; ox < ow; ox++) {
    const yi = ((s * o! + f) * oh + oy) * ow + ox;
    let acc = b[f]!;
    db[f]! += D[yi]!;
    for (let ch = 0; ch < c!; ch++) for (let ky = 0; ky < kh!; ky++) for (let kx = 0; kx < kw!; kx++) {
      const iy = oy * sh - ph + ky, ix = ox * sw - pw + kx;
      if (iy < 0 || iy >= h! || ix < 0 || ix >= w!) continue;
      const xi = ((s * c! + ch) * h! + iy) * w! + ix, wi = ((f * c! + ch) * kh! + ky) * kw! + kx;
      acc += W[wi]! * X[xi]!;
      dw[wi]! += D[yi]! * X[xi]!;
      dx[xi]! += v[wi]! * D[yi]!;
    }
    y[yi] = acc;
  }
  return { y, dx, dw, db, dyT };
}

/** y = x Wᵀ + b; dW = dyᵀ x; db = Σ dy; dx = dy V. Direct loops. */
function denseReference(layer: Dense, x: Tensor, dy: (shape: number[]) => Tensor, v: ArrayLike<number>): Reference & { dyT: Tensor } {
  const [n, i] = x.shape as number[];
  const o = layer.outFeatures;
  const W = layer.weight.value.data, b = layer.bias!.value.data, X = x.data;
  const dyT = dy([n!, o]), D = dyT.data;
  const y = new Float64Array(n! * o), dx = new Float64Array(X.length), dw = new Float64Array(W.length), db = new Float64Array(o);
  for (let s = 0; s < n!; s++) for (let f = 0; f < o; f++) {
    let acc = b[f]!;
    db[f]! += D[s * o + f]!;
    for (let k = 0; k < i!; k++) {
      acc += W[f * i! + k]! * X[s * i! + k]!;
      dw[f * i! + k]! += D[s * o + f]! * X[s * i! + k]!;
      dx[s * i! + k]! += D[s * o + f]! * v[f * i! + k]!;
    }
    y[s * o + f] = acc;
  }
  return { y, dx, dw, db, dyT };
}

const cases: [string, (feedback: FeedbackStrategy) => Dense | Conv2d, number[]][] = [
  ['Conv2d 3→8, 5×5, padding 2', (feedback) => new Conv2d(3, 8, 5, { rng: new Rng(1), padding: 2, feedback }), [6, 3, 12, 12]],
  ['Conv2d 4→6, 3×2, stride 2, padding 1 (odd sizes)', (feedback) => new Conv2d(4, 6, [3, 2], { rng: new Rng(2), stride: 2, padding: 1, feedback }), [5, 4, 11, 9]],
  ['Dense 300→70', (feedback) => new Dense(300, 70, { rng: new Rng(3), feedback }), [33, 300]],
];

describe('layers on the float32 fast paths agree with direct float64 loops', () => {
  it('runs the SIMD kernel here', () => expect(gemmKernel()).toBe('wasm-simd'));
  for (const [name, build, shape] of cases) {
    for (const feedback of [usf(), brsf()]) {
      it(`${name}, ${feedback.name}: forward, backward and backwardParams`, () => {
        const layer = build(feedback);
        layer.bias!.value.data.set(randn([layer.bias!.value.size], `${name} b`, 'float32').data);
        const x = randn(shape, name, 'float32');
        const y = layer.forward(x, true);
        const v = layer.feedback.matrix(layer.weight.value)!.data.slice(); // V for this step
        const dyOf = (s: number[]) => randn(s, `${name} dy`, 'float32');
        const ref = layer instanceof Conv2d ? convReference(layer, x, dyOf, v) : denseReference(layer, x, dyOf, v);
        expect(worst(y.data, ref.y)).toBeLessThan(1e-4);
        const dx = layer.backward(ref.dyT);
        expect(worst(dx.data, ref.dx)).toBeLessThan(1e-4);
        expect(worst(layer.weight.grad.data, ref.dw)).toBeLessThan(1e-4);
        expect(worst(layer.bias!.grad.data, ref.db)).toBeLessThan(1e-4);
        // backwardParams accumulates the same parameter gradients again (and nothing else).
        layer.backwardParams(ref.dyT);
        expect(worst(layer.weight.grad.data, Array.from(ref.dw, (g) => 2 * g))).toBeLessThan(1e-4);
        expect(worst(layer.bias!.grad.data, Array.from(ref.db, (g) => 2 * g))).toBeLessThan(1e-4);
      });
    }
  }
});

describe('Conv2d work arrays reused across steps and batch sizes', () => {
  it('gives the reference answers on every step, when the batch size changes in between (evaluation) and back', () => {
    const layer = new Conv2d(3, 5, 3, { rng: new Rng(9), padding: 1, feedback: usf() });
    for (const [step, n] of [[1, 4], [2, 4], [3, 7], [4, 4], [5, 2]] as const) {
      const x = randn([n, 3, 9, 9], `x${step}`, 'float32');
      layer.zeroGrad();
      const y = layer.forward(x, true);
      const v = layer.feedback.matrix(layer.weight.value)!.data.slice();
      const ref = convReference(layer, x, (s) => randn(s, `dy${step}`, 'float32'), v);
      expect(worst(y.data, ref.y), `step ${step} forward`).toBeLessThan(1e-4);
      const dx = layer.backward(ref.dyT);
      expect(worst(dx.data, ref.dx), `step ${step} dx`).toBeLessThan(1e-4);
      expect(worst(layer.weight.grad.data, ref.dw), `step ${step} dW`).toBeLessThan(1e-4);
      // An evaluation between two steps, at another batch size (the work arrays change size).
      if (step === 3) layer.forward(randn([1, 3, 9, 9], 'eval', 'float32'), false);
    }
  });
});

