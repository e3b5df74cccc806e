/**
 * jax-js (`@jax-js/jax`) on its `wasm` device: JAX-style functional code, whose kernels jax-js
 * generates as WebAssembly SIMD at run time. The network is a pure function of a list of
 * parameters; one training step (forward, `valueAndGrad`, the momentum update) is one `jit`-ted
 * function, compiled on its first call. Images are NCHW and conv filters OIHW, jax-js's own layout.
 *
 * Two things particular to jax-js shape this file:
 *
 * - **Ownership.** Every jax-js function consumes the arrays it is given (their reference count
 *   drops by one); `x.ref` hands over a new reference and keeps `x`. An array used twice (the
 *   input of a batch norm or of a residual block) is passed as `.ref` the first time.
 * - **Devices.** `init()` with no argument probes every device, WebGPU through the global
 *   `navigator`, which Node 20 lacks; so the wasm device is initialised by name. jax-js runs its
 *   kernels on Web Workers where a global `Worker` exists, which Node lacks too: one thread.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { BATCH, CLASSES, LR, MOMENTUM, POOL_BATCHES, batchOf, countSubnormals, shapes, syntheticData, workload } from '../workloads.mjs';

const require = createRequire(import.meta.url);

/** The installed version (the package exports no `package.json`, so it is read from its folder). */
function version() {
  const entry = require.resolve('@jax-js/jax');
  return JSON.parse(readFileSync(join(dirname(entry), '..', 'package.json'), 'utf8')).version;
}

export async function create(name) {
  const jax = await import('@jax-js/jax');
  const { lax, nn, numpy: np, random, tree } = jax;
  if (!(await jax.init('wasm')).includes('wasm')) throw new Error('jax-js: the wasm device failed to initialise');
  jax.defaultDevice('wasm');

  const w = workload(name);
  const layers = shapes(name);
  let key = random.key(1);
  const params = [];
  /** A new parameter: He-normal for a weight of fan-in `fanIn`, else `fill` (0 or 1). */
  const parameter = (shape, { fanIn, fill = 0 }) => {
    let value;
    if (fanIn) {
      const [next, sub] = random.split(key, 2);
      key = next;
      value = random.normal(sub, shape).mul(Math.sqrt(2 / fanIn));
    } else value = np.full(shape, fill, { dtype: np.float32 });
    params.push(value);
    return params.length - 1;
  };

  // Each layer is a function (h, p) → h, where p is the whole parameter list and the layer takes
  // (consumes) its own entries by index. Per-channel parameters of conv layers have shape
  // [C, 1, 1] so that they broadcast over NCHW.
  const conv = (inC, filters, kernel, stride, pad, bias) => {
    const W = parameter([filters, inC, kernel, kernel], { fanIn: inC * kernel * kernel });
    const b = bias ? parameter([filters, 1, 1], {}) : null;
    return (h, p) => {
      const out = lax.convGeneralDilated(h, p[W], [stride, stride], [[pad, pad], [pad, pad]]);
      return b === null ? out : out.add(p[b]);
    };
  };
  // Batch normalisation with the batch's statistics, over every axis but the features/channels.
  const batchNorm = (channels, spatial) => {
    const shape = spatial ? [channels, 1, 1] : [channels];
    const gamma = parameter(shape, { fill: 1 }), beta = parameter(shape, {});
    const axes = spatial ? [0, 2, 3] : [0];
    return (h, p) => {
      const centred = h.ref.sub(np.mean(h, axes, { keepdims: true }));
      const variance = np.mean(np.square(centred.ref), axes, { keepdims: true });
      return centred.div(np.sqrt(variance.add(1e-5))).mul(p[gamma]).add(p[beta]);
    };
  };
  const ops = layers.map((l, i) => {
    const spatial = l.input.length === 3;
    if (l.type === 'flatten') return (h) => h.reshape([h.shape[0], -1]);
    if (l.type === 'relu') return (h) => nn.relu(h);
    if (l.type === 'dense') {
      const W = parameter([l.input[0], l.units], { fanIn: l.input[0] }), b = parameter([l.units], {});
      return (h, p) => np.dot(h, p[W]).add(p[b]);
    }
    if (l.type === 'conv') return conv(l.input[0], l.filters, l.kernel, l.stride ?? 1, l.padding, l.bias ?? true);
    if (l.type === 'bn') return batchNorm(l.input[0], spatial);
    if (l.type === 'maxpool') {
      // reduceWindow pools the trailing axes without padding. The padded pools follow a ReLU, so
      // padding with 0 gives the max of the window's real values, as a pool padded with −∞ does.
      if (l.padding > 0 && layers[i - 1]?.type !== 'relu') throw new Error('jaxjs: a padded max pool must follow a ReLU');
      const pad = [[0, 0], [0, 0], [l.padding, l.padding], [l.padding, l.padding]];
      return (h) => lax.reduceWindow(l.padding > 0 ? np.pad(h, pad) : h, np.max, [l.kernel, l.kernel], [l.stride, l.stride]);
    }
    if (l.type === 'gap') return (h) => np.mean(h, [2, 3]);
    if (l.type === 'block') {
      // conv1 → BN → ReLU → conv2 → BN, plus the shortcut (identity or 1×1 conv + BN), then ReLU.
      const [inC] = l.input, c = l.filters;
      const conv1 = conv(inC, c, 3, l.stride, 1, false), bn1 = batchNorm(c, true);
      const conv2 = conv(c, c, 3, 1, 1, false), bn2 = batchNorm(c, true);
      const projection = l.projection ? conv(inC, c, 1, l.stride, 0, false) : null;
      const bnShortcut = l.projection ? batchNorm(c, true) : null;
      return (h, p) => {
        const main = bn2(conv2(nn.relu(bn1(conv1(h.ref, p), p)), p), p);
        const shortcut = projection ? bnShortcut(projection(h, p), p) : h;
        return nn.relu(main.add(shortcut));
      };
    }
    throw new Error(`jaxjs: no layer for ${l.type}`);
  });
  const forward = (p, x) => ops.reduce((h, op) => op(h, p), x);
  const loss = (p, x, y) => nn.logSoftmax(forward(p, x)).mul(nn.oneHot(y, CLASSES)).sum().mul(-1 / BATCH);

  // One training step, compiled as a whole: SGD with momentum as PyTorch and TF.js do it,
  // v ← μ·v + g, w ← w − lr·v.
  const trainStep = jax.jit((p, v, x, y) => {
    const [value, grads] = jax.valueAndGrad(loss)(tree.ref(p), x, y);
    const velocity = tree.map((vi, gi) => vi.mul(MOMENTUM).add(gi), v, grads);
    const updated = tree.map((pi, vi) => pi.sub(vi.mul(LR)), p, tree.ref(velocity));
    return [value, updated, velocity];
  });

  const data = syntheticData(name);
  const batches = Array.from({ length: POOL_BATCHES }, (_, b) => {
    const { x, y } = batchOf(data, b);
    return { x: np.array(x).reshape([BATCH, ...w.input]), y: np.array(y, { dtype: np.int32 }) };
  });
  // The output must be [BATCH, CLASSES]. jax-js evaluates lazily: the shape is known before any
  // kernel runs, and disposing of the result runs none.
  const out = forward(tree.ref(params), batches[0].x.ref);
  const outShape = out.shape;
  out.dispose();
  if (outShape.join() !== `${BATCH},${CLASSES}`) throw new Error(`jaxjs model output ${outShape}`);

  let state = { params, velocity: params.map((p) => np.zerosLike(p.ref)) };
  return {
    info: { version: version(), device: 'wasm', threads: 1, parameters: params.reduce((n, p) => n + p.size, 0) },
    step(b) {
      const [value, updated, velocity] = trainStep(state.params, state.velocity, batches[b].x.ref, batches[b].y.ref);
      state = { params: updated, velocity };
      return value.js();
    },
    subnormals() {
      let count = 0, total = 0;
      for (const a of [...state.params, ...state.velocity]) {
        // dataSync consumes its array: read a new reference.
        count += countSubnormals(a.ref.dataSync());
        total += a.size;
      }
      return { count, total };
    },
  };
}
