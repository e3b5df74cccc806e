import { describe, expect, it } from 'vitest';
import {
  ConfigError,
  Dense,
  Flatten,
  ReLU,
  Rng,
  Sequential,
  ShapeError,
  StateError,
  Tensor,
  ValueError,
  heNormal,
  mlp,
  softmaxCrossEntropy,
  uniformInit,
  xavierUniform,
} from '../src/index.js';
import { randn } from './helpers.js';

describe('Dense', () => {
  it('computes y = x Wᵀ + b', () => {
    const d = new Dense(2, 3, { rng: new Rng(0) });
    d.weight.value.data.set([1, 2, 3, 4, 5, 6]); // W = [[1,2],[3,4],[5,6]]
    d.bias!.value.data.set([0.5, -1, 2]);
    expect(d.forward(Tensor.from([[1, 1], [2, 0]]), true).toArray()).toEqual([[3.5, 6, 13], [2.5, 5, 12]]);
  });

  it('accumulates parameter gradients across backward calls (a value used twice gets the sum)', () => {
    const d = new Dense(3, 2, { rng: new Rng(1) });
    const x = randn([4, 3], 1, 'float32');
    const dy = randn([4, 2], 2, 'float32');
    d.forward(x, true);
    d.backward(dy);
    const once = Float32Array.from(d.weight.grad.data);
    const onceB = Float32Array.from(d.bias!.grad.data);
    d.backward(dy);
    d.weight.grad.data.forEach((g, i) => expect(g).toBeCloseTo(2 * once[i]!, 5));
    d.bias!.grad.data.forEach((g, i) => expect(g).toBeCloseTo(2 * onceB[i]!, 5));
    d.zeroGrad();
    expect([...d.weight.grad.data].every((g) => g === 0)).toBe(true);
  });

  it('backward before forward is a StateError; wrong shapes are ShapeErrors naming the layer and both shapes', () => {
    const d = new Dense(3, 2, { rng: new Rng(1) });
    expect(() => d.backward(Tensor.zeros([1, 2]))).toThrow(StateError);
    expect(() => d.forward(Tensor.zeros([4, 5]), true)).toThrow(/Dense\(3→2\)\.forward: expected \[N, 3\], received \[4, 5\]/);
    d.forward(Tensor.zeros([4, 3]), true);
    expect(() => d.backward(Tensor.zeros([4, 3]))).toThrow(ShapeError);
  });

  it('rejects bad sizes and a missing generator at construction', () => {
    expect(() => new Dense(0, 2, { rng: new Rng(1) })).toThrow(ConfigError);
    expect(() => new Dense(2.5, 2, { rng: new Rng(1) })).toThrow(/inFeatures: 2.5/);
    expect(() => new Dense(2, 2, {} as never)).toThrow(/rng/);
  });

  it('initialisers have the documented scale; the same seed gives the same weights', () => {
    const w = new Dense(400, 300, { rng: new Rng(2), init: heNormal() }).weight.value.data;
    const std = Math.sqrt(Array.from(w).reduce((s, v) => s + v * v, 0) / w.length);
    expect(std).toBeCloseTo(Math.sqrt(2 / 400), 3);
    const x = new Dense(400, 300, { rng: new Rng(2), init: xavierUniform() }).weight.value.data;
    const a = Math.sqrt(6 / 700);
    expect(Math.max(...x)).toBeLessThanOrEqual(a);
    expect(Math.max(...x)).toBeGreaterThan(0.95 * a);
    const u = new Dense(10, 10, { rng: new Rng(2), init: uniformInit(-0.1, 0.1) }).weight.value.data;
    expect(Math.min(...u)).toBeGreaterThanOrEqual(-0.1);
    expect(new Dense(5, 5, { rng: new Rng(9) }).weight.value.data).toEqual(new Dense(5, 5, { rng: new Rng(9) }).weight.value.data);
    expect(new Dense(5, 5, { rng: new Rng(9) }).bias!.value.data.every((b) => b === 0)).toBe(true);
  });
});

describe('Sequential', () => {
  it('names parameters with their layer index', () => {
    const model = mlp({ rng: new Rng(0), inputShape: [4], hidden: [3], classes: 2 });
    expect(model.params().map((p) => p.name)).toEqual(['1.weight', '1.bias', '3.weight', '3.bias']);
  });

  it('fails at build time, naming the layer, when sizes do not chain', () => {
    const rng = new Rng(0);
    expect(() => new Sequential([new Flatten(), new Dense(784, 10, { rng }), new ReLU(), new Dense(20, 5, { rng })], [1, 28, 28])).toThrow(
      /layer 3 Dense\(20→5\): expected per-sample input \[20\], received \[10\]/,
    );
  });

  it('checks the input shape and rejects NaN/Inf inputs', () => {
    const model = mlp({ rng: new Rng(0), inputShape: [4], hidden: [3], classes: 2 });
    expect(() => model.forward(Tensor.zeros([2, 5]), true)).toThrow(/expected \[N, 4\], received \[2, 5\]/);
    const bad = Tensor.zeros([2, 4]);
    bad.data[3] = NaN;
    expect(() => model.forward(bad, true)).toThrow(ValueError);
  });

  it('a backward pass through the model equals the product of its layers\' backward passes', () => {
    const model = mlp({ rng: new Rng(3), inputShape: [5], hidden: [4], classes: 3 });
    const x = randn([2, 5], 3, 'float32');
    const { grad } = softmaxCrossEntropy(model.forward(x, true), [0, 2]);
    const dx = model.backward(grad);
    let g = grad;
    for (let i = model.layers.length - 1; i >= 0; i--) g = model.layers[i]!.backward(g);
    dx.data.forEach((v, i) => expect(v).toBeCloseTo(g.data[i]!, 6));
  });
});

describe('softmaxCrossEntropy', () => {
  it('is log(C) for equal logits, is stable for huge logits, and rejects bad labels', () => {
    expect(softmaxCrossEntropy(Tensor.zeros([2, 4]), [1, 3]).loss).toBeCloseTo(Math.log(4));
    const r = softmaxCrossEntropy(Tensor.from([[1000, 0], [0, 1000]]), [0, 0]);
    expect(r.loss).toBeCloseTo(500);
    expect(r.correct).toBe(1);
    expect(() => softmaxCrossEntropy(Tensor.zeros([2, 4]), [1, 4])).toThrow(/label 4 at index 1 is outside \[0, 4\)/);
    expect(() => softmaxCrossEntropy(Tensor.zeros([2, 4]), [1])).toThrow(ShapeError);
    expect(() => softmaxCrossEntropy(Tensor.zeros([2, 4]), [0.5, 1])).toThrow(ValueError);
  });
});

describe('ReLU on special values', () => {
  it('−0 → 0, NaN → NaN, +∞ → +∞, −∞ → NaN (divergence is not masked); the backward mask follows the output', () => {
    for (const dtype of ['float32', 'float64'] as const) {
      const relu = new ReLU();
      const x = Tensor.from([-2, -0, 0, 3, NaN, Infinity, -Infinity, 1e-45], [1, 8], dtype);
      const y = relu.forward(x, true);
      expect(Array.from(y.data)).toEqual([0, 0, 0, 3, NaN, Infinity, NaN, dtype === 'float32' ? 1.401298464324817e-45 : 1e-45]);
      expect(Object.is(y.data[1], 0)).toBe(true); // not −0
      const dx = relu.backward(Tensor.from([5, 5, 5, 5, 5, 5, 5, -5], [1, 8], dtype));
      expect(Array.from(dx.data)).toEqual([0, 0, 0, 5, 0, 5, 0, -5]);
      expect(Object.is(dx.data[0], 0)).toBe(true);
    }
  });
});

describe('ReLU on long float32 arrays (the WebAssembly SIMD kernel)', () => {
  it.each([511, 512, 515, 4097, 65536 * 2 + 3])('%i values: forward and backward bit for bit the scalar definition', (n) => {
    const special = [-2, -0, 0, 3, NaN, Infinity, -Infinity, 1e-45, -1e-45, 3e38];
    let seed = 11;
    const next = (): number => ((seed = (seed * 16807) % 2147483647) / 2147483647) * 2 - 1;
    const values = (k: number) => Float32Array.from({ length: n }, (_, i) => (i % 53 === k ? special[(i / 53) % special.length | 0]! : next()));
    const relu = new ReLU();
    const x = new Tensor(values(0), [1, n]);
    const y = relu.forward(x, true);
    const dy = new Tensor(values(1), [1, n]);
    const dx = relu.backward(dy);
    for (let i = 0; i < n; i++) {
      const v = x.data[i]!;
      const want = Math.fround(v * +(v > 0) + 0);
      if (!Object.is(y.data[i], want)) throw new Error(`forward [${i}]: relu(${v}) gave ${y.data[i]}, expected ${want}`);
      const g = dy.data[i]!;
      const wantDx = Math.fround(g * +(want > 0) + 0);
      if (!Object.is(dx.data[i], wantDx)) throw new Error(`backward [${i}]: dy ${g}, y ${want}: gave ${dx.data[i]}, expected ${wantDx}`);
    }
  });
});

