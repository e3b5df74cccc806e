import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import type { RunConfig } from '../experiments/config.js';
import type { RunResult } from '../experiments/run.js';
import { AsympropError, ConfigError, DataFormatError, DivergenceError, ShapeError, StateError, ValueError } from '../errors.js';

/** A message from a run worker. */
export type WorkerMessage =
  | { type: 'epoch'; id: number; epoch: number; testAccuracy: number; trainLoss: number }
  | { type: 'batch'; id: number; epoch: number; step: number; steps: number; loss: number }
  | { type: 'done'; id: number; result: RunResult }
  | { type: 'error'; id: number; message: string; name: string };

/** Options of {@link runPool}. */
export interface PoolOptions {
  /** Worker threads (default: the machine's available parallelism, at most one per run). */
  workers?: number;
  /** Every message from the workers, for progress displays. */
  onMessage?: (message: WorkerMessage) => void;
  /** Per run, a checkpoint file: resumed from if it exists, written every `checkpointEvery` steps. */
  checkpoints?: readonly (string | null)[];
  checkpointEvery?: number;
}

/** What the pool sends a worker for one run. */
export interface WorkerTask {
  readonly id: number;
  readonly config: RunConfig;
  readonly checkpoint: { readonly path: string; readonly every: number } | null;
}

/**
 * Runs independent configurations on worker threads, one run per worker at a time, and returns
 * the results in the order of `configs`. Each run is deterministic given its config, so the
 * results do not depend on the number of workers or on which worker ran what.
 */
export async function runPool(configs: readonly RunConfig[], options: PoolOptions = {}): Promise<RunResult[]> {
  const count = Math.max(1, Math.min(options.workers ?? availableParallelism(), configs.length));
  const results: (RunResult | undefined)[] = new Array(configs.length);
  let next = 0;
  let failure: Error | null = null;

  const runWorker = () =>
    new Promise<void>((resolve, reject) => {
      const worker = new Worker(new URL('./worker.js', import.meta.url));
      const feed = () => {
        if (next >= configs.length || failure) {
          void worker.terminate().then(() => resolve());
          return;
        }
        const id = next++;
        const path = options.checkpoints?.[id] ?? null;
        const task: WorkerTask = { id, config: configs[id]!, checkpoint: path ? { path, every: options.checkpointEvery ?? Number.MAX_SAFE_INTEGER } : null };
        worker.postMessage(task);
      };
      worker.on('message', (m: WorkerMessage) => {
        options.onMessage?.(m);
        if (m.type === 'done') {
          results[m.id] = m.result;
          feed();
        } else if (m.type === 'error') {
          failure ??= rebuildError(m.name, m.message);
          feed();
        }
      });
      worker.on('error', (e) => {
        failure ??= e;
        reject(e);
      });
      feed();
    });

  await Promise.all(Array.from({ length: count }, runWorker));
  if (failure) throw failure;
  return results as RunResult[];
}

/**
 * Turns a worker's error back into an error of the same kind, so that a bad option or file in a
 * worker is reported like one in the main thread (exit code 2, not an internal error).
 */
function rebuildError(name: string, message: string): Error {
  const typed = [ConfigError, DataFormatError, DivergenceError, ShapeError, StateError, ValueError].some((k) => k.name === name);
  if (!typed) return Object.assign(new Error(message), { name });
  const e = new AsympropError(message);
  e.name = name;
  return e;
}
