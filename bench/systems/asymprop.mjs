/** asymprop: the library as built (`npm run build` writes dist/). */
import { readFileSync } from 'node:fs';
import { BATCH, CLASSES, LR, MOMENTUM, POOL_BATCHES, batchOf, countSubnormals, shapes, syntheticData, workload } from '../workloads.mjs';

const lib = await import('../../dist/index.js');
const { BatchNorm, Conv2d, Dense, Flatten, GlobalAvgPool2d, MaxPool2d, ReLU, Residual, Rng, SGD, Sequential, Tensor, decodeArray, feedbackByName, trainStep } = lib;

/**
 * A strategy from its benchmark name: a registered method (`bp`, `usf`, `brsf`, `frsf`, `fa`,
 * `dfa`, `kp`, `wm`), or any of them with a `bm+` prefix (Batch Manhattan on top).
 */
export function strategy(name) {
  const bm = name.startsWith('bm+');
  return feedbackByName(bm ? name.slice(3) : name, { bm });
}

/** A basic residual block with BN (bench/workloads.mjs), every conv and BN taking the rule. */
function block(l, { rng, feedback, bnFeedback }) {
  const [inC] = l.input, c = l.filters;
  const conv = (from, kernel, stride) => new Conv2d(from, c, kernel, { rng, stride, padding: (kernel - 1) / 2, bias: false, feedback });
  const bn = () => new BatchNorm(c, { rng, feedback: bnFeedback });
  const main = { conv1: conv(inC, 3, l.stride), bn1: bn(), relu1: new ReLU(), conv2: conv(c, 3, 1), bn2: bn() };
  const shortcut = l.projection ? { shortcut: { conv: conv(inC, 1, l.stride), bn: bn() } } : {};
  return new Residual(main, { ...shortcut, after: { relu: new ReLU() } });
}

export async function create(name, { strategy: strategyName = 'bp', threads = 1, lr = LR } = {}) {
  // Threads for the matrix products (helpers are Node worker threads; results are identical).
  const threadsUsed = await (await import('../../dist/node.js')).useThreads(threads);
  const w = workload(name);
  const rng = new Rng(1);
  const feedback = strategy(strategyName);
  const bnFeedback = feedback.batchNorm; // what a BatchNorm beside the rule gets (the exact backward, with BM when the rule has it)
  const layers = [];
  for (const l of shapes(name)) {
    if (l.type === 'flatten') layers.push(new Flatten());
    else if (l.type === 'relu') layers.push(new ReLU());
    else if (l.type === 'dense') layers.push(new Dense(l.input[0], l.units, { rng, feedback }));
    else if (l.type === 'bn') layers.push(new BatchNorm(l.input[0], { rng, feedback: bnFeedback }));
    else if (l.type === 'conv') layers.push(new Conv2d(l.input[0], l.filters, l.kernel, { rng, stride: l.stride ?? 1, padding: l.padding, bias: l.bias ?? true, feedback }));
    else if (l.type === 'block') layers.push(block(l, { rng, feedback, bnFeedback }));
    else if (l.type === 'gap') layers.push(new GlobalAvgPool2d());
    else if (l.type === 'maxpool') layers.push(new MaxPool2d(l.kernel, { stride: l.stride, padding: l.padding }));
    else throw new Error(`asymprop: no layer for ${l.type}`);
  }
  const model = new Sequential(layers, w.input);
  const optimizer = new SGD(model.params(), { lr, momentum: MOMENTUM });
  const data = syntheticData(name);
  const batches = Array.from({ length: POOL_BATCHES }, (_, b) => {
    const { x, y } = batchOf(data, b);
    return { x: new Tensor(x, [BATCH, ...w.input]), y };
  });
  if (batches[0].y.length !== BATCH || Math.max(...data.y) >= CLASSES) throw new Error('bad data');

  return {
    model,
    info: {
      version: JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')).version,
      gemmKernel: typeof lib.gemmKernel === 'function' ? lib.gemmKernel() : 'js',
      strategy: feedback.name,
      threads: threadsUsed,
    },
    step(b) {
      const { x, y } = batches[b];
      return trainStep(model, optimizer, x, y).loss;
    },
    subnormals() {
      let count = 0, total = 0;
      for (const p of model.params()) {
        count += countSubnormals(p.value.data);
        total += p.value.data.length;
      }
      for (const enc of Object.values(optimizer.state().buffers)) {
        const buf = decodeArray(enc);
        count += countSubnormals(buf);
        total += buf.length;
      }
      return { count, total };
    },
  };
}
