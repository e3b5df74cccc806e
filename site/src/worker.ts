/**
 * The training worker: one run of one configuration, trained in small slices so that messages
 * from the page (pause, a new learning rate, a new run) are handled between two slices.
 * Everything here goes through asymprop's public API.
 */
import {
  ArrayDataset, BatchNorm, Rng, SGD, Tensor, WeightedLayer, decodeSplit, evaluate, feedbackByName, methodByName, gemmThreads, mlp, ops,
  trainStep, useGemmThreads, type Dataset, type FeedbackStrategy, type Sequential,
} from 'asymprop';
import { shownDigits, type BoundaryGrid, type FromWorker, type LayerReport, type ToWorker, type WorkerReport } from './messages.js';
import { DIGITS_FILE } from './assets.js';
import { DATASETS, type LayerFeedback, type RunSettings } from './settings.js';
import { SPIRALS_EXTENT, spiralSplit } from './spirals.js';

/** The strategy of one dense layer, e.g. `bm+brsf(lognormal)`, through the library's protocol names. */
function strategyFor(layer: LayerFeedback, bm: boolean): FeedbackStrategy {
  const method = methodByName(layer.method);
  return feedbackByName(method.name, { bm, flip: method.flip ? layer.flip : 0, magnitude: method.magnitude ? layer.magnitude : undefined });
}

/** One training run: the network, its optimizer, the data and where the run stands. */
class Run {
  readonly model: Sequential;
  readonly optimizer: SGD;
  /** The dense layers (the ones the page sets a feedback for), with their index in `model.layers`. */
  readonly dense: { readonly index: string; readonly layer: WeightedLayer }[];
  step = 0;
  private samplesSeen = 0;
  private readonly orderRng: Rng;
  private order: Uint32Array = new Uint32Array(0);
  private cursor = 0;
  private readonly x: Tensor;
  private readonly y: Int32Array;

  constructor(
    readonly settings: RunSettings,
    readonly data: { readonly train: Dataset; readonly test: Dataset },
  ) {
    const info = DATASETS[settings.dataset];
    // One seed, three independent streams: the weights, the feedback matrices, the batch order.
    // Two configurations with the same seed therefore start from the same weights and see the
    // same batches, whatever their feedback.
    const root = new Rng(settings.seed);
    this.model = mlp({ rng: root.fork(), inputShape: info.inputShape, hidden: info.hidden, classes: info.classes, bn: settings.bn });
    const feedbackRng = root.fork();
    this.orderRng = root.fork();
    this.dense = this.model.feedbackLayers().flatMap(({ index, layer }) => (layer instanceof WeightedLayer ? [{ index, layer }] : []));
    // Each dense layer gets its strategy; the BatchNorm layers get what the rules say a BatchNorm
    // beside them gets (the exact backward, with the Batch Manhattan update when it is on, as in
    // the paper).
    this.dense.forEach(({ index }, i) => this.model.setFeedback(strategyFor(settings.layers[i]!, settings.bm), feedbackRng, (j) => j === index));
    this.model.setFeedback(strategyFor(settings.layers[0]!, settings.bm).batchNorm, feedbackRng, (_, layer) => layer instanceof BatchNorm);
    // After the feedback: a rule that learns its feedback (kp, wm) adds parameters.
    this.optimizer = new SGD(this.model.params(), { lr: settings.lr, momentum: 0.9, weightDecay: 1e-4 });
    this.x = Tensor.zeros([info.batchSize, ...info.inputShape]);
    this.y = new Int32Array(info.batchSize);
  }

  strategies(): string[] {
    return this.dense.map(({ layer }) => layer.feedback.strategy.name);
  }

  /** Epochs done, fractional. */
  get epoch(): number {
    return this.samplesSeen / this.data.train.size;
  }

  /** One training step on the next mini-batch (a new shuffle at each epoch). */
  trainBatch(instrument: boolean): { loss: number; correct: number; count: number } {
    const train = this.data.train;
    if (this.cursor >= this.order.length) {
      this.order = this.orderRng.permutation(train.size);
      this.cursor = 0;
    }
    const batchSize = this.y.length;
    const count = Math.min(batchSize, train.size - this.cursor);
    const full = count === batchSize;
    const x = full ? this.x : new Tensor(this.x.data.subarray(0, count * (this.x.size / batchSize)), [count, ...train.sampleShape]);
    const y = full ? this.y : this.y.subarray(0, count);
    train.fillBatch(this.order, this.cursor, count, x.data, y);
    this.cursor += count;
    // Instrumenting costs one extra backward pass (true backprop's error, carried alongside), so
    // only some steps are measured.
    this.model.instrument(instrument);
    const r = trainStep(this.model, this.optimizer, x, y);
    if (instrument) this.model.instrument(false);
    this.step++;
    this.samplesSeen += count;
    return { loss: r.loss, correct: r.correct, count };
  }

  /** The statistics of the last instrumented step, per dense layer. */
  layerReports(): LayerReport[] {
    const stats = this.model.feedbackStats();
    return this.dense.map(({ index }) => {
      const s = stats[index];
      return { angleVW: s?.angleVW ?? NaN, signConcordance: s?.signConcordance ?? NaN, errorAngle: s?.errorAngle ?? NaN };
    });
  }

  test(): { loss: number; accuracy: number } {
    return evaluate(this.model, this.data.test);
  }

  /** The predicted class over a grid covering the spirals' square (eval mode). */
  boundary(size = 64): BoundaryGrid {
    const extent = SPIRALS_EXTENT;
    const x = Tensor.zeros([size * size, 2]);
    for (let row = 0; row < size; row++) {
      for (let col = 0; col < size; col++) {
        const k = row * size + col;
        x.data[2 * k] = -extent + ((col + 0.5) / size) * 2 * extent;
        x.data[2 * k + 1] = extent - ((row + 0.5) / size) * 2 * extent;
      }
    }
    const logits = this.model.forward(x, false);
    const classes = new Uint8Array(size * size);
    const confidence = new Float32Array(size * size);
    const c = logits.shape[1]!;
    for (let k = 0; k < size * size; k++) {
      const row = logits.data.subarray(k * c, (k + 1) * c);
      let best = 0;
      for (let j = 1; j < c; j++) if (row[j]! > row[best]!) best = j;
      let sum = 0;
      for (let j = 0; j < c; j++) sum += Math.exp(row[j]! - row[best]!);
      classes[k] = best;
      confidence[k] = 1 / sum;
    }
    return { size, extent, classes, confidence };
  }

  /** Predicted classes of the test digits the page shows (eval mode). */
  predictions(): Uint8Array {
    const test = this.data.test;
    const shown = shownDigits(test.size);
    const x = Tensor.zeros([shown.length, ...test.sampleShape]);
    test.fillBatch(shown, 0, shown.length, x.data, new Int32Array(shown.length));
    return Uint8Array.from(ops.argmaxRows(this.model.forward(x, false)));
  }
}

/** The training data of a run: the spirals, or the digits the page sent (a split file, see decodeSplit). */
function loadData(settings: RunSettings, digits: ArrayBuffer | null): { train: Dataset; test: Dataset } {
  if (settings.dataset === 'spirals') return spiralSplit();
  if (!digits) throw new Error('the MNIST digits were not sent to the worker');
  return decodeSplit(digits, DIGITS_FILE);
}

// --- the message loop -----------------------------------------------------------------------

/** The worker's global scope, typed for what this file uses (the project compiles against the DOM library). */
const scope = self as unknown as {
  postMessage(message: FromWorker, options?: { transfer?: Transferable[] }): void;
  onmessage: ((event: MessageEvent<ToWorker>) => void) | null;
};

/**
 * The matrix products run on this worker plus one helper thread of the library's when the page
 * is cross-origin isolated (served with COOP and COEP headers, as `npm run site:dev` and
 * `vite preview` do) on a machine with more than one core; elsewhere on this worker alone.
 * Messages are handled once this is settled.
 */
const threadsReady: Promise<unknown> =
  (globalThis as { crossOriginIsolated?: boolean }).crossOriginIsolated === true && navigator.hardwareConcurrency > 1
    ? useGemmThreads(2).catch((e: unknown) => console.warn(`matrix products stay on one thread: ${e instanceof Error ? e.message : String(e)}`))
    : Promise.resolve();

let run: Run | null = null;
/** The id of the current run, from its 'init' message. */
let runId = 0;
let running = false;
let timer: ReturnType<typeof setTimeout> | undefined;
let lastInstrumented = -Infinity;
let lastBoundary = -Infinity;

function post(report: WorkerReport): void {
  const transfer: Transferable[] = [];
  if ('boundary' in report && report.boundary) transfer.push(report.boundary.classes.buffer, report.boundary.confidence.buffer);
  scope.postMessage({ ...report, run: runId }, { transfer });
}

/** Trains for a short slice (a few steps, at most ~80 ms), reports, and schedules the next slice. */
function slice(): void {
  timer = undefined;
  if (!run || !running) return;
  const info = DATASETS[run.settings.dataset];
  const start = performance.now();
  let lossSum = 0, correct = 0, seen = 0, steps = 0;
  let instrumented = false;
  let test: { loss: number; accuracy: number } | null = null;
  while (steps < info.stepsPerReport && (steps === 0 || performance.now() - start < 80)) {
    // Measure the feedback statistics on about one step in every 150 ms.
    const instrument = steps === 0 && start - lastInstrumented > 150;
    const r = run.trainBatch(instrument);
    if (!Number.isFinite(r.loss)) {
      running = false;
      post({ type: 'diverged', step: run.step, loss: r.loss });
      return;
    }
    if (instrument) {
      instrumented = true;
      lastInstrumented = start;
    }
    lossSum += r.loss * r.count;
    correct += r.correct;
    seen += r.count;
    steps++;
    if (run.step % info.evalEvery === 0) {
      test = run.test();
      break;
    }
  }
  const now = performance.now();
  const spirals = run.settings.dataset === 'spirals';
  const boundary = spirals && now - lastBoundary > 100 ? run.boundary() : null;
  if (boundary) lastBoundary = now;
  post({
    type: 'progress',
    step: run.step,
    epoch: run.epoch,
    loss: lossSum / seen,
    trainAccuracy: correct / seen,
    test,
    layers: instrumented ? run.layerReports() : null,
    strategies: run.strategies(),
    boundary,
    predictions: test && !spirals ? run.predictions() : null,
  });
  timer = setTimeout(slice, info.pauseMs);
}

function handle(message: ToWorker): void {
  switch (message.type) {
    case 'init': {
      running = false;
      clearTimeout(timer);
      timer = undefined;
      runId = message.run;
      run = new Run(message.settings, loadData(message.settings, message.digits));
      lastInstrumented = lastBoundary = -Infinity;
      const initial = run.test();
      const spirals = message.settings.dataset === 'spirals';
      const train = run.data.train;
      post({
        type: 'ready',
        points: train instanceof ArrayDataset ? { features: Float32Array.from(train.features), labels: Uint8Array.from(train.labels) } : null,
        strategies: run.strategies(),
        testLoss: initial.loss,
        testAccuracy: initial.accuracy,
        boundary: spirals ? run.boundary() : null,
        predictions: spirals ? null : run.predictions(),
        threads: gemmThreads(),
      });
      break;
    }
    case 'lr': {
      if (!run) return;
      run.optimizer.lr = message.lr;
      post({ type: 'lr-set', lr: run.optimizer.lr });
      break;
    }
    case 'run':
      running = true;
      if (timer === undefined) slice();
      break;
    case 'pause':
      running = false;
      break;
  }
}

scope.onmessage = (event) => {
  // In order: the callbacks of one promise run in the order they were added.
  void threadsReady.then(() => {
    try {
      handle(event.data);
    } catch (e) {
      running = false;
      post({ type: 'error', message: e instanceof Error ? `${e.name}: ${e.message}` : String(e) });
    }
  });
};
