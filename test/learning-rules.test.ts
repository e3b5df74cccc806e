// The learning rules after the paper (direct feedback alignment, Kolen-Pollack, weight mirrors) and
// the registry, each held against its definition written out here independently of src/feedback.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  BatchNorm, ConfigError, Conv2d, Dense, Flatten, ReLU, Rng, SGD, Sequential, Tensor, decodeArray, directFeedback, heNormal, feedbackByName,
  EXTRA_METHOD_COLORS, feedbackFromSpec, gradCheck, kolenPollack, methodByName, methodColor, methods, randomFeedback, registerMethod, resolveRunConfig, runId, softmaxCrossEntropy,
  symmetric, trainStep, weightMirror, type FeedbackStrategy, type Labels,
} from '../src/index.js';

const ROOT = new URL('..', import.meta.url).pathname;
const CLI = join(ROOT, 'dist/cli/main.js');

function normal(shape: number[], seed: number): Tensor {
  const t = Tensor.zeros(shape, 'float64');
  new Rng(seed).fillNormal(t.data);
  return t;
}

/** C = A B for row-major A [m, k], B [k, n], written out. */
function mm(a: ArrayLike<number>, b: ArrayLike<number>, m: number, k: number, n: number): Float64Array {
  const c = new Float64Array(m * n);
  for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) {
    let s = 0;
    for (let p = 0; p < k; p++) s += a[i * k + p]! * b[p * n + j]!;
    c[i * n + j] = s;
  }
  return c;
}
function transpose(a: ArrayLike<number>, rows: number, cols: number): Float64Array {
  const t = new Float64Array(rows * cols);
  for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) t[j * rows + i] = a[i * cols + j]!;
  return t;
}
const close = (a: ArrayLike<number>, b: ArrayLike<number>, tol = 1e-10) => {
  expect(a.length).toBe(b.length);
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i]! - b[i]!) / (1 + Math.abs(b[i]!)));
  expect(worst).toBeLessThan(tol);
};

describe('direct feedback alignment', () => {
  it('each layer below the top trains on (e B) ⊙ f′(a), B the layer above\'s own fixed matrix; the top layer on e itself', () => {
    const rng = new Rng(1);
    const d0 = new Dense(6, 5, { rng, feedback: directFeedback(), dtype: 'float64' });
    const d1 = new Dense(5, 4, { rng, feedback: directFeedback(), dtype: 'float64' });
    const d2 = new Dense(4, 3, { rng, feedback: directFeedback(), dtype: 'float64' });
    const model = new Sequential([d0, new ReLU(), d1, new ReLU(), d2]);
    const x = normal([7, 6], 2);
    const y = model.forward(x, true);
    const labels: Labels = Int32Array.from([0, 1, 2, 0, 1, 2, 0]);
    const { grad: e } = softmaxCrossEntropy(y, labels);
    model.zeroGrad();
    model.backward(e);

    // Written out: the forward pass, then each layer's δ from e through the B of the layer above.
    const h0pre = mm(x.data, transpose(d0.weight.value.data, 5, 6), 7, 6, 5).map((v, i) => v + d0.params()[1]!.value.data[i % 5]!);
    const h0 = h0pre.map((v) => Math.max(0, v));
    const h1pre = mm(h0, transpose(d1.weight.value.data, 4, 5), 7, 5, 4).map((v, i) => v + d1.params()[1]!.value.data[i % 4]!);
    const h1 = h1pre.map((v) => Math.max(0, v));
    const b2 = decodeArray(d2.feedback.state().arrays['b']!); // [3, 4]: e to d2's input (h1)
    const b1 = decodeArray(d1.feedback.state().arrays['b']!); // [3, 5]: e to d1's input (h0)
    expect(b2.length).toBe(12);
    expect(b1.length).toBe(15);
    const delta1 = mm(e.data, b2, 7, 3, 4).map((v, i) => (h1pre[i]! > 0 ? v : 0));
    const delta0 = mm(e.data, b1, 7, 3, 5).map((v, i) => (h0pre[i]! > 0 ? v : 0));
    close(d2.weight.grad.data, mm(transpose(e.data, 7, 3), h1, 3, 7, 4));
    close(d1.weight.grad.data, mm(transpose(delta1, 7, 4), h0, 4, 7, 5));
    close(d0.weight.grad.data, mm(transpose(delta0, 7, 5), x.data, 5, 7, 6));
    // The rule reads the output error, not the error from above: d1's δ does not depend on d2's W.
    const before = Float64Array.from(d1.weight.grad.data);
    d2.weight.value.data.fill(0.5);
    model.forward(x, true);
    model.zeroGrad();
    model.backward(e);
    close(d1.weight.grad.data, before);
  });

  it('in a conv layer, B maps e to the input\'s channels × positions', () => {
    const rng = new Rng(3);
    const conv = new Conv2d(1, 2, 3, { rng, feedback: directFeedback(), dtype: 'float64' });
    const dense = new Dense(2 * 3 * 3, 3, { rng, feedback: directFeedback(), dtype: 'float64' });
    const model = new Sequential([conv, new ReLU(), new Flatten(), dense], [1, 5, 5]);
    const x = normal([4, 1, 5, 5], 4);
    model.forward(x, true);
    const e = normal([4, 3], 5);
    model.zeroGrad();
    const dx = model.backward(e);
    // The conv layer sends e B0 to the data, B0 [3, 25]; the dense layer's B [3, 18] reaches the conv output.
    const b0 = decodeArray(conv.feedback.state().arrays['b']!);
    expect(b0.length).toBe(3 * 25);
    expect(dx.shape).toEqual([4, 1, 5, 5]);
    close(dx.data, mm(e.data, b0, 4, 3, 25));
    expect(decodeArray(dense.feedback.state().arrays['b']!).length).toBe(3 * 18);
  });

  it('refuses a model whose top weighted layer is not dense, and BatchNorm, naming what is allowed', () => {
    const rng = new Rng(1);
    expect(() => new Sequential([new Conv2d(1, 2, 3, { rng, feedback: directFeedback() })], [1, 5, 5])).toThrow(ConfigError);
    expect(() => new BatchNorm(4, { rng, feedback: directFeedback() })).toThrow(/applies to dense, conv layers/);
  });

  it('is saved and restored with its lazily drawn B, and its statistics have no matrix of W\'s shape', () => {
    const rng = new Rng(1);
    const model = new Sequential([new Dense(4, 3, { rng, feedback: directFeedback() }), new ReLU(), new Dense(3, 2, { rng, feedback: directFeedback() })], [4]);
    const layer = model.feedbackLayers()[1]!.layer as Dense;
    expect(layer.feedback.state().arrays['b']).toBeUndefined();
    model.instrument();
    const x = Tensor.zeros([5, 4]);
    new Rng(2).fillNormal(x.data);
    model.forward(x, true);
    model.backward(Tensor.full([5, 2], 0.1));
    const stats = model.feedbackStats()['2']!;
    expect(Number.isNaN(stats.angleVW)).toBe(true);
    expect(Number.isFinite(stats.errorAngle)).toBe(true);
    const saved = JSON.parse(JSON.stringify(layer.feedback.state()));
    const copy = directFeedback().bind({ kind: 'dense', shape: [2, 3], dtype: 'float32', fanIn: 3, fanOut: 2, init: heNormal(), rng: new Rng(99), layer: 'copy' });
    copy.loadState(saved);
    expect(copy.state().arrays['b']).toEqual(saved.arrays.b);
  });
});

/** A two-layer float64 network with `strategy` on both layers, and an SGD over all its parameters. */
function net(strategy: FeedbackStrategy, options: { momentum?: number; weightDecay?: number; lr?: number } = {}) {
  const rng = new Rng(11);
  const model = new Sequential([new Dense(6, 5, { rng, feedback: strategy, dtype: 'float64' }), new ReLU(), new Dense(5, 3, { rng, feedback: strategy, dtype: 'float64' })], [6]);
  const optimizer = new SGD(model.params(), { lr: options.lr ?? 0.1, momentum: options.momentum ?? 0, weightDecay: options.weightDecay ?? 0 });
  return { model, optimizer };
}
const batch = (seed: number) => ({ x: normal([8, 6], seed), y: Int32Array.from({ length: 8 }, (_, i) => (i + seed) % 3) as Labels });

describe('Kolen-Pollack', () => {
  it('B starts as feedback alignment\'s B, is a parameter named <layer>.feedback.b, and is left out of gradCheck', () => {
    const { model } = net(kolenPollack());
    expect(model.params().map((p) => p.name)).toEqual(['0.weight', '0.bias', '0.feedback.b', '2.weight', '2.bias', '2.feedback.b']);
    const fa = net(randomFeedback()).model;
    const b = model.params().find((p) => p.name === '2.feedback.b')!;
    const faB = fa.feedbackLayers()[1]!.layer.feedback.matrix((fa.feedbackLayers()[1]!.layer as Dense).weight.value)!;
    close(b.value.data, faB.data, 1e-7); // FA's B is drawn in float32: the same numbers
    const layer = new Dense(6, 3, { rng: new Rng(2), feedback: kolenPollack(), dtype: 'float64' });
    expect(gradCheck(layer, normal([4, 6], 3), { inputs: false }).ok).toBe(true);
  });

  it('after several steps with momentum, B − W follows d ← d − lr·m, m ← μm + (λ + wd)·d, from the start', () => {
    const lambda = 0.2, lr = 0.05, mu = 0.9, wd = 1e-3;
    const { model, optimizer } = net(kolenPollack({ decay: lambda }), { lr, momentum: mu, weightDecay: wd });
    const layers = model.feedbackLayers().map(({ layer }) => layer as Dense);
    const diff = layers.map((l) => l.weight.value.data.map((w, i) => l.feedback.params()[0]!.value.data[i]! - w));
    const m = diff.map((d) => new Float64Array(d.length));
    for (let step = 0; step < 6; step++) {
      const { x, y } = batch(step);
      trainStep(model, optimizer, x, y);
      diff.forEach((d, k) => {
        for (let i = 0; i < d.length; i++) {
          m[k]![i] = mu * m[k]![i]! + (lambda + wd) * d[i]!;
          d[i] = d[i]! - lr * m[k]![i]!;
        }
      });
    }
    layers.forEach((l, k) => {
      const b = l.feedback.params()[0]!.value.data;
      close(b.map((bi, i) => bi - l.weight.value.data[i]!), diff[k]!, 1e-9);
    });
  });

  it('under Batch Manhattan B still receives W\'s (signed) update', () => {
    const { model } = net(feedbackByName('kp', { bm: true, options: { decay: 0 } }));
    const { x, y } = batch(1);
    model.zeroGrad();
    const out = model.forward(x, true);
    model.backwardParams(softmaxCrossEntropy(out, y).grad);
    model.beforeUpdate();
    for (const { layer } of model.feedbackLayers()) {
      const w = (layer as Dense).weight.grad.data;
      expect(w.every((g) => g === 1 || g === -1 || g === 0)).toBe(true);
      expect(Array.from(layer.feedback.params()[0]!.grad.data)).toEqual(Array.from(w));
    }
  });
});

describe('weight mirrors', () => {
  it('B\'s gradient is −η·mean(y xᵀ) + λB for noise x ~ N(0, σ²) drawn from the binding\'s generator, y = W x', () => {
    const options = { mirrorRate: 0.3, decay: 0.05, noise: 0.7, mirrorBatches: 2 };
    const { model } = net(weightMirror(options));
    const { x, y } = batch(2);
    model.zeroGrad();
    model.backwardParams(softmaxCrossEntropy(model.forward(x, true), y).grad);
    const layer = model.feedbackLayers()[1]!.layer as Dense; // W [3, 5]
    const noiseRng = Rng.fromState(layer.feedback.state().rng!);
    const bBefore = Float64Array.from(layer.feedback.params()[0]!.value.data);
    model.beforeUpdate();
    const n = 8, out = 3, fanIn = 5;
    const sum = new Float64Array(out * fanIn);
    for (let k = 0; k < 2; k++) {
      const noise = new Float64Array(n * fanIn);
      noiseRng.fillNormal(noise, 0, 0.7);
      const yy = mm(noise, transpose(layer.weight.value.data, out, fanIn), n, fanIn, out);
      const c = mm(transpose(yy, n, out), noise, out, n, fanIn);
      for (let i = 0; i < c.length; i++) sum[i] += c[i]!;
    }
    const expected = sum.map((s, i) => (-0.3 * s) / (n * 2) + 0.05 * bBefore[i]!);
    close(layer.feedback.params()[0]!.grad.data, expected, 1e-9);
  });

  it('after many mirror steps with W held, B is ησ²W/(λ + wd): a multiple of W', () => {
    const layer = new Dense(20, 10, { rng: new Rng(5), feedback: weightMirror({ mirrorRate: 0.2, decay: 0.1, noise: 1, mirrorBatches: 4 }), dtype: 'float64' });
    const b = layer.feedback.params()[0]!;
    const optimizer = new SGD([b], { lr: 0.5, momentum: 0, weightDecay: 0 });
    layer.forward(normal([50, 20], 1), true);
    for (let s = 0; s < 300; s++) {
      b.zeroGrad();
      layer.feedback.beforeUpdate(layer, { manhattan: false });
      optimizer.step();
    }
    const w = layer.weight.value.data, bv = b.value.data;
    let dot = 0, nw = 0, nb = 0;
    for (let i = 0; i < w.length; i++) { dot += w[i]! * bv[i]!; nw += w[i]! ** 2; nb += bv[i]! ** 2; }
    const angle = (Math.acos(dot / Math.sqrt(nw * nb)) * 180) / Math.PI;
    expect(angle).toBeLessThan(8);
    expect(Math.sqrt(nb / nw)).toBeGreaterThan(1.8); // ησ²/λ = 2
    expect(Math.sqrt(nb / nw)).toBeLessThan(2.2);
  });

  it('is refused on BatchNorm, and bad options are typed errors naming the option', () => {
    expect(() => new BatchNorm(4, { rng: new Rng(1), feedback: weightMirror() })).toThrow(ConfigError);
    expect(() => weightMirror({ mirrorBatches: 0 })).toThrow(/mirror-batches/);
    expect(() => weightMirror({ noise: 0 })).toThrow(/mirror-noise/);
    expect(() => kolenPollack({ decay: -1 })).toThrow(/decay/);
  });
});

describe('the registry', () => {
  it('lists every method once, with the studies the grids and the demo read', () => {
    expect(methods().map((m) => m.name)).toEqual(['bp', 'usf', 'brsf', 'frsf', 'fa', 'dfa', 'kp', 'wm']);
    expect(methods('transport').map((m) => m.name)).toEqual(['bp', 'usf', 'brsf', 'frsf', 'fa', 'dfa', 'kp', 'wm']);
    expect(methodByName('symmetric').name).toBe('bp');
  });

  it('refuses an unknown method, an option of another rule, a flip or a magnitude where the rule has none', () => {
    expect(() => feedbackByName('nope')).toThrow(/invalid feedback: "nope" \(allowed: 'bp', 'symmetric'.*'wm'/);
    expect(() => feedbackByName('fa', { options: { decay: 0.1 } })).toThrow(/invalid decay: 0.1 \(allowed: only with feedback 'kp' or 'wm' \(feedback is 'fa'\)\)/);
    expect(() => feedbackByName('kp', { flip: 0.5 })).toThrow(/invalid flip/);
    expect(() => feedbackByName('dfa', { magnitude: 'lognormal' })).toThrow(/magnitude/);
    expect(() => feedbackByName('wm', { options: { mirrorBatches: 1.5 } })).toThrow(/mirror-batches/);
    expect(() => resolveRunConfig({ feedback: 'kp', feedbackOptions: { noise: 1 } })).toThrow(/mirror-noise.*only with feedback 'wm'/);
  });

  it('run configurations carry a method\'s options (defaults filled) and the 2016 methods\' stay as they were', () => {
    const kp = resolveRunConfig({ feedback: 'kp' });
    expect(kp.feedbackOptions).toEqual({ decay: 0.1 });
    expect(runId(kp)).toContain('/opts=decay=0.1/');
    const fa = resolveRunConfig({ feedback: 'fa' });
    expect('feedbackOptions' in fa).toBe(false);
    expect(runId(fa)).toBe('mnist-embedded/mlp/none/fa/flip=0/mag=default/lr=0.1/epochs=10/batch=100/momentum=0.9/wd=0.0001/seed=1');
  });

  it('a registered method is usable by name and rebuilt from its custom spec', () => {
    const method = registerMethod({
      name: 'test-half-bp', aliases: [], label: 'half', formula: 'dX = dY W / 2', description: 'backprop at half strength (a test rule)',
      flip: false, magnitude: false, signConcordant: true, studies: [],
      options: [{ name: 'scale', flag: 'test-scale', description: 'scale', default: 0.5, min: 0 }],
      build: ({ options }) => {
        const inner = symmetric();
        return { ...inner, name: `half(${options['scale']})`, spec: { type: 'custom', name: 'test-half-bp', options }, bind: inner.bind } as FeedbackStrategy;
      },
    });
    expect(feedbackByName('test-half-bp').name).toBe('half(0.5)');
    expect(feedbackFromSpec({ type: 'custom', name: 'test-half-bp', options: { scale: 0.25 } }).name).toBe('half(0.25)');
    expect(() => registerMethod(method)).toThrow(/not yet registered/);
    expect(() => feedbackFromSpec({ type: 'custom', name: 'missing' })).toThrow(/registerMethod/);
    // Without a colour of its own it gets the first of the extra colours, unlike any built-in one's.
    expect(methodColor('test-half-bp')).toBe(EXTRA_METHOD_COLORS[0]);
    expect(methods().filter((m) => m.color !== undefined).map((m) => m.color)).not.toContain(EXTRA_METHOD_COLORS[0]);
  });

  it('refuses a malformed registration (as a module of --import may hand it) and a flag the command line uses', () => {
    const base = { name: 'test-bad', aliases: [], label: 'bad', formula: 'dX = dY W', description: 'x', flip: false, magnitude: false, signConcordant: false, options: [], studies: [], build: () => symmetric() };
    expect(() => registerMethod({ ...base, studies: undefined } as never)).toThrow(/method test-bad studies/);
    expect(() => registerMethod({ ...base, label: 3 } as never)).toThrow(/method test-bad label/);
    expect(() => registerMethod({ ...base, options: [{ name: 'q', flag: 'quiet', description: 'q', default: 1, min: 0 }] })).toThrow(/option flag/);
    expect(() => registerMethod({ ...base, color: 'red' })).toThrow(/invalid method test-bad color: "red" \(allowed: a colour '#rrggbb', or none\)/);
    expect(methods().some((m) => m.name === 'test-bad')).toBe(false);
  });
});

describe('the command line', () => {
  const cli = (...args: string[]) => spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 120_000 });

  it('train --feedback kp --json: the angle between B and W falls per layer, while it stays near 90° for fa', () => {
    const angles = (feedback: string) => {
      const r = cli('train', '--feedback', feedback, '--epochs', '2', '--json', '--quiet');
      expect(r.status, r.stderr).toBe(0);
      const result = JSON.parse(r.stdout) as { testAccuracy: number; history: { feedback: Record<string, { angleVW: number }> }[] };
      expect(result.testAccuracy).toBeGreaterThan(0.8);
      return result.history.map((h) => Object.values(h.feedback).map((s) => s.angleVW));
    };
    const kp = angles('kp');
    for (const a of kp[1]!) expect(a).toBeLessThan(20);
    const fa = angles('fa');
    expect(fa[1]![0]).toBeGreaterThan(85);
  });

  it('refuses a KP option with fa, an unknown method and a missing --import file, with exit 2 and the option named', () => {
    let r = cli('train', '--feedback', 'fa', '--decay', '0.1');
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/invalid decay: 0\.1 \(allowed: only with feedback 'kp' or 'wm'/);
    r = cli('train', '--feedback', 'hebb');
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/invalid feedback: "hebb" \(allowed: 'bp'.*'dfa'.*'kp'.*'wm'/);
    r = cli('train', '--feedback', 'kp', '--mirror-rate', '0.5');
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/invalid mirror-rate: 0\.5 \(allowed: only with feedback 'wm' \(feedback is 'kp'\)\)/);
    r = cli('train', '--import', '/nonexistent/rule.mjs');
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/invalid import/);
  });

  it('--import loads a module that registers a rule; train runs it and its option flag', () => {
    const dir = mkdtempSync(join(tmpdir(), 'asymprop-import-'));
    const file = join(dir, 'rule.mjs');
    writeFileSync(file, `import { registerMethod, signConcordant } from ${JSON.stringify(join(ROOT, 'dist/index.js'))};
registerMethod({ name: 'mine', aliases: [], label: 'mine', formula: 'dX = dY sign(W)', description: 'uSF under another name',
  flip: false, magnitude: false, signConcordant: true, studies: [],
  options: [{ name: 'unused', flag: 'mine-unused', description: 'an option', default: 1, min: 0 }],
  build: ({ options }) => ({ ...signConcordant(), name: 'mine', spec: { type: 'custom', name: 'mine', options } }) });
`);
    const r = cli('train', '--import', file, '--feedback', 'mine', '--mine-unused', '2', '--epochs', '1', '--bn', '--json', '--quiet');
    expect(r.status, r.stderr).toBe(0);
    const result = JSON.parse(r.stdout) as { strategy: string; config: { feedbackOptions: unknown }; testAccuracy: number };
    expect(result.strategy).toBe('mine');
    expect(result.config.feedbackOptions).toEqual({ unused: 2 });
    expect(result.testAccuracy).toBeGreaterThan(0.8);
  });
});
