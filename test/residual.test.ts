// Residual networks: the Residual container, global average pooling and the resnet builder. Every
// backward pass against central differences in float64, and the rules inside blocks against their
// definitions written out here.
import { describe, expect, it } from 'vitest';
import {
  BatchNorm, ConfigError, Conv2d, Dense, Flatten, GlobalAvgPool2d, ReLU, Residual, Rng, SGD, Sequential, ShapeError, Tensor,
  assertGradCheck, decodeArray, directFeedback, feedbackByName, methods, resnet, softmaxCrossEntropy, trainStep, usf,
  type Labels, type Layer,
} from '../src/index.js';
import { sign } from '../src/tensor/ops.js';
import { expectClose, randn, thrown } from './helpers.js';

const conv = (rng: Rng, inC: number, outC: number, k: number, stride = 1, extra = {}) =>
  new Conv2d(inC, outC, k, { rng, stride, padding: (k - 1) / 2, dtype: 'float64', ...extra });
const bn = (rng: Rng, c: number) => new BatchNorm(c, { rng, dtype: 'float64' });

function identityBlock(rng: Rng, c: number, withBn: boolean): Residual {
  const main: Record<string, Layer> = withBn
    ? { conv1: conv(rng, c, c, 3), bn1: bn(rng, c), relu1: new ReLU(), conv2: conv(rng, c, c, 3), bn2: bn(rng, c) }
    : { conv1: conv(rng, c, c, 3), relu1: new ReLU(), conv2: conv(rng, c, c, 3) };
  return new Residual(main, { after: { relu: new ReLU() } });
}

function projectionBlock(rng: Rng, inC: number, outC: number, withBn: boolean): Residual {
  const main: Record<string, Layer> = withBn
    ? { conv1: conv(rng, inC, outC, 3, 2), bn1: bn(rng, outC), relu1: new ReLU(), conv2: conv(rng, outC, outC, 3), bn2: bn(rng, outC) }
    : { conv1: conv(rng, inC, outC, 3, 2), relu1: new ReLU(), conv2: conv(rng, outC, outC, 3) };
  const shortcut: Record<string, Layer> = withBn ? { conv: conv(rng, inC, outC, 1, 2), bn: bn(rng, outC) } : { conv: conv(rng, inC, outC, 1, 2) };
  return new Residual(main, { shortcut, after: { relu: new ReLU() } });
}

describe('Residual and GlobalAvgPool2d: backward against central differences (float64)', () => {
  const cases: [string, () => Layer, number[], boolean][] = [
    ['identity shortcut', () => identityBlock(new Rng(1), 3, false), [2, 3, 5, 5], true],
    ['identity shortcut with BN (train mode)', () => identityBlock(new Rng(2), 3, true), [3, 3, 4, 4], true],
    ['projection shortcut, stride 2', () => projectionBlock(new Rng(3), 2, 4, false), [2, 2, 6, 6], true],
    ['projection shortcut, stride 2, BN (train mode)', () => projectionBlock(new Rng(4), 2, 4, true), [3, 2, 6, 6], true],
    ['GlobalAvgPool2d', () => new GlobalAvgPool2d(), [2, 3, 2, 4], true],
    ['two blocks in a Sequential, then pooling and a dense head', () => {
      const rng = new Rng(5);
      return new Sequential([identityBlock(rng, 2, true), projectionBlock(rng, 2, 3, true), new GlobalAvgPool2d(), new Dense(3, 2, { rng, dtype: 'float64' })], [2, 4, 4]);
    }, [3, 2, 4, 4], true],
  ];
  for (const [name, make, shape, training] of cases) {
    it(name, () => {
      const result = assertGradCheck(make(), randn(shape, name), { training });
      expect(result.checked).toBeGreaterThan(0);
      expect(result.maxError).toBeLessThan(1e-6);
    });
  }

  it('BN blocks in eval mode (running statistics), after a few training forwards', () => {
    const block = projectionBlock(new Rng(6), 2, 3, true);
    for (let i = 0; i < 3; i++) block.forward(randn([4, 2, 6, 6], i), true);
    const result = assertGradCheck(block, randn([2, 2, 6, 6], 'eval'), { training: false });
    expect(result.maxError).toBeLessThan(1e-6);
  });

  it('the whole resnet-8 with BN, float64', () => {
    const model = resnet({ rng: new Rng(7), depth: 8, bn: true, inputShape: [1, 8, 8], width: 2, classes: 3 }).cast('float64');
    const result = assertGradCheck(model, randn([3, 1, 8, 8], 'resnet'), { maxElements: 200 });
    expect(result.checked).toBeGreaterThan(1000);
  });

  it('the shortcut sums the gradients: an identity block whose main branch is zero passes dY through twice where it is active', () => {
    const rng = new Rng(8);
    const c1 = conv(rng, 2, 2, 3), c2 = conv(rng, 2, 2, 3);
    c2.weight.value.data.fill(0);
    c2.params()[1]!.value.data.fill(0);
    const block = new Residual({ conv1: c1, relu1: new ReLU(), conv2: c2 });
    const x = randn([1, 2, 3, 3], 9);
    expectClose(block.forward(x, true).data, x.data, 0, 'y = x + 0');
    const dy = randn([1, 2, 3, 3], 10);
    // conv2 has W = 0, so the main branch sends 0 down and dX is exactly dY from the shortcut.
    expectClose(block.backward(dy).data, dy.data, 1e-15, 'dX');
  });
});

describe('rules inside residual blocks', () => {
  it('usf: every conv in a block, the projection included, sends dY sign(W) down', () => {
    const rng = new Rng(11);
    const block = projectionBlock(rng, 2, 3, false);
    const model = new Sequential([block, new GlobalAvgPool2d(), new Dense(3, 2, { rng, dtype: 'float64' })], [2, 6, 6]);
    model.setFeedback(usf(), rng);
    const x = randn([2, 2, 6, 6], 12);
    model.forward(x, true);
    const log = new Map<Layer, { received: Tensor; sent: Tensor }>();
    model.zeroGrad();
    model.backwardThrough(randn([2, 2], 13), (layer, g) => {
      const sent = layer.backward(g);
      log.set(layer, { received: g, sent });
      return sent;
    });
    const convs = model.feedbackLayers().filter(({ layer }) => layer.feedbackKind === 'conv');
    expect(convs.map((c) => c.index)).toEqual(['0.conv1', '0.conv2', '0.shortcut.conv']);
    for (const { layer } of convs) {
      const { received, sent } = log.get(layer)!;
      const signs = sign(layer.weight.value);
      expectClose(sent.data, layer.inputGradient(received, signs).data, 1e-12, `${layer.describe()} sent`);
    }
  });

  it('dfa: each layer of a block receives the output error through its own B; the block\'s input gets the sum of both branches', () => {
    const rng = new Rng(14);
    const c1 = conv(rng, 2, 2, 3, 1, { feedback: directFeedback() });
    const c2 = conv(rng, 2, 2, 3, 1, { feedback: directFeedback() });
    const block = new Residual({ conv1: c1, relu1: new ReLU(), conv2: c2 }, { after: { relu: new ReLU() } });
    const dense = new Dense(2 * 4 * 4, 3, { rng, feedback: directFeedback(), dtype: 'float64' });
    const model = new Sequential([block, new Flatten(), dense], [2, 4, 4]);
    const x = randn([3, 2, 4, 4], 15);
    const y = block.forward(x, true).clone(); // the block's output, relu(S)
    model.forward(x, true);
    const e = randn([3, 3], 16);
    model.zeroGrad();
    const dx = model.backward(e);
    const bDense = decodeArray(dense.feedback.state().arrays['b']!); // [3, 32]
    const bConv1 = decodeArray(c1.feedback.state().arrays['b']!); // [3, 32]: e to conv1's input, the block's input
    expect(decodeArray(c2.feedback.state().arrays['b']!).length).toBe(3 * 32); // conv2's own B, to relu1's output
    const eB = (b: ArrayLike<number>) => {
      const out = new Float64Array(3 * 32);
      for (let n = 0; n < 3; n++) for (let j = 0; j < 32; j++) for (let k = 0; k < 3; k++) out[n * 32 + j]! += e.data[n * 3 + k]! * b[k * 32 + j]!;
      return out;
    };
    const dS = eB(bDense).map((v, i) => (y.data[i]! > 0 ? v : 0)); // dense's e B, through the final ReLU
    const expected = eB(bConv1).map((v, i) => v + dS[i]!); // main branch (conv1's e B) + identity shortcut
    expectClose(dx.data, expected, 1e-12, 'dX');
  });

  it('every registered method, with and without BM, trains every weighted layer of a resnet-8, the shortcut included', () => {
    for (const method of methods('transport')) {
      for (const bm of [false, true]) {
        const rng = new Rng(`every ${method.name}`);
        const strategy = feedbackByName(method.name, { bm });
        const model = resnet({ rng, depth: 8, bn: true, inputShape: [1, 8, 8], width: 2, feedback: strategy });
        const weighted = model.feedbackLayers().filter(({ layer }) => layer.feedbackKind !== 'batchnorm');
        expect(weighted.length, method.name).toBe(10);
        for (const { layer } of weighted) expect(layer.feedback.strategy.name, `${method.name} ${layer.describe()}`).toBe(strategy.name);
        const before = model.params().map((p) => Float64Array.from(p.value.data));
        const optimizer = new SGD(model.params(), { lr: bm ? 1e-3 : 0.05, momentum: 0.9 });
        const x = randn([4, 1, 8, 8], method.name, 'float32');
        const labels: Labels = Int32Array.from([0, 1, 2, 3]);
        trainStep(model, optimizer, x, labels);
        const { loss } = trainStep(model, optimizer, x, labels);
        expect(Number.isFinite(loss), `${method.name} bm=${bm}`).toBe(true);
        model.params().forEach((p, i) => {
          if (p.name.endsWith('.feedback.b') && !['kp', 'wm'].includes(method.name)) return;
          expect(p.value.data.some((v, j) => v !== before[i]![j]), `${method.name} bm=${bm}: ${p.name} moved`).toBe(true);
        });
        if (method.name === 'kp' || method.name === 'wm') expect(model.params().map((p) => p.name)).toContain('4.0.shortcut.conv.feedback.b');
      }
    }
  });
});

describe('models with blocks: names, feedback selection, instrumentation', () => {
  it('parameters are dotted and stable, stage.block.layer', () => {
    const names = resnet({ rng: new Rng(1), depth: 14, bn: true }).params().map((p) => p.name);
    expect(names.slice(0, 3)).toEqual(['0.weight', '1.weight', '1.bias']);
    expect(names).toContain('3.0.conv1.weight');
    expect(names).toContain('3.1.bn2.bias');
    expect(names).toContain('4.0.shortcut.conv.weight');
    expect(names).toContain('5.1.conv2.weight');
    expect(names).not.toContain('3.0.shortcut.conv.weight'); // stage 1 keeps the shape: identity shortcuts
    expect(names.at(-1)).toBe('7.bias');
    expect(new Set(names).size).toBe(names.length);
    const noBn = resnet({ rng: new Rng(1), depth: 8 }).params().map((p) => p.name);
    expect(noBn).toContain('2.0.conv1.bias'); // without BN the convolutions keep their bias
    expect(noBn).toContain('3.0.shortcut.conv.weight');
  });

  it('setFeedback with a layer filter reaches a layer inside a block', () => {
    const rng = new Rng(2);
    const model = resnet({ rng, depth: 8, bn: true });
    model.setFeedback(feedbackByName('fa'), rng, (index) => index === '4.0.shortcut.conv');
    const names = Object.fromEntries(model.feedbackLayers().map(({ index, layer }) => [index, layer.feedback.strategy.name]));
    expect(names['4.0.shortcut.conv']).toBe('fa');
    expect(names['4.0.conv1']).toBe('bp');
    expect(names['4.0.shortcut.bn']).toBe('bp');
  });

  it('instrumentation measures every feedback layer inside blocks and nested Sequentials; under bp every received error is backprop\'s', () => {
    const rng = new Rng(3);
    for (const name of ['bp', 'frsf']) {
      const model = resnet({ rng, depth: 8, bn: true, inputShape: [1, 8, 8], width: 2, feedback: feedbackByName(name) });
      model.instrument();
      const optimizer = new SGD(model.params(), { lr: 0.01 });
      trainStep(model, optimizer, randn([4, 1, 8, 8], 4, 'float32'), Int32Array.from([0, 1, 2, 3]));
      const stats = model.feedbackStats();
      const indices = model.feedbackLayers().map((l) => l.index);
      expect(indices).toContain('3.0.conv1');
      expect(indices).toContain('5.0.shortcut.bn');
      for (const index of indices) expect(stats[index], `${name} ${index}`).not.toBeNull();
      const angles = indices.map((i) => stats[i]!.receivedErrorAngle);
      if (name === 'bp') for (const a of angles) expect(a).toBeLessThan(1e-2);
      else expect(Math.max(...angles)).toBeGreaterThan(5); // frSF's errors differ from backprop's below the top
    }
  });

  it('a nested Sequential\'s layers get their error angle', () => {
    const rng = new Rng(4);
    const inner = new Sequential([new Dense(4, 4, { rng, feedback: usf() }), new ReLU()]);
    const model = new Sequential([inner, new Dense(4, 2, { rng })], [4]);
    model.instrument();
    trainStep(model, new SGD(model.params(), { lr: 0.01 }), randn([3, 4], 5, 'float32'), Int32Array.from([0, 1, 0]));
    expect(model.feedbackStats()['0.0']?.errorAngle).toBeGreaterThan(0);
  });
});

describe('resnet: bad configurations fail when the model is built', () => {
  it('a depth that is not 6n+2', () => {
    for (const depth of [7, 9, 2, 20.5, -4]) {
      const e = thrown(() => resnet({ rng: new Rng(1), depth }));
      expect(e).toBeInstanceOf(ConfigError);
      expect(String(e)).toMatch(/resnet depth.*6n\+2/);
    }
  });

  it('a flat input, naming the stem layer and the shape', () => {
    const e = thrown(() => resnet({ rng: new Rng(1), depth: 8, inputShape: [784] }));
    expect(e).toBeInstanceOf(ShapeError);
    expect(String(e)).toMatch(/layer 0.*\[C, H, W\].*\[784\]/);
  });

  it('a block whose branches end in different shapes names the block and both shapes', () => {
    const rng = new Rng(2);
    const block = new Residual({ conv1: new Conv2d(2, 4, 3, { rng, stride: 2, padding: 1 }) });
    const e = thrown(() => new Sequential([block], [2, 8, 8]));
    expect(e).toBeInstanceOf(ShapeError);
    expect(String(e)).toMatch(/layer 0 Residual.*shortcut output.*\[4, 4, 4\].*received \[2, 8, 8\]/);
  });

  it('a wrong channel count inside a block names the sublayer', () => {
    const rng = new Rng(3);
    const block = new Residual({ conv1: new Conv2d(3, 3, 3, { rng, padding: 1 }) });
    expect(String(thrown(() => new Sequential([block], [2, 5, 5])))).toMatch(/layer 0 layer conv1 Conv2d/);
  });

  it('bad names and reused layers', () => {
    const rng = new Rng(4);
    const relu = new ReLU();
    expect(() => new Residual({})).toThrow(ConfigError);
    expect(() => new Residual({ '0': new ReLU() })).toThrow(/identifier/);
    expect(() => new Residual({ a: relu }, { after: { b: relu } })).toThrow(/used once/);
    expect(() => new Residual({ conv: new Conv2d(1, 1, 1, { rng }) }, { shortcut: { conv: new Conv2d(1, 1, 1, { rng }) } })).not.toThrow();
  });
});

describe('a residual model in training', () => {
  it('checkpoint-free determinism: the same seed gives the same weights after steps, kp inside blocks included', () => {
    const run = () => {
      const rng = new Rng(9);
      const model = resnet({ rng, depth: 8, bn: true, inputShape: [1, 8, 8], width: 2, feedback: feedbackByName('kp') });
      const optimizer = new SGD(model.params(), { lr: 0.05, momentum: 0.9 });
      for (let i = 0; i < 3; i++) trainStep(model, optimizer, randn([4, 1, 8, 8], i, 'float32'), Int32Array.from([0, 1, 2, 3]));
      return model.params().flatMap((p) => Array.from(p.value.data));
    };
    expect(run()).toEqual(run());
  });

  it('learns a separable toy problem (loss falls) with BN and usf', () => {
    const rng = new Rng(10);
    const model = resnet({ rng, depth: 8, bn: true, inputShape: [1, 8, 8], width: 4, classes: 2, feedback: usf() });
    const optimizer = new SGD(model.params(), { lr: 0.05, momentum: 0.9 });
    const x = Tensor.zeros([16, 1, 8, 8]);
    const labels = new Int32Array(16);
    const data = new Rng(11);
    for (let n = 0; n < 16; n++) {
      labels[n] = n % 2;
      for (let i = 0; i < 64; i++) x.data[n * 64 + i] = data.normal(0, 0.3) + ((i % 8 < 4) === (n % 2 === 0) ? 1 : 0);
    }
    const first = trainStep(model, optimizer, x, labels).loss;
    let last = first;
    for (let i = 0; i < 30; i++) last = trainStep(model, optimizer, x, labels).loss;
    expect(last).toBeLessThan(first * 0.5);
    const logits = model.forward(x, false);
    expect(softmaxCrossEntropy(logits, labels).loss).toBeLessThan(first);
  });
});

describe('the transport report orders nested layer indices bottom to top', () => {
  it('numbers numerically, names alphabetically, segment by segment', async () => {
    const { byLayerIndex } = await import('../src/experiments/report/transport.js');
    const keys = ['7', '5.0.shortcut.conv', '10', '3.0.conv2', '0', '4.0.conv1', '3.0.conv1', '3.1.conv1', '4.0.shortcut.conv'];
    expect([...keys].sort(byLayerIndex)).toEqual(['0', '3.0.conv1', '3.0.conv2', '3.1.conv1', '4.0.conv1', '4.0.shortcut.conv', '5.0.shortcut.conv', '7', '10']);
  });
});

describe('the deep preset', () => {
  it('deep: seven rules on ResNet-20 with BN, Fashion-MNIST, 2 seeds, 5 epochs; deep-quick the same rules on ResNet-8, embedded digits; both shard', async () => {
    const { gridFor, shardOf } = await import('../src/index.js');
    const deep = gridFor('deep');
    expect(deep.length).toBe(14);
    for (const { config, id } of deep) {
      expect(config).toMatchObject({ arch: 'resnet', depth: 20, bn: true, bm: false, dataset: 'fashion-mnist', epochs: 5, lr: 0.01 });
      expect(id).toMatch(/^fashion-mnist\/resnet20\/BN\//);
    }
    expect(new Set(deep.map((r) => r.config.feedback))).toEqual(new Set(['bp', 'usf', 'brsf', 'frsf', 'fa', 'dfa', 'kp']));
    const quick = gridFor('deep-quick');
    expect(quick.length).toBe(7);
    for (const { config } of quick) expect(config).toMatchObject({ arch: 'resnet', depth: 8, dataset: 'mnist-embedded', epochs: 1 });
    const shards = [1, 2, 3, 4].map((index) => shardOf(deep, { index, count: 4 }).map((r) => r.id));
    expect(shards.flat().sort()).toEqual(deep.map((r) => r.id).sort());
  });
});
