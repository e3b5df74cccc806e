/**
 * Layers checked against an independent implementation: PyTorch, in float64.
 *
 * `scripts/make-torch-fixtures.py` computed every file under `test/fixtures/torch/` (forward output,
 * input gradient, parameter gradients, BatchNorm running statistics) from seeded weights and inputs,
 * with asymmetric feedback written as custom autograd functions. This test only reads those JSON
 * files: it needs neither Python nor PyTorch. Each fixture is rebuilt here with asymprop in float64,
 * given the fixture's parameters (and feedback matrices), run forward and backward, and compared.
 *
 * Every fixture file in the directory is tested, so a new configuration only needs a new entry in
 * the script. Set TORCH_FIXTURES_VERBOSE=1 to print the largest error of each fixture.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import {
  AvgPool2d,
  BatchNorm,
  Conv2d,
  Dense,
  Flatten,
  GlobalAvgPool2d,
  MaxPool2d,
  ReLU,
  Residual,
  Rng,
  Sequential,
  Tensor,
  encodeArray,
  randomFeedback,
  softmaxCrossEntropy,
  symmetric,
  usf,
  type FeedbackStrategy,
  type Layer,
} from '../src/index.js';

// --- the fixture format (see the script's header) ------------------------------------------------

interface FixtureArray {
  shape: number[];
  data: number[];
}

type LayerSpec =
  | { type: 'conv2d'; in: number; out: number; kernel: [number, number]; stride: [number, number]; padding: [number, number]; bias: boolean }
  | { type: 'dense'; in: number; out: number; bias: boolean }
  | { type: 'batchnorm'; features: number; eps: number; momentum: number }
  | { type: 'maxpool'; kernel: [number, number]; stride: [number, number]; padding: [number, number] }
  | { type: 'avgpool'; kernel: [number, number]; stride: [number, number]; padding: [number, number]; count_include_pad: boolean }
  | { type: 'relu' }
  | { type: 'flatten' }
  | { type: 'gap' }
  | { type: 'residual'; main: [string, LayerSpec][]; shortcut: [string, LayerSpec][]; after: [string, LayerSpec][] };

interface BnState {
  running_mean_before: FixtureArray;
  running_var_before: FixtureArray;
  running_mean: FixtureArray;
  running_var: FixtureArray;
}

interface Fixture {
  name: string;
  strategy: 'symmetric' | 'usf' | 'fa';
  mode: 'train' | 'eval';
  layers: LayerSpec[];
  x: FixtureArray;
  params: Record<string, FixtureArray>;
  feedback?: Record<string, FixtureArray>;
  bn_state?: Record<string, BnState>;
  loss: { type: 'sum_product'; R: FixtureArray } | { type: 'softmax_cross_entropy'; labels: number[]; value: number };
  y: FixtureArray;
  dx: FixtureArray;
  grads: Record<string, FixtureArray>;
}

const DIR = fileURLToPath(new URL('./fixtures/torch/', import.meta.url));

/** The configurations the fixtures must cover (more may exist: every file is tested). */
const EXPECTED = [
  'conv2d_in2_out3_k3_s1_p1',
  'conv2d_in3_out2_k3x2_s2_p1_oddsize',
  'conv2d_in2_out2_k2x3_s2x1_p0x1_nobias',
  'conv2d_in2_out3_k3_s2_p1_usf',
  'conv2d_in2_out3_k3_s2_p1_fa',
  'dense_in5_out4',
  'dense_in5_out4_usf',
  'dense_in5_out4_nobias_fa',
  'maxpool_k3_s2_p1',
  'maxpool_k2_s2_p0',
  'avgpool_k3_s2_p1',
  'avgpool_k3_s2_p1_excludepad',
  'avgpool_k2_s2_p0',
  'batchnorm1d_train',
  'batchnorm1d_eval',
  'batchnorm2d_train',
  'batchnorm2d_eval',
  'stack_conv_bn_relu_maxpool_dense_symmetric',
  'stack_conv_bn_relu_maxpool_dense_usf',
  'stack_conv_relu_avgpool_dense_fa',
  'stack_conv_bn_relu_conv_relu_dense_bn_relu_dense_fa',
  'stack_dense_bn_relu_dense_usf',
  'resnet_stem_identity_projection_gap_dense_symmetric',
  'resnet_stem_identity_projection_gap_dense_fa',
];

/** Allowed error: 1e-9 absolute, or 1e-9 relative to the array's largest magnitude when that exceeds 1. */
const TOLERANCE = 1e-9;

const files = readdirSync(DIR).filter((f) => f.endsWith('.json')).sort();
const fixtures: Fixture[] = files.map((f) => JSON.parse(readFileSync(DIR + f, 'utf8')) as Fixture);

// --- building the fixture's network with asymprop ---------------------------------------------------

function strategyOf(name: Fixture['strategy']): FeedbackStrategy {
  if (name === 'symmetric') return symmetric();
  if (name === 'usf') return usf();
  if (name === 'fa') return randomFeedback();
  throw new Error(`unknown strategy ${String(name)}`);
}

/** One asymprop layer per spec, in float64; only the weighted layers get the fixture's strategy (BN stays exact). */
function buildLayer(spec: LayerSpec, strategy: FeedbackStrategy, rng: Rng): Layer {
  switch (spec.type) {
    case 'conv2d':
      return new Conv2d(spec.in, spec.out, spec.kernel, { rng, dtype: 'float64', stride: spec.stride, padding: spec.padding, bias: spec.bias, feedback: strategy });
    case 'dense':
      return new Dense(spec.in, spec.out, { rng, dtype: 'float64', bias: spec.bias, feedback: strategy });
    case 'batchnorm':
      return new BatchNorm(spec.features, { rng, dtype: 'float64', eps: spec.eps, momentum: spec.momentum });
    case 'maxpool':
      return new MaxPool2d(spec.kernel, { stride: spec.stride, padding: spec.padding });
    case 'avgpool':
      return new AvgPool2d(spec.kernel, { stride: spec.stride, padding: spec.padding, countIncludePad: spec.count_include_pad });
    case 'relu':
      return new ReLU();
    case 'flatten':
      return new Flatten();
    case 'gap':
      return new GlobalAvgPool2d();
    case 'residual': {
      const named = (list: [string, LayerSpec][]) => Object.fromEntries(list.map(([name, s]) => [name, buildLayer(s, strategy, rng)]));
      return new Residual(named(spec.main), { shortcut: named(spec.shortcut), after: named(spec.after) });
    }
  }
}

function specLabel(spec: LayerSpec): string {
  const hw = (p: [number, number]) => (p[0] === p[1] ? `${p[0]}` : p.join('×'));
  switch (spec.type) {
    case 'conv2d':
      return `conv ${spec.in}→${spec.out} k${spec.kernel.join('×')} s${hw(spec.stride)} p${hw(spec.padding)}${spec.bias ? '' : ' no-bias'}`;
    case 'dense':
      return `dense ${spec.in}→${spec.out}${spec.bias ? '' : ' no-bias'}`;
    case 'batchnorm':
      return `bn(${spec.features})`;
    case 'maxpool':
      return `maxpool k${hw(spec.kernel)} s${hw(spec.stride)} p${hw(spec.padding)}`;
    case 'avgpool':
      return `avgpool k${hw(spec.kernel)} s${hw(spec.stride)} p${hw(spec.padding)}${spec.count_include_pad ? '' : ' exclude-pad'}`;
    case 'residual':
      return `residual(${spec.main.map(([, s]) => specLabel(s)).join(', ')}; shortcut ${spec.shortcut.length ? spec.shortcut.map(([, s]) => specLabel(s)).join(', ') : 'identity'})`;
    default:
      return spec.type;
  }
}

function tensorOf(a: FixtureArray): Tensor {
  return Tensor.from(a.data, a.shape, 'float64');
}

// --- comparison ----------------------------------------------------------------------------------------

/** Largest error per fixture, for the optional summary. */
const worst = new Map<string, { what: string; abs: number; rel: number }>();

/** Checks shape and values within {@link TOLERANCE}; records the largest error. */
function expectClose(fixture: string, what: string, actual: { shape: readonly number[]; data: ArrayLike<number> }, expected: FixtureArray): void {
  expect([...actual.shape], `${what} shape`).toEqual(expected.shape);
  expect(actual.data.length, `${what} size`).toBe(expected.data.length);
  let abs = 0, scale = 0;
  for (let i = 0; i < expected.data.length; i++) {
    const a = actual.data[i]!, e = expected.data[i]!;
    expect(Number.isFinite(a), `${what}[${i}] finite`).toBe(true);
    abs = Math.max(abs, Math.abs(a - e));
    scale = Math.max(scale, Math.abs(e));
  }
  const rel = abs / Math.max(1, scale);
  const w = worst.get(fixture);
  if (!w || rel > w.rel) worst.set(fixture, { what, abs, rel });
  expect(rel, `${what}: max abs error ${abs.toExponential(2)} (largest |value| ${scale.toPrecision(3)})`).toBeLessThanOrEqual(TOLERANCE);
}

afterAll(() => {
  if (!process.env['TORCH_FIXTURES_VERBOSE']) return;
  const rows = [...worst].map(([name, w]) => `${name.padEnd(56)} ${w.abs.toExponential(2)} (rel ${w.rel.toExponential(2)}, ${w.what})`);
  console.log(`largest error per fixture:\n${rows.join('\n')}`);
});

// --- the tests -------------------------------------------------------------------------------------------

describe('PyTorch fixtures (float64)', () => {
  it('has every expected configuration, each file small', () => {
    const names = fixtures.map((f) => f.name);
    for (const name of EXPECTED) expect(names, name).toContain(name);
    let total = 0;
    for (const f of files) {
      const bytes = readFileSync(DIR + f).length;
      expect(bytes, f).toBeLessThan(100_000);
      total += bytes;
    }
    expect(total).toBeLessThan(1_000_000);
    files.forEach((f, i) => expect(f).toBe(`${fixtures[i]!.name}.json`));
  });

  for (const fx of fixtures) {
    const label = `${fx.name}: ${fx.layers.map(specLabel).join(' → ')}; ${fx.strategy}, ${fx.mode}`;

    it(label, () => {
      const strategy = strategyOf(fx.strategy);
      const rng = new Rng(`torch-fixture:${fx.name}`);
      const layers = fx.layers.map((spec) => buildLayer(spec, strategy, rng));
      const model = new Sequential(layers, fx.x.shape.slice(1));

      // Parameters: exactly the fixture's, by name.
      const params = new Map(model.params().map((p) => [p.name, p]));
      expect([...params.keys()].sort()).toEqual(Object.keys(fx.params).sort());
      for (const [name, a] of Object.entries(fx.params)) {
        const p = params.get(name)!;
        expect(p.value.dtype).toBe('float64');
        expect([...p.value.shape], name).toEqual(a.shape);
        p.value.data.set(a.data);
      }

      // Random feedback: load each weighted layer's B (float32 values, as the library stores B).
      if (fx.strategy === 'fa') {
        const weighted = model.feedbackLayers().flatMap(({ layer: l }) => (l instanceof Conv2d || l instanceof Dense ? [l] : []));
        expect(Object.keys(fx.feedback ?? {}).length).toBe(weighted.length);
        for (const layer of weighted) {
          const b = fx.feedback![layer.weight.name]!;
          expect(b.shape).toEqual([...layer.weight.value.shape]);
          for (const v of b.data) expect(Math.fround(v)).toBe(v);
          layer.feedback.loadState({ ...layer.feedback.state(), arrays: { b: encodeArray(Float32Array.from(b.data)) } });
          expect(Array.from(layer.feedback.matrix(layer.weight.value)!.data)).toEqual(b.data);
        }
      }

      // BatchNorm running statistics before the forward pass.
      const bns = model.feedbackLayers().flatMap(({ index, layer: l }) => (l instanceof BatchNorm ? [{ index, bn: l }] : []));
      expect(bns.map((b) => b.index).sort()).toEqual(Object.keys(fx.bn_state ?? {}).sort());
      for (const { index, bn } of bns) {
        bn.runningMean.set(fx.bn_state![index]!.running_mean_before.data);
        bn.runningVar.set(fx.bn_state![index]!.running_var_before.data);
      }

      // Forward.
      const x = tensorOf(fx.x);
      const y = model.forward(x, fx.mode === 'train');
      expectClose(fx.name, 'y', y, fx.y);
      for (const { index, bn } of bns) {
        expectClose(fx.name, `${index}.running_mean`, { shape: [bn.numFeatures], data: bn.runningMean }, fx.bn_state![index]!.running_mean);
        expectClose(fx.name, `${index}.running_var`, { shape: [bn.numFeatures], data: bn.runningVar }, fx.bn_state![index]!.running_var);
      }

      // Loss and upstream gradient.
      let dy: Tensor;
      if (fx.loss.type === 'sum_product') {
        dy = tensorOf(fx.loss.R); // L = Σ R ∘ y, so dL/dy = R
      } else {
        const { loss, grad } = softmaxCrossEntropy(y, fx.loss.labels);
        expect(Math.abs(loss - fx.loss.value), 'loss').toBeLessThanOrEqual(TOLERANCE * Math.max(1, Math.abs(fx.loss.value)));
        dy = grad;
      }

      // Backward: the input gradient and every parameter gradient.
      model.zeroGrad();
      const dx = model.backward(dy);
      expectClose(fx.name, 'dx', dx, fx.dx);
      expect(Object.keys(fx.grads).sort()).toEqual([...params.keys()].sort());
      for (const [name, g] of Object.entries(fx.grads)) expectClose(fx.name, `d${name}`, params.get(name)!.grad, g);
    });
  }
});
