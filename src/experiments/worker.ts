import { parentPort, workerData } from 'node:worker_threads';
import type { Dataset } from '../data/dataset.js';
import { loadDataset } from './datasets.js';
import { dataDigest } from '../data/digest.js';
import { runExperiment } from './run.js';
import { existsSync } from 'node:fs';
import { loadCheckpoint, saveCheckpoint } from '../train/checkpointFile.js';
import type { WorkerMessage, WorkerTask } from './pool.js';

// A worker thread of `runPool`: receives { id, config }, trains, posts progress and the result.
// Datasets are loaded once per worker and kept for the following runs.
const port = parentPort!;
const cache = new Map<string, { train: Dataset; test: Dataset; digest: string }>();
const post = (m: WorkerMessage): void => port.postMessage(m);

// The modules of `--import` (a user's registered methods), loaded before the first run.
// One after another, as the main thread loaded them (a module may use a method an earlier one registered).
const ready = (async () => {
  for (const url of (workerData as { imports?: string[] } | null)?.imports ?? []) await import(url);
})();
ready.catch(() => {}); // reported with the first task below, not as an unhandled rejection

port.on('message', (task: WorkerTask) => {
  ready.then(
    () => run(task),
    (e: Error) => post({ type: 'error', id: task.id, message: `importing a module of --import failed: ${e.message}`, name: 'ConfigError' }),
  );
});

function run({ id, config, checkpoint }: WorkerTask): void {
  try {
    const key = `${config.dataset}:${config.dataDir ?? ''}`;
    let data = cache.get(key);
    if (!data) {
      const loaded = loadDataset(config.dataset, config.dataDir);
      cache.set(key, (data = { ...loaded, digest: dataDigest(loaded) }));
    }
    let lastPost = 0;
    const result = runExperiment(config, data, {
      ...(checkpoint && existsSync(checkpoint.path) ? { resume: loadCheckpoint(checkpoint.path) } : {}),
      ...(checkpoint ? { checkpointEvery: checkpoint.every, onCheckpoint: (source) => saveCheckpoint(checkpoint.path, source) } : {}),
      dataDigest: data.digest,
      onEpoch: (r) => post({ type: 'epoch', id, epoch: r.epoch, testAccuracy: r.testAccuracy, trainLoss: r.trainLoss }),
      onBatch: (epoch, step, steps, loss) => {
        const t = Date.now();
        if (t - lastPost < 200 && step !== steps) return;
        lastPost = t;
        post({ type: 'batch', id, epoch, step, steps, loss });
      },
    });
    post({ type: 'done', id, result });
  } catch (e) {
    const err = e as Error;
    post({ type: 'error', id, message: err.message, name: err.name });
  }
}
