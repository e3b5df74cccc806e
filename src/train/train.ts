import { ConfigError, DivergenceError } from '../errors.js';
import type { Dataset } from '../data/dataset.js';
import type { FeedbackStats } from '../feedback/stats.js';
import type { Sequential } from '../layers/sequential.js';
import { softmaxCrossEntropy } from '../layers/loss.js';
import type { Optimizer } from '../optim/optimizer.js';
import type { LrSchedule } from '../optim/schedule.js';
import { allFinite } from '../tensor/ops.js';
import { isRngState, type Rng } from '../tensor/rng.js';
import { Batches, Trainer, type TrainerPosition } from './trainer.js';

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
export interface TrainProgress extends TrainerPosition {
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
  /**
   * Samples per batch (default 100). The last batch of an epoch may be smaller; in a model with
   * batch normalisation a last batch of a single sample is left out (BN cannot normalise one value
   * per channel), a different sample each epoch.
   */
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
  const trainer = new Trainer(model, trainSet, { optimizer, rng, batchSize, ...(schedule ? { schedule } : {}) });
  const steps = trainer.stepsPerEpoch;
  if (resume) checkResume(resume, epochs, batchSize);
  const history: EpochRecord[] = [...(resume?.history ?? [])];
  if (resume) trainer.restore(resume);
  const progress = (): TrainProgress => ({ ...trainer.position(), history: [...history] });
  let diverged: DivergenceInfo | null = null;
  let t0 = now();

  while (trainer.epoch <= epochs) {
    if (options.instrument !== undefined) model.instrument(instrument && trainer.stepOfEpoch === steps - 1); // else: as the caller left it
    const r = trainer.step();
    const detail = !Number.isFinite(r.loss) ? `loss is ${r.loss}` : firstNonFiniteParam(model);
    if (detail) {
      const layer = model.locateNonFinite(r.batch.x);
      diverged = { epoch: r.epoch, step: r.step, detail, layer };
      if (onDivergence === 'throw') throw new DivergenceError(r.epoch, r.step, layer ? `${detail}; first non-finite: ${layer}` : detail);
      break;
    }
    options.onBatch?.(r.epoch, r.step, steps, r.loss);
    if (checkpointEvery && ((r.epoch - 1) * steps + r.step) % checkpointEvery === 0 && !r.epochEnd) onCheckpoint?.(progress());
    if (!r.epochEnd) continue;
    const evaluation = test ? evaluate(model, test, Math.max(batchSize, 500)) : { loss: NaN, accuracy: NaN };
    const record: EpochRecord = {
      epoch: r.epoch,
      lr: optimizer.lr,
      trainLoss: r.epochEnd.lossSum / r.epochEnd.seen,
      trainAccuracy: r.epochEnd.correct / r.epochEnd.seen,
      testLoss: evaluation.loss,
      testAccuracy: evaluation.accuracy,
      feedback: instrument ? model.feedbackStats() : null,
      seconds: (now() - t0) / 1000,
    };
    history.push(record);
    options.onEpoch?.(record);
    if (checkpointEvery) onCheckpoint?.(progress());
    t0 = now();
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
  const batches = new Batches(data, batchSize);
  let lossSum = 0, correct = 0;
  model.reuseBuffers(true); // each batch's activations go into the previous batch's arrays: none is kept
  try {
    for (const { x, y, count } of batches) {
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

/**
 * Checks saved progress against this run before anything is restored: well-formed
 * ({@link validateProgress}), an epoch of this run (or just past its last, for a run that ended),
 * and as many samples seen as the steps taken hold.
 */
function checkResume(resume: TrainProgress, epochs: number, batchSize: number): void {
  validateProgress(resume, (field, expected, value) => new ConfigError(`resume progress ${field}`, value, expected));
  if (resume.epoch > epochs + 1 || (resume.epoch === epochs + 1 && resume.step !== 0)) {
    throw new ConfigError('resume progress epoch', resume.epoch, `an epoch of this ${epochs}-epoch run (1 to ${epochs}, or ${epochs + 1} at step 0 once it has ended)`);
  }
  if (resume.seen !== resume.step * batchSize) {
    throw new ConfigError('resume progress seen', resume.seen, `${resume.step} steps × ${batchSize} samples = ${resume.step * batchSize}`);
  }
}

/**
 * Checks a {@link TrainProgress} for its types and for what holds in any run: epoch ≥ 1, step ≥ 0,
 * one history record per finished epoch, running sums that are finite and consistent. The
 * ranges that depend on the run (the epochs, the steps per epoch) are checked by `train`.
 */
export function validateProgress(progress: TrainProgress, bad: (field: string, expected: string, value: unknown) => Error): void {
  const p = progress as unknown as Record<string, unknown>;
  const count = (field: string, min: number) => {
    if (!Number.isInteger(p[field]) || (p[field] as number) < min) throw bad(field, `an integer ≥ ${min}`, p[field]);
    return p[field] as number;
  };
  const epoch = count('epoch', 1);
  count('step', 0);
  const seen = count('seen', 0);
  const correct = count('correct', 0);
  if (correct > seen) throw bad('correct', `at most the ${seen} samples seen`, correct);
  if (typeof p['lossSum'] !== 'number' || !Number.isFinite(p['lossSum']) || p['lossSum'] < 0) throw bad('lossSum', 'a finite number ≥ 0', p['lossSum']);
  if (!isRngState(p['epochStartRng'])) throw bad('epochStartRng', 'a generator state (Rng.state())', p['epochStartRng']);
  const history = p['history'];
  if (!Array.isArray(history)) throw bad('history', 'a list of epoch records', history);
  if (history.length !== epoch - 1) throw bad('history', `one record per finished epoch (${epoch - 1}, as epoch is ${epoch})`, `${history.length} records`);
  history.forEach((h: unknown, i) => {
    const e = h as Record<string, unknown> | null;
    if (typeof e !== 'object' || e === null || e['epoch'] !== i + 1) throw bad(`history[${i}]`, `the record of epoch ${i + 1}`, h);
    for (const k of ['trainLoss', 'trainAccuracy', 'testAccuracy']) {
      if (typeof e[k] !== 'number' && e[k] !== null) throw bad(`history[${i}].${k}`, 'a number', e[k]);
    }
  });
}

