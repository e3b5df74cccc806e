import { describe, expect, it } from 'vitest';
import {
  ArrayDataset,
  ConfigError,
  DivergenceError,
  Rng,
  SGD,
  brsf,
  constantLr,
  evaluate,
  mlp,
  train,
  usf,
  type FeedbackStrategy,
} from '../src/index.js';

/** Two interleaved spirals: a 2-D problem no linear model solves. */
function spirals(n: number, seed: number): ArrayDataset {
  const rng = new Rng(seed);
  const x = new Float32Array(2 * n);
  const y = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const c = i % 2;
    const t = (i / n) * 3 * Math.PI + rng.normal(0, 0.05);
    const r = t / (3 * Math.PI);
    x[2 * i] = r * Math.cos(t + c * Math.PI) * 2;
    x[2 * i + 1] = r * Math.sin(t + c * Math.PI) * 2;
    y[i] = c;
  }
  return new ArrayDataset(`spirals-${seed}`, x, y, [2], 2);
}

function fit(feedback: FeedbackStrategy | undefined, seed: number, epochs: number, lr: number) {
  const rng = new Rng(seed);
  const model = mlp({ rng: rng.fork(), inputShape: [2], hidden: [32, 32], classes: 2, ...(feedback ? { feedback } : {}) });
  const optimizer = new SGD(model.params(), { lr, momentum: 0.9 });
  const result = train(model, { train: spirals(400, 1), test: spirals(200, 2) }, { optimizer, epochs, batchSize: 20, rng: rng.fork(), schedule: constantLr(lr) });
  return { model, result };
}

describe('train', () => {
  it('learns the spirals with backprop (test accuracy > 90%) and records every epoch', () => {
    const { result } = fit(undefined, 1, 60, 0.05);
    expect(result.history).toHaveLength(60);
    expect(result.diverged).toBeNull();
    expect(result.testAccuracy).toBeGreaterThan(0.9);
    expect(result.history[0]!.trainLoss).toBeGreaterThan(result.history[59]!.trainLoss);
  });

  it('is deterministic: the same seed gives bit-identical weights and history (brSF included)', () => {
    const a = fit(brsf(), 5, 3, 0.05);
    const b = fit(brsf(), 5, 3, 0.05);
    expect(a.result.history.map((h) => h.trainLoss)).toEqual(b.result.history.map((h) => h.trainLoss));
    a.model.params().forEach((p, i) => expect(p.value.data).toEqual(b.model.params()[i]!.value.data));
    const c = fit(brsf(), 6, 3, 0.05);
    expect(c.model.params()[0]!.value.data).not.toEqual(a.model.params()[0]!.value.data);
  });

  it('stops cleanly on divergence and records where; throws DivergenceError when asked', () => {
    const { result } = fit(usf(), 1, 5, 1e30);
    expect(result.diverged).not.toBeNull();
    expect(result.diverged!.epoch).toBe(1);
    expect(result.diverged!.step).toBeGreaterThanOrEqual(1);
    expect(result.diverged!.detail).toMatch(/loss is|non-finite/);
    expect(result.testAccuracy).toBeNaN();

    const rng = new Rng(1);
    const model = mlp({ rng, inputShape: [2], hidden: [8], classes: 2, feedback: usf() });
    const optimizer = new SGD(model.params(), { lr: 1e30, momentum: 0.9 });
    expect(() => train(model, { train: spirals(100, 1) }, { optimizer, epochs: 3, rng, onDivergence: 'throw' })).toThrow(DivergenceError);
  });

  it('instrumentation reports per-layer feedback statistics each epoch', () => {
    const rng = new Rng(2);
    const model = mlp({ rng, inputShape: [2], hidden: [8], classes: 2, feedback: usf() });
    const optimizer = new SGD(model.params(), { lr: 0.01, momentum: 0.9 });
    const result = train(model, { train: spirals(100, 1) }, { optimizer, epochs: 2, rng, instrument: true });
    const stats = result.history[1]!.feedback!;
    expect(Object.keys(stats)).toEqual(['1', '3']);
    expect(stats['1']!.signConcordance).toBe(1);
    expect(stats['1']!.angleVW).toBeGreaterThan(0);
    expect(Number.isFinite(stats['1']!.errorAngle)).toBe(true);
  });

  it('validates its options and evaluates in eval mode', () => {
    const rng = new Rng(1);
    const model = mlp({ rng, inputShape: [2], hidden: [4], classes: 2 });
    const optimizer = new SGD(model.params(), { lr: 0.1 });
    expect(() => train(model, { train: spirals(10, 1) }, { optimizer, epochs: 0, rng })).toThrow(ConfigError);
    expect(() => train(model, { train: spirals(10, 1) }, { optimizer, epochs: 1, batchSize: 0, rng })).toThrow(/batchSize: 0/);
    const e = evaluate(model, spirals(10, 1), 3);
    expect(e.accuracy).toBeGreaterThanOrEqual(0);
    expect(e.accuracy).toBeLessThanOrEqual(1);
  });
});
