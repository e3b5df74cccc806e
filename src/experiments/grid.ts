import { ConfigError } from '../errors.js';
import { methods } from '../feedback/registry.js';
import { archLabel, resolveRunConfig, type DatasetName, type RunConfig } from './config.js';

/** The parts of the protocol's grid. */
export const PARTS = ['main', 'sign', 'magnitude', 'transport'] as const;
/**
 * One of {@link PARTS}: `main` (architecture × normalisation × feedback method × learning rate),
 * `sign` (the flip sweep of frSF on the sweep architecture with BN), `magnitude` (brSF's
 * magnitude laws on the same), and `transport` (the weight-transport rules of the `transport`
 * study, bp, usf, brsf, frsf, fa, dfa, kp and wm, on both architectures without and with BN; its
 * records keep the per-epoch alignment statistics).
 */
export type Part = (typeof PARTS)[number];

/** One run of a grid: its configuration, a stable id, and the parts of the grid it belongs to. */
export interface GridRun {
  /** A stable key made from the configuration alone (the same run in two parts has one id). */
  readonly id: string;
  /** The parts of the grid the run belongs to (one, or two for a shared run). */
  readonly parts: readonly Part[];
  /** The run's full configuration. */
  readonly config: RunConfig;
}

/** The named grids. */
export const PRESETS = ['protocol', 'quick', 'transport', 'transport-quick', 'deep', 'deep-quick'] as const;
/**
 * One of {@link PRESETS}: `protocol` (the whole grid of the protocol, 232 runs on Fashion-MNIST),
 * `quick` (a reduced grid of 56 runs on the embedded digits), `transport` (the weight-transport
 * comparison, 64 runs on Fashion-MNIST), `transport-quick` (the same 64 configurations on the
 * embedded digits, 3 epochs), `deep` (bp, usf, brsf, frsf, fa, dfa and kp on ResNet-20 with BN,
 * Fashion-MNIST, 2 seeds, 5 epochs: 14 runs of about 2 core-hours each, to spread with `--shard`)
 * or `deep-quick` (the same rules on ResNet-8 on the embedded digits, 1 seed, 1 epoch).
 */
export type Preset = (typeof PRESETS)[number];

/** Choices that shrink or move a preset's grid. */
export interface GridOptions {
  /** Run on this dataset instead of the preset's. */
  dataset?: DatasetName;
  /** Where the dataset's files are (default: its default place). */
  dataDir?: string | null;
  /** Seeds (default: the preset's). */
  seeds?: readonly number[];
  /** Epochs per run (default: the preset's). */
  epochs?: number;
  /** Keep only these parts. */
  only?: readonly Part[];
  /** Train every run with this optimizer instead of SGD (at the preset's learning rates). */
  optimizer?: 'sgd' | 'adam' | 'rmsprop';
  /** The feedback methods of the main and transport parts instead of the preset's (registered names, a user's included). */
  methods?: readonly string[];
  /** Keep only the runs this accepts (for scripts and tests that want a handful of runs). */
  filter?: (run: GridRun) => boolean;
}

/** The protocol's learning-rate grid: {0.1, 0.01} without Batch Manhattan, {1e-3, 1e-4} with it. */
export const LR_GRID = {
  /** Learning rates of the gradient update. */
  plain: [0.1, 0.01],
  /** Learning rates of the Batch Manhattan update. */
  bm: [1e-3, 1e-4],
} as const;
/** One of the {@link NORMALISATIONS}' names: `none`, `BN`, `BM`, `BN+BM`. */
export type NormalisationName = 'none' | 'BN' | 'BM' | 'BN+BM';
/**
 * The protocol's normalisation settings, the rows of the main part's tables: each a `name`, whether
 * it adds Batch Normalization (`bn`) and whether it uses the Batch Manhattan update (`bm`).
 */
export const NORMALISATIONS: readonly {
  /** The setting's name: its row in the tables, and its part of a {@link runId}. */
  readonly name: NormalisationName;
  /** Whether the model has Batch Normalization after every conv and hidden dense layer ({@link RunConfig.bn}). */
  readonly bn: boolean;
  /** Whether training uses the Batch Manhattan update, each gradient replaced by its sign ({@link RunConfig.bm}). */
  readonly bm: boolean;
}[] = [
  { name: 'none', bn: false, bm: false },
  { name: 'BN', bn: true, bm: false },
  { name: 'BM', bn: false, bm: true },
  { name: 'BN+BM', bn: true, bm: true },
];
const ALL_NORMS: readonly NormalisationName[] = NORMALISATIONS.map((n) => n.name);
/** The feedback methods of the protocol's main part, the columns of its tables: the registry's `protocol` study. */
export const METHODS: readonly string[] = methods('protocol').map((m) => m.name);
/** The sign part's fractions of flipped feedback signs (frSF, with BN, without and with BM). */
export const FLIPS = [0, 0.1, 0.25, 0.5, 0.75, 1] as const;
/** The magnitude part's laws of brSF's magnitudes (with BN, without and with BM). */
export const MAGNITUDES = ['uniform', 'abs-normal', 'lognormal', 'const-10', 'const-0.1'] as const;

/** The normalisation name of a configuration. */
export function normalisationOf(c: Pick<RunConfig, 'bn' | 'bm'>): NormalisationName {
  return c.bn ? (c.bm ? 'BN+BM' : 'BN') : c.bm ? 'BM' : 'none';
}

/** A stable id: every field that changes the run, in a fixed order. */
export function runId(c: RunConfig): string {
  return [
    c.dataset,
    archLabel(c),
    normalisationOf(c),
    c.feedback,
    `flip=${c.flip}`,
    `mag=${c.magnitude ?? 'default'}`,
    ...(c.feedbackOptions ? [`opts=${Object.entries(c.feedbackOptions).map(([k, v]) => `${k}=${v}`).join(',')}`] : []),
    `lr=${c.lr}`,
    `epochs=${c.epochs}`,
    `batch=${c.batchSize}`,
    ...(c.optimizer ? [`optimizer=${c.optimizer}`] : []),
    `momentum=${c.momentum}`,
    `wd=${c.weightDecay}`,
    `seed=${c.seed}`,
  ].join('/');
}

/** `mlp`, `lenet` or `resnet20` as a run configuration's arch (and depth). */
function archOf(label: string): Pick<RunConfig, 'arch' | 'depth'> {
  const m = /^resnet(\d+)$/.exec(label);
  return m ? { arch: 'resnet', depth: Number(m[1]) } : { arch: label as RunConfig['arch'] };
}

interface PresetSpec {
  dataset: DatasetName;
  epochs: number;
  seeds: number[];
  /** The main part's blocks: an architecture with the methods and normalisations it runs. */
  main: readonly { arch: 'mlp' | 'lenet'; methods: readonly string[]; norms: readonly NormalisationName[] }[];
  /** Learning rates per update rule (the protocol's grid, or a reduced one). */
  lrs: { plain: readonly number[]; bm: readonly number[] };
  /** Architecture of the sign and magnitude parts (the protocol's lenet). */
  sweepArch: 'mlp' | 'lenet';
  flips: readonly number[];
  magnitudes: readonly string[];
  /** The transport part: the registry's `transport` study on these architectures and normalisations. */
  transport?: {
    /** Architectures: `mlp`, `lenet`, or `resnet<depth>` (`resnet20`). */
    archs: readonly string[];
    norms: readonly NormalisationName[];
    /** The rules (default: the registry's transport study). */
    methods?: readonly string[];
  };
}

const TRANSPORT: PresetSpec = {
  dataset: 'fashion-mnist',
  epochs: 10,
  seeds: [1, 2],
  main: [],
  lrs: { plain: [0.01], bm: [1e-3] },
  sweepArch: 'lenet',
  flips: [],
  magnitudes: [],
  transport: { archs: ['mlp', 'lenet'], norms: ['none', 'BN'] },
};

const DEEP: PresetSpec = {
  ...TRANSPORT,
  epochs: 5,
  transport: { archs: ['resnet20'], norms: ['BN'], methods: ['bp', 'usf', 'brsf', 'frsf', 'fa', 'dfa', 'kp'] },
};

const PRESET_SPECS: Record<Preset, PresetSpec> = {
  protocol: {
    dataset: 'fashion-mnist',
    epochs: 10,
    seeds: [1, 2],
    main: [
      { arch: 'mlp', methods: METHODS, norms: ALL_NORMS },
      { arch: 'lenet', methods: METHODS, norms: ALL_NORMS },
    ],
    lrs: LR_GRID,
    sweepArch: 'lenet',
    flips: FLIPS,
    magnitudes: MAGNITUDES,
  },
  // A reduced grid on the embedded digits that runs in a few minutes on 2 cores: one seed, one
  // learning rate per update rule, 3 epochs; the whole main part on both architectures, and the
  // sweeps on the mlp.
  quick: {
    dataset: 'mnist-embedded',
    epochs: 3,
    seeds: [1],
    main: [
      { arch: 'mlp', methods: METHODS, norms: ALL_NORMS },
      { arch: 'lenet', methods: METHODS, norms: ALL_NORMS },
    ],
    lrs: { plain: [0.01], bm: [1e-3] },
    sweepArch: 'mlp',
    flips: [0, 0.25, 0.5, 0.75, 1],
    magnitudes: MAGNITUDES,
  },
  // The weight-transport comparison: every rule of the registry's transport study on both
  // architectures, without and with BN (no BM: its learning rates are another axis), 2 seeds, at
  // the one learning rate (0.01) at which every rule trains the mlp without BN.
  transport: TRANSPORT,
  // The same configurations on the embedded digits, 3 epochs.
  'transport-quick': { ...TRANSPORT, dataset: 'mnist-embedded', epochs: 3, sweepArch: 'mlp' },
  // The rules at depth: the paper's question on a residual network, where the peers find
  // sign-concordant feedback close to backprop and random feedback far behind. Weight mirrors are
  // left out (the slowest rule, and the peers do not run it); the learning rate is the transport
  // preset's.
  deep: DEEP,
  'deep-quick': { ...DEEP, dataset: 'mnist-embedded', epochs: 1, seeds: [1], transport: { ...DEEP.transport!, archs: ['resnet8'] } },
};

/**
 * The runs of a preset, in a fixed order, each listed once (a run shared by two parts, such as the
 * main part's lenet/BN/frsf and the sign part's flip 0, carries both part names).
 *
 * Every run is crossed with the preset's seeds and with its learning rates for the run's update
 * rule ({@link LR_GRID} in the protocol). `asymprop reproduce --dry-run` prints this list.
 *
 * @throws {@link ConfigError} for an unknown preset or part, no seeds, or options that make an
 * invalid run configuration.
 *
 * @example
 * ```ts
 * import { gridFor, shardOf } from 'asymprop';
 *
 * const grid = gridFor('protocol');
 * console.log(grid.length, grid.filter((r) => r.config.arch === 'lenet').length); // 232 152
 * console.log(grid[0]!.id); // fashion-mnist/mlp/none/bp/flip=0/mag=default/lr=0.1/epochs=10/batch=100/momentum=0.9/wd=0.0001/seed=1
 * console.log(shardOf(grid, { index: 1, count: 16 }).length); // 15: runs 1, 17, 33, …
 * ```
 */
export function gridFor(preset: Preset, options: GridOptions = {}): GridRun[] {
  const spec = PRESET_SPECS[preset];
  if (!spec) throw new ConfigError('preset', preset, PRESETS.map((p) => `'${p}'`).join(', '));
  const only = options.only ?? PARTS;
  for (const p of only) if (!(PARTS as readonly string[]).includes(p)) throw new ConfigError('only', p, PARTS.map((x) => `'${x}'`).join(', '));
  const seeds = options.seeds ?? spec.seeds;
  if (seeds.length === 0) throw new ConfigError('seeds', seeds, 'at least one integer seed');
  const base = {
    dataset: options.dataset ?? spec.dataset,
    dataDir: options.dataDir ?? null,
    epochs: options.epochs ?? spec.epochs,
    ...(options.optimizer !== undefined ? { optimizer: options.optimizer as RunConfig['optimizer'] } : {}),
  };
  const runs = new Map<string, { parts: Part[]; config: RunConfig }>();
  const add = (part: Part, partial: Partial<RunConfig>) => {
    for (const seed of seeds) {
      const bm = partial.bm ?? false;
      for (const lr of bm ? spec.lrs.bm : spec.lrs.plain) {
        const config = resolveRunConfig({ ...base, ...partial, lr, seed });
        const id = runId(config);
        const entry = runs.get(id);
        if (entry) {
          if (!entry.parts.includes(part)) entry.parts.push(part);
        } else {
          runs.set(id, { parts: [part], config });
        }
      }
    }
  };
  if (only.includes('main')) {
    for (const { arch, methods, norms } of spec.main) {
      for (const norm of NORMALISATIONS.filter((n) => norms.includes(n.name))) {
        for (const feedback of options.methods ?? methods) add('main', { arch, bn: norm.bn, bm: norm.bm, feedback });
      }
    }
  }
  if (only.includes('sign')) {
    for (const bm of [false, true]) for (const flip of spec.flips) add('sign', { arch: spec.sweepArch, bn: true, bm, feedback: 'frsf', flip });
  }
  if (only.includes('magnitude')) {
    for (const bm of [false, true]) for (const magnitude of spec.magnitudes) add('magnitude', { arch: spec.sweepArch, bn: true, bm, feedback: 'brsf', magnitude: magnitude === 'uniform' ? null : magnitude });
  }
  if (only.includes('transport') && spec.transport) {
    for (const label of spec.transport.archs) {
      const model = archOf(label);
      for (const norm of NORMALISATIONS.filter((n) => spec.transport!.norms.includes(n.name))) {
        for (const feedback of options.methods ?? spec.transport.methods ?? methods('transport').map((m) => m.name)) add('transport', { ...model, bn: norm.bn, bm: norm.bm, feedback });
      }
    }
  }
  const all = [...runs].map(([id, { parts, config }]) => ({ id, parts, config }));
  return options.filter ? all.filter(options.filter) : all;
}

/** Parses `i/n` (1 ≤ i ≤ n), the command line's `--shard`; throws a {@link ConfigError} otherwise. */
export function parseShard(text: string): {
  /** i, 1-based. */
  index: number;
  /** n, the number of shards. */
  count: number;
} {
  const m = /^(\d+)\/(\d+)$/.exec(text);
  const index = m ? Number(m[1]) : NaN, count = m ? Number(m[2]) : NaN;
  if (!m || count < 1 || index < 1 || index > count) throw new ConfigError('shard', text, "'i/n' with 1 ≤ i ≤ n, e.g. '2/8'");
  return { index, count };
}

/**
 * Shard `index` of `count` (1-based): every count-th run of the grid, starting with run `index`
 * (array position `index − 1`). The `count` shards are disjoint and together hold every run once;
 * their sizes differ by at most one.
 */
export function shardOf<T>(runs: readonly T[], shard: { index: number; count: number }): T[] {
  return runs.filter((_, i) => i % shard.count === shard.index - 1);
}

/** The {@link GridOptions} that shape a grid's run list, and so its identity; each is also the name of its `reproduce` flag. */
export const GRID_IDENTITY_OPTIONS = ['dataset', 'seeds', 'epochs', 'only', 'optimizer', 'methods'] as const;

/**
 * What a grid's results need to know about the grid they came from, so that a report of them can
 * tell which runs are missing: the preset, the options that shape its run list, how many runs it
 * has, and the shard, if the records came from one. Every record of `asymprop reproduce` carries
 * it (as `grid`); a grid made with a `filter` has no identity (its run list cannot be rebuilt).
 */
export interface GridIdentity {
  /** The preset. */
  readonly preset: Preset;
  /** The options that shape its run list (those given; defaults left out). */
  readonly options: Pick<GridOptions, (typeof GRID_IDENTITY_OPTIONS)[number]>;
  /** How many runs the whole grid has (every shard together). */
  readonly runs: number;
  /** The shard the records came from (1-based), if any. */
  readonly shard?: {
    /** The shard's number, 1 to `count`. */
    index: number;
    /** The number of shards. */
    count: number;
  };
}

/** The {@link GridIdentity} of a grid (of one of its shards), or null for a grid made with a `filter`. */
export function gridIdentity(preset: Preset, options: GridOptions, runs: number, shard?: { index: number; count: number }): GridIdentity | null {
  if (options.filter) return null;
  // The same grid spelled two ways (`--only sign,main`, `--epochs 3` on a 3-epoch preset) is one identity.
  const spec = PRESET_SPECS[preset];
  const kept: Record<string, unknown> = {};
  if (options.dataset !== undefined && options.dataset !== spec.dataset) kept['dataset'] = options.dataset;
  if (options.seeds !== undefined && options.seeds.join() !== spec.seeds.join()) kept['seeds'] = [...options.seeds];
  if (options.epochs !== undefined && options.epochs !== spec.epochs) kept['epochs'] = options.epochs;
  if (options.only !== undefined && PARTS.some((p) => !options.only!.includes(p))) kept['only'] = PARTS.filter((p) => options.only!.includes(p));
  if (options.optimizer !== undefined) kept['optimizer'] = options.optimizer;
  if (options.methods !== undefined) kept['methods'] = [...options.methods];
  return { preset, options: kept as GridIdentity['options'], runs, ...(shard ? { shard: { index: shard.index, count: shard.count } } : {}) };
}

/** The grid's options as `asymprop reproduce` flags, e.g. `--preset quick --epochs 1`. */
export function gridFlags(grid: Pick<GridIdentity, 'preset' | 'options'>): string {
  const flags = [`--preset ${grid.preset}`];
  for (const key of GRID_IDENTITY_OPTIONS) {
    const value: unknown = grid.options[key];
    if (value !== undefined) flags.push(`--${key} ${Array.isArray(value) ? value.join(',') : String(value)}`);
  }
  return flags.join(' ');
}
