/**
 * The kernel boundary: every operation of the `Kernels` protocol on the fast WebAssembly kernels
 * against the reference kernels' loops, to the bit, on random shapes (odd sizes, partial vectors,
 * padding and strides), with operands in the kernels' own memory and outside it, an output that is
 * also an input, and on one thread and on two. A value is the same when its float is (Object.is:
 * +0 and −0 differ); NaNs may differ in payload. (The one documented difference, float32 products
 * accumulated in float32 rather than float64, is tested in wasm-gemm.test.ts.)
 *
 * Everything comes from the built library (dist/): the helper threads run its worker script.
 */
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';

type Lib = typeof import('../src/index.js');
type NodeLib = typeof import('../src/node.js');
const lib: Lib = await import(new URL('../dist/index.js', import.meta.url).href);
const node: NodeLib = await import(new URL('../dist/node.js', import.meta.url).href);
const { Rng, defaultKernels, geometry2d, referenceKernels: ref } = lib;
const fast = defaultKernels();
/** Calls the fast kernels' helpers have shared out. */
const sharedCalls = (): number => (fast as Lib['WasmKernels']['prototype']).parallelCalls();

/**
 * The same bits, value by value; two NaNs count as the same whatever their payload and sign
 * (JavaScript and WebAssembly propagate a NaN's payload differently, and NaN means a diverged run).
 */
function expectSameBits(got: Float32Array | Float64Array, want: Float32Array | Float64Array, what: string): void {
  expect(got.length, what).toBe(want.length);
  const same = (a: number, b: number): boolean => Object.is(a, b) || (Number.isNaN(a) && Number.isNaN(b));
  for (let i = 0; i < got.length; i++) if (!same(got[i]!, want[i]!)) throw new Error(`${what}: value ${i}: ${got[i]} fast ≠ ${want[i]} reference`);
}

/** Values with zeros, −0, and (when `special`) NaN and ±∞ among them. */
function values(n: number, seed: number, special = false): Float32Array {
  const r = new Rng(seed);
  const odd = special ? [0, -0, NaN, Infinity, -Infinity, 1e-45] : [0, -0];
  return Float32Array.from({ length: n }, (_, i) => (i % 37 < odd.length ? odd[i % 37]! : r.normal()));
}

/** A copy of `x` in the fast kernels' memory (when `inside`), else an ordinary array. */
function placed(x: Float32Array, inside: boolean): Float32Array {
  if (!inside) return Float32Array.from(x);
  const y = fast.allocate('float32', x.length) as Float32Array;
  y.set(x);
  return y;
}

const threadCounts = [1, 2] as const;

describe.each(threadCounts)('the fast kernels give the reference kernels’ bits (%i thread(s))', (threads) => {
  afterAll(() => node.useThreads(1));
  it('starts the threads', async () => {
    expect(await node.useThreads(threads)).toBe(threads);
    expect(fast.threads()).toBe(threads);
  });

  it('im2col, col2im, the layout changes and the bias sums, over random geometries', () => {
    const before = sharedCalls();
    fc.assert(
      fc.property(
        fc.record({ n: fc.integer({ min: 1, max: 9 }), c: fc.integer({ min: 1, max: 5 }), h: fc.integer({ min: 1, max: 13 }), w: fc.integer({ min: 1, max: 13 }), kh: fc.integer({ min: 1, max: 5 }), kw: fc.integer({ min: 1, max: 5 }), sh: fc.integer({ min: 1, max: 3 }), sw: fc.integer({ min: 1, max: 3 }), ph: fc.integer({ min: 0, max: 2 }), pw: fc.integer({ min: 0, max: 2 }), out: fc.integer({ min: 1, max: 11 }), inside: fc.boolean(), seed: fc.integer() }),
        (c) => {
          fc.pre(c.h + 2 * c.ph >= c.kh && c.w + 2 * c.pw >= c.kw);
          const g = geometry2d('case', [c.c, c.h, c.w], { kernel: [c.kh, c.kw], stride: [c.sh, c.sw], padding: [c.ph, c.pw] }, 1);
          const k = c.c * c.kh * c.kw, rows = c.n * g.oh * g.ow, p = g.oh * g.ow;
          const x = values(c.n * c.c * c.h * c.w, c.seed, true);
          const [pf, pr] = [placed(new Float32Array(rows * k).fill(NaN), c.inside), new Float32Array(rows * k)];
          fast.im2col(placed(x, c.inside), c.n, g, pf);
          ref.im2col(x, c.n, g, pr);
          expectSameBits(pf, pr, 'im2col');

          const ld = rows + 3; // a strided (transposed) patch matrix, as a product leaves it
          const dp = values(k * ld + 2, c.seed + 1, true);
          const [dxf, dxr] = [placed(new Float32Array(x.length).fill(7), c.inside), new Float32Array(x.length)];
          fast.col2im({ data: placed(dp, c.inside), offset: 2, ld }, c.n, g, dxf);
          ref.col2im({ data: dp, offset: 2, ld }, c.n, g, dxr);
          expectSameBits(dxf, dxr, 'col2im');

          const yt = values(rows * (c.out + 1) + 1, c.seed + 2, true), bias = values(c.out, c.seed + 3);
          const [yf, yr] = [placed(new Float32Array(c.n * c.out * p), c.inside), new Float32Array(c.n * c.out * p)];
          for (const b of [bias, null]) {
            fast.positionsToChannels({ data: placed(yt, c.inside), offset: 1, ld: c.out + 1 }, c.n, c.out, p, yf, b && placed(b, c.inside));
            ref.positionsToChannels({ data: yt, offset: 1, ld: c.out + 1 }, c.n, c.out, p, yr, b);
            expectSameBits(yf, yr, `positionsToChannels, ${b ? 'with' : 'without'} a bias`);
          }

          const dy = values(c.n * c.out * p, c.seed + 4, true);
          const [tf, tr] = [placed(new Float32Array(dy.length), c.inside), new Float32Array(dy.length)];
          fast.channelsToPositions(placed(dy, c.inside), c.n, c.out, p, tf);
          ref.channelsToPositions(dy, c.n, c.out, p, tr);
          expectSameBits(tf, tr, 'channelsToPositions');

          const start = values(c.out, c.seed + 5);
          const [sf, sr] = [placed(start, c.inside), Float32Array.from(start)];
          fast.sumPlanes(placed(dy, c.inside), c.n, c.out, p, sf);
          ref.sumPlanes(dy, c.n, c.out, p, sr);
          expectSameBits(sf, sr, 'sumPlanes');
        },
      ),
      { numRuns: 120 },
    );
    // Large enough cases are shared out among the threads.
    const x = values(64 * 16 * 32 * 32, 1);
    const g = geometry2d('large', [16, 32, 32], { kernel: 3, padding: 1 }, 1);
    const [pf, pr] = [new Float32Array(64 * 1024 * 144), new Float32Array(64 * 1024 * 144)];
    fast.im2col(x, 64, g, pf);
    ref.im2col(x, 64, g, pr);
    expectSameBits(pf, pr, 'im2col, large');
    if (threads > 1) expect(sharedCalls()).toBeGreaterThan(before);
  });

  it('the element-wise passes, from 1 to 100,003 values, in place and not, in and out of the kernels’ memory', () => {
    for (const n of [1, 5, 511, 512, 513, 1027, 40_001, 100_003]) {
      for (const inside of [false, true]) {
        const x = values(n, n, true), y = values(n, n + 1, true), m = values(n, n + 2).map(Math.abs);
        const cases: [string, (k: Lib['referenceKernels'], out: Float32Array, a: Float32Array, b: Float32Array) => void][] = [
          ['relu', (k, out, a) => k.relu(out, a)],
          ['reluBackward', (k, out, a, b) => k.reluBackward(out, a, b)],
          ['add', (k, out, a, b) => k.add(out, a, b)],
          ['sign', (k, out, a) => k.sign(out, a)],
          ['signScale (array)', (k, out, a) => k.signScale(out, a, m)],
          ['signScale (constant)', (k, out, a) => k.signScale(out, a, 0.37)],
          ['axpy', (k, out, a) => k.axpy(-0.37, a, out)],
          ['scale', (k, out, a) => k.scale(out, 1e-3, a)],
        ];
        for (const [name, run] of cases) {
          const [of, or] = [placed(new Float32Array(n), inside), new Float32Array(n)];
          run(fast, of, placed(x, inside), placed(y, inside));
          run(ref, or, x, y);
          expectSameBits(of, or, `${name}, ${n} values${inside ? ', in memory' : ''}`);
          const [af, ar] = [placed(x, inside), Float32Array.from(x)]; // the output is the first input
          run(fast, af, af, placed(y, inside));
          run(ref, ar, ar, y);
          expectSameBits(af, ar, `${name} in place, ${n} values`);
        }
      }
    }
  });

  it('a dense layer’s bias and bias gradient, and the finite check', () => {
    for (const [rows, cols] of [[1, 600], [100, 256], [100, 10], [37, 513], [3, 7]] as const) {
      for (const inside of [false, true]) {
        const a = values(rows * cols, rows + cols, true), row = values(cols, 3, true);
        const [of, or] = [placed(a, inside), Float32Array.from(a)];
        fast.addRows(of, placed(row, inside), rows, cols);
        ref.addRows(or, row, rows, cols);
        expectSameBits(of, or, `addRows ${rows}×${cols}`);
        const start = values(cols, 9);
        const [sf, sr] = [placed(start, inside), Float32Array.from(start)];
        fast.sumRows(placed(a, inside), rows, cols, sf);
        ref.sumRows(a, rows, cols, sr);
        expectSameBits(sf, sr, `sumRows ${rows}×${cols}`);
      }
    }
    for (const n of [5, 512, 1027, 100_000]) {
      const finite = values(n, n);
      expect(fast.allFinite(finite), `${n} finite values`).toBe(true);
      for (const bad of [NaN, Infinity, -Infinity]) {
        for (const at of [0, Math.floor(n / 2), n - 1]) {
          const x = Float32Array.from(finite);
          x[at] = bad;
          expect(fast.allFinite(x), `${bad} at ${at} of ${n}`).toBe(false);
          expect(ref.allFinite(x)).toBe(false);
        }
      }
    }
  });

  it('batch normalisation’s statistics, normalisation, gradient sums and input gradient', () => {
    for (const [n, c, s] of [[3, 5, 7], [100, 16, 1], [7, 13, 1], [100, 256, 1], [9, 6, 1], [20, 3, 49], [8, 17, 64], [50, 32, 256]] as const) {
      for (const inside of [false, true]) {
        const size = n * c * s;
        const x = values(size, size), dy = values(size, size + 1);
        const sum = fast.channelSums(placed(x, inside), n, c, s, null);
        expectSameBits(sum, ref.channelSums(x, n, c, s, null), `channelSums ${n}×${c}×${s}`);
        const mean = sum.map((v) => v / (n * s));
        const sq = fast.channelSums(placed(x, inside), n, c, s, mean);
        expectSameBits(sq, ref.channelSums(x, n, c, s, mean), `channelSums (x − μ)² ${n}×${c}×${s}`);
        const invStd = sq.map((v) => 1 / Math.sqrt(v / (n * s) + 1e-5));
        const gamma = values(c, 3).map((v) => 1 + v / 4), beta = values(c, 4);
        const [hf, yf, hr, yr] = [placed(new Float32Array(size), inside), placed(new Float32Array(size), inside), new Float32Array(size), new Float32Array(size)];
        fast.batchNormNormalize(placed(x, inside), n, c, s, mean, invStd, placed(gamma, inside), placed(beta, inside), hf, yf);
        ref.batchNormNormalize(x, n, c, s, mean, invStd, gamma, beta, hr, yr);
        expectSameBits(hf, hr, 'x̂');
        expectSameBits(yf, yr, 'y');
        const gf = fast.batchNormGradSums(placed(dy, inside), hf, n, c, s), gr = ref.batchNormGradSums(dy, hr, n, c, s);
        expectSameBits(gf.sumDy, gr.sumDy, 'Σ dy');
        expectSameBits(gf.sumDyXhat, gr.sumDyXhat, 'Σ dy·x̂');
        const meanG = gr.sumDy.map((v, i) => (gamma[i]! * v) / (n * s)), meanGXhat = gr.sumDyXhat.map((v, i) => (gamma[i]! * v) / (n * s));
        const [df, dr] = [placed(new Float32Array(size), inside), new Float32Array(size)];
        fast.batchNormInputGrad(placed(dy, inside), hf, n, c, s, placed(gamma, inside), invStd, meanG, meanGXhat, df);
        ref.batchNormInputGrad(dy, hr, n, c, s, gamma, invStd, meanG, meanGXhat, dr);
        expectSameBits(df, dr, 'dx');
      }
    }
  });

  it('max pooling forward and backward, padded and not, overlapping windows, NaN and ties', () => {
    fc.assert(
      fc.property(
        fc.record({ planes: fc.integer({ min: 1, max: 40 }), h: fc.integer({ min: 1, max: 12 }), w: fc.integer({ min: 1, max: 12 }), k: fc.integer({ min: 1, max: 4 }), s: fc.integer({ min: 1, max: 3 }), pad: fc.boolean(), inside: fc.boolean(), seed: fc.integer() }),
        (c) => {
          const p = c.pad ? Math.floor(c.k / 2) : 0;
          fc.pre(c.h + 2 * p >= c.k && c.w + 2 * p >= c.k);
          const g = geometry2d('pool', [1, c.h, c.w], { kernel: c.k, stride: c.s, padding: p }, 1);
          const x = values(c.planes * c.h * c.w, c.seed, true).map((v, i) => (i % 5 === 0 ? 0.5 : v)); // ties
          const outputs = c.planes * g.oh * g.ow;
          const [yf, yr] = [placed(new Float32Array(outputs), c.inside), new Float32Array(outputs)];
          const [af, ar] = [c.inside ? fast.allocateIndices(outputs) : new Int32Array(outputs), new Int32Array(outputs)];
          fast.maxPool(placed(x, c.inside), c.planes, g, yf, af);
          ref.maxPool(x, c.planes, g, yr, ar);
          expectSameBits(yf, yr, 'max pool');
          expect(Array.from(af)).toEqual(Array.from(ar));
          const dy = values(outputs, c.seed + 1);
          const [df, dr] = [placed(new Float32Array(x.length).fill(3), c.inside), new Float32Array(x.length)];
          fast.maxPoolBackward(placed(dy, c.inside), af, c.planes, g, df);
          ref.maxPoolBackward(dy, ar, c.planes, g, dr);
          expectSameBits(df, dr, 'max pool backward');
        },
      ),
      { numRuns: 150 },
    );
  });

  it('the SGD momentum update, heavy-ball and Nesterov, first step and later, flushing tiny momenta', () => {
    for (const n of [3, 700, 1027, 70_003]) {
      for (const inside of [false, true]) {
        for (const step of [
          { lr: 0.1, keep: 0, gain: 1, weightDecay: 1e-4, momentum: 0.9, nesterov: false },
          { lr: 0.01, keep: 0.9, gain: 1, weightDecay: 0, momentum: 0.9, nesterov: false },
          { lr: 0.01, keep: 0.9, gain: 0.5, weightDecay: 5e-4, momentum: 0.9, nesterov: true },
        ]) {
          const w = values(n, n, true), g = values(n, n + 1, true);
          const buf = values(n, n + 2).map((v, i) => (i % 7 === 0 ? v * 1e-39 : v)); // subnormals to flush
          const [wf, gf, bf] = [placed(w, inside), placed(g, inside), placed(buf, inside)];
          const [wr, gr, br] = [Float32Array.from(w), Float32Array.from(g), Float32Array.from(buf)];
          fast.sgdMomentum(wf, gf, bf, step);
          ref.sgdMomentum(wr, gr, br, step);
          expectSameBits(wf, wr, `w, ${n} values`);
          expectSameBits(bf, br, `buf, ${n} values`);
          expectSameBits(gf, g, 'g unchanged');
        }
      }
    }
  });

  it('the xor128 stream continues across fills of every length', () => {
    const sf = Int32Array.of(123456789, 362436069, 521288629, 88675123), sr = Int32Array.from(sf);
    for (const n of [3, 255, 256, 257, 1023, 1024, 1025, 70_001, 2 ** 18 + 7]) {
      const [of, or] = [new Float32Array(n), new Float32Array(n)];
      fast.uniform24(of, sf);
      ref.uniform24(or, sr);
      expectSameBits(of, or, `uniform24(${n})`);
      expect(Array.from(sf)).toEqual(Array.from(sr));
    }
  });

  it('products left in the kernels’ memory and copied or added into C, in and out of that memory', () => {
    for (const [m, n, k] of [[100, 256, 784], [784, 256, 100], [7840, 6, 25], [33, 17, 300]] as const) {
      for (const [ta, tb] of [[false, true], [true, false], [false, false], [true, true]] as const) {
        for (const inside of [false, true]) {
          const a = placed(values(m * k, m + k), inside), b = placed(values(k * n, n + k), inside);
          const c0 = values(m * n, 5);
          const [c1, c2] = [placed(c0, inside), placed(c0, !inside)];
          fast.gemm(ta, tb, m, n, k, a, b, c1, true);
          fast.gemm(ta, tb, m, n, k, Float32Array.from(a), Float32Array.from(b), c2, true);
          expectSameBits(c1, c2, `C += op(A)·op(B), ${m}×${n}×${k} ${ta} ${tb}`);
          const p = fast.gemmProduct(ta, tb, m, n, k, a, b); // left in the kernels' memory, rows ld apart
          const rows = Float32Array.from({ length: m * n }, (_, i) => p.data[p.offset + Math.floor(i / n) * p.ld + (i % n)]!);
          const c3 = placed(new Float32Array(m * n).fill(NaN), inside);
          fast.gemm(ta, tb, m, n, k, a, b, c3);
          expectSameBits(rows, c3, `op(A)·op(B) left in place, ${m}×${n}×${k}`);
        }
      }
    }
  });
});

describe('the kernels’ memory', () => {
  it('an array given back is reused at once, zero-filled; arrays from elsewhere are left alone', () => {
    const a = fast.allocate('float32', 100_000) as Float32Array;
    a.fill(7);
    const at = a.byteOffset;
    fast.release(a);
    const b = fast.allocate('float32', 100_000) as Float32Array;
    expect(b.byteOffset).toBe(at);
    expect(b.every((v) => v === 0)).toBe(true);
    fast.release(new Float32Array(10)); // not the kernels': nothing happens
    fast.release(b);
    fast.release(b); // twice: the second does nothing
    const c = fast.allocate('float32', 50_000) as Float32Array, d = fast.allocate('float32', 50_000) as Float32Array;
    expect([c.byteOffset, d.byteOffset].sort()).toEqual([at, at + 200_000]);
  });

  it('a convolution in evaluation mode keeps no patch matrix; a backward pass after it gives the gradients of a training pass', () => {
    const x = new lib.Tensor(values(8 * 3 * 12 * 12, 21), [8, 3, 12, 12]);
    const grads = (training: boolean) => {
      const conv = new lib.Conv2d(3, 5, 3, { rng: new Rng(4), padding: 1, stride: 2 });
      const y = conv.forward(x, training);
      conv.zeroGrad();
      const dx = conv.backward(new lib.Tensor(values(y.size, 22), [...y.shape]));
      return [Float32Array.from(conv.weight.grad.data), Float32Array.from(conv.bias!.grad.data), Float32Array.from(dx.data)];
    };
    const [train, evaluation] = [grads(true), grads(false)];
    train.forEach((t, i) => expectSameBits(evaluation[i]!, t, ['dW', 'db', 'dX'][i]!));
  });
});

describe('the kernels a layer computes with', () => {
  it('a model moves to the reference kernels and back, in every nested layer, with the same results to within float32 products', () => {
    const model = lib.resnet({ rng: new Rng(3), depth: 8, bn: true, feedback: lib.feedbackByName('frsf') });
    const x = new lib.Tensor(values(4 * 784, 9), [4, 1, 28, 28]);
    const fastOut = Float32Array.from(model.forward(x, true).data);
    model.useKernels(ref);
    const kernelsOf = (layer: unknown): unknown => (layer as { kernels?: unknown }).kernels;
    const walk = (layer: Lib['Sequential']['prototype']['layers'][number]): unknown[] => (lib.isContainer(layer) ? layer.children().flatMap((c) => walk(c.layer)) : [kernelsOf(layer)]);
    const used = new Set(model.layers.flatMap(walk).filter((k) => k !== undefined));
    expect([...used]).toEqual([ref]);
    const refOut = model.forward(x, true).data;
    for (let i = 0; i < fastOut.length; i++) expect(Math.abs(refOut[i]! - fastOut[i]!)).toBeLessThan(1e-4 * (1 + Math.abs(fastOut[i]!)));
  });
});
