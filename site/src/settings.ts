/**
 * What one training run on the page is: the data set, the seed and the settings of one
 * configuration. Shared by the page (controls) and the worker (training), which exchange these
 * values as plain objects.
 */

import { methodColor, methods } from 'asymprop';

/** The two problems the page trains on. */
export type DatasetName = 'spirals' | 'mnist';

/** A feedback method by its registered name (see `methods()` and `feedbackByName`). */
export type Method = string;

/** The random-magnitude laws of brSF and frSF. */
export type Magnitude = 'uniform' | 'abs-normal' | 'lognormal';

/** The feedback of one dense layer. */
export interface LayerFeedback {
  readonly method: Method;
  /** Fraction of V's signs flipped by a fixed random mask, in [0, 1]. */
  readonly flip: number;
  /** Law of M for brSF and frSF (ignored by the other methods). */
  readonly magnitude: Magnitude;
}

/** The settings of one configuration (one column of the page). */
export interface ConfigSettings {
  /** Batch Normalization after each hidden dense layer. */
  readonly bn: boolean;
  /** The Batch Manhattan update (every parameter moves by the sign of its gradient). */
  readonly bm: boolean;
  readonly lr: number;
  /** One entry per dense layer, first to last. */
  readonly layers: readonly LayerFeedback[];
}

/** Everything a worker needs to build a run. */
export interface RunSettings extends ConfigSettings {
  readonly dataset: DatasetName;
  readonly seed: number;
}

/** How each problem is trained. */
export interface DatasetInfo {
  readonly label: string;
  readonly inputShape: readonly number[];
  readonly hidden: readonly number[];
  readonly classes: number;
  readonly batchSize: number;
  /** Default learning rates: for the plain gradient, and for the Batch Manhattan update sign(g). */
  readonly lr: { readonly gradient: number; readonly manhattan: number };
  /** Training steps between two evaluations on the test set. */
  readonly evalEvery: number;
  /** At most this many steps between two progress reports (keeps the toy problem watchable). */
  readonly stepsPerReport: number;
  /** Pause between two reports, in milliseconds. */
  readonly pauseMs: number;
}

/** The two problems: the network (an `mlp`), batch size, default rates and pacing of each. */
export const DATASETS: Readonly<Record<DatasetName, DatasetInfo>> = {
  spirals: {
    label: 'Spirals (2-D, 3 classes)',
    inputShape: [2],
    hidden: [64, 64],
    classes: 3,
    batchSize: 30,
    lr: { gradient: 0.1, manhattan: 3e-4 },
    evalEvery: 20,
    stepsPerReport: 3,
    pauseMs: 25,
  },
  mnist: {
    label: 'MNIST digits (2,000 / 500)',
    inputShape: [1, 28, 28],
    hidden: [256, 256],
    classes: 10,
    batchSize: 100,
    lr: { gradient: 0.1, manhattan: 1e-4 },
    evalEvery: 10,
    stepsPerReport: 1000,
    pauseMs: 0,
  },
};

/** The dense layers' names, e.g. `dense 1 (784→256)`, in the order of {@link ConfigSettings.layers}. */
export function layerNames(dataset: DatasetName): string[] {
  const info = DATASETS[dataset];
  const widths = [info.inputShape.reduce((a, b) => a * b, 1), ...info.hidden, info.classes];
  return widths.slice(1).map((out, i) => `dense ${i + 1} (${widths[i]}→${out}${i === widths.length - 2 ? ', output' : ''})`);
}

/**
 * Every registered method (the library's registry: the paper's five, then dfa, kp and wm), with
 * what it does to the backward pass in one line, in the guides' notation (shown beside the controls),
 * and its colour (the one it has in the report's figures).
 */
export const METHODS: Readonly<Record<Method, { readonly label: string; readonly v: string; readonly hint: string; readonly flip: boolean; readonly magnitude: boolean; readonly color: string }>> = Object.fromEntries(
  methods().map((m) => [m.name, { label: m.name === m.label ? m.label : `${m.label} (${m.name})`, v: m.formula, hint: m.description, flip: m.flip, magnitude: m.magnitude, color: methodColor(m.name) }]),
);

/** The colour of a configuration's curves when its layers do not share one method. */
export const MIXED_COLOR = '#555555';

/** The magnitude laws, as the select shows them. */
export const MAGNITUDES: Readonly<Record<Magnitude, string>> = {
  uniform: 'uniform',
  'abs-normal': '|N(0, 1)|',
  lognormal: 'lognormal',
};

/** The settings a configuration starts with: backprop everywhere, the problem's default rate. */
export function defaultConfig(dataset: DatasetName): ConfigSettings {
  return {
    bn: false,
    bm: false,
    lr: DATASETS[dataset].lr.gradient,
    layers: layerNames(dataset).map(() => ({ method: 'bp', flip: 0, magnitude: 'uniform' })),
  };
}
