/**
 * The benchmark workloads (layer by layer), their FLOP counts, and the synthetic data every
 * system trains on. Each system builds the same network from these definitions; the data is
 * generated deterministically here and, for the PyTorch process, written to files it reads.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

export const BATCH = 100;
export const CLASSES = 10;
export const LR = 0.01;
export const MOMENTUM = 0.9;
/** Distinct batches cycled through during training (identical for every system). */
export const POOL_BATCHES = 10;

/**
 * Layer lists. `dense` and `conv` are the weighted layers (a conv has stride 1 and a bias unless it
 * says otherwise); `bn` is batch normalisation over the features (dense) or channels (conv); pools
 * are max pools; `gap` is global average pooling over height and width.
 *
 * A `block` is a basic residual block (He et al. 2016) with BN:
 *
 *     conv1 3×3 (stride s, pad 1) → BN → ReLU → conv2 3×3 (pad 1) → BN   plus the shortcut, then ReLU
 *
 * Its shortcut is the identity, or, where the shape changes (stride 2 or new channel count), a
 * 1×1 conv of stride s followed by BN. Its convolutions have no bias (BN follows each).
 */
const block = (filters, stride = 1) => ({ type: 'block', filters, stride });
const stage = (filters, blocks, stride) => Array.from({ length: blocks }, (_, i) => block(filters, i === 0 ? stride : 1));

export const WORKLOADS = {
  mlp: {
    description: 'MLP 784-256-256-10, ReLU',
    input: [1, 28, 28],
    layers: [
      { type: 'flatten' },
      { type: 'dense', units: 256 }, { type: 'relu' },
      { type: 'dense', units: 256 }, { type: 'relu' },
      { type: 'dense', units: CLASSES },
    ],
  },
  mlp_bn: {
    description: 'MLP 784-256-256-10, BN before each hidden ReLU',
    input: [1, 28, 28],
    layers: [
      { type: 'flatten' },
      { type: 'dense', units: 256 }, { type: 'bn' }, { type: 'relu' },
      { type: 'dense', units: 256 }, { type: 'bn' }, { type: 'relu' },
      { type: 'dense', units: CLASSES },
    ],
  },
  cnn: {
    description: '1×28×28: conv5×5×32 p2, ReLU, pool 2, conv5×5×64 p2, ReLU, pool 2, dense 10',
    input: [1, 28, 28],
    layers: [
      { type: 'conv', filters: 32, kernel: 5, padding: 2 }, { type: 'relu' }, { type: 'maxpool', kernel: 2, stride: 2, padding: 0 },
      { type: 'conv', filters: 64, kernel: 5, padding: 2 }, { type: 'relu' }, { type: 'maxpool', kernel: 2, stride: 2, padding: 0 },
      { type: 'flatten' },
      { type: 'dense', units: CLASSES },
    ],
  },
  cnn_c: {
    description: '3×32×32: [conv5×5 p2, ReLU, pool 3 s2 p1] × (32, 32, 64 filters), dense 10',
    input: [3, 32, 32],
    layers: [
      { type: 'conv', filters: 32, kernel: 5, padding: 2 }, { type: 'relu' }, { type: 'maxpool', kernel: 3, stride: 2, padding: 1 },
      { type: 'conv', filters: 32, kernel: 5, padding: 2 }, { type: 'relu' }, { type: 'maxpool', kernel: 3, stride: 2, padding: 1 },
      { type: 'conv', filters: 64, kernel: 5, padding: 2 }, { type: 'relu' }, { type: 'maxpool', kernel: 3, stride: 2, padding: 1 },
      { type: 'flatten' },
      { type: 'dense', units: CLASSES },
    ],
  },
  lenet_bn: {
    description: "The paper's LeNet with BN on 1×28×28: conv5×5×6 p2, BN, ReLU, pool 2, conv5×5×16, BN, ReLU, pool 2, dense 120, BN, ReLU, dense 84, BN, ReLU, dense 10",
    input: [1, 28, 28],
    layers: [
      { type: 'conv', filters: 6, kernel: 5, padding: 2 }, { type: 'bn' }, { type: 'relu' }, { type: 'maxpool', kernel: 2, stride: 2, padding: 0 },
      { type: 'conv', filters: 16, kernel: 5, padding: 0 }, { type: 'bn' }, { type: 'relu' }, { type: 'maxpool', kernel: 2, stride: 2, padding: 0 },
      { type: 'flatten' },
      { type: 'dense', units: 120 }, { type: 'bn' }, { type: 'relu' },
      { type: 'dense', units: 84 }, { type: 'bn' }, { type: 'relu' },
      { type: 'dense', units: CLASSES },
    ],
  },
  resnet: {
    description: 'ResNet-20 (CIFAR style) on 3×32×32: conv3×3×16, BN, ReLU; 3 stages of 3 basic blocks with 16/32/64 channels (stride 2 and a 1×1 conv + BN shortcut entering stages 2 and 3); global average pool; dense 10',
    input: [3, 32, 32],
    layers: [
      { type: 'conv', filters: 16, kernel: 3, padding: 1, bias: false }, { type: 'bn' }, { type: 'relu' },
      ...stage(16, 3, 1), ...stage(32, 3, 2), ...stage(64, 3, 2),
      { type: 'gap' },
      { type: 'dense', units: CLASSES },
    ],
  },
};

export const WORKLOAD_NAMES = Object.keys(WORKLOADS);

export function workload(name) {
  const w = WORKLOADS[name];
  if (!w) throw new Error(`unknown workload "${name}" (one of ${WORKLOAD_NAMES.join(', ')})`);
  return w;
}

/**
 * Walks the layer list, giving each layer its per-sample input shape `[c, h, w]` or `[features]`
 * and output shape; convolutions and max pools use floor rounding, like PyTorch. A block also
 * gets `projection`: whether its shortcut is a 1×1 conv (the shape changes) or the identity.
 */
export function shapes(name) {
  const w = workload(name);
  let shape = [...w.input];
  return w.layers.map((layer) => {
    const input = shape;
    if (layer.type === 'flatten') shape = [shape.reduce((a, b) => a * b, 1)];
    else if (layer.type === 'dense') shape = [layer.units];
    else if (layer.type === 'conv') {
      const [, h, wd] = shape;
      const out = (n) => Math.floor((n + 2 * layer.padding - layer.kernel) / (layer.stride ?? 1)) + 1;
      shape = [layer.filters, out(h), out(wd)];
    } else if (layer.type === 'block') {
      const [c, h, wd] = shape;
      const out = (n) => Math.floor((n + 2 - 3) / layer.stride) + 1;
      shape = [layer.filters, out(h), out(wd)];
      return { ...layer, input, output: shape, projection: layer.stride !== 1 || c !== layer.filters };
    } else if (layer.type === 'gap') {
      shape = [shape[0]];
    } else if (layer.type === 'maxpool') {
      const [c, h, wd] = shape;
      const out = (n) => Math.floor((n + 2 * layer.padding - layer.kernel) / layer.stride) + 1;
      shape = [c, out(h), out(wd)];
    }
    return { ...layer, input, output: shape };
  });
}

/**
 * Multiply-adds of the weighted layers for one sample's forward pass (bias, BN, ReLU, pooling and
 * the shortcut's sum not counted). ResNet-20 on 3×32×32: 40.8 M.
 */
export function forwardMacs(name) {
  let macs = 0;
  for (const l of shapes(name)) {
    const [c, h, w] = l.output;
    if (l.type === 'dense') macs += l.input[0] * l.units;
    if (l.type === 'conv') macs += c * h * w * l.input[0] * l.kernel * l.kernel;
    if (l.type === 'block') macs += c * h * w * (l.input[0] * 9 + c * 9 + (l.projection ? l.input[0] : 0));
  }
  return macs;
}

/** Training FLOPs per sample: forward = 2 × multiply-adds, training ≈ 3 × forward. */
export function trainingFlopsPerSample(name) {
  return 3 * 2 * forwardMacs(name);
}

/** A small, fast, deterministic generator (mulberry32) so every process makes the same data. */
export function prng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const dataCache = new Map();

/**
 * The synthetic data of a workload (the same for every workload with the same input shape): `POOL_BATCHES` batches of `BATCH` samples, NCHW float32
 * images and int32 labels.
 *
 * Grey 28×28 workloads get MNIST-like images: each class has a prototype of a few soft blobs
 * inside the central 20×20 square; a sample is its class prototype shifted by up to 2 pixels,
 * scaled and noised, with small values cut to exactly 0 (so, as in MNIST, most pixels are 0 and
 * the border is always 0). Colour 32×32 workloads get CIFAR-like images: a smooth per-class colour
 * field mixed with per-pixel noise, every value non-zero.
 */
export function syntheticData(name) {
  const w = workload(name);
  const key = w.input.join('x');
  if (dataCache.has(key)) return dataCache.get(key);
  const [c, h, wd] = w.input;
  const rand = prng(c === 1 ? 0x5eed : 0xc01042);
  const perSample = c * h * wd;
  const n = POOL_BATCHES * BATCH;
  const x = new Float32Array(n * perSample);
  const y = new Int32Array(n);
  const grey = c === 1;

  const prototypes = [];
  for (let k = 0; k < CLASSES; k++) {
    const p = new Float32Array(perSample);
    if (grey) {
      const blobs = Array.from({ length: 3 }, () => ({ cy: 8 + rand() * 12, cx: 8 + rand() * 12, s: 1.5 + rand() * 1.5 }));
      for (let i = 0; i < h; i++) for (let j = 0; j < wd; j++) {
        let v = 0;
        for (const b of blobs) v += Math.exp(-((i - b.cy) ** 2 + (j - b.cx) ** 2) / (2 * b.s * b.s));
        p[i * wd + j] = Math.min(1, v);
      }
    } else {
      for (let ch = 0; ch < c; ch++) {
        const fy = 1 + rand() * 3, fx = 1 + rand() * 3, ph = rand() * 6.28;
        for (let i = 0; i < h; i++) for (let j = 0; j < wd; j++) {
          p[(ch * h + i) * wd + j] = 0.5 + 0.4 * Math.sin((fy * i) / h * 6.28 + (fx * j) / wd * 6.28 + ph);
        }
      }
    }
    prototypes.push(p);
  }

  for (let s = 0; s < n; s++) {
    const label = Math.floor(rand() * CLASSES);
    y[s] = label;
    const p = prototypes[label];
    const base = s * perSample;
    if (grey) {
      const dy = Math.floor(rand() * 5) - 2, dx = Math.floor(rand() * 5) - 2, scale = 0.7 + 0.3 * rand();
      for (let i = 0; i < h; i++) for (let j = 0; j < wd; j++) {
        const si = i - dy, sj = j - dx;
        let v = si >= 0 && si < h && sj >= 0 && sj < wd ? p[si * wd + sj] * scale : 0;
        if (v > 0) v += 0.15 * (rand() - 0.5);
        x[base + i * wd + j] = v < 0.1 ? 0 : Math.min(1, v);
      }
    } else {
      for (let i = 0; i < perSample; i++) x[base + i] = 0.6 * p[i] + 0.4 * rand();
    }
  }
  const data = { x, y, perSample, shape: w.input };
  dataCache.set(key, data);
  return data;
}

/** Batch `b` of the pool as views: `x` (`BATCH × perSample`, NCHW) and `y`. */
export function batchOf(data, b) {
  return {
    x: data.x.subarray(b * BATCH * data.perSample, (b + 1) * BATCH * data.perSample),
    y: data.y.subarray(b * BATCH, (b + 1) * BATCH),
  };
}

/** NCHW → NHWC for one whole pool (used by the systems that want channels last). */
export function toNhwc(x, n, [c, h, w]) {
  if (c === 1) return x;
  const out = new Float32Array(x.length);
  for (let s = 0; s < n; s++) for (let ch = 0; ch < c; ch++) for (let i = 0; i < h; i++) for (let j = 0; j < w; j++) {
    out[((s * h + i) * w + j) * c + ch] = x[((s * c + ch) * h + i) * w + j];
  }
  return out;
}

/** Writes a workload's data as raw little-endian files for another process: `<dir>/<name>.x.f32`, `<dir>/<name>.y.i32`. */
export function writeDataFiles(dir, name) {
  const d = syntheticData(name);
  const xPath = join(dir, `${name}.x.f32`), yPath = join(dir, `${name}.y.i32`);
  writeFileSync(xPath, Buffer.from(d.x.buffer, d.x.byteOffset, d.x.byteLength));
  writeFileSync(yPath, Buffer.from(d.y.buffer, d.y.byteOffset, d.y.byteLength));
  return { xPath, yPath };
}

/** Subnormal numbers in an array, in its own precision (float32 or float64). */
export function countSubnormals(array) {
  const tiny = array instanceof Float32Array ? 1.1754943508222875e-38 : 2.2250738585072014e-308;
  let count = 0;
  for (let i = 0; i < array.length; i++) {
    const v = array[i];
    if (v !== 0 && v < tiny && v > -tiny) count++;
  }
  return count;
}
