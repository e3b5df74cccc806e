import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

// Matrix products on two threads. The helpers are Node worker threads running the built worker
// script, so these tests drive the built library (npm test builds dist/ first); the thread pool
// belongs to dist's module instance, so everything here comes from dist.
type Lib = typeof import('../src/index.js');
type NodeLib = typeof import('../src/node.js');
const lib: Lib = await import(new URL('../dist/index.js', import.meta.url).href);
const node: NodeLib = await import(new URL('../dist/node.js', import.meta.url).href);

function randomArray(n: number, seed: number): Float32Array {
  const a = new Float32Array(n);
  new lib.Rng(seed).fillNormal(a);
  return a;
}

/** C from one thread, then from two, for the same product. */
async function both(run: () => Float32Array): Promise<[Float32Array, Float32Array]> {
  await node.useThreads(1);
  const one = run();
  await node.useThreads(2);
  const two = run();
  return [one, two];
}

describe('matrix products on two threads', () => {
  beforeAll(async () => {
    expect(await node.useThreads(2)).toBe(2);
  });
  afterAll(async () => {
    await node.useThreads(1);
  });

  it('starts helper threads and reports them', () => {
    expect(lib.gemmThreads()).toBe(2);
  });

  it('gives bit-identical products to one thread, and agrees with the reference, on layer-sized shapes', async () => {
    // Shapes big enough to be shared out (≥ 2²⁰ multiply-adds): split by rows, and by columns
    // when C has few row blocks; k above the kernel's chunk so chunks accumulate.
    const shapes = [[100, 256, 784, false, true], [256, 784, 100, true, false], [4, 2000, 300, false, false], [7, 1203, 129, true, true], [9999, 6, 25, false, true]] as const;
    for (const [m, n, k, ta, tb] of shapes) {
      const a = randomArray(m * k, m), b = randomArray(k * n, n);
      const [one, two] = await both(() => {
        const c = new Float32Array(m * n);
        lib.gemm(ta, tb, m, n, k, a, b, c);
        return c;
      });
      expect(lib.gemmThreads()).toBe(2);
      let identical = true;
      for (let i = 0; i < one.length; i++) if (!Object.is(one[i], two[i])) identical = false;
      expect(identical, `${m}×${n}×${k}`).toBe(true);
      const ref = new Float32Array(m * n);
      lib.gemmReference(ta, tb, m, n, k, a, b, ref);
      let worst = 0;
      for (let i = 0; i < ref.length; i++) worst = Math.max(worst, Math.abs(two[i]! - ref[i]!) / (1 + Math.abs(ref[i]!)));
      expect(worst).toBeLessThan(1e-4);
    }
  });

  it('property: random shapes (odd sizes, every transpose, accumulation) match one thread exactly', async () => {
    const cases = fc.sample(
      fc.record({ m: fc.integer({ min: 1, max: 300 }), n: fc.integer({ min: 1, max: 300 }), k: fc.integer({ min: 12, max: 600 }), ta: fc.boolean(), tb: fc.boolean(), acc: fc.boolean() }),
      { numRuns: 40, seed: 7 },
    );
    const products = () =>
      cases.map(({ m, n, k, ta, tb, acc }) => {
        const a = randomArray(m * k, 1), b = randomArray(k * n, 2), c = randomArray(m * n, 3);
        lib.gemm(ta, tb, m, n, k, a, b, c, acc);
        return c;
      });
    await node.useThreads(1);
    const one = products();
    await node.useThreads(2);
    const two = products();
    // Most of these products are large enough to be shared out; the counter proves they were.
    const large = cases.filter(({ m, n, k }) => m * n * k >= 1 << 20).length;
    expect(large).toBeGreaterThan(10);
    expect(lib.gemmParallelProducts()).toBe(large);
    cases.forEach(({ m, n, k, ta, tb, acc }, i) => {
      expect(Buffer.from(two[i]!.buffer).equals(Buffer.from(one[i]!.buffer)), `${m}×${n}×${k} ${ta} ${tb} ${acc}`).toBe(true);
    });
  });

  it('trains lenet to bit-identical weights on one and two threads', async () => {
    const train = () => {
      const rng = new lib.Rng(5);
      const model = lib.lenet({ rng, bn: true, feedback: lib.brsf() });
      const opt = new lib.SGD(model.params(), { lr: 0.01, momentum: 0.9 });
      const x = lib.Tensor.zeros([50, 1, 28, 28], 'float32');
      rng.fillNormal(x.data);
      const y = Array.from({ length: 50 }, (_, i) => i % 10);
      for (let s = 0; s < 3; s++) lib.trainStep(model, opt, x, y);
      return Float32Array.from(model.params().flatMap((p) => Array.from(p.value.data)));
    };
    const [one, two] = await both(train);
    expect(lib.gemmParallelProducts()).toBeGreaterThan(0); // the two-thread run did share its products
    expect(Buffer.from(two.buffer).equals(Buffer.from(one.buffer))).toBe(true);
  });

  it('trains a resnet-8 with BN and Kolen-Pollack (learned B inside every block) to bit-identical weights on one and two threads', async () => {
    const train = () => {
      const rng = new lib.Rng(6);
      const model = lib.resnet({ rng, depth: 8, bn: true, feedback: lib.feedbackByName('kp') });
      const opt = new lib.SGD(model.params(), { lr: 0.01, momentum: 0.9 });
      const x = lib.Tensor.zeros([20, 1, 28, 28], 'float32');
      rng.fillNormal(x.data);
      const y = Array.from({ length: 20 }, (_, i) => i % 10);
      for (let s = 0; s < 2; s++) lib.trainStep(model, opt, x, y);
      return Float32Array.from(model.params().flatMap((p) => Array.from(p.value.data)));
    };
    const [one, two] = await both(train);
    expect(Buffer.from(two.buffer).equals(Buffer.from(one.buffer))).toBe(true);
  });

  it('fails at once, with the reason, when a helper does not start', async () => {
    const { Worker } = await import('node:worker_threads');
    const started = Date.now();
    await expect(lib.useGemmThreads(2, () => new Worker('throw new Error("no kernel here")', { eval: true }))).rejects.toThrow(
      /invalid threads: 2 \(allowed: helper threads that start \(helper 1 failed to start: no kernel here\)\)/,
    );
    expect(Date.now() - started, 'no waiting for the 30 s timeout').toBeLessThan(10_000);
    expect(lib.gemmThreads()).toBe(1);
    // The failed start leaves nothing behind: threads start again.
    expect(await node.useThreads(2)).toBe(2);
  });

  it('a helper that starts and then never answers makes a product fail with a StateError, not hang; products go on on one thread', async () => {
    const { Worker } = await import('node:worker_threads');
    // Counts itself ready (control word 2) like a real helper, then never serves a product.
    const silent = () =>
      new Worker("require('node:worker_threads').parentPort.once('message', (init) => Atomics.add(new Int32Array(init.control), 2, 1));", { eval: true });
    expect(await lib.useGemmThreads(2, silent, { stallSeconds: 0.5 })).toBe(2);
    const [m, n, k] = [128, 128, 128];
    const a = randomArray(m * k, 1), b = randomArray(k * n, 2), c = new Float32Array(m * n);
    const started = Date.now();
    expect(() => lib.gemm(false, false, m, n, k, a, b, c)).toThrow(lib.StateError);
    expect(Date.now() - started).toBeLessThan(5000);
    expect(lib.gemmThreads()).toBe(1);
    const ref = new Float32Array(m * n);
    lib.gemm(false, false, m, n, k, a, b, c);
    lib.gemmReference(false, false, m, n, k, a, b, ref);
    for (let i = 0; i < ref.length; i++) expect(Math.abs(c[i]! - ref[i]!)).toBeLessThan(1e-3);
    await expect(lib.useGemmThreads(2, silent, { stallSeconds: 0 })).rejects.toThrow(/stallSeconds/);
    expect(await node.useThreads(2)).toBe(2);
  });

  it('a helper that crashes after starting does not end the process: the next product throws a StateError', async () => {
    const { Worker } = await import('node:worker_threads');
    const crashing = () =>
      new Worker(
        "require('node:worker_threads').parentPort.once('message', (init) => { Atomics.add(new Int32Array(init.control), 2, 1); setTimeout(() => { throw new Error('helper crashed'); }, 100); });",
        { eval: true },
      );
    expect(await lib.useGemmThreads(2, crashing, { stallSeconds: 30 })).toBe(2);
    await new Promise((resolve) => setTimeout(resolve, 500)); // the crash, and its error event
    const [m, n, k] = [128, 128, 128];
    const a = randomArray(m * k, 1), b = randomArray(k * n, 2), c = new Float32Array(m * n);
    const started = Date.now();
    expect(() => lib.gemm(false, false, m, n, k, a, b, c)).toThrow(/helper 1 stopped: helper crashed/);
    expect(Date.now() - started).toBeLessThan(1000); // at once, not after stallSeconds
    expect(lib.gemmThreads()).toBe(1);
    lib.gemm(false, false, m, n, k, a, b, c); // on the calling thread again
    expect(await node.useThreads(2)).toBe(2);
  });

  it('rejects a thread count that is not a positive integer, naming the option', async () => {
    await expect(node.useThreads(0)).rejects.toThrow(lib.ConfigError);
    await expect(node.useThreads(1.5)).rejects.toThrow(/threads/);
  });
});
