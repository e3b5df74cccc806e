import { describe, expect, it } from 'vitest';
import {
  Dense,
  Flatten,
  GradCheckError,
  ReLU,
  Rng,
  Sequential,
  Sigmoid,
  Tanh,
  Tensor,
  assertGradCheck,
  gradCheck,
  meanSquaredError,
  mlp,
  softmaxCrossEntropy,
  usf,
  type Layer,
} from '../src/index.js';
import { randn } from './helpers.js';

// Every layer's backward pass, in symmetric mode, against central differences in float64:
// input gradient and every parameter, every element (the shapes are small).
describe('gradCheck: every layer in symmetric mode', () => {
  const cases: [string, () => Layer, number[]][] = [
    ['Dense(5→3)', () => new Dense(5, 3, { rng: new Rng(1) }), [4, 5]],
    ['Dense(7→2) without bias', () => new Dense(7, 2, { rng: new Rng(2), bias: false }), [3, 7]],
    ['Dense(1→1), batch 1', () => new Dense(1, 1, { rng: new Rng(3) }), [1, 1]],
    ['Tanh', () => new Tanh(), [3, 6]],
    ['Sigmoid', () => new Sigmoid(), [3, 6]],
    ['Flatten', () => new Flatten(), [2, 3, 2, 2]],
    ['Sequential(Flatten, Dense, Tanh, Dense)', () => new Sequential([new Flatten(), new Dense(6, 4, { rng: new Rng(4) }), new Tanh(), new Dense(4, 3, { rng: new Rng(5) })], [2, 3]), [5, 2, 3]],
    ['mlp 12-8-6-4 (ReLU)', () => mlp({ rng: new Rng(6), inputShape: [12], hidden: [8, 6], classes: 4 }), [6, 12]],
  ];
  for (const [name, make, shape] of cases) {
    it(name, () => {
      const result = assertGradCheck(make(), randn(shape, name));
      expect(result.checked).toBeGreaterThan(0);
      expect(result.maxError).toBeLessThan(1e-6);
    });
  }

  it('ReLU (inputs kept away from the kink at 0)', () => {
    const x = randn([4, 9], 'relu');
    for (let i = 0; i < x.size; i++) if (Math.abs(x.data[i]!) < 0.05) x.data[i] = 0.5;
    expect(assertGradCheck(new ReLU(), x).ok).toBe(true);
  });

  it('restores the layer to float32 afterwards', () => {
    const layer = new Dense(3, 2, { rng: new Rng(0) });
    const before = Float32Array.from(layer.weight.value.data);
    gradCheck(layer, randn([2, 3], 0));
    expect(layer.weight.value.dtype).toBe('float32');
    expect(layer.weight.value.data).toEqual(before);
  });
});

describe('gradCheck: negative controls', () => {
  class WrongInputGradient extends Dense {
    override backward(dy: Tensor): Tensor {
      const dx = super.backward(dy);
      dx.data[1] *= 1.01; // one element 1% off
      return dx;
    }
  }
  class WrongWeightGradient extends Dense {
    override backward(dy: Tensor): Tensor {
      const dx = super.backward(dy);
      this.weight.grad.data[2] += 1e-3;
      return dx;
    }
  }

  it('a deliberately wrong input gradient fails, naming layer, argument, index, expected and received', () => {
    const layer = new WrongInputGradient(4, 3, { rng: new Rng(1) });
    const result = gradCheck(layer, randn([2, 4], 1));
    expect(result.ok).toBe(false);
    expect(result.mismatches).toHaveLength(1);
    expect(result.mismatches[0]).toMatchObject({ argument: 'input', index: 1 });
    expect(() => assertGradCheck(layer, randn([2, 4], 1))).toThrow(GradCheckError);
    expect(() => assertGradCheck(layer, randn([2, 4], 1))).toThrow(/Dense\(4→3\): gradient of input\[1\] expected .* received /);
  });

  it('a deliberately wrong weight gradient fails on that parameter only', () => {
    const result = gradCheck(new WrongWeightGradient(4, 3, { rng: new Rng(1) }), randn([2, 4], 2));
    expect(result.mismatches.map((m) => [m.argument, m.index])).toEqual([['weight', 2]]);
  });

  it('asymmetric feedback (uSF) fails the input check but its parameter gradients are the true ones', () => {
    const layer = new Dense(6, 4, { rng: new Rng(3), feedback: usf() });
    const x = randn([3, 6], 3);
    expect(gradCheck(layer, x).mismatches.every((m) => m.argument === 'input')).toBe(true);
    expect(gradCheck(layer, x).ok).toBe(false);
    expect(gradCheck(layer, x, { inputs: false }).ok).toBe(true);
  });
});

describe('loss gradients against central differences', () => {
  const numeric = (f: (t: Tensor) => number, x: Tensor, i: number, eps = 1e-6) => {
    const o = x.data[i]!;
    x.data[i] = o + eps;
    const p = f(x);
    x.data[i] = o - eps;
    const m = f(x);
    x.data[i] = o;
    return (p - m) / (2 * eps);
  };

  it('softmax cross-entropy (mean over the batch)', () => {
    const logits = randn([5, 4], 'ce');
    const labels = [0, 3, 1, 1, 2];
    const { grad } = softmaxCrossEntropy(logits, labels);
    for (let i = 0; i < logits.size; i++) {
      expect(grad.data[i]).toBeCloseTo(numeric((t) => softmaxCrossEntropy(t, labels).loss, logits, i), 7);
    }
  });

  it('mean squared error', () => {
    const p = randn([3, 4], 'mse-p');
    const t = randn([3, 4], 'mse-t');
    const { grad } = meanSquaredError(p, t);
    for (let i = 0; i < p.size; i++) expect(grad.data[i]).toBeCloseTo(numeric((x) => meanSquaredError(x, t).loss, p, i), 7);
  });
});
