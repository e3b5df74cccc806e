/**
 * The computations of test/browser-threads.test.ts, shared by the page (page.ts, in chromium) and
 * the test (in Node, for the expected digests): float32 products and a few training steps.
 */
import { brsf, gemm, mlp, Rng, SGD, Tensor, trainStep } from 'asymprop';

/** One product: C (m×n) (+)= op(A)·op(B), operands drawn from `seed`. */
export interface ProductCase {
  m: number;
  n: number;
  k: number;
  transA: boolean;
  transB: boolean;
  accumulate: boolean;
  seed: number;
}

/** What one pass (on one thread count) computed: a digest of every result. */
export interface Pass {
  /** `gemmThreads()` during the pass. */
  threads: number;
  /** `gemmParallelProducts()` after the products (they come first, before training). */
  parallelProducts: number;
  /** FNV-1a over the bits of each product's C. */
  products: string[];
  /** FNV-1a over the bits of every parameter after the training steps (of nothing without them). */
  trained: string;
  losses: number[];
  milliseconds: number;
}

export interface Report {
  crossOriginIsolated: boolean;
  sharedArrayBuffer: boolean;
  simd: boolean;
  /** Whether `Atomics.wait` works here (not on a page's main thread: the pool spins there). */
  canBlock: boolean;
  /** What `useGemmThreads(2)` resolved to, or the error it threw. */
  requested: number | string;
  /** Milliseconds `useGemmThreads(2)` took (the helpers starting). */
  startMilliseconds: number;
  one: Pass;
  two: Pass;
  /** `gemmThreads()` after `useGemmThreads(1)` at the end. */
  threadsAfterStop: number;
}

/** FNV-1a (32-bit) over the bytes of a float array, as hex. */
export function digest(values: Float32Array): string {
  const bytes = new Uint8Array(values.buffer, values.byteOffset, values.byteLength);
  let h = 0x811c9dc5;
  for (let i = 0; i < bytes.length; i++) h = Math.imul(h ^ bytes[i]!, 0x01000193);
  return (h >>> 0).toString(16).padStart(8, '0');
}

function randomArray(n: number, rng: Rng): Float32Array {
  const a = new Float32Array(n);
  rng.fillNormal(a);
  return a;
}

/** Runs one product of `cases`; returns C. */
export function runProduct({ m, n, k, transA, transB, accumulate, seed }: ProductCase): Float32Array {
  const rng = new Rng(seed);
  const a = randomArray(m * k, rng), b = randomArray(k * n, rng), c = randomArray(m * n, rng);
  gemm(transA, transB, m, n, k, a, b, c, accumulate);
  return c;
}

/** A few training steps of a small MLP (784-256-128-10, BN, brSF feedback); returns every parameter. */
export function runTraining(): { params: Float32Array; losses: number[] } {
  const rng = new Rng(11);
  const model = mlp({ rng, hidden: [256, 128], bn: true, feedback: brsf() });
  const optimizer = new SGD(model.params(), { lr: 0.05, momentum: 0.9 });
  const x = Tensor.zeros([64, 1, 28, 28], 'float32');
  const labels = Int32Array.from({ length: 64 }, (_, i) => i % 10);
  const losses: number[] = [];
  for (let step = 0; step < 3; step++) {
    rng.fillNormal(x.data as Float32Array);
    losses.push(trainStep(model, optimizer, x, labels).loss);
  }
  return { params: Float32Array.from(model.params().flatMap((p) => Array.from(p.value.data))), losses };
}

