/**
 * Buffer reuse inside a training step (Layer.reuseBuffers, Sequential.reuseBuffers, trainStep):
 * the arrays are really reused where it is on, results are bit-identical to fresh arrays, and
 * nothing a caller holds is ever overwritten.
 */
import { describe, expect, it } from 'vitest';
import {
  AvgPool2d,
  BatchNorm,
  Conv2d,
  Dense,
  Dropout,
  Flatten,
  MaxPool2d,
  ReLU,
  Rng,
  SGD,
  Sequential,
  Sigmoid,
  Tanh,
  Tensor,
  batchManhattan,
  brsf,
  evaluate,
  ArrayDataset,
  lenet,
  mlp,
  softmaxCrossEntropy,
  trainStep,
  usf,
  type Layer,
} from '../src/index.js';

function batch(shape: number[], seed: number): { x: Tensor; labels: Int32Array } {
  const r = new Rng(seed);
  const x = Tensor.zeros(shape);
  for (let i = 0; i < x.size; i++) x.data[i] = r.normal();
  return { x, labels: Int32Array.from({ length: shape[0]! }, () => r.int(10)) };
}

/** The same step as trainStep, with every pass returning fresh arrays (reuse never turned on). */
function freshStep(model: Sequential, optimizer: SGD, x: Tensor, labels: Int32Array): number {
  model.zeroGrad();
  const { loss, grad } = softmaxCrossEntropy(model.forward(x, true), labels);
  model.backwardParams(grad);
  model.beforeUpdate();
  optimizer.step();
  model.afterUpdate();
  return loss;
}

const snapshot = (model: Sequential) => model.params().map((p) => Array.from(p.value.data));

describe('buffer reuse in the training step', () => {
  const cases: [string, (rng: Rng) => Sequential, number[]][] = [
    ['lenet + BN, brSF', (rng) => lenet({ rng, bn: true, feedback: brsf() }), [8, 1, 28, 28]],
    ['lenet, BM + uSF', (rng) => lenet({ rng, feedback: batchManhattan(usf()) }), [8, 1, 28, 28]],
    ['mlp + BN, uSF', (rng) => mlp({ rng, bn: true, feedback: usf() }), [16, 1, 28, 28]],
  ];

  it.each(cases)('%s: trainStep (reusing) and a step with fresh arrays give bit-identical weights, instrumented or not', (_, build, shape) => {
    for (const instrumented of [false, true]) {
      const a = build(new Rng(5)), b = build(new Rng(5));
      if (instrumented) {
        a.instrument();
        b.instrument();
      }
      const oa = new SGD(a.params(), { lr: 0.05, momentum: 0.9, weightDecay: 1e-4 });
      const ob = new SGD(b.params(), { lr: 0.05, momentum: 0.9, weightDecay: 1e-4 });
      for (let step = 0; step < 4; step++) {
        const { x, labels } = batch(shape, step % 2); // two batches, so a reused array must be rewritten, not kept
        expect(trainStep(a, oa, x, labels).loss).toBe(freshStep(b, ob, x, labels));
      }
      const wa = snapshot(a), wb = snapshot(b);
      wa.forEach((w, i) => expect(w).toEqual(wb[i]));
      if (instrumented) expect(a.feedbackStats()).toEqual(b.feedbackStats());
    }
  });

  it('outside a step nothing is reused: outputs made between training steps keep their values', () => {
    const model = lenet({ rng: new Rng(1), bn: true });
    const optimizer = new SGD(model.params(), { lr: 0.1, momentum: 0.9 });
    const { x, labels } = batch([4, 1, 28, 28], 3);
    trainStep(model, optimizer, x, labels); // the layers now hold arrays they could hand out again
    const held = model.forward(x, false);
    const copy = Float32Array.from(held.data);
    const heldGrad = model.backward(Tensor.full(held.shape, 0.1));
    const gradCopy = Float32Array.from(heldGrad.data);
    for (let i = 0; i < 3; i++) trainStep(model, optimizer, x, labels);
    expect(Array.from(held.data)).toEqual(Array.from(copy));
    expect(Array.from(heldGrad.data)).toEqual(Array.from(gradCopy));
    expect(model.forward(x, false).data).not.toBe(held.data);
  });

  it('an odd model (padded max-pool, average pool, tanh, sigmoid, dropout, BN with uSF on γ, instrumented), batch sizes and dtypes changing: reusing equals fresh, bit for bit', () => {
    const build = (dtype: 'float32' | 'float64') => {
      const rng = new Rng(9);
      const layers: Layer[] = [
        new Conv2d(1, 3, 5, { rng, stride: 2, padding: 2, feedback: usf(), dtype }),
        new BatchNorm(3, { rng, feedback: usf(), dtype }),
        new Tanh(),
        new MaxPool2d(3, { stride: 2, padding: 1 }),
        new AvgPool2d(2, { padding: 1 }),
        new Flatten(),
        new Dropout(0.2, rng.fork()),
        new Dense(3 * 2 * 2, 10, { rng, feedback: brsf(), dtype }),
        new Sigmoid(),
        new Dense(10, 10, { rng, dtype }),
      ];
      const model = new Sequential(layers);
      model.instrument();
      return model;
    };
    for (const dtype of ['float32', 'float64'] as const) {
      const a = build(dtype), b = build(dtype);
      const oa = new SGD(a.params(), { lr: 0.05, momentum: 0.9 }), ob = new SGD(b.params(), { lr: 0.05, momentum: 0.9 });
      [6, 6, 3, 6, 2].forEach((n, step) => {
        const { x, labels } = batch([n, 1, 11, 11], 20 + step);
        const xt = dtype === 'float64' ? Tensor.from(x.data, x.shape, 'float64') : x;
        expect(trainStep(a, oa, xt, labels).loss).toBe(freshStep(b, ob, xt, labels));
        expect(a.feedbackStats()).toEqual(b.feedbackStats());
      });
      const wa = snapshot(a), wb = snapshot(b);
      wa.forEach((w, i) => expect(w).toEqual(wb[i]));
    }
  });

  it('evaluate reuses arrays from batch to batch, gives what fresh forwards give, and leaves reuse off', () => {
    const model = lenet({ rng: new Rng(2), bn: true });
    const optimizer = new SGD(model.params(), { lr: 0.1, momentum: 0.9 });
    const { x, labels } = batch([8, 1, 28, 28], 4);
    trainStep(model, optimizer, x, labels); // running statistics that are not the initial ones
    const n = 23; // batches of 10: two full, one of 3
    const r = new Rng(6);
    const images = Float32Array.from({ length: n * 784 }, () => r.normal());
    const classes = Int32Array.from({ length: n }, () => r.int(10));
    const data = new ArrayDataset('noise', images, classes, [1, 28, 28], 10);
    const result = evaluate(model, data, 10);
    let lossSum = 0, correct = 0;
    for (let start = 0; start < n; start += 10) {
      const count = Math.min(10, n - start);
      const xb = new Tensor(images.slice(start * 784, (start + count) * 784), [count, 1, 28, 28]);
      const out = softmaxCrossEntropy(model.forward(xb, false), classes.subarray(start, start + count));
      lossSum += out.loss * count;
      correct += out.correct ?? 0;
    }
    expect(result).toEqual({ loss: lossSum / n, accuracy: correct / n });
    const first = model.forward(x, false);
    expect(model.forward(x, false).data).not.toBe(first.data);
  });

  const layers: [string, () => Layer, number[]][] = [
    ['Conv2d', () => new Conv2d(2, 3, 3, { rng: new Rng(1), padding: 1 }), [2, 2, 5, 5]],
    ['Dense', () => new Dense(6, 4, { rng: new Rng(1) }), [3, 6]],
    ['BatchNorm', () => new BatchNorm(2, { rng: new Rng(1) }), [3, 2, 4, 4]],
    ['ReLU', () => new ReLU(), [2, 3, 4, 4]],
    ['MaxPool2d', () => new MaxPool2d(2), [2, 3, 4, 4]],
    ['AvgPool2d', () => new AvgPool2d(2, { padding: 1 }), [2, 3, 4, 4]],
  ];

  it.each(layers)('%s: with reuse on, passes write into the previous arrays (cleared where they add up); off, they never do', (_, make, shape) => {
    const layer = make();
    const { x } = batch(shape, 1);
    const dyFor = (y: Tensor) => Tensor.full(y.shape, 0.5);

    // Off (the default): fresh arrays every time.
    const y0 = layer.forward(x, true);
    const dx0 = layer.backward(dyFor(y0));
    const y0b = layer.forward(x, true);
    expect(y0b.data).not.toBe(y0.data);
    expect(layer.backward(dyFor(y0b)).data).not.toBe(dx0.data);

    // On: the second step gets the first step's arrays back (written on other values first, so
    // a value left over from them would show), with the same values a fresh pass gives.
    layer.reuseBuffers!(true);
    const y1 = layer.forward(batch(shape, 7).x, true);
    const dx1 = layer.backward(Tensor.full(y1.shape, -3));
    const y2 = layer.forward(x, true);
    expect(y2.data).toBe(y1.data);
    expect(Array.from(y2.data)).toEqual(Array.from(y0.data));
    const dx2 = layer.backward(dyFor(y2));
    expect(dx2.data).toBe(dx1.data);
    expect(Array.from(dx2.data)).toEqual(Array.from(dx0.data));

    // Off again: fresh arrays, and the arrays handed out while it was on are left alone.
    layer.reuseBuffers!(false);
    const kept = Float32Array.from(y2.data);
    const y3 = layer.forward(batch(shape, 2).x, true);
    expect(y3.data).not.toBe(y2.data);
    expect(Array.from(y2.data)).toEqual(Array.from(kept));
  });
});
