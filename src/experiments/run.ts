import type { Dataset } from '../data/dataset.js';
import { lenet } from '../models/lenet.js';
import { resnet } from '../models/resnet.js';
import { mlp } from '../models/mlp.js';
import { Adam, RMSprop } from '../optim/adaptive.js';
import type { Optimizer } from '../optim/optimizer.js';
import { SGD } from '../optim/sgd.js';
import { protocolSchedule } from '../optim/schedule.js';
import { Rng } from '../tensor/rng.js';
import { DataFormatError } from '../errors.js';
import { restoreCheckpoint, type Checkpoint, type CheckpointSource } from '../train/checkpoint.js';
import { train, type EpochRecord, type TrainProgress, type TrainResult } from '../train/train.js';
import { DEFAULT_RESNET_DEPTH, configDifferences, strategyOf, type RunConfig } from './config.js';

/** The outcome of one run, as printed by `asymprop train --json`. */
export interface RunResult {
  /** The configuration that ran. */
  readonly config: RunConfig;
  /** Strategy display name, e.g. `bm+usf`. */
  readonly strategy: string;
  /** Test accuracy after the last epoch, 0 to 1 (NaN if diverged; JSON prints null). */
  readonly testAccuracy: number;
  /** Mean training loss of the last completed epoch. */
  readonly trainLoss: number;
  /** Whether the loss or a weight became non-finite. */
  readonly diverged: boolean;
  /** Where it diverged, if it did. */
  readonly divergedAt: TrainResult['diverged'];
  /** One record per finished epoch, with per-layer feedback statistics on each epoch's last batch. */
  readonly history: EpochRecord[];
  /** Wall time of training and evaluation, in seconds. */
  readonly seconds: number;
}

/** Callbacks of {@link runExperiment}. */
export interface RunCallbacks {
  /** Called after every epoch with its record. */
  onEpoch?: (record: EpochRecord) => void;
  /** Called after every batch with the 1-based epoch, step, steps per epoch and the batch loss. */
  onBatch?: (epoch: number, step: number, steps: number, loss: number) => void;
  /** Continue from this checkpoint (of the same configuration). */
  resume?: Checkpoint;
  /** Checkpoint every this many steps (and after every epoch). */
  checkpointEvery?: number;
  /** Receives what to save at each checkpoint (e.g. `saveCheckpoint(path, source)` in Node). */
  onCheckpoint?: (source: CheckpointSource) => void;
  /** `throw`: a diverging run is an error (DivergenceError) instead of a result marked diverged. */
  onDivergence?: 'stop' | 'throw';
  /**
   * {@link dataDigest} of `data`: saved with every checkpoint, and a checkpoint that recorded
   * another is refused (one saved without a digest is accepted).
   */
  dataDigest?: string;
}

/**
 * Runs one protocol configuration on given data: builds the model ({@link mlp} or {@link lenet},
 * sized for the data), SGD with the configuration's momentum and weight decay, and trains with
 * {@link protocolSchedule} and per-layer feedback statistics on each epoch's last batch. This is
 * what `asymprop train` and every run of a grid do.
 *
 * The run's seed decides everything random, in a fixed order: the model's weights and each
 * layer's feedback generator first, then the data order. Two runs that differ only in their
 * feedback method therefore start from the same weights.
 *
 * @throws {@link DataFormatError} when `callbacks.resume` holds a checkpoint of another
 * configuration or does not fit the model.
 * @throws {@link DivergenceError} when the run diverges and `callbacks.onDivergence` is `throw`.
 *
 * @example
 * ```ts
 * import { resolveRunConfig, runExperiment } from 'asymprop';
 * import { splitEmbeddedMnist } from 'asymprop/node';
 *
 * const config = resolveRunConfig({ feedback: 'usf', bm: true, epochs: 1, seed: 3 });
 * const result = runExperiment(config, splitEmbeddedMnist());
 * console.log(result.strategy, result.diverged, result.testAccuracy > 0.8); // bm+usf false true
 * console.log(result.history[0]!.feedback?.['3']?.signConcordance);          // 1
 * ```
 */
export function runExperiment(config: RunConfig, data: { train: Dataset; test: Dataset }, callbacks: RunCallbacks = {}): RunResult {
  const t0 = Date.now();
  const rng = new Rng(config.seed);
  const modelRng = rng.fork();
  const dataRng = rng.fork();
  const common = { rng: modelRng, inputShape: data.train.sampleShape, classes: data.train.numClasses, bn: config.bn, feedback: strategyOf(config) };
  const model = config.arch === 'resnet' ? resnet({ ...common, depth: config.depth ?? DEFAULT_RESNET_DEPTH }) : config.arch === 'lenet' ? lenet(common) : mlp(common);
  const optimizer: Optimizer =
    config.optimizer === 'adam' ? new Adam(model.params(), { lr: config.lr, weightDecay: config.weightDecay })
    : config.optimizer === 'rmsprop' ? new RMSprop(model.params(), { lr: config.lr, weightDecay: config.weightDecay })
    : new SGD(model.params(), { lr: config.lr, momentum: config.momentum, weightDecay: config.weightDecay });
  const { resume, checkpointEvery, onCheckpoint, onEpoch, onBatch, onDivergence, dataDigest } = callbacks;
  let progress: TrainProgress | undefined;
  if (resume) {
    const file = resume.file ?? 'checkpoint';
    // Where the data lies does not matter when both sides know what it is: the digests decide.
    const savedDigest = resume.header.meta['dataDigest'];
    const byDigest = dataDigest !== undefined && savedDigest !== undefined;
    const saved = resume.header.meta['config'] as Partial<RunConfig> | undefined;
    const fields = Object.keys({ ...saved, ...config }).filter((k) => !(byDigest && k === 'dataDir'));
    const differences = configDifferences(saved, config, 'the checkpoint', fields);
    if (differences.length > 0) throw new DataFormatError(file, `it was written for another run (${differences.join('; ')})`);
    if (byDigest && savedDigest !== dataDigest) {
      throw new DataFormatError(file, `it was written for a run on other data (data digest ${JSON.stringify(savedDigest)} in the checkpoint, ${JSON.stringify(dataDigest)} for ${config.dataset}${config.dataDir ? ` from ${config.dataDir}` : ''} now)`);
    }
    progress = restoreCheckpoint(resume, { model, optimizer, rngs: { data: dataRng } }, file);
  }
  const result = train(model, data, {
    optimizer,
    epochs: config.epochs,
    batchSize: config.batchSize,
    rng: dataRng,
    schedule: protocolSchedule(config.lr, config.epochs),
    instrument: true,
    ...(onEpoch ? { onEpoch } : {}),
    ...(onBatch ? { onBatch } : {}),
    ...(onDivergence ? { onDivergence } : {}),
    ...(progress ? { resume: progress } : {}),
    ...(checkpointEvery !== undefined ? { checkpointEvery } : {}),
    ...(onCheckpoint ? { onCheckpoint: (p: TrainProgress) => onCheckpoint({ model, optimizer, progress: p, rngs: { data: dataRng }, meta: { config, ...(dataDigest !== undefined ? { dataDigest } : {}) } }) } : {}),
  });
  return {
    config,
    strategy: strategyOf(config).name,
    testAccuracy: result.testAccuracy,
    trainLoss: result.trainLoss,
    diverged: result.diverged !== null,
    divergedAt: result.diverged,
    history: result.history,
    seconds: (Date.now() - t0) / 1000,
  };
}
