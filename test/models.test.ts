import { describe, expect, it } from 'vitest';
import {
  BatchNorm,
  Conv2d,
  Dense,
  Flatten,
  MaxPool2d,
  ReLU,
  Rng,
  SGD,
  Sequential,
  ShapeError,
  Tensor,
  assertGradCheck,
  batchManhattan,
  brsf,
  lenet,
  mlp,
  symmetric,
  trainStep,
  usf,
  type FeedbackStrategy,
  type Layer,
} from '../src/index.js';
import { randn } from './helpers.js';

/** Each layer as [kind, configuration], read from the layer objects themselves. */
function summary(model: Sequential): string[] {
  return model.layers.map((l: Layer) => {
    if (l instanceof Conv2d) return `conv ${l.kernel.join('×')} ${l.inChannels}→${l.outChannels} stride ${l.stride.join(',')} pad ${l.padding.join(',')}`;
    if (l instanceof BatchNorm) return `bn ${l.numFeatures}`;
    if (l instanceof ReLU) return 'relu';
    if (l instanceof MaxPool2d) return `maxpool ${l.describe()}`;
    if (l instanceof Flatten) return 'flatten';
    if (l instanceof Dense) return `dense ${l.inFeatures}→${l.outFeatures}`;
    return `other ${l.describe()}`;
  });
}

const POOL = 'maxpool MaxPool2d(2×2, stride 2,2)';

const LENET = [
  'conv 5×5 1→6 stride 1,1 pad 2,2', 'relu', POOL,
  'conv 5×5 6→16 stride 1,1 pad 0,0', 'relu', POOL,
  'flatten',
  'dense 400→120', 'relu',
  'dense 120→84', 'relu',
  'dense 84→10',
];
const LENET_BN = [
  'conv 5×5 1→6 stride 1,1 pad 2,2', 'bn 6', 'relu', POOL,
  'conv 5×5 6→16 stride 1,1 pad 0,0', 'bn 16', 'relu', POOL,
  'flatten',
  'dense 400→120', 'bn 120', 'relu',
  'dense 120→84', 'bn 84', 'relu',
  'dense 84→10',
];

const count = (model: Sequential) => model.params().reduce((s, p) => s + p.value.size, 0);

function stdOf(a: ArrayLike<number>): number {
  let s = 0, q = 0;
  for (let i = 0; i < a.length; i++) s += a[i]!;
  const m = s / a.length;
  for (let i = 0; i < a.length; i++) q += (a[i]! - m) ** 2;
  return Math.sqrt(q / a.length);
}

/** A seeded batch of images and labels. */
function images(seed: number, n: number, shape: number[], classes = 10) {
  const x = randn([n, ...shape], `img:${seed}`, 'float32');
  const r = new Rng(`labels:${seed}`);
  return { x, labels: Int32Array.from({ length: n }, () => r.int(classes)) };
}

describe('lenet: the protocol architecture', () => {
  it('without BN: conv 5×5 6 pad 2, ReLU, maxpool 2, conv 5×5 16, ReLU, maxpool 2, flatten 400, dense 120, ReLU, dense 84, ReLU, dense 10', () => {
    const model = lenet({ rng: new Rng(1) });
    expect(summary(model)).toEqual(LENET);
    expect(model.describe()).toBe(
      'Sequential(Conv2d(1→6, 5×5, padding 2,2), ReLU, MaxPool2d(2×2, stride 2,2), Conv2d(6→16, 5×5), ReLU, MaxPool2d(2×2, stride 2,2), ' +
        'Flatten, Dense(400→120), ReLU, Dense(120→84), ReLU, Dense(84→10))',
    );
    expect(model.outputShape([1, 28, 28])).toEqual([10]);
    // The per-layer shapes: 6×28×28 → 6×14×14 → 16×10×10 → 16×5×5 → 400.
    const shapes: number[][] = [];
    let s = [1, 28, 28];
    for (const l of model.layers) shapes.push((s = l.outputShape(s)));
    expect(shapes.slice(0, 7)).toEqual([[6, 28, 28], [6, 28, 28], [6, 14, 14], [16, 10, 10], [16, 10, 10], [16, 5, 5], [400]]);
  });

  it('without BN: parameter names, shapes and the count 61,706', () => {
    const model = lenet({ rng: new Rng(1) });
    expect(model.params().map((p) => [p.name, [...p.value.shape]])).toEqual([
      ['0.weight', [6, 1, 5, 5]], ['0.bias', [6]],
      ['3.weight', [16, 6, 5, 5]], ['3.bias', [16]],
      ['7.weight', [120, 400]], ['7.bias', [120]],
      ['9.weight', [84, 120]], ['9.bias', [84]],
      ['11.weight', [10, 84]], ['11.bias', [10]],
    ]);
    expect(count(model)).toBe(61_706);
  });

  it('with BN: BN after each conv and hidden dense layer, before its ReLU; γ = 1, β = 0; 62,158 parameters', () => {
    const model = lenet({ rng: new Rng(1), bn: true });
    expect(summary(model)).toEqual(LENET_BN);
    expect(model.params().map((p) => p.name)).toEqual([
      '0.weight', '0.bias', '1.weight', '1.bias',
      '4.weight', '4.bias', '5.weight', '5.bias',
      '9.weight', '9.bias', '10.weight', '10.bias',
      '12.weight', '12.bias', '13.weight', '13.bias',
      '15.weight', '15.bias',
    ]);
    expect(count(model)).toBe(61_706 + 2 * (6 + 16 + 120 + 84));
    for (const l of model.layers) {
      if (!(l instanceof BatchNorm)) continue;
      expect(l.gamma.value.data.every((g) => g === 1)).toBe(true);
      expect(l.beta.value.data.every((b) => b === 0)).toBe(true);
      expect([l.eps, l.momentum]).toEqual([1e-5, 0.1]);
    }
  });

  it('init: weights N(0, 2/fan_in), biases 0', () => {
    const model = lenet({ rng: new Rng(2) });
    for (const [name, fanIn] of [['3.weight', 150], ['7.weight', 400], ['9.weight', 120]] as const) {
      const p = model.params().find((q) => q.name === name)!;
      expect(Math.abs(stdOf(p.value.data) / Math.sqrt(2 / fanIn) - 1), name).toBeLessThan(0.06);
    }
    for (const p of model.params()) if (p.name.endsWith('bias')) expect(p.value.data.every((b) => b === 0), p.name).toBe(true);
  });

  it('maps [N, 1, 28, 28] to [N, 10]; with inputShape [3, 32, 32] it maps [N, 3, 32, 32] to [N, 10] (flatten 576)', () => {
    const model = lenet({ rng: new Rng(3) });
    for (const n of [1, 4]) expect(model.forward(images(n, n, [1, 28, 28]).x, false).shape).toEqual([n, 10]);
    expect(() => model.forward(Tensor.zeros([2, 3, 32, 32]), false)).toThrow(ShapeError);

    for (const bn of [false, true]) {
      const color = lenet({ rng: new Rng(3), inputShape: [3, 32, 32], bn });
      const first = color.layers[0] as Conv2d;
      expect(first.inChannels).toBe(3);
      expect(summary(color)).toContain('dense 576→120');
      const { x, labels } = images(5, 4, [3, 32, 32]);
      expect(color.forward(x, true).shape).toEqual([4, 10]);
      expect(Number.isFinite(trainStep(color, new SGD(color.params(), { lr: 0.01, momentum: 0.9, weightDecay: 1e-4 }), x, labels).loss)).toBe(true);
    }
    expect(lenet({ rng: new Rng(3), classes: 7 }).outputShape([1, 28, 28])).toEqual([7]);
  });

  it('feedback: one strategy for the five weighted layers, or a function of their index 0–4', () => {
    const seen: number[] = [];
    const model = lenet({ rng: new Rng(4), feedback: (i) => (seen.push(i), i % 2 ? usf() : brsf()) });
    expect(seen).toEqual([0, 1, 2, 3, 4]);
    expect(model.feedbackLayers().map(({ index, layer }) => [index, layer.feedback.strategy.name])).toEqual([
      ['0', 'brsf'], ['3', 'usf'], ['7', 'brsf'], ['9', 'usf'], ['11', 'brsf'],
    ]);
  });
});

describe('BN feedback defaults in the model builders', () => {
  const bnNames = (model: Sequential) => model.feedbackLayers().filter(({ layer }) => layer instanceof BatchNorm).map(({ layer }) => layer.feedback.strategy.name);
  const weightedNames = (model: Sequential) => model.feedbackLayers().filter(({ layer }) => !(layer instanceof BatchNorm)).map(({ layer }) => layer.feedback.strategy.name);

  it.each([
    ['batchManhattan(usf())', 'bm+usf', 'bm+bp', () => batchManhattan(usf())],
    ['batchManhattan(symmetric())', 'bm+bp', 'bm+bp', () => batchManhattan(symmetric())],
    ['usf()', 'usf', 'bp', () => usf()],
    ['brsf()', 'brsf', 'bp', () => brsf()],
    ['symmetric()', 'bp', 'bp', () => symmetric()],
  ] as [string, string, string, () => FeedbackStrategy][])('feedback %s: weighted layers %s, BN layers %s', (_name, weighted, bn, make) => {
    const net = lenet({ rng: new Rng(5), bn: true, feedback: make() });
    expect(weightedNames(net)).toEqual(new Array(5).fill(weighted));
    expect(bnNames(net)).toEqual(new Array(4).fill(bn));
    const small = mlp({ rng: new Rng(5), bn: true, feedback: make(), inputShape: [12], hidden: [8, 6], classes: 3 });
    expect(weightedNames(small)).toEqual(new Array(3).fill(weighted));
    expect(bnNames(small)).toEqual([bn, bn]);
  });

  it('bnFeedback overrides the default', () => {
    const net = lenet({ rng: new Rng(6), bn: true, feedback: batchManhattan(usf()), bnFeedback: usf() });
    expect(bnNames(net)).toEqual(['usf', 'usf', 'usf', 'usf']);
  });
});

describe('mlp', () => {
  it('with BN: BN after each hidden dense layer, before its ReLU (784 → 256 → 256 → 10)', () => {
    const model = mlp({ rng: new Rng(7), bn: true });
    expect(summary(model)).toEqual(['flatten', 'dense 784→256', 'bn 256', 'relu', 'dense 256→256', 'bn 256', 'relu', 'dense 256→10']);
    expect(summary(mlp({ rng: new Rng(7) }))).toEqual(['flatten', 'dense 784→256', 'relu', 'dense 256→256', 'relu', 'dense 256→10']);
    expect(count(mlp({ rng: new Rng(7) }))).toBe(784 * 256 + 256 + 256 * 256 + 256 + 256 * 10 + 10);
    expect(model.forward(Tensor.zeros([3, 1, 28, 28]), false).shape).toEqual([3, 10]);
  });
});

describe('end to end', () => {
  it('gradCheck of a small lenet-like Sequential (Conv2d → BatchNorm → ReLU → MaxPool2d → Flatten → Dense), float64, symmetric', () => {
    const rng = new Rng(8);
    const model = new Sequential(
      [
        new Conv2d(1, 3, 3, { rng, padding: 1 }),
        new BatchNorm(3, { rng }),
        new ReLU(),
        new MaxPool2d(2),
        new Flatten(),
        new Dense(3 * 4 * 4, 4, { rng }),
      ],
      [1, 8, 8],
    ).cast('float64');
    const result = assertGradCheck(model, randn([2, 1, 8, 8], 'tiny'));
    expect(result.checked).toBe(2 * 64 + (27 + 3) + (3 + 3) + (48 * 4 + 4)); // every element
    expect(model.params().map((p) => p.name)).toEqual(['0.weight', '0.bias', '1.weight', '1.bias', '5.weight', '5.bias']);
  });

  it('gradCheck of lenet with BN on a 12×12 input (float64, symmetric, sampled elements)', () => {
    const model = lenet({ rng: new Rng(9), bn: true, inputShape: [1, 12, 12] }).cast('float64');
    expect(summary(model)).toContain('dense 16→120');
    const result = assertGradCheck(model, randn([3, 1, 12, 12], 'lenet12'), { maxElements: 150, rng: new Rng('lenet12') });
    expect(result.checked).toBeGreaterThan(1000);
  });

  // Without BN or BM, uSF's error grows layer by layer (|V| = 1 against |W| ≈ √(2/fan_in)), so the
  // plain network needs a far smaller step than the protocol grid's 0.01 to stay stable (finding 4).
  it.each([
    ['usf, lr 1e-5', false, 1e-5, () => usf()],
    ['usf with BN, lr 0.01', true, 0.01, () => usf()],
    ['bm+usf with BN, lr 1e-3', true, 1e-3, () => batchManhattan(usf())],
  ] as [string, boolean, number, () => FeedbackStrategy][])('lenet with %s trains a few steps on random data with finite losses', (_name, bn, lr, make) => {
    const model = lenet({ rng: new Rng(10), bn, feedback: make() });
    const opt = new SGD(model.params(), { lr, momentum: 0.9, weightDecay: 1e-4 });
    const before = model.params().map((p) => Float32Array.from(p.value.data));
    const { x, labels } = images(11, 16, [1, 28, 28]);
    const losses: number[] = [];
    for (let step = 0; step < 8; step++) losses.push(trainStep(model, opt, x, labels).loss);
    expect(losses.every(Number.isFinite), losses.join(', ')).toBe(true);
    expect(losses.at(-1)!, losses.join(', ')).toBeLessThan(losses[0]!); // it fits the one batch it sees
    model.params().forEach((p, k) => expect(p.value.data, p.name).not.toEqual(before[k]));
    expect(model.params().every((p) => p.value.data.every(Number.isFinite))).toBe(true);
  });
});

describe('Sequential.setFeedback and BatchNorm', () => {
  it('without a selector sets weighted layers and keeps BN exact (with BM when the strategy has it); a selector reaches BN', () => {
    const model = mlp({ rng: new Rng(1), inputShape: [6], hidden: [5], classes: 3, bn: true });
    const names = () => model.feedbackLayers().map(({ index, layer }) => `${index}:${layer.feedback.strategy.name}`);
    model.setFeedback(usf(), new Rng(2));
    expect(names()).toEqual(['1:usf', '2:bp', '4:usf']);
    model.setFeedback(batchManhattan(usf()), new Rng(2));
    expect(names()).toEqual(['1:bm+usf', '2:bm+bp', '4:bm+usf']);
    model.setFeedback(usf(), new Rng(2), (_i, layer) => layer instanceof BatchNorm);
    expect(names()).toEqual(['1:bm+usf', '2:usf', '4:bm+usf']);
  });
});
