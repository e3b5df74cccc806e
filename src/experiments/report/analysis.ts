/**
 * The analysis of a grid's results: the records grouped into settings (dataset and training
 * schedule), a table per part of the grid with every cell's runs and best learning rate, and the
 * findings judged from them.
 */
import { gridCoverage, type GridCoverage } from './coverage.js';
import { methods } from '../../feedback/registry.js';
import { ARCHITECTURES } from '../config.js';
import { MAGNITUDES, METHODS, normalisationOf } from '../grid.js';
import { mergeRecords, type ResultRecord } from '../results.js';
import { judgeFindings, type Finding } from './findings.js';
import { NORM_ORDER, SWEEP_ROWS, byString, cellKey, mean, ordered, unique } from './util.js';

/** One run of a cell at one learning rate. */
export interface SeedRun {
  /** The run's seed. */
  readonly seed: number;
  /** Test accuracy in percent; null when the run diverged or has no test accuracy. */
  readonly accuracy: number | null;
  /** Whether the run diverged (its loss or a weight became non-finite). */
  readonly diverged: boolean;
  /** The epoch (1-based) in which the run diverged; null when it did not. */
  readonly divergedEpoch: number | null;
  /** The run's per-epoch numbers, as in its record. */
  readonly history: ResultRecord['history'];
}

/** The runs of a cell at one learning rate. */
export interface LrResult {
  /** The learning rate (of the first 70% of the epochs). */
  readonly lr: number;
  /** Sorted by seed. */
  readonly runs: readonly SeedRun[];
  /** Mean accuracy (percent) over the runs that did not diverge; null if none did. */
  readonly mean: number | null;
  /** How many of the runs diverged. */
  readonly divergedCount: number;
}

/** One cell of a table: every learning rate and seed of one configuration. */
export interface Cell {
  /** Sorted by learning rate, largest first. */
  readonly lrs: readonly LrResult[];
  /**
   * The learning rate the table reports: the one with the smallest fraction of diverged seeds, then
   * the highest mean accuracy, then the larger rate; null when no learning rate has an accuracy.
   */
  readonly best: LrResult | null;
  /** The number of runs in the cell, over all its learning rates and seeds. */
  readonly runCount: number;
  /** Whether the cell has runs and every one of them diverged. */
  readonly allDiverged: boolean;
}

/** A cell's number for the findings: best-lr mean accuracy (percent), `'diverged'`, or null (no runs). */
export type Score = number | 'diverged' | null;

/**
 * One table of a part of the grid: rows are normalisation settings ({@link asymprop!NormalisationName}),
 * columns are feedback methods (main part), flipped fractions (sign part) or magnitude laws
 * (magnitude part).
 */
export interface Table {
  /** The part of the grid the table shows. */
  readonly part: 'main' | 'sign' | 'magnitude';
  /** The architecture of every run in the table. */
  readonly arch: string;
  /** The feedback method of every run in a sign or magnitude table (`frsf`, `brsf`); empty in a main table, whose columns are the methods. */
  readonly method: string;
  /** The table's heading, e.g. `Main part: mlp` or `Sign concordance: lenet, frsf`. */
  readonly title: string;
  /** Header of the first column, e.g. `normalisation \ method`. */
  readonly corner: string;
  /** The rows' names, in the order shown: the protocol's normalisations, then any others found, sorted. */
  readonly rows: readonly string[];
  /** The columns' keys, in the order shown: methods, flipped fractions (`'0.25'`) or magnitude laws. */
  readonly cols: readonly string[];
  /** The columns' headers, one per key of `cols` (`flip 0.25` for a sign table; the key itself otherwise). */
  readonly colLabels: readonly string[];
  /** The cells that have runs, keyed by row name and column key joined by a NUL character (`${row}\u0000${col}`). */
  readonly cells: ReadonlyMap<string, Cell>;
  /**
   * Learning rates to list per row, largest first: the setting's rates for the row's update rule
   * (gradient or Batch Manhattan), expected in every cell, and any other rate found in the row.
   */
  readonly rowLrs: ReadonlyMap<string, readonly number[]>;
  /** The cells without any run, each as `<row> <column header>`. */
  readonly missingCells: readonly string[];
  /** How many of the `expectedRuns` are absent from the results. */
  readonly missingRuns: number;
  /** The runs a complete table holds: for every cell, each of its row's learning rates with each of the setting's seeds. */
  readonly expectedRuns: number;
}

/** The runs sharing a dataset and training schedule; each gets its own tables and findings. */
export interface Setting {
  /** The setting in words, for headings: `fashion-mnist, 10 epochs`, plus the batch size, momentum and weight decay when not the protocol's. */
  readonly label: string;
  /** The label as a file-name part (`fashion-mnist-10ep`), added to figure names when a report has several settings. */
  readonly slug: string;
  /** The setting's records, sorted by id. */
  readonly records: readonly ResultRecord[];
  /** The seeds found in the records, ascending: every cell is expected to hold each of them. */
  readonly seeds: readonly number[];
  /** The main part's tables, one per architecture. */
  readonly main: readonly Table[];
  /** The sign part's tables, one per architecture and feedback method. */
  readonly sign: readonly Table[];
  /** The magnitude part's tables, one per architecture and feedback method. */
  readonly magnitude: readonly Table[];
  /** Records that belong to no table (e.g. a main-part run with a flip). */
  readonly unplaced: number;
  /** The verdicts on the paper's four findings, judged from this setting's tables. */
  readonly findings: readonly Finding[];
}

/** What {@link analyseResults} finds in a list of records. */
export interface ResultsAnalysis {
  /**
   * One entry per setting (dataset, epochs, batch size, momentum and weight decay) found in the
   * records, each with its tables (`main`, `sign`, `magnitude`) and its four `findings`.
   */
  readonly settings: readonly Setting[];
  /** The records, one per id, sorted by id. */
  readonly records: readonly ResultRecord[];
  /** Ids that appeared more than once, each listed once, sorted (the first record was kept). */
  readonly duplicates: readonly string[];
  /** For every grid the records name, which of its runs they hold ({@link gridCoverage}; none for older records). */
  readonly coverage: readonly GridCoverage[];
}

/** The registered method name of a feedback name (its aliases: `symmetric` is bp, `random` is fa). */
function methodOf(feedback: string): string {
  return methods().find((m) => m.aliases.includes(feedback))?.name ?? feedback;
}

/** The best learning rate of a cell: fewest diverged seeds first, then highest mean, then the larger rate. */
function pickBest(lrs: readonly LrResult[]): LrResult | null {
  const candidates = lrs.filter((l) => l.mean !== null);
  candidates.sort((a, b) => a.divergedCount / a.runs.length - b.divergedCount / b.runs.length || b.mean! - a.mean! || b.lr - a.lr);
  return candidates[0] ?? null;
}

function makeCell(records: readonly ResultRecord[]): Cell {
  const byLr = new Map<number, SeedRun[]>();
  for (const r of records) {
    const run: SeedRun = {
      seed: r.config.seed,
      accuracy: r.diverged || r.testAccuracy === null ? null : r.testAccuracy * 100,
      diverged: r.diverged,
      divergedEpoch: r.divergedAt?.epoch ?? null,
      history: r.history,
    };
    const list = byLr.get(r.config.lr) ?? [];
    list.push(run);
    byLr.set(r.config.lr, list);
  }
  const lrs: LrResult[] = [...byLr]
    .sort(([a], [b]) => b - a)
    .map(([lr, runs]) => {
      runs.sort((a, b) => a.seed - b.seed);
      const ok = runs.flatMap((r) => (r.accuracy === null ? [] : [r.accuracy]));
      return { lr, runs, mean: ok.length > 0 ? mean(ok) : null, divergedCount: runs.filter((r) => r.diverged).length };
    });
  return { lrs, best: pickBest(lrs), runCount: records.length, allDiverged: records.length > 0 && records.every((r) => r.diverged) };
}

interface TableSpec {
  part: Table['part'];
  arch: string;
  method: string;
  title: string;
  corner: string;
  rowOrder: readonly string[];
  colOrder: readonly string[];
  rowOf: (r: ResultRecord) => string;
  colOf: (r: ResultRecord) => string;
  colLabel: (col: string) => string;
}

function buildTable(spec: TableSpec, records: readonly ResultRecord[], lrsFor: (row: string) => readonly number[], seeds: readonly number[]): Table {
  const groups = new Map<string, ResultRecord[]>();
  for (const r of records) {
    const key = cellKey(spec.rowOf(r), spec.colOf(r));
    const list = groups.get(key) ?? [];
    list.push(r);
    groups.set(key, list);
  }
  const rows = ordered(spec.rowOrder, records.map(spec.rowOf));
  const cols = ordered(spec.colOrder, records.map(spec.colOf));
  const cells = new Map<string, Cell>();
  const rowLrs = new Map<string, readonly number[]>();
  const missingCells: string[] = [];
  let missingRuns = 0;
  let expectedRuns = 0;
  for (const row of rows) {
    const lrs = new Set(lrsFor(row));
    for (const col of cols) {
      const list = groups.get(cellKey(row, col)) ?? [];
      for (const r of list) lrs.add(r.config.lr);
    }
    const lrList = [...lrs].sort((a, b) => b - a);
    rowLrs.set(row, lrList);
    for (const col of cols) {
      const list = groups.get(cellKey(row, col)) ?? [];
      if (list.length === 0) missingCells.push(`${row} ${spec.colLabel(col)}`);
      else cells.set(cellKey(row, col), makeCell(list));
      const have = new Set(list.map((r) => `${r.config.lr}/${r.config.seed}`));
      for (const lr of lrList) {
        for (const seed of seeds) {
          expectedRuns++;
          if (!have.has(`${lr}/${seed}`)) missingRuns++;
        }
      }
    }
  }
  return {
    part: spec.part,
    arch: spec.arch,
    method: spec.method,
    title: spec.title,
    corner: spec.corner,
    rows,
    cols,
    colLabels: cols.map(spec.colLabel),
    cells,
    rowLrs,
    missingCells,
    missingRuns,
    expectedRuns,
  };
}

function groupBy<T>(xs: readonly T[], key: (x: T) => string): Map<string, T[]> {
  const m = new Map<string, T[]>();
  for (const x of xs) {
    const k = key(x);
    const list = m.get(k) ?? [];
    list.push(x);
    m.set(k, list);
  }
  return m;
}

const archOrder = (archs: Iterable<string>): string[] => ordered(ARCHITECTURES, archs, false);
const magnitudeOf = (r: ResultRecord): string => r.config.magnitude ?? 'uniform';

function buildSetting(label: string, slug: string, records: readonly ResultRecord[]): Setting {
  const seeds = unique(records.map((r) => r.config.seed)).sort((a, b) => a - b);
  const lrsPlain = unique(records.filter((r) => !r.config.bm).map((r) => r.config.lr));
  const lrsBm = unique(records.filter((r) => r.config.bm).map((r) => r.config.lr));
  const lrsFor = (row: string) => (row === 'BM' || row === 'BN+BM' ? lrsBm : lrsPlain);
  const placed = new Set<ResultRecord>();
  const inPart = (part: Table['part'], fits: (r: ResultRecord) => boolean): ResultRecord[] => {
    const rs = records.filter((r) => r.parts.includes(part) && fits(r));
    for (const r of rs) placed.add(r);
    return rs;
  };

  const mainRecords = inPart('main', (r) => r.config.flip === 0 && r.config.magnitude === null);
  const mainGroups = groupBy(mainRecords, (r) => r.config.arch);
  const main = archOrder(mainGroups.keys()).map((arch) => [arch, mainGroups.get(arch)!] as const).map(([arch, rs]) =>
    buildTable(
      {
        part: 'main',
        arch,
        method: '',
        title: `Main part: ${arch}`,
        corner: 'normalisation \\ method',
        rowOrder: NORM_ORDER,
        colOrder: METHODS,
        rowOf: (r) => normalisationOf(r.config),
        colOf: (r) => methodOf(r.config.feedback),
        colLabel: (c) => c,
      },
      rs,
      lrsFor,
      seeds,
    ),
  );

  const sweepTables = (part: 'sign' | 'magnitude', fits: (r: ResultRecord) => boolean): Table[] => {
    const rs = inPart(part, fits);
    const groups = [...groupBy(rs, (r) => `${r.config.arch}\u0000${methodOf(r.config.feedback)}`)];
    const archs = archOrder(rs.map((r) => r.config.arch));
    groups.sort(([a], [b]) => archs.indexOf(a.split('\u0000')[0]!) - archs.indexOf(b.split('\u0000')[0]!) || byString(a, b));
    return groups.map(([key, group]) => {
      const [arch, method] = key.split('\u0000') as [string, string];
      const flips = unique(group.map((r) => r.config.flip)).sort((a, b) => a - b).map(String);
      return buildTable(
        part === 'sign'
          ? {
              part,
              arch,
              method,
              title: `Sign concordance: ${arch}, ${method}`,
              corner: 'normalisation \\ flip',
              rowOrder: SWEEP_ROWS,
              colOrder: flips,
              rowOf: (r) => normalisationOf(r.config),
              colOf: (r) => String(r.config.flip),
              colLabel: (c) => `flip ${c}`,
            }
          : {
              part,
              arch,
              method,
              title: `Magnitude laws: ${arch}, ${method}`,
              corner: 'normalisation \\ law',
              rowOrder: SWEEP_ROWS,
              colOrder: MAGNITUDES,
              rowOf: (r) => normalisationOf(r.config),
              colOf: magnitudeOf,
              colLabel: (c) => c,
            },
        group,
        lrsFor,
        seeds,
      );
    });
  };
  const sign = sweepTables('sign', (r) => r.config.magnitude === null);
  const magnitude = sweepTables('magnitude', (r) => r.config.flip === 0);
  const unplaced = records.filter((r) => !placed.has(r) && !r.parts.includes('transport')).length; // the transport part has its own section
  const findings = judgeFindings(main, sign, magnitude);
  return { label, slug, records, seeds, main, sign, magnitude, unplaced, findings };
}

/**
 * Groups the records (deduplicated by id) into settings (dataset and training schedule), builds the
 * tables of each part and judges the findings. Pure and synchronous; `renderReport` renders it.
 *
 * @example
 * ```ts
 * import { readFileSync } from 'node:fs';
 * import { parseResults } from 'asymprop';
 * import { analyseResults } from 'asymprop/report';
 *
 * const { records } = parseResults(readFileSync('docs/results/quick/results.jsonl', 'utf8'), 'results.jsonl');
 * for (const f of analyseResults(records).settings[0]?.findings ?? []) console.log(f.sentence);
 * ```
 */
export function analyseResults(records: readonly ResultRecord[]): ResultsAnalysis {
  const { records: merged, duplicates } = mergeRecords([records]);
  merged.sort((a, b) => byString(a.id, b.id));
  const settingKey = (r: ResultRecord) => {
    const c = r.config;
    return JSON.stringify([c.dataset, c.epochs, c.batchSize, c.momentum, c.weightDecay]);
  };
  const groups = [...groupBy(merged, settingKey)].sort(([a], [b]) => byString(a, b));
  const settings = groups.map(([, rs]) => {
    const c = rs[0]!.config;
    const extras = [c.batchSize !== 100 ? `batch ${c.batchSize}` : '', c.momentum !== 0.9 ? `momentum ${c.momentum}` : '', c.weightDecay !== 1e-4 ? `weight decay ${c.weightDecay}` : ''].filter(Boolean);
    const label = [`${c.dataset}`, `${c.epochs} epoch${c.epochs === 1 ? '' : 's'}`, ...extras].join(', ');
    const slug = [c.dataset, `${c.epochs}ep`, ...(extras.length ? [`b${c.batchSize}-m${c.momentum}-wd${c.weightDecay}`] : [])].join('-').replace(/[^a-zA-Z0-9.-]+/g, '-');
    return buildSetting(label, slug, rs);
  });
  return { settings, records: merged, duplicates: [...new Set(duplicates)].sort(byString), coverage: gridCoverage(merged) };
}
