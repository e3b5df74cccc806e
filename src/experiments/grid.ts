import { ConfigError } from '../errors.js';
import { resolveRunConfig, type DatasetName, type RunConfig } from './config.js';

/** The parts of the protocol's grid. */
export const PARTS = ['main', 'sign', 'magnitude'] as const;
export type Part = (typeof PARTS)[number];

/** One run of a grid: its configuration, a stable id, and the parts of the grid it belongs to. */
export interface GridRun {
  /** A stable key made from the configuration alone (the same run in two parts has one id). */
  readonly id: string;
  readonly parts: readonly Part[];
  readonly config: RunConfig;
}

/** The named grids. */
export const PRESETS = ['protocol', 'quick'] as const;
export type Preset = (typeof PRESETS)[number];

/** Choices that shrink or move a preset's grid. */
export interface GridOptions {
  dataset?: DatasetName;
  dataDir?: string | null;
  /** Seeds (default: the preset's). */
  seeds?: readonly number[];
  /** Epochs per run (default: the preset's). */
  epochs?: number;
  /** Keep only these parts. */
  only?: readonly Part[];
  /** Keep only the runs this accepts (for scripts and tests that want a handful of runs). */
  filter?: (run: GridRun) => boolean;
}

/** The protocol's learning-rate grid: {0.1, 0.01} without Batch Manhattan, {1e-3, 1e-4} with it. */
export const LR_GRID = { plain: [0.1, 0.01], bm: [1e-3, 1e-4] } as const;
/** The protocol's normalisation settings. */
export const NORMALISATIONS = [
  { name: 'none', bn: false, bm: false },
  { name: 'BN', bn: true, bm: false },
  { name: 'BM', bn: false, bm: true },
  { name: 'BN+BM', bn: true, bm: true },
] as const;
export type NormalisationName = (typeof NORMALISATIONS)[number]['name'];
const ALL_NORMS: readonly NormalisationName[] = NORMALISATIONS.map((n) => n.name);
export const METHODS = ['bp', 'usf', 'brsf', 'frsf', 'fa'] as const;
export const FLIPS = [0, 0.1, 0.25, 0.5, 0.75, 1] as const;
export const MAGNITUDES = ['uniform', 'abs-normal', 'lognormal', 'const-10', 'const-0.1'] as const;

/** The normalisation name of a configuration. */
export function normalisationOf(c: Pick<RunConfig, 'bn' | 'bm'>): NormalisationName {
  return c.bn ? (c.bm ? 'BN+BM' : 'BN') : c.bm ? 'BM' : 'none';
}

/** A stable id: every field that changes the run, in a fixed order. */
export function runId(c: RunConfig): string {
  return [
    c.dataset,
    c.arch,
    normalisationOf(c),
    c.feedback,
    `flip=${c.flip}`,
    `mag=${c.magnitude ?? 'default'}`,
    `lr=${c.lr}`,
    `epochs=${c.epochs}`,
    `batch=${c.batchSize}`,
    `momentum=${c.momentum}`,
    `wd=${c.weightDecay}`,
    `seed=${c.seed}`,
  ].join('/');
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
}

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
  // learning rate per update rule, 3 epochs; the whole main part on the mlp, lenet without and
  // with BN under bp and uSF, and the sweeps on the mlp with BN.
  quick: {
    dataset: 'mnist-embedded',
    epochs: 3,
    seeds: [1],
    main: [
      { arch: 'mlp', methods: METHODS, norms: ALL_NORMS },
      { arch: 'lenet', methods: ['bp', 'usf'], norms: ['none', 'BN'] },
    ],
    lrs: { plain: [0.01], bm: [1e-3] },
    sweepArch: 'mlp',
    flips: [0, 0.25, 0.5, 0.75, 1],
    magnitudes: MAGNITUDES,
  },
};

/**
 * The runs of a preset, in a fixed order, each listed once (a run shared by two parts, such as the
 * main part's lenet/BN/frsf and the sign part's flip 0, carries both part names).
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
        for (const feedback of methods) add('main', { arch, bn: norm.bn, bm: norm.bm, feedback });
      }
    }
  }
  if (only.includes('sign')) {
    for (const bm of [false, true]) for (const flip of spec.flips) add('sign', { arch: spec.sweepArch, bn: true, bm, feedback: 'frsf', flip });
  }
  if (only.includes('magnitude')) {
    for (const bm of [false, true]) for (const magnitude of spec.magnitudes) add('magnitude', { arch: spec.sweepArch, bn: true, bm, feedback: 'brsf', magnitude: magnitude === 'uniform' ? null : magnitude });
  }
  const all = [...runs].map(([id, { parts, config }]) => ({ id, parts, config }));
  return options.filter ? all.filter(options.filter) : all;
}

/** Parses `i/n` (1 ≤ i ≤ n). */
export function parseShard(text: string): { index: number; count: number } {
  const m = /^(\d+)\/(\d+)$/.exec(text);
  const index = m ? Number(m[1]) : NaN, count = m ? Number(m[2]) : NaN;
  if (!m || count < 1 || index < 1 || index > count) throw new ConfigError('shard', text, "'i/n' with 1 ≤ i ≤ n, e.g. '2/8'");
  return { index, count };
}

/** Shard `index` of `count` (1-based): every count-th run of the grid, starting at index − 1. */
export function shardOf<T>(runs: readonly T[], shard: { index: number; count: number }): T[] {
  return runs.filter((_, i) => i % shard.count === shard.index - 1);
}
