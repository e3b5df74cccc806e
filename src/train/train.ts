import { ConfigError, DivergenceError } from '../errors.js';
import type { Dataset } from '../data/dataset.js';
import type { FeedbackStats } from '../feedback/stats.js';
import type { Sequential } from '../layers/sequential.js';
import { softmaxCrossEntropy } from '../layers/loss.js';
import type { Optimizer } from '../optim/optimizer.js';
import type { LrSchedule } from '../optim/schedule.js';
import { allFinite } from '../tensor/ops.js';
import type { Rng, RngState } from '../tensor/rng.js';
import { Tensor, sizeOf } from '../tensor/tensor.js';
import { trainStep } from './step.js';

/** One epoch's record. */
export interface EpochRecord {
  /** 1-based epoch number. */
  readonly epoch: number;
  /** The learning rate used during the epoch. */
  readonly lr: number;
  /** Mean training loss over the epoch's batches. */
  readonly trainLoss: number;
  /** Training accuracy over the epoch (in train mode, as the batches went by). */
  readonly trainAccuracy: number;
  /** Test loss and accuracy after the epoch (eval mode); NaN without a test set. */
  readonly testLoss: number;
  /** Test accuracy after the epoch, 0 to 1 (eval mode); NaN without a test set. */
  readonly testAccuracy: number;
  /** Per feedback layer, measured on the epoch's last batch (when `instrument` is on). */
  readonly feedback: Record<string, FeedbackStats | null> | null;
  /** Wall time of the epoch in seconds. */
  readonly seconds: number;
}

/** Where training diverged. */
export interface DivergenceInfo {
  /** The epoch (1-based). */
  readonly epoch: number;
  /** 1-based step within the epoch. */
  readonly step: number;
  /** What was non-finite: the loss, or a parameter. */
  readonly detail: string;
  /** The first place non-finite values appear: a parameter, or a layer's output on the batch. */
  readonly layer: string | null;
}

/** What {@link train} returns. */
export interface TrainResult {
  /** One record per finished epoch (a diverged epoch has none). */
  readonly history: EpochRecord[];
  /** Where training diverged, or null when it did not. */
  readonly diverged: DivergenceInfo | null;
  /** Test accuracy after the last epoch (never the best epoch); NaN if diverged or no test set. */
  readonly testAccuracy: number;
  /** Training loss of the last epoch. */
  readonly trainLoss: number;
}

/**
 * Where a training run stands, mid-epoch included: everything besides the model and optimizer
 * that a resumed run needs to continue exactly as if it had never stopped.
 */
export interface TrainProgress {
  /** The epoch in progress (1-based); `epochs + 1` when training has finished. */
  readonly epoch: number;
  /** Steps of that epoch already taken. */
  readonly step: number;
  /** The data-order generator as it was when this epoch began (before its shuffle). */
  readonly epochStartRng: RngState;
  /** The epoch's running sums so far: the training loss summed over samples… */
  readonly lossSum: number;
  /** …the correctly classified samples… */
  readonly correct: number;
  /** …and the samples seen. */
  readonly seen: number;
  /** The records of the finished epochs. */
  readonly history: readonly EpochRecord[];
}

/** Options of {@link train}. */
export interface TrainOptions {
  /** Updates the model's parameters; built on `model.params()`. */
  readonly optimizer: Optimizer;
  /** The total number of epochs (when resuming, counted from the start of the run). */
  readonly epochs: number;
  /** Shuffles the training set each epoch. */
  readonly rng: Rng;
  /** Samples per batch (default 100). The last batch of an epoch may be smaller. */
  readonly batchSize?: number;
  /** Learning rate per epoch; without it the optimizer's rate is kept. */
  readonly schedule?: LrSchedule;
  /** Record feedback statistics on each epoch's last batch (and only there: it costs a backward pass). */
  readonly instrument?: boolean;
  /** `stop` (default): a non-finite loss or weight ends training, recorded as diverged. `throw`: a DivergenceError. */
  readonly onDivergence?: 'stop' | 'throw';
  /** Called after every epoch. */
  readonly onEpoch?: (record: EpochRecord) => void;
  /** Called after every batch with the 1-based epoch, step, steps per epoch and the batch loss. */
  readonly onBatch?: (epoch: number, step: number, steps: number, loss: number) => void;
  /** Continue from a saved {@link TrainProgress} (with the model and optimizer restored to match). */
  readonly resume?: TrainProgress;
  /** Call `onCheckpoint` every this many steps, and after every epoch. */
  readonly checkpointEvery?: number;
  /** Receives the progress at each checkpoint; save it with the model and optimizer state. */
  readonly onCheckpoint?: (progress: TrainProgress) => void;
}

/**
 * Trains a classifier with softmax cross-entropy: epochs of seeded shuffled mini-batches, an
 * evaluation on the test set after each epoch, and divergence detection.
 *
 * Each step is {@link trainStep}: forward, backward through each layer's feedback, Batch
 * Manhattan's gradient shaping, the optimizer step, then brSF's redraw. A non-finite loss or
 * parameter ends training: with `onDivergence: 'stop'` (the default) the result records where, and
 * with `'throw'` a {@link DivergenceError} is thrown. The result's accuracy is the last epoch's,
 * never the best one's.
 *
 * @throws {@link ConfigError} for invalid options (epochs, batch size, checkpoint interval, resume
 * progress) or an empty training set.
 *
 * @example
 * ```ts
 * import { Rng, SGD, mlp, protocolSchedule, train, usf } from 'asymprop';
 * import { splitEmbeddedMnist } from 'asymprop/node';
 *
 * const data = splitEmbeddedMnist();
 * const rng = new Rng(1);
 * const model = mlp({ rng: rng.fork(), bn: true, feedback: usf() });
 * const optimizer = new SGD(model.params(), { lr: 0.1, momentum: 0.9, weightDecay: 1e-4 });
 * const result = train(model, data, {
 *   optimizer, epochs: 1, rng: rng.fork(), schedule: protocolSchedule(0.1, 1),
 *   onEpoch: (e) => console.log(`epoch ${e.epoch}: test accuracy ${(100 * e.testAccuracy).toFixed(1)}%`),
 * });
 * console.log(result.diverged, result.testAccuracy > 0.85); // null true
 * ```
 */
export function train(model: Sequential, data: { train: Dataset; test?: Dataset }, options: TrainOptions): TrainResult {
  const { optimizer, epochs, rng, schedule, instrument = false, onDivergence = 'stop', resume, checkpointEvery, onCheckpoint } = options;
  const batchSize = options.batchSize ?? 100;
  if (!Number.isInteger(epochs) || epochs < 1) throw new ConfigError('epochs', epochs, 'a positive integer');
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new ConfigError('batchSize', batchSize, 'a positive integer');
  if (onDivergence !== 'stop' && onDivergence !== 'throw') throw new ConfigError('onDivergence', onDivergence, "'stop', 'throw'");
  if (checkpointEvery !== undefined && (!Number.isInteger(checkpointEvery) || checkpointEvery < 1)) {
    throw new ConfigError('checkpointEvery', checkpointEvery, 'a positive integer number of steps');
  }
  const { train: trainSet, test } = data;
  if (trainSet.size === 0) throw new ConfigError('training set size', 0, 'at least one sample');

  const sampleSize = sizeOf(trainSet.sampleShape);
  const xFull = Tensor.zeros([batchSize, ...trainSet.sampleShape]);
  const yFull = new Int32Array(batchSize);
  const order = new Uint32Array(trainSet.size);
  const steps = Math.ceil(trainSet.size / batchSize);
  const history: EpochRecord[] = [...(resume?.history ?? [])];
  let diverged: DivergenceInfo | null = null;
  const startEpoch = resume?.epoch ?? 1;
  if (resume) {
    if (!Number.isInteger(resume.epoch) || resume.epoch < 1 || !Number.isInteger(resume.step) || resume.step < 0 || resume.step >= steps) {
      throw new ConfigError('resume progress', { epoch: resume.epoch, step: resume.step }, `an epoch ≥ 1 and a step in [0, ${steps})`);
    }
    rng.setState(resume.epochStartRng);
  }
  const checkpoint = (progress: TrainProgress) => onCheckpoint?.(progress);

  for (let epoch = startEpoch; epoch <= epochs && !diverged; epoch++) {
    const t0 = now();
    if (schedule) optimizer.lr = schedule.at(epoch - 1);
    const epochStartRng = rng.state();
    for (let i = 0; i < order.length; i++) order[i] = i;
    rng.shuffle(order);
    const continuing = resume && epoch === startEpoch;
    let lossSum = continuing ? resume.lossSum : 0;
    let correct = continuing ? resume.correct : 0;
    let seen = continuing ? resume.seen : 0;
    for (let s = continuing ? resume.step : 0; s < steps; s++) {
      const start = s * batchSize;
      const count = Math.min(batchSize, trainSet.size - start);
      const x = count === batchSize ? xFull : new Tensor(xFull.data.subarray(0, count * sampleSize), [count, ...trainSet.sampleShape]);
      const y = count === batchSize ? yFull : yFull.subarray(0, count);
      trainSet.fillBatch(order, start, count, x.data, y);
      const last = s === steps - 1;
      if (options.instrument !== undefined) model.instrument(instrument && last); // else: as the caller left it
      const r = trainStep(model, optimizer, x, y);
      const detail = !Number.isFinite(r.loss) ? `loss is ${r.loss}` : firstNonFiniteParam(model);
      if (detail) {
        const layer = model.locateNonFinite(x);
        diverged = { epoch, step: s + 1, detail, layer };
        if (onDivergence === 'throw') throw new DivergenceError(epoch, s + 1, layer ? `${detail}; first non-finite: ${layer}` : detail);
        break;
      }
      lossSum += r.loss * count;
      correct += r.correct;
      seen += count;
      options.onBatch?.(epoch, s + 1, steps, r.loss);
      if (checkpointEvery && ((epoch - 1) * steps + s + 1) % checkpointEvery === 0 && s + 1 < steps) {
        checkpoint({ epoch, step: s + 1, epochStartRng, lossSum, correct, seen, history: [...history] });
      }
    }
    if (diverged) break;
    const evaluation = test ? evaluate(model, test, Math.max(batchSize, 500)) : { loss: NaN, accuracy: NaN };
    const record: EpochRecord = {
      epoch,
      lr: optimizer.lr,
      trainLoss: lossSum / seen,
      trainAccuracy: correct / seen,
      testLoss: evaluation.loss,
      testAccuracy: evaluation.accuracy,
      feedback: instrument ? model.feedbackStats() : null,
      seconds: (now() - t0) / 1000,
    };
    history.push(record);
    options.onEpoch?.(record);
    if (checkpointEvery) checkpoint({ epoch: epoch + 1, step: 0, epochStartRng: rng.state(), lossSum: 0, correct: 0, seen: 0, history: [...history] });
  }
  if (options.instrument !== undefined) model.instrument(false);
  const last = history[history.length - 1];
  return {
    history,
    diverged,
    testAccuracy: diverged || !last ? NaN : last.testAccuracy,
    trainLoss: last ? last.trainLoss : NaN,
  };
}

/**
 * Mean loss and accuracy of a classifier on a dataset, in eval mode (BatchNorm uses its running
 * statistics, dropout is off). The layers write each batch into the arrays of the previous one
 * ({@link Sequential.reuseBuffers}), and turn that off before returning. Throws a
 * {@link ConfigError} unless `batchSize` is a positive integer.
 */
export function evaluate(
  model: Sequential,
  data: Dataset,
  batchSize = 500,
): {
  /** Mean softmax cross-entropy over the samples (NaN for an empty dataset). */
  loss: number;
  /** Fraction of samples classified correctly, 0 to 1 (NaN for an empty dataset). */
  accuracy: number;
} {
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new ConfigError('batchSize', batchSize, 'a positive integer');
  const sampleSize = sizeOf(data.sampleShape);
  const xFull = Tensor.zeros([batchSize, ...data.sampleShape]);
  const yFull = new Int32Array(batchSize);
  const order = new Uint32Array(data.size);
  for (let i = 0; i < order.length; i++) order[i] = i;
  let lossSum = 0, correct = 0;
  model.reuseBuffers(true); // each batch's activations go into the previous batch's arrays: none is kept
  try {
    for (let start = 0; start < data.size; start += batchSize) {
      const count = Math.min(batchSize, data.size - start);
      const x = count === batchSize ? xFull : new Tensor(xFull.data.subarray(0, count * sampleSize), [count, ...data.sampleShape]);
      const y = count === batchSize ? yFull : yFull.subarray(0, count);
      data.fillBatch(order, start, count, x.data, y);
      const r = softmaxCrossEntropy(model.forward(x, false), y);
      lossSum += r.loss * count;
      correct += r.correct ?? 0;
    }
  } finally {
    model.reuseBuffers(false);
  }
  return data.size === 0 ? { loss: NaN, accuracy: NaN } : { loss: lossSum / data.size, accuracy: correct / data.size };
}

function firstNonFiniteParam(model: Sequential): string | null {
  for (const p of model.params()) if (!allFinite(p.value)) return `parameter ${p.name} has a non-finite value`;
  return null;
}

function now(): number {
  return typeof performance !== 'undefined' ? performance.now() : Date.now();
}
