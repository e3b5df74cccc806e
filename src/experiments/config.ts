import { STRATEGY_NAME_RULE, isStrategyName } from '../feedback/define.js';
import { ConfigError } from '../errors.js';
import { feedbackByName, methodByName, methodOptions } from '../feedback/registry.js';
import { parseMagnitudeLaw } from '../feedback/magnitude.js';
import type { FeedbackStrategy } from '../feedback/strategy.js';
import { isResnetDepth } from '../models/resnet.js';

/** The depth of `arch: 'resnet'` when none is given: ResNet-20. */
export const DEFAULT_RESNET_DEPTH = 20;

/** The architectures a run can name. */
export const ARCHITECTURES = ['mlp', 'lenet', 'resnet'] as const;
/** One of {@link ARCHITECTURES}: {@link mlp}, {@link lenet} or {@link resnet} (with {@link RunConfig.depth}). */
export type Architecture = (typeof ARCHITECTURES)[number];

/** The optimizers a run can name: SGD with momentum (the protocol's), Adam, RMSprop. */
export const OPTIMIZERS = ['sgd', 'adam', 'rmsprop'] as const;
/** One of {@link OPTIMIZERS}. */
export type OptimizerName = (typeof OPTIMIZERS)[number];

/** The datasets a run can name. */
export const DATASETS = ['mnist-embedded', 'fashion-mnist', 'mnist', 'cifar10', 'cifar100'] as const;
/** One of {@link DATASETS}; `loadDataset` in `asymprop/node` loads each. */
export type DatasetName = (typeof DATASETS)[number];

/**
 * One training run of the protocol, fully specified (every field has the protocol's default).
 * `asymprop train --json` prints it as `config`; every results-file record holds one.
 */
export interface RunConfig {
  /** The data: the embedded digits by default; the protocol's grid uses `fashion-mnist`. */
  readonly dataset: DatasetName;
  /** Directory of the dataset's files (null: the dataset's default place). */
  readonly dataDir: string | null;
  /** The model. */
  readonly arch: Architecture;
  /** The resnet's depth, 6n+2 (default 20); present only when `arch` is `resnet`. */
  readonly depth?: number;
  /** Feedback method, a registered name: `bp` (`symmetric`), `usf`, `brsf`, `frsf`, `fa` (`random`), `dfa`, `kp`, `wm`, or a user's (see `methods()`). */
  readonly feedback: string;
  /**
   * The method's own options with their defaults filled in (`{ decay: 0.01 }` for kp), present
   * only for a method that has options (so the 2016 methods' configurations are what they were).
   */
  readonly feedbackOptions?: Readonly<Record<string, number>>;
  /** Batch Manhattan on every parameter. */
  readonly bm: boolean;
  /** Batch normalisation after every conv and hidden dense layer (exact BN backward). */
  readonly bn: boolean;
  /** Learning rate of the first 70% of the epochs (÷10 after); default 0.1, or 1e-4 with `bm`. */
  readonly lr: number;
  /** Fraction of feedback signs flipped (0 to 1). */
  readonly flip: number;
  /** Magnitude law for brsf/frsf (`uniform`, `abs-normal`, `lognormal`, `const-<c>`), or null for the default (`uniform`; null also for the other methods, which have no magnitudes). */
  readonly magnitude: string | null;
  /** Epochs of training (default 10). */
  readonly epochs: number;
  /** Seeds everything random: the weights, each layer's feedback, the data order (default 1). */
  readonly seed: number;
  /** Samples per mini-batch (default 100). */
  readonly batchSize: number;
  /**
   * The optimizer, present only when it is not the protocol's SGD (so SGD runs' configurations
   * are what they were): `adam` or `rmsprop` with PyTorch's defaults but for `lr` and
   * `weightDecay` (L2, added to the gradient); `momentum` is SGD's and is ignored by them.
   */
  readonly optimizer?: 'adam' | 'rmsprop';
  /** SGD momentum (default 0.9). */
  readonly momentum: number;
  /** L2 weight decay (default 1e-4). */
  readonly weightDecay: number;
}

/**
 * The protocol's defaults (batch 100, momentum 0.9, weight decay 1e-4, 10 epochs) for every
 * {@link RunConfig} field but `lr`, which depends on `bm` ({@link defaultLr}). Each field is
 * described at {@link RunConfig}.
 */
export const PROTOCOL_DEFAULTS = {
  /** {@inheritDoc RunConfig.dataset} */
  dataset: 'mnist-embedded',
  /** {@inheritDoc RunConfig.dataDir} */
  dataDir: null,
  /** {@inheritDoc RunConfig.arch} */
  arch: 'mlp',
  /** {@inheritDoc RunConfig.feedback} */
  feedback: 'bp',
  /** {@inheritDoc RunConfig.bm} */
  bm: false,
  /** {@inheritDoc RunConfig.bn} */
  bn: false,
  /** {@inheritDoc RunConfig.flip} */
  flip: 0,
  /** {@inheritDoc RunConfig.magnitude} */
  magnitude: null,
  /** {@inheritDoc RunConfig.epochs} */
  epochs: 10,
  /** {@inheritDoc RunConfig.seed} */
  seed: 1,
  /** {@inheritDoc RunConfig.batchSize} */
  batchSize: 100,
  /** {@inheritDoc RunConfig.momentum} */
  momentum: 0.9,
  /** {@inheritDoc RunConfig.weightDecay} */
  weightDecay: 1e-4,
} as const satisfies Omit<RunConfig, 'lr'>;

/** Default learning rate: 1e-4 with Batch Manhattan; without it 0.1 for SGD, and PyTorch's defaults for Adam (1e-3) and RMSprop (1e-2). */
export function defaultLr(bm: boolean, optimizer: OptimizerName = 'sgd'): number {
  if (bm) return 1e-4;
  return optimizer === 'adam' ? 1e-3 : optimizer === 'rmsprop' ? 1e-2 : 0.1;
}

/** Every field a {@link RunConfig} may have. */
const CONFIG_KEYS = ['dataset', 'dataDir', 'arch', 'depth', 'feedback', 'feedbackOptions', 'bm', 'bn', 'lr', 'flip', 'magnitude', 'epochs', 'seed', 'batchSize', 'optimizer', 'momentum', 'weightDecay'];

/**
 * Fills defaults in and validates every field, throwing a {@link ConfigError} that names the option.
 *
 * @example
 * ```ts
 * import { resolveRunConfig, runLabel } from 'asymprop';
 *
 * const config = resolveRunConfig({ arch: 'lenet', bn: true, feedback: 'brsf', bm: true });
 * console.log(config.lr, config.epochs, runLabel(config)); // 0.0001 10 lenet+bn bm+brsf lr=0.0001 seed=1
 * ```
 */
export function resolveRunConfig(partial: Partial<RunConfig>): RunConfig {
  if (typeof partial !== 'object' || partial === null) throw new ConfigError('run configuration', partial, 'an object of RunConfig fields');
  // A misspelt field would otherwise be carried along silently while its default is used.
  const unknown = Object.keys(partial).filter((k) => !CONFIG_KEYS.includes(k));
  if (unknown.length > 0) throw new ConfigError('run configuration field', unknown.length === 1 ? unknown[0] : unknown, CONFIG_KEYS.join(', '));
  const bm = partial.bm ?? PROTOCOL_DEFAULTS.bm;
  let c: RunConfig = { ...PROTOCOL_DEFAULTS, lr: defaultLr(bm, (OPTIMIZERS as readonly unknown[]).includes(partial.optimizer) ? partial.optimizer : 'sgd'), ...stripUndefined(partial), bm };
  if (!(ARCHITECTURES as readonly string[]).includes(c.arch)) throw new ConfigError('arch', c.arch, ARCHITECTURES.map((a) => `'${a}'`).join(', '));
  if (!(DATASETS as readonly string[]).includes(c.dataset)) throw new ConfigError('dataset', c.dataset, DATASETS.map((a) => `'${a}'`).join(', '));
  if (c.arch === 'resnet') {
    const depth = c.depth ?? DEFAULT_RESNET_DEPTH;
    if (!isResnetDepth(depth)) throw new ConfigError('depth', depth, 'a resnet depth 6n+2 with n ≥ 1: 8, 14, 20, 32, 44, 56, 110, …');
    c = { ...c, depth };
  } else if (c.depth !== undefined) {
    throw new ConfigError('depth', c.depth, `no depth: only --arch resnet takes one (arch is ${c.arch})`);
  }
  if (c.optimizer !== undefined) {
    if (!(OPTIMIZERS as readonly string[]).includes(c.optimizer)) throw new ConfigError('optimizer', c.optimizer, OPTIMIZERS.map((a) => `'${a}'`).join(', '));
    if ((c.optimizer as string) === 'sgd') {
      const { optimizer: _sgd, ...rest } = c;
      c = rest;
    }
  }
  const options = methodOptions(methodByName(c.feedback), c.feedbackOptions ?? {});
  const withOptions: RunConfig = options ? { ...c, feedbackOptions: options } : withoutOptions(c);
  if (c.dataDir !== null && (typeof c.dataDir !== 'string' || c.dataDir === '')) throw new ConfigError('data-dir', c.dataDir, 'a directory path');
  if (typeof c.bn !== 'boolean') throw new ConfigError('bn', c.bn, 'true or false');
  if (typeof c.lr !== 'number' || !Number.isFinite(c.lr) || c.lr <= 0) throw new ConfigError('lr', c.lr, 'a finite number > 0');
  if (typeof c.flip !== 'number' || !Number.isFinite(c.flip) || c.flip < 0 || c.flip > 1) throw new ConfigError('flip', c.flip, 'a fraction in [0, 1]');
  if (c.magnitude !== null) parseMagnitudeLaw(c.magnitude);
  if (!Number.isInteger(c.epochs) || c.epochs < 1) throw new ConfigError('epochs', c.epochs, 'a positive integer');
  if (!Number.isInteger(c.seed)) throw new ConfigError('seed', c.seed, 'an integer');
  if (!Number.isInteger(c.batchSize) || c.batchSize < 1) throw new ConfigError('batch-size', c.batchSize, 'a positive integer');
  if (!Number.isFinite(c.momentum) || c.momentum < 0 || c.momentum >= 1) throw new ConfigError('momentum', c.momentum, 'a number in [0, 1)');
  if (!Number.isFinite(c.weightDecay) || c.weightDecay < 0) throw new ConfigError('weight-decay', c.weightDecay, 'a finite number ≥ 0');
  // A strategy's name is written into every result and printed by reports: refused here, before any run.
  const strategy = strategyOf(withOptions);
  if (!isStrategyName(strategy.name)) throw new ConfigError(`strategy name of method ${c.feedback}`, strategy.name, STRATEGY_NAME_RULE);
  return withOptions;
}

function withoutOptions(c: RunConfig): RunConfig {
  const { feedbackOptions: _none, ...rest } = c;
  return rest;
}

/** The feedback strategy a run names (see {@link feedbackByName}). */
export function strategyOf(c: RunConfig): FeedbackStrategy {
  return feedbackByName(c.feedback, { bm: c.bm, flip: c.flip, ...(c.magnitude !== null ? { magnitude: c.magnitude } : {}), ...(c.feedbackOptions ? { options: c.feedbackOptions } : {}) });
}

/** The model's name in labels and run ids: `lenet`, or `resnet20` with the depth. */
export function archLabel(c: Pick<RunConfig, 'arch' | 'depth'>): string {
  return c.arch === 'resnet' ? `resnet${c.depth ?? DEFAULT_RESNET_DEPTH}` : c.arch;
}

/**
 * The fields in which two configurations differ, each as `field: <a> in <where a is>, <b> now`
 * (`optimizer`, absent for SGD, counts as "sgd"): what a refused resume names instead of printing
 * both configurations. `fields` limits the comparison.
 *
 * @example
 * ```ts
 * import { configDifferences, resolveRunConfig } from 'asymprop';
 *
 * const saved = resolveRunConfig({ feedback: 'usf', epochs: 5 });
 * console.log(configDifferences(saved, resolveRunConfig({ feedback: 'usf', epochs: 3 }), 'the checkpoint')); // [ 'epochs: 5 in the checkpoint, 3 now' ]
 * ```
 */
export function configDifferences(a: Partial<RunConfig> | null | undefined, b: RunConfig, where: string, fields?: readonly string[]): string[] {
  const x = (a ?? {}) as Record<string, unknown>, y = b as unknown as Record<string, unknown>;
  const keys = fields ?? [...new Set([...Object.keys(x), ...Object.keys(y)])];
  const shown = (k: string, v: unknown) => JSON.stringify(v === undefined && k === 'optimizer' ? 'sgd' : (v ?? null));
  return keys.filter((k) => shown(k, x[k]) !== shown(k, y[k])).map((k) => `${k}: ${shown(k, x[k])} in ${where}, ${shown(k, y[k])} now`);
}

/** A short label: `lenet+bn bm+brsf lr=0.0001 seed=1`. */
export function runLabel(c: RunConfig): string {
  return `${archLabel(c)}${c.bn ? '+bn' : ''} ${strategyOf(c).name} lr=${c.lr} seed=${c.seed}`;
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
