import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import type { RunConfig } from '../experiments/config.js';
import type { RunResult } from '../experiments/run.js';
import { AsympropError, ConfigError, DataFormatError, DivergenceError, FileError, MissingPackageError, ShapeError, StateError, ValueError } from '../errors.js';

/**
 * A message from a run worker. `id` is the run's position in the list given to {@link runPool}.
 * Batch messages are throttled by the worker (a few per second at most).
 */
export type WorkerMessage =
  | {
      /** An epoch ended. */
      type: 'epoch';
      /** The run's position in the configurations. */
      id: number;
      /** The epoch that ended (1-based). */
      epoch: number;
      /** Its test accuracy, 0 to 1. */
      testAccuracy: number;
      /** Its mean training loss. */
      trainLoss: number;
    }
  | {
      /** Progress within an epoch. */
      type: 'batch';
      /** The run's position in the configurations. */
      id: number;
      /** The epoch in progress (1-based). */
      epoch: number;
      /** Steps done in it. */
      step: number;
      /** Steps per epoch. */
      steps: number;
      /** The last batch's loss. */
      loss: number;
    }
  | {
      /** The run finished (possibly diverged). */
      type: 'done';
      /** The run's position in the configurations. */
      id: number;
      /** Its result. */
      result: RunResult;
    }
  | {
      /** The run failed: the pool starts no more runs and, once the running ones end, rejects with this error. */
      type: 'error';
      /** The run's position in the configurations. */
      id: number;
      /** The error's message. */
      message: string;
      /** The error's class name, e.g. `ConfigError`. */
      name: string;
    };

/** Options of {@link runPool}. */
export interface PoolOptions {
  /** Worker threads (default: the machine's available parallelism, at most one per run). */
  workers?: number;
  /** Every message from the workers, for progress displays. */
  onMessage?: (message: WorkerMessage) => void;
  /** Per run, a checkpoint file: resumed from if it exists, written every `checkpointEvery` steps. */
  checkpoints?: readonly (string | null)[];
  /** Steps between checkpoints (default: only after every epoch). */
  checkpointEvery?: number;
  /** Module URLs every worker imports before its first run (`--import`: a user's registered methods). */
  imports?: readonly string[];
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
 *
 * A run that fails stops the pool from starting others; it rejects with that run's error once the
 * running ones end. An `onMessage` that throws stops every worker at once and rejects with its error.
 */
export async function runPool(configs: readonly RunConfig[], options: PoolOptions = {}): Promise<RunResult[]> {
  const count = Math.max(1, Math.min(options.workers ?? availableParallelism(), configs.length));
  const results: (RunResult | undefined)[] = new Array(configs.length);
  let next = 0;
  let failure: Error | null = null;
  const workers: Worker[] = [];

  // Each worker's part of the pool ends when the worker has exited, never before: the caller may
  // close its files once the pool settles, and no worker may still be writing then.
  let stopped = false;
  const runWorker = () =>
    new Promise<void>((resolve) => {
      const worker = new Worker(new URL('./worker.js', import.meta.url), { workerData: { imports: options.imports ?? [] } });
      let current: number | null = null;
      const feed = () => {
        if (next >= configs.length || failure) {
          void worker.terminate();
          return;
        }
        const id = next++;
        current = id;
        const path = options.checkpoints?.[id] ?? null;
        const task: WorkerTask = { id, config: configs[id]!, checkpoint: path ? { path, every: options.checkpointEvery ?? Number.MAX_SAFE_INTEGER } : null };
        worker.postMessage(task);
      };
      workers.push(worker);
      worker.on('message', (m: WorkerMessage) => {
        if (stopped) return; // the caller could take no more: nothing reaches it after that
        try {
          options.onMessage?.(m);
        } catch (e) {
          // The caller could not take the message (its results file is full, say): stop every
          // worker at once, since no later result could be kept either.
          failure ??= e as Error;
          stopped = true;
          for (const w of workers) void w.terminate();
          return;
        }
        if (m.type === 'done' || m.type === 'error') current = null;
        if (m.type === 'done') {
          results[m.id] = m.result;
          feed();
        } else if (m.type === 'error') {
          failure ??= rebuildError(m.name, m.message);
          feed();
        }
      });
      worker.on('exit', (code) => {
        if (current !== null && !failure) failure = new Error(`the worker of run ${current} exited with code ${code} before the run ended`);
        resolve();
      });
      worker.on('error', (e) => {
        failure ??= e; // the worker exits next, which settles its part
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
  const typed = [ConfigError, DataFormatError, DivergenceError, FileError, MissingPackageError, ShapeError, StateError, ValueError].some((k) => k.name === name);
  if (!typed) return Object.assign(new Error(message), { name });
  const e = new AsympropError(message);
  e.name = name;
  return e;
}
