import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { useGemmThreads } from './fast.js';

/**
 * Runs asymprop's kernels on `threads` threads in Node (default: every core): the calling
 * thread plus worker threads sharing one WebAssembly memory. Results are
 * bit-identical to one thread's. The helpers do not keep the process alive. Resolves to the
 * number of threads in use (1 where the SIMD kernel is unavailable).
 *
 * Independent runs (`asymprop reproduce`) already use one core each; threads inside a run pay
 * off for a single run, such as `asymprop train --threads 2`.
 *
 * @example
 * ```ts
 * import { useThreads } from 'asymprop/node';
 * await useThreads(2);
 * ```
 */
export function useThreads(threads: number = availableParallelism()): Promise<number> {
  return useGemmThreads(threads, () => {
    const worker = new Worker(new URL('./wasm/nodeKernelWorker.js', import.meta.url));
    worker.unref();
    return worker;
  });
}
