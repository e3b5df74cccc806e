import { ConfigError } from '../errors.js';
import type { Dataset } from '../data/dataset.js';
import type { Sequential } from '../layers/sequential.js';
import type { Optimizer } from '../optim/optimizer.js';
import type { LrSchedule } from '../optim/schedule.js';
import type { Rng, RngState } from '../tensor/rng.js';
import { Tensor, sizeOf } from '../tensor/tensor.js';
import { trainStep } from './step.js';

/** One mini-batch, written into arrays that the next batch overwrites. */
export interface Batch {
  /** The samples, `[count, ...sampleShape]`. */
  readonly x: Tensor;
  /** Their labels. */
  readonly y: Int32Array;
  /** Samples in the batch (the last batch of a pass may be smaller). */
  readonly count: number;
}

/**
 * A dataset's mini-batches in an order, written into two reused buffers: the one batching code
 * that training ({@link Trainer}, {@link train}) and {@link evaluate} share. The order is the
 * dataset's own until {@link Batches.reorder} shuffles it.
 *
 * @example
 * ```ts
 * import { ArrayDataset, Batches, Rng } from 'asymprop';
 *
 * const data = new ArrayDataset('five', Float32Array.of(0, 1, 2, 3, 4), Int32Array.of(0, 1, 0, 1, 0), [1], 2);
 * const batches = new Batches(data, 2);
 * console.log(batches.steps, [...batches].map((b) => Array.from(b.x.data))); // 3 [ [ 0, 1 ], [ 2, 3 ], [ 4 ] ]
 * batches.reorder(new Rng(1)); // a shuffled pass
 * console.log(batches.batch(0).count); // 2
 * ```
 */
export class Batches {
  /** Batches per pass: `ceil(size / batchSize)`, less a last batch of one sample left out with `dropSingle`. */
  readonly steps: number;
  private readonly order: Uint32Array;
  private readonly sampleSize: number;
  private readonly xFull: Tensor;
  private readonly yFull: Int32Array;

  /** @throws {@link ConfigError} unless `batchSize` is a positive integer. */
  constructor(
    /** The samples. */
    readonly data: Dataset,
    /** Samples per batch. */
    readonly batchSize: number,
    /**
     * Leave out a last batch that would hold a single sample (batch normalisation in training
     * needs at least two values per channel). The order is reshuffled every pass, so a different
     * sample sits out each time.
     */
    readonly dropSingle = false,
  ) {
    if (!Number.isInteger(batchSize) || batchSize < 1) throw new ConfigError('batchSize', batchSize, 'a positive integer');
    this.steps = Math.ceil(data.size / batchSize) - (dropSingle && batchSize > 1 && data.size % batchSize === 1 ? 1 : 0);
    this.order = new Uint32Array(data.size);
    for (let i = 0; i < this.order.length; i++) this.order[i] = i;
    this.sampleSize = sizeOf(data.sampleShape);
    // A batch larger than the data is the whole data: the buffers need no more than it holds.
    const most = Math.max(1, Math.min(batchSize, data.size));
    this.xFull = Tensor.zeros([most, ...data.sampleShape]);
    this.yFull = new Int32Array(most);
  }

  /** A new pass: the dataset's order again, then shuffled with `rng` when one is given. */
  reorder(rng?: Rng): void {
    const order = this.order;
    for (let i = 0; i < order.length; i++) order[i] = i;
    rng?.shuffle(order);
  }

  /** Batch `s` (0-based) of the current order. Its arrays are overwritten by the next call. */
  batch(s: number): Batch {
    const { batchSize, data } = this;
    const start = s * batchSize;
    const count = Math.min(batchSize, data.size - start);
    const full = count === batchSize;
    const x = full ? this.xFull : new Tensor(this.xFull.data.subarray(0, count * this.sampleSize), [count, ...data.sampleShape]);
    const y = full ? this.yFull : this.yFull.subarray(0, count);
    data.fillBatch(this.order, start, count, x.data, y);
    return { x, y, count };
  }

  /** The batches of one pass, in the current order. */
  *[Symbol.iterator](): IterableIterator<Batch> {
    for (let s = 0; s < this.steps; s++) yield this.batch(s);
  }
}

/** Where a {@link Trainer} stands: enough to continue exactly from here. */
export interface TrainerPosition {
  /** The epoch in progress (1-based). */
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
}

/** What {@link Trainer.step} reports. */
export interface TrainerStep {
  /** The epoch the step belonged to (1-based). */
  readonly epoch: number;
  /** The step's number within it (1-based). */
  readonly step: number;
  /** Steps per epoch. */
  readonly steps: number;
  /** Mean loss over the batch (non-finite when training diverged). */
  readonly loss: number;
  /** Correctly classified samples in the batch. */
  readonly correct: number;
  /** Samples in the batch. */
  readonly count: number;
  /** The batch itself (overwritten by the next step). */
  readonly batch: Batch;
  /** Set on the epoch's last step: the epoch's totals. The trainer then moves on to the next epoch. */
  readonly epochEnd: {
    /** The training loss summed over the epoch's samples. */
    readonly lossSum: number;
    /** Correctly classified samples. */
    readonly correct: number;
    /** Samples seen. */
    readonly seen: number;
  } | null;
}

/** Options of {@link Trainer}. */
export interface TrainerOptions {
  /** Updates the model's parameters; built on `model.params()`. */
  readonly optimizer: Optimizer;
  /** Shuffles the training set at the start of every epoch. */
  readonly rng: Rng;
  /** Samples per batch (default 100). The last batch of an epoch may be smaller. */
  readonly batchSize?: number;
  /** Learning rate per epoch, set when each epoch begins; without it the optimizer's rate is kept. */
  readonly schedule?: LrSchedule;
}

/**
 * The training loop in steppable form: each {@link Trainer.step} takes the next mini-batch of a
 * seeded shuffle of the training set (a new shuffle at every epoch) and runs one
 * {@link trainStep} on it. {@link train} runs epochs of it with evaluation, divergence detection
 * and checkpoints; the interactive page calls `step()` between its animation frames. Every rule's
 * own work in the step (Batch Manhattan, Kolen-Pollack, the weight mirror's phase, brSF's redraw)
 * happens inside `trainStep`, so the loop knows nothing of them.
 *
 * @example
 * ```ts
 * import { Rng, SGD, Trainer, kolenPollack, mlp } from 'asymprop';
 * import { splitEmbeddedMnist } from 'asymprop/node';
 *
 * const { train: data } = splitEmbeddedMnist();
 * const rng = new Rng(1);
 * const model = mlp({ rng: rng.fork(), feedback: kolenPollack() });
 * const trainer = new Trainer(model, data, { optimizer: new SGD(model.params(), { lr: 0.01, momentum: 0.9 }), rng: rng.fork() });
 * let last = trainer.step();
 * while (!last.epochEnd) last = trainer.step();
 * console.log(last.epoch, last.step, last.steps, trainer.epoch); // 1 80 80 2
 * console.log(last.epochEnd!.correct / last.epochEnd!.seen > 0.7); // true: one epoch of training accuracy
 * ```
 */
export class Trainer {
  /** The mini-batches of the training set. */
  readonly batches: Batches;
  /** The optimizer every step updates the model with. */
  readonly optimizer: Optimizer;
  private readonly rng: Rng;
  private readonly schedule: LrSchedule | undefined;
  private epochNumber = 1;
  private stepNumber = 0;
  private begun = false;
  private epochStartRng: RngState;
  private lossSum = 0;
  private correct = 0;
  private seen = 0;

  /** @throws {@link ConfigError} for an empty training set or a batch size that is not a positive integer. */
  constructor(
    /** The model being trained. */
    readonly model: Sequential,
    data: Dataset,
    options: TrainerOptions,
  ) {
    if (data.size === 0) throw new ConfigError('training set size', 0, 'at least one sample');
    // A model with batch normalisation cannot train on a batch of one: such a last batch sits out.
    const batchNorm = model.feedbackLayers().some(({ layer }) => layer.feedbackKind === 'batchnorm');
    if (batchNorm && data.size === 1) throw new ConfigError('training set size', 1, 'at least 2 samples for a model with batch normalisation');
    if (batchNorm && options.batchSize === 1) throw new ConfigError('batchSize', 1, 'at least 2 for a model with batch normalisation (it normalises over the batch)');
    this.batches = new Batches(data, options.batchSize ?? 100, batchNorm);
    this.optimizer = options.optimizer;
    this.rng = options.rng;
    this.schedule = options.schedule;
    this.epochStartRng = this.rng.state();
  }

  /** The epoch in progress, or about to begin (1-based). */
  get epoch(): number {
    return this.epochNumber;
  }

  /** Steps of the current epoch already taken. */
  get stepOfEpoch(): number {
    return this.stepNumber;
  }

  /** Steps per epoch. */
  get stepsPerEpoch(): number {
    return this.batches.steps;
  }

  /** One training step on the next mini-batch. */
  step(): TrainerStep {
    if (!this.begun) this.begin();
    const s = this.stepNumber;
    const batch = this.batches.batch(s);
    const r = trainStep(this.model, this.optimizer, batch.x, batch.y);
    this.lossSum += r.loss * batch.count;
    this.correct += r.correct;
    this.seen += batch.count;
    this.stepNumber++;
    const epoch = this.epochNumber;
    let epochEnd: TrainerStep['epochEnd'] = null;
    if (this.stepNumber === this.batches.steps) {
      epochEnd = { lossSum: this.lossSum, correct: this.correct, seen: this.seen };
      this.epochNumber++;
      this.stepNumber = 0;
      this.begun = false;
      this.lossSum = this.correct = this.seen = 0;
      this.epochStartRng = this.rng.state();
    }
    return { epoch, step: s + 1, steps: this.batches.steps, loss: r.loss, correct: r.correct, count: batch.count, batch, epochEnd };
  }

  /** Where training stands (what a checkpoint saves with the model and the optimizer). */
  position(): TrainerPosition {
    return { epoch: this.epochNumber, step: this.stepNumber, epochStartRng: this.epochStartRng, lossSum: this.lossSum, correct: this.correct, seen: this.seen };
  }

  /**
   * Continues from a saved {@link TrainerPosition} (with the model and optimizer restored to
   * match): the epoch's shuffle is drawn again from its saved generator state, so the run goes on
   * exactly as if it had never stopped.
   *
   * @throws {@link ConfigError} unless the epoch is ≥ 1 and the step within [0, steps per epoch).
   */
  restore(position: TrainerPosition): void {
    const { epoch, step } = position;
    if (!Number.isInteger(epoch) || epoch < 1 || !Number.isInteger(step) || step < 0 || step >= this.batches.steps) {
      throw new ConfigError('resume progress', { epoch, step }, `an epoch ≥ 1 and a step in [0, ${this.batches.steps})`);
    }
    this.epochNumber = epoch;
    this.stepNumber = step;
    this.rng.setState(position.epochStartRng);
    this.epochStartRng = position.epochStartRng;
    this.lossSum = position.lossSum;
    this.correct = position.correct;
    this.seen = position.seen;
    this.begun = false;
    if (step > 0) this.begin();
  }

  /** An epoch begins: its learning rate, and a new shuffle of the training set. */
  private begin(): void {
    if (this.schedule) this.optimizer.lr = this.schedule.at(this.epochNumber - 1);
    this.epochStartRng = this.rng.state();
    this.batches.reorder(this.rng);
    this.begun = true;
  }
}
