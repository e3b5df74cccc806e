import { describe, expect, it } from 'vitest';
import { Conv2d, Dense, Flatten, Rng, Sequential, StateError, Tensor, brsf, lenet, mlp, softmaxCrossEntropy, usf, type Layer } from '../src/index.js';
import { randn } from './helpers.js';

// backwardParams: training's backward, which skips the gradient with respect to the data. It must
// accumulate exactly the parameter gradients the full backward does.

/** Every parameter gradient of a model, flattened, after one backward of `run`. */
function grads(model: Sequential, run: (m: Sequential, dy: Tensor) => void, x: Tensor, labels: number[]): number[] {
  model.zeroGrad();
  const { grad } = softmaxCrossEntropy(model.forward(x, true), labels);
  run(model, grad);
  return model.params().flatMap((p) => Array.from(p.grad.data));
}

describe('Sequential.backwardParams', () => {
  const cases: [string, () => Sequential, number[]][] = [
    ['mlp (a Flatten before the first dense layer)', () => mlp({ rng: new Rng(1), feedback: brsf() }), [4, 1, 28, 28]],
    ['lenet with BN (a first conv layer)', () => lenet({ rng: new Rng(2), bn: true, feedback: usf() }), [3, 1, 28, 28]],
    ['dense first', () => new Sequential([new Dense(6, 5, { rng: new Rng(3) }), new Dense(5, 3, { rng: new Rng(4) })], [6]), [4, 6]],
  ];
  for (const [name, build, shape] of cases) {
    it(`accumulates the same parameter gradients as backward: ${name}`, () => {
      const x = randn(shape, name, 'float32');
      const labels = Array.from({ length: shape[0]! }, (_, i) => i % 3);
      const a = build(), b = build();
      const full = grads(a, (m, dy) => m.backward(dy), x, labels);
      const fast = grads(b, (m, dy) => m.backwardParams(dy), x, labels);
      expect(fast).toEqual(full);
      expect(full.some((v) => v !== 0)).toBe(true);
    });
  }

  it('skips the first weighted layer\'s input gradient (a spy on its backward is never called)', () => {
    const rng = new Rng(5);
    const conv = new Conv2d(1, 2, 3, { rng });
    const model = new Sequential([conv, new Flatten(), new Dense(2 * 4 * 4, 3, { rng })], [1, 6, 6]);
    let fullBackwards = 0;
    const original = conv.backward.bind(conv);
    conv.backward = (dy: Tensor) => {
      fullBackwards++;
      return original(dy);
    };
    const { grad } = softmaxCrossEntropy(model.forward(randn([2, 1, 6, 6], 1, 'float32'), true), [0, 1]);
    model.backwardParams(grad);
    expect(fullBackwards).toBe(0);
    expect(Array.from(conv.weight.grad.data).some((v) => v !== 0)).toBe(true);
    // Instrumented models take the full path: their statistics need the first layer's error.
    model.instrument(true);
    model.forward(randn([2, 1, 6, 6], 1, 'float32'), true);
    model.backwardParams(grad);
    expect(fullBackwards).toBe(1);
  });

  it('falls back to backward for a first layer without backwardParams, and needs a forward first', () => {
    const rng = new Rng(6);
    const inner = new Dense(4, 2, { rng });
    const plain: Layer = {
      describe: () => 'a layer without backwardParams',
      outputShape: (shape) => inner.outputShape(shape),
      forward: (x, training) => inner.forward(x, training),
      backward: (dy) => inner.backward(dy),
      params: () => inner.params(),
      zeroGrad: () => inner.zeroGrad(),
    };
    let plainBackwards = 0;
    const backward = plain.backward;
    plain.backward = (dy) => {
      plainBackwards++;
      return backward(dy);
    };
    const model = new Sequential([plain, new Dense(2, 2, { rng })], [4]);
    expect(() => model.backwardParams(Tensor.zeros([1, 2], 'float32'))).toThrow(StateError);
    const { grad } = softmaxCrossEntropy(model.forward(randn([3, 4], 2, 'float32'), true), [0, 1, 0]);
    model.backwardParams(grad);
    expect(plainBackwards).toBe(1); // the fallback: the first layer's full backward
    expect(Array.from(model.params()[0]!.grad.data).some((v) => v !== 0)).toBe(true);
  });
});
