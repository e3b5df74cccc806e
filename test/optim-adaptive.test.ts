// Adam, AdamW and RMSprop against torch.optim in float64 (fixtures written by
// scripts/make-torch-fixtures.py: given gradients, the parameters after every step), their state
// saved and resumed bit-identically, and Batch Manhattan composed with them.
import { readFileSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { Adam, ConfigError, DataFormatError, Param, RMSprop, Rng, Tensor, feedbackByName, mlp, softmaxCrossEntropy, trainStep, type Optimizer } from '../src/index.js';
import { randn } from './helpers.js';

interface FixtureArray {
  shape: number[];
  data: number[];
}
interface OptimFixture {
  name: string;
  optimizer: 'Adam' | 'AdamW' | 'RMSprop';
  options: Record<string, number | boolean | number[]>;
  params: Record<string, FixtureArray>;
  grads: Record<string, FixtureArray>[];
  after: Record<string, FixtureArray>[];
}

const DIR = fileURLToPath(new URL('./fixtures/torch-optim/', import.meta.url));
const fixtures: OptimFixture[] = readdirSync(DIR).filter((f) => f.endsWith('.json')).sort().map((f) => JSON.parse(readFileSync(DIR + f, 'utf8')) as OptimFixture);

function build(fx: OptimFixture, params: Param[]): Optimizer {
  const o = fx.options;
  const common = { lr: o['lr'] as number, ...(o['eps'] !== undefined ? { eps: o['eps'] as number } : {}), ...(o['weight_decay'] !== undefined ? { weightDecay: o['weight_decay'] as number } : {}) };
  if (fx.optimizer === 'RMSprop') {
    return new RMSprop(params, {
      ...common,
      ...(o['alpha'] !== undefined ? { alpha: o['alpha'] as number } : {}),
      ...(o['momentum'] !== undefined ? { momentum: o['momentum'] as number } : {}),
      ...(o['centered'] !== undefined ? { centered: o['centered'] as boolean } : {}),
    });
  }
  // torch.optim.AdamW's default weight decay is 0.01, Adam's 0.
  const weightDecay = common.weightDecay ?? (fx.optimizer === 'AdamW' ? 0.01 : 0);
  return new Adam(params, { ...common, weightDecay, decoupled: fx.optimizer === 'AdamW', ...(o['betas'] ? { betas: o['betas'] as [number, number] } : {}) });
}

function paramsOf(fx: OptimFixture): Param[] {
  return Object.entries(fx.params).map(([name, a]) => new Param(name, Tensor.from(a.data, a.shape, 'float64')));
}

describe('adaptive optimizers against torch.optim (float64)', () => {
  it('covers Adam, Adam with L2 decay and other betas, AdamW, RMSprop, and RMSprop with momentum, centring and decay', () => {
    expect(fixtures.map((f) => f.name)).toEqual(['adam', 'adam_wd', 'adamw', 'rmsprop', 'rmsprop_momentum_centered_wd']);
  });

  for (const fx of fixtures) {
    it(`${fx.name}: ${fx.optimizer} ${JSON.stringify(fx.options)}, ${fx.grads.length} steps`, () => {
      const params = paramsOf(fx);
      const opt = build(fx, params);
      fx.grads.forEach((grads, t) => {
        for (const p of params) p.grad.data.set(grads[p.name]!.data);
        opt.step();
        for (const p of params) {
          const expected = fx.after[t]![p.name]!.data;
          let worst = 0;
          for (let i = 0; i < expected.length; i++) worst = Math.max(worst, Math.abs(p.value.data[i]! - expected[i]!));
          expect(worst, `${p.name} after step ${t + 1}`).toBeLessThan(1e-13);
        }
      });
      expect(opt.steps).toBe(fx.grads.length);
    });

    it(`${fx.name}: state saved after 3 steps and loaded into a fresh optimizer continues bit-identically`, () => {
      const a = paramsOf(fx), b = paramsOf(fx);
      const optA = build(fx, a);
      const run = (params: Param[], opt: Optimizer, from: number, to: number) => {
        for (let t = from; t < to; t++) {
          for (const p of params) p.grad.data.set(fx.grads[t]![p.name]!.data);
          opt.step();
        }
      };
      run(a, optA, 0, 3);
      const saved = JSON.parse(JSON.stringify(optA.state()));
      b.forEach((p, i) => p.value.data.set(a[i]!.value.data));
      const optB = build(fx, b);
      optB.loadState(saved);
      run(a, optA, 3, fx.grads.length);
      run(b, optB, 3, fx.grads.length);
      b.forEach((p, i) => expect(Array.from(p.value.data)).toEqual(Array.from(a[i]!.value.data)));
    });
  }
});

describe('adaptive optimizers in training', () => {
  it('Batch Manhattan composes: the optimizer receives sign(g)', () => {
    const x = randn([6, 5], 1, 'float32');
    const labels = Int32Array.from([0, 1, 2, 0, 1, 2]);
    const make = (bm: boolean) => mlp({ rng: new Rng(3), inputShape: [5], hidden: [4], classes: 3, feedback: feedbackByName('usf', { bm }) });
    // With BM: the model's step signs the gradients before Adam sees them.
    const withBm = make(true);
    const optBm = new Adam(withBm.params(), { lr: 0.01 });
    trainStep(withBm, optBm, x, labels);
    // Written out: the same gradients without BM, signed here, then Adam.
    const plain = make(false);
    const optPlain = new Adam(plain.params(), { lr: 0.01 });
    plain.zeroGrad();
    const logits = plain.forward(x, true);
    plain.backward(softmaxCrossEntropy(logits, labels).grad);
    for (const p of plain.params()) for (let i = 0; i < p.grad.size; i++) p.grad.data[i] = Math.sign(p.grad.data[i]!);
    optPlain.step();
    withBm.params().forEach((p, i) => expect(Array.from(p.value.data), p.name).toEqual(Array.from(plain.params()[i]!.value.data)));
  });

  it('refuses bad options and another optimizer\'s state, naming them', () => {
    const p = [new Param('w', Tensor.zeros([2]))];
    expect(() => new Adam(p, { lr: -1 })).toThrow(ConfigError);
    expect(() => new Adam(p, { betas: [0.9, 1] })).toThrow(/betas\[1\]/);
    expect(() => new RMSprop(p, { alpha: 1.5 })).toThrow(/alpha/);
    expect(() => new RMSprop(p, { momentum: Number.NaN })).toThrow(/momentum/);
    const rms = new RMSprop(p);
    p[0]!.grad.data.set([1, 1]);
    rms.step();
    expect(() => new Adam(p).loadState(rms.state())).toThrow(DataFormatError);
    expect(() => new RMSprop(p).loadState({ ...rms.state(), buffers: {} })).toThrow(/no square_avg buffer for parameter "w"/);
  });
});
