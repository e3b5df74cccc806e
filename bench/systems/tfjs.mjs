/**
 * TensorFlow.js (core ops, hand-written training step) on its `cpu` or `wasm` backend.
 *
 * Layers use the fused ops TF.js's own layers use (matMul and conv2d fused with bias and ReLU);
 * BN is `moments` + `batchNorm` as in tfjs-layers' batchNormalization (running statistics, which
 * cost 2 × 256 values per layer, are not kept). Images are NHWC, TF.js's native layout.
 */
import { existsSync, mkdirSync, renameSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BATCH, CLASSES, LR, MOMENTUM, POOL_BATCHES, countSubnormals, shapes, syntheticData, toNhwc, workload } from '../workloads.mjs';

const require = createRequire(import.meta.url);

/**
 * TF.js's Node build of tfjs-core registers no gradients (the @tensorflow/tfjs bundle does that),
 * and the package's `dist/register_all_gradients.js` is an ES module tree Node cannot load as is.
 * So it is bundled once, with esbuild, into node_modules/.cache; it registers the gradients in
 * TF.js's global registry, which every copy of tfjs-core shares.
 */
export function gradientsBundle() {
  const dir = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'node_modules', '.cache', 'asymprop-bench');
  const version = require('@tensorflow/tfjs-core/package.json').version;
  const out = join(dir, `tfjs-core-${version}-gradients.cjs`);
  if (existsSync(out)) return out;
  mkdirSync(dir, { recursive: true });
  const tmp = `${out}.${process.pid}.tmp`;
  require('esbuild').buildSync({
    entryPoints: [require.resolve('@tensorflow/tfjs-core/dist/register_all_gradients.js')],
    bundle: true, platform: 'node', format: 'cjs', outfile: tmp, logLevel: 'error',
  });
  renameSync(tmp, out);
  return out;
}

export async function create(name, { backend }) {
  const tf = await import('@tensorflow/tfjs-core');
  await import('@tensorflow/tfjs-backend-cpu');
  require(gradientsBundle());
  const info = { version: tf.version_core, backend, threads: 1 };
  if (backend === 'wasm') {
    const wasm = await import('@tensorflow/tfjs-backend-wasm');
    // The .wasm binaries ship in the package's dist folder; in Node they are read from there.
    wasm.setWasmPaths(join(dirname(require.resolve('@tensorflow/tfjs-backend-wasm/package.json')), 'dist') + '/');
    if (!(await tf.setBackend('wasm'))) throw new Error('TF.js wasm backend failed to initialise');
    info.simd = tf.env().getBool('WASM_HAS_SIMD_SUPPORT');
    info.threads = wasm.getThreadsCount();
  } else {
    if (!(await tf.setBackend('cpu'))) throw new Error('TF.js cpu backend failed to initialise');
  }
  await tf.ready();
  tf.setSeed?.(1);

  const w = workload(name);
  const layers = shapes(name);
  const vars = [];
  const variable = (shape, fanIn, label) => {
    const v = tf.variable(fanIn ? tf.randomNormal(shape, 0, Math.sqrt(2 / fanIn), 'float32', 1 + vars.length) : tf.zeros(shape), true, `${label}${vars.length}`);
    vars.push(v);
    return v;
  };
  // A conv (NHWC input, HWIO filter), with a bias and a fused ReLU if asked.
  const conv = (inC, filters, kernel, strides, pad, bias, relu) => {
    const W = variable([kernel, kernel, inC, filters], inC * kernel * kernel, 'W');
    const b = bias ? variable([filters], 0, 'b') : undefined;
    return (h) => tf.fused.conv2d({ x: h, filter: W, strides, pad, ...(b ? { bias: b } : {}), activation: relu ? 'relu' : 'linear' });
  };
  // BN over every axis but the last (the features, or NHWC's channels), with batch statistics.
  const batchNorm = (channels) => {
    const gamma = tf.variable(tf.ones([channels]), true, `gamma${vars.length}`);
    vars.push(gamma);
    const beta = variable([channels], 0, 'beta');
    return (h) => {
      const { mean, variance } = tf.moments(h, h.rank === 4 ? [0, 1, 2] : [0]);
      return tf.batchNorm(h, mean, variance, beta, gamma, 1e-5);
    };
  };
  const ops = layers.map((l, i) => {
    const next = layers[i + 1];
    const fuseRelu = next?.type === 'relu';
    if (l.type === 'dense') {
      const W = variable([l.input[0], l.units], l.input[0], 'W'), b = variable([l.units], 0, 'b');
      return (h) => tf.fused.matMul({ a: h, b: W, bias: b, activation: fuseRelu ? 'relu' : 'linear' });
    }
    if (l.type === 'conv') return conv(l.input[0], l.filters, l.kernel, l.stride ?? 1, l.padding, l.bias ?? true, fuseRelu);
    if (l.type === 'block') {
      // conv1 → BN → ReLU → conv2 → BN, plus the shortcut (identity or 1×1 conv + BN), then ReLU.
      const [inC] = l.input, c = l.filters;
      const conv1 = conv(inC, c, 3, l.stride, 1, false, false), bn1 = batchNorm(c);
      const conv2 = conv(c, c, 3, 1, 1, false, false), bn2 = batchNorm(c);
      const projection = l.projection ? conv(inC, c, 1, l.stride, 0, false, false) : null, bnShortcut = l.projection ? batchNorm(c) : null;
      return (h) => {
        const main = bn2(conv2(tf.relu(bn1(conv1(h)))));
        return tf.relu(tf.add(main, projection ? bnShortcut(projection(h)) : h));
      };
    }
    if (l.type === 'gap') return (h) => tf.mean(h, [1, 2]);
    if (l.type === 'relu') {
      const prev = layers[i - 1];
      return prev.type === 'dense' || prev.type === 'conv' ? null : (h) => tf.relu(h);
    }
    if (l.type === 'bn') return batchNorm(l.input[0]);
    if (l.type === 'maxpool') {
      return l.padding === 0
        ? (h) => tf.maxPool(h, l.kernel, l.stride, 'valid')
        : (h) => tf.maxPool(h, l.kernel, l.stride, l.padding, 'floor');
    }
    if (l.type === 'flatten') return (h) => tf.reshape(h, [h.shape[0], -1]);
    throw new Error(`tfjs: no op for ${l.type}`);
  }).filter(Boolean);
  const forward = (x) => ops.reduce((h, op) => op(h), x);

  const data = syntheticData(name);
  const [c, h, wd] = w.input;
  const x = toNhwc(data.x, data.y.length, w.input);
  const batches = Array.from({ length: POOL_BATCHES }, (_, b) => {
    const xs = x.subarray(b * BATCH * data.perSample, (b + 1) * BATCH * data.perSample);
    const ys = data.y.subarray(b * BATCH, (b + 1) * BATCH);
    const isDense = layers[0].type === 'flatten' && !layers.some((l) => l.type === 'conv');
    return {
      x: isDense ? tf.tensor2d(xs, [BATCH, data.perSample]) : tf.tensor4d(xs, [BATCH, h, wd, c]),
      y: tf.tidy(() => tf.cast(tf.oneHot(tf.tensor1d(ys, 'int32'), CLASSES), 'float32')),
    };
  });
  // The output must be [BATCH, CLASSES] (pooling rounding in particular must match the definitions).
  const outShape = tf.tidy(() => forward(batches[0].x).shape);
  if (outShape.join() !== `${BATCH},${CLASSES}`) throw new Error(`tfjs model output ${outShape}`);

  const optimizer = tf.train.momentum(LR, MOMENTUM);
  return {
    info,
    step(b) {
      const { x: xb, y: yb } = batches[b];
      const cost = optimizer.minimize(() => tf.losses.softmaxCrossEntropy(yb, forward(xb)), true, vars);
      const loss = cost.dataSync()[0];
      cost.dispose();
      return loss;
    },
    async subnormals() {
      let count = 0, total = 0;
      const arrays = vars.map((v) => v.dataSync());
      for (const { tensor } of await optimizer.getWeights()) if (tensor.size > 1) arrays.push(tensor.dataSync());
      for (const a of arrays) {
        count += countSubnormals(a);
        total += a.length;
      }
      return { count, total, liveTensors: tf.memory().numTensors };
    },
  };
}
