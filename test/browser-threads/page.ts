/**
 * The page of test/browser-threads.test.ts: float32 products and a few training steps on the
 * page's main thread, first on one thread, then on two (the default spawner's module Web Worker),
 * with a digest of every result for the test to compare. It imports the library by its package
 * name: the test builds it with Vite against the sources and against the packed package.
 */
import { gemmKernel, gemmParallelProducts, gemmThreads, useGemmThreads } from 'asymprop';
import { digest, runProduct, runTraining, type Pass, type ProductCase, type Report } from './checks.js';

function canBlock(): boolean {
  if (typeof SharedArrayBuffer === 'undefined') return false;
  try {
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 1, 0);
    return true;
  } catch {
    return false;
  }
}

function pass(cases: readonly ProductCase[], train: boolean): Pass {
  const t0 = performance.now();
  const products = cases.map((c) => digest(runProduct(c)));
  const parallelProducts = gemmParallelProducts();
  const { params, losses } = train ? runTraining() : { params: new Float32Array(0), losses: [] };
  return { threads: gemmThreads(), parallelProducts, products, trained: digest(params), losses, milliseconds: performance.now() - t0 };
}

/** Everything the test checks, on this page's main thread: `cases` and (with `train`) the training steps, on one thread then two. */
async function run(cases: readonly ProductCase[], train: boolean): Promise<Report> {
  await useGemmThreads(1);
  const one = pass(cases, train);
  const t0 = performance.now();
  let requested: number | string;
  try {
    requested = await useGemmThreads(2);
  } catch (e) {
    requested = String(e);
  }
  const startMilliseconds = performance.now() - t0;
  const two = pass(cases, train);
  await useGemmThreads(1);
  return {
    crossOriginIsolated: globalThis.crossOriginIsolated === true,
    sharedArrayBuffer: typeof SharedArrayBuffer !== 'undefined',
    simd: gemmKernel() === 'wasm-simd',
    canBlock: canBlock(),
    requested,
    startMilliseconds,
    one,
    two,
    threadsAfterStop: gemmThreads(),
  };
}

declare global {
  interface Window {
    /** Set once the module has loaded. */
    threadChecks?: typeof run;
  }
}

window.threadChecks = run;
