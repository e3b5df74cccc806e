/**
 * ConvNetJS 0.3: its `Trainer` with SGD, momentum and `batch_size` 100 (it accumulates the
 * per-sample gradients and updates once per batch), so one step is 100 `train` calls. It computes
 * in float64 and has no batch normalisation.
 */
import { createRequire } from 'node:module';
import { BATCH, CLASSES, LR, MOMENTUM, POOL_BATCHES, countSubnormals, shapes, syntheticData, workload } from '../workloads.mjs';

const require = createRequire(import.meta.url);

export async function create(name) {
  const convnetjs = require('convnetjs');
  const w = workload(name);
  const layers = shapes(name);
  if (layers.some((l) => l.type === 'bn')) throw new Error('ConvNetJS has no batch normalisation layer');
  const [c, h, wd] = w.input;
  const defs = [{ type: 'input', out_sx: wd, out_sy: h, out_depth: c }];
  layers.forEach((l, i) => {
    const last = i === layers.length - 1;
    const relu = layers[i + 1]?.type === 'relu' ? { activation: 'relu' } : {};
    if (l.type === 'dense' && last) defs.push({ type: 'softmax', num_classes: l.units }); // ConvNetJS puts the fc layer in front itself
    else if (l.type === 'dense') defs.push({ type: 'fc', num_neurons: l.units, ...relu });
    else if (l.type === 'conv') defs.push({ type: 'conv', sx: l.kernel, filters: l.filters, stride: 1, pad: l.padding, ...relu });
    else if (l.type === 'maxpool') defs.push({ type: 'pool', sx: l.kernel, stride: l.stride, pad: l.padding });
    else if (l.type !== 'relu' && l.type !== 'flatten') throw new Error(`convnetjs: no layer for ${l.type}`);
  });
  const net = new convnetjs.Net();
  net.makeLayers(defs);
  const trainer = new convnetjs.Trainer(net, { method: 'sgd', learning_rate: LR, momentum: MOMENTUM, batch_size: BATCH, l2_decay: 0 });

  const data = syntheticData(name);
  const vols = [];
  for (let s = 0; s < POOL_BATCHES * BATCH; s++) {
    const v = new convnetjs.Vol(wd, h, c, 0.0);
    const base = s * data.perSample;
    for (let ch = 0; ch < c; ch++) for (let i = 0; i < h; i++) for (let j = 0; j < wd; j++) {
      v.w[(wd * i + j) * c + ch] = data.x[base + (ch * h + i) * wd + j];
    }
    vols.push(v);
  }
  const out = net.layers[net.layers.length - 1];
  if (out.out_depth !== CLASSES) throw new Error(`convnetjs model output ${out.out_depth}`);

  return {
    info: { version: require('convnetjs/package.json').version, precision: 'float64', threads: 1 },
    step(b) {
      let loss = 0;
      for (let s = b * BATCH; s < (b + 1) * BATCH; s++) loss += trainer.train(vols[s], data.y[s]).cost_loss;
      return loss / BATCH;
    },
    subnormals() {
      let count = 0, total = 0;
      const arrays = [...net.getParamsAndGrads().map((p) => p.params), ...trainer.gsum];
      for (const a of arrays) {
        count += countSubnormals(a);
        total += a.length;
      }
      return { count, total };
    },
  };
}
