/**
 * The report of a grid's results: tables for each part of the protocol's grid, figures (SVG, drawn
 * with Vega-Lite), and a verdict on each of the paper's four findings computed from the numbers by
 * fixed, documented rules ({@link FINDING_THRESHOLDS}).
 *
 * Everything here is a pure function of the records (and the options): the same records give a
 * byte-identical report. Writing it to disk is `writeReport` in `./writeReport.ts`.
 */
import * as vega from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';
import { ARCHITECTURES } from './config.js';
import { MAGNITUDES, METHODS, NORMALISATIONS, normalisationOf, type NormalisationName } from './grid.js';
import { mergeRecords, type ResultRecord } from './results.js';

/** What the report says about how it was made. */
export interface ReportOptions {
  /** The report's title (default: the library's reproduction title). */
  title?: string;
  /** The command that produced the results. */
  command?: string;
  /** A description of the machine (cores, memory, Node version). */
  machine?: string;
  /** Wall time of the whole grid in seconds. */
  wallSeconds?: number;
  /** Where the runs departed from the protocol, one item each. */
  deviations?: readonly string[];
}

/** A rendered report: the markdown text and its figures (file name → SVG text). */
export interface RenderedReport {
  readonly markdown: string;
  readonly figures: Record<string, string>;
}

/**
 * The thresholds of the findings' rules, in percentage points of test accuracy (except the
 * correlation). They are printed in every report's "How the findings are judged" paragraph.
 */
export const FINDING_THRESHOLDS = {
  /** Finding 1: the largest spread (max − min) across magnitude laws that still counts as "does not matter". */
  magnitudeSpread: 2,
  /** Finding 2: Spearman correlation of accuracy with the flipped fraction must be at most this. */
  signSpearman: -0.8,
  /** Finding 2: accuracy at the largest flip must be at least this far below the smallest flip. */
  signDrop: 10,
  /** Finding 3: brsf and frsf within this many points of bp. */
  symmetryGap: 2,
  /** Finding 4: without BN and BM, a sign-concordant method fails if it diverges or falls this far below bp. */
  failGap: 10,
  /** Finding 4: with BN and/or BM, a sign-concordant method learns if it comes within this many points of bp. */
  learnGap: 3,
} as const;

/** A finding's verdict. */
export type Verdict = 'supported' | 'partly supported' | 'not supported' | 'not tested in these results';

/** The verdict on one of the paper's findings, with the sentence that states it. */
export interface Finding {
  readonly number: 1 | 2 | 3 | 4;
  readonly claim: string;
  readonly verdict: Verdict;
  /** The numbers behind the verdict. */
  readonly detail: string;
  /** One sentence: the claim, the verdict and the numbers. */
  readonly sentence: string;
}

/** One run of a cell at one learning rate. */
interface SeedRun {
  readonly seed: number;
  /** Test accuracy in percent; null when the run diverged or has no test accuracy. */
  readonly accuracy: number | null;
  readonly diverged: boolean;
  readonly divergedEpoch: number | null;
  readonly history: ResultRecord['history'];
}

/** The runs of a cell at one learning rate. */
interface LrResult {
  readonly lr: number;
  /** Sorted by seed. */
  readonly runs: readonly SeedRun[];
  /** Mean accuracy (percent) over the runs that did not diverge; null if none did. */
  readonly mean: number | null;
  readonly divergedCount: number;
}

/** One cell of a table: every learning rate and seed of one configuration. */
interface Cell {
  /** Sorted by learning rate, largest first. */
  readonly lrs: readonly LrResult[];
  /** The best learning rate (see {@link pickBest}); null when no learning rate has an accuracy. */
  readonly best: LrResult | null;
  readonly runCount: number;
  readonly allDiverged: boolean;
}

/** A cell's number for the findings: best-lr mean accuracy (percent), `'diverged'`, or null (no runs). */
type Score = number | 'diverged' | null;

/** One table of a part of the grid. */
interface Table {
  readonly part: 'main' | 'sign' | 'magnitude';
  readonly arch: string;
  readonly method: string;
  readonly title: string;
  /** Header of the first column, e.g. `normalisation \ method`. */
  readonly corner: string;
  readonly rows: readonly string[];
  readonly cols: readonly string[];
  readonly colLabels: readonly string[];
  readonly cells: ReadonlyMap<string, Cell>;
  /** Learning rates to list per row (expected and present). */
  readonly rowLrs: ReadonlyMap<string, readonly number[]>;
  readonly missingCells: readonly string[];
  readonly missingRuns: number;
  readonly expectedRuns: number;
}

/** The runs sharing a dataset and training schedule; each gets its own tables and findings. */
interface Setting {
  readonly label: string;
  readonly slug: string;
  readonly records: readonly ResultRecord[];
  readonly seeds: readonly number[];
  readonly main: readonly Table[];
  readonly sign: readonly Table[];
  readonly magnitude: readonly Table[];
  /** Records that belong to no table (e.g. a main-part run with a flip). */
  readonly unplaced: number;
  readonly findings: readonly Finding[];
}

/** What {@link analyseResults} finds in a list of records. */
export interface ResultsAnalysis {
  readonly settings: readonly Setting[];
  /** The records, one per id, sorted by id. */
  readonly records: readonly ResultRecord[];
  readonly duplicates: readonly string[];
}

const NORM_ORDER: readonly string[] = NORMALISATIONS.map((n) => n.name);
const SWEEP_ROWS: readonly NormalisationName[] = ['BN', 'BN+BM'];
const CONCORDANT = ['brsf', 'frsf'] as const;
const SIGN_CONCORDANT = ['usf', 'brsf', 'frsf'] as const;
const DEFAULT_TITLE = 'asymprop: how important is weight symmetry in backpropagation?';
const CLAIMS: Record<Finding['number'], string> = {
  1: 'The magnitudes of the feedback weights do not matter',
  2: 'The signs of the feedback weights do matter',
  3: 'Random magnitudes with 100% concordant signs reach about the accuracy of backprop',
  4: 'Without BN and/or BM asymmetric feedback fails; with them it learns',
};

const byString = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

/** The protocol's method name of a feedback name (`symmetric` is bp, `random` is fa). */
function methodOf(feedback: string): string {
  return feedback === 'symmetric' ? 'bp' : feedback === 'random' ? 'fa' : feedback;
}

/** Orders `present` by `order` first, then the rest sorted. */
function ordered(order: readonly string[], present: Iterable<string>, keepAll = true): string[] {
  const set = new Set(present);
  const head = order.filter((x) => keepAll || set.has(x));
  const tail = [...set].filter((x) => !order.includes(x)).sort(byString);
  return [...head, ...tail];
}

const unique = <T>(xs: Iterable<T>): T[] => [...new Set(xs)];
const mean = (xs: readonly number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;
const pct = (x: number): string => x.toFixed(1);
const pts = (x: number): string => (Number.isFinite(x) ? Math.abs(x).toFixed(1) : '∞');

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

function scoreOf(cell: Cell | undefined): Score {
  if (!cell || cell.runCount === 0) return null;
  if (cell.best) return cell.best.mean;
  return cell.allDiverged ? 'diverged' : null;
}

const cellKey = (row: string, col: string): string => `${row}\u0000${col}`;

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
  const unplaced = records.filter((r) => !placed.has(r)).length;
  const findings = judgeFindings(main, sign, magnitude);
  return { label, slug, records, seeds, main, sign, magnitude, unplaced, findings };
}

/**
 * Groups the records (deduplicated by id) into settings (dataset and training schedule), builds the
 * tables of each part and judges the findings. Pure and synchronous; {@link renderReport} renders it.
 *
 * @example
 * for (const f of analyseResults(records).settings[0]?.findings ?? []) console.log(f.sentence);
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
  return { settings, records: merged, duplicates: [...new Set(duplicates)].sort(byString) };
}

// ---------------------------------------------------------------------------------------------
// Findings

function verdictOf(passes: readonly boolean[]): Verdict {
  if (passes.length === 0) return 'not tested in these results';
  if (passes.every(Boolean)) return 'supported';
  return passes.some(Boolean) ? 'partly supported' : 'not supported';
}

function finding(number: Finding['number'], verdict: Verdict, detail: string): Finding {
  const sentence = verdict === 'not tested in these results' ? `${CLAIMS[number]}: ${verdict} (${detail}).` : `${CLAIMS[number]}: ${verdict}; ${detail}.`;
  return { number, claim: CLAIMS[number], verdict, detail, sentence };
}

function findingMarkdown(f: Finding): string {
  const head = `**${f.claim}: ${f.verdict}**`;
  return f.verdict === 'not tested in these results' ? `${f.number}. ${head} (${f.detail}).` : `${f.number}. ${head}; ${f.detail}.`;
}

/** Average ranks (ties share the mean of their ranks). */
function ranks(xs: readonly number[]): number[] {
  const order = xs.map((_, i) => i).sort((a, b) => xs[a]! - xs[b]! || 0);
  const out = new Array<number>(xs.length);
  for (let i = 0; i < order.length; ) {
    let j = i;
    while (j + 1 < order.length && xs[order[j + 1]!] === xs[order[i]!]) j++;
    for (let k = i; k <= j; k++) out[order[k]!] = (i + j) / 2 + 1;
    i = j + 1;
  }
  return out;
}

/** Spearman's rank correlation (NaN when either variable is constant). */
export function spearman(x: readonly number[], y: readonly number[]): number {
  const rx = ranks(x), ry = ranks(y);
  const mx = mean(rx), my = mean(ry);
  let sxy = 0, sxx = 0, syy = 0;
  for (let i = 0; i < rx.length; i++) {
    sxy += (rx[i]! - mx) * (ry[i]! - my);
    sxx += (rx[i]! - mx) ** 2;
    syy += (ry[i]! - my) ** 2;
  }
  return sxx === 0 || syy === 0 ? NaN : sxy / Math.sqrt(sxx * syy);
}

const scoreText = (s: Score): string => (s === null ? 'missing' : s === 'diverged' ? 'diverged' : pct(s));
/** A score as a number for comparisons: a diverged cell is below every accuracy. */
const scoreValue = (s: number | 'diverged'): number => (s === 'diverged' ? -Infinity : s);

function judgeMagnitudes(tables: readonly Table[]): Finding {
  const passes: boolean[] = [];
  const notes: string[] = [];
  for (const t of tables) {
    for (const row of t.rows) {
      const scored = t.cols.flatMap((col) => {
        const s = scoreOf(t.cells.get(cellKey(row, col)));
        return s === null ? [] : [{ law: col, s }];
      });
      if (scored.length < 2) continue;
      const values = scored.map((x) => scoreValue(x.s));
      const hi = scored[values.indexOf(Math.max(...values))]!;
      const lo = scored[values.indexOf(Math.min(...values))]!;
      const spread = scoreValue(hi.s) - scoreValue(lo.s);
      const ok = spread <= FINDING_THRESHOLDS.magnitudeSpread;
      passes.push(ok);
      const diverged = scored.filter((x) => x.s === 'diverged').map((x) => x.law);
      notes.push(
        `under ${row} the ${t.arch}/${t.method} accuracy across ${scored.length} magnitude laws spans ${pts(spread)} points (${lo.law} ${scoreText(lo.s)} to ${hi.law} ${scoreText(hi.s)}${diverged.length ? `; diverged: ${diverged.join(', ')}` : ''}), ${ok ? 'within' : 'more than'} ${FINDING_THRESHOLDS.magnitudeSpread}`,
      );
    }
  }
  return finding(1, verdictOf(passes), notes.length ? notes.join('; ') : 'no magnitude-part row with at least two laws');
}

function judgeSigns(tables: readonly Table[]): Finding {
  const passes: boolean[] = [];
  const notes: string[] = [];
  for (const t of tables) {
    for (const row of t.rows) {
      const pts_ = t.cols.flatMap((col) => {
        const s = scoreOf(t.cells.get(cellKey(row, col)));
        return s === null ? [] : [{ flip: Number(col), s }];
      });
      if (pts_.length < 3) continue;
      const rho = spearman(
        pts_.map((p) => p.flip),
        pts_.map((p) => scoreValue(p.s)),
      );
      const first = pts_[0]!, last = pts_[pts_.length - 1]!;
      const drop = scoreValue(first.s) - scoreValue(last.s);
      const ok = rho <= FINDING_THRESHOLDS.signSpearman && drop >= FINDING_THRESHOLDS.signDrop;
      passes.push(ok);
      const dropText = last.s === 'diverged' && first.s !== 'diverged' ? `diverges at flip ${last.flip}` : `${drop >= 0 ? 'falls' : 'rises'} by ${pts(drop)} points from flip ${first.flip} (${scoreText(first.s)}) to flip ${last.flip} (${scoreText(last.s)})`;
      notes.push(`under ${row} the ${t.arch}/${t.method} accuracy ${dropText}, Spearman ρ = ${Number.isNaN(rho) ? 'undefined' : rho.toFixed(2)} over ${pts_.length} flip fractions`);
    }
  }
  return finding(2, verdictOf(passes), notes.length ? notes.join('; ') : 'no sign-part row with at least three flip fractions');
}

/** bp − method in percentage points (Infinity if only the method diverged, −Infinity if only bp did). */
function gap(bp: number | 'diverged', m: number | 'diverged'): number {
  if (bp === 'diverged') return m === 'diverged' ? 0 : -Infinity;
  return m === 'diverged' ? Infinity : bp - m;
}
const gapText = (g: number): string => (g === Infinity ? 'diverged where bp did not' : g === -Infinity ? 'learned where bp diverged' : `${pts(g)} points ${g >= 0 ? 'below' : 'above'} bp`);

function judgeSymmetry(tables: readonly Table[]): Finding {
  const passes: boolean[] = [];
  const notes: string[] = [];
  for (const t of tables) {
    let bestRow: string | null = null;
    let bestValue = -Infinity;
    for (const row of t.rows) {
      const ss = [...CONCORDANT, 'bp'].map((m) => scoreOf(t.cells.get(cellKey(row, m))));
      if (ss.some((s) => s === null)) continue;
      const v = mean(ss.slice(0, CONCORDANT.length).map((s) => scoreValue(s as number | 'diverged')));
      if (bestRow === null || v > bestValue) {
        bestRow = row;
        bestValue = v;
      }
    }
    if (bestRow === null) continue;
    const bp = scoreOf(t.cells.get(cellKey(bestRow, 'bp'))) as number | 'diverged';
    const gaps = CONCORDANT.map((m) => ({ m, g: gap(bp, scoreOf(t.cells.get(cellKey(bestRow!, m))) as number | 'diverged') }));
    const ok = gaps.every(({ g }) => g <= FINDING_THRESHOLDS.symmetryGap);
    passes.push(ok);
    notes.push(`in ${t.arch} with ${bestRow} (their best setting; bp ${scoreText(bp)}) ${gaps.map(({ m, g }) => `${m} is ${gapText(g)}`).join(' and ')}, ${ok ? 'within' : 'not within'} ${FINDING_THRESHOLDS.symmetryGap}`);
  }
  return finding(3, verdictOf(passes), notes.length ? notes.join('; ') : 'no main-part setting with bp, brsf and frsf');
}

function judgeNormalisation(tables: readonly Table[]): Finding {
  const fails: boolean[] = [];
  const learns: boolean[] = [];
  const notes: string[] = [];
  for (const t of tables) {
    const without: string[] = [];
    const withNorm: string[] = [];
    let tested = false;
    const bpNone = scoreOf(t.cells.get(cellKey('none', 'bp')));
    for (const m of SIGN_CONCORDANT) {
      const none = scoreOf(t.cells.get(cellKey('none', m)));
      const others = t.rows
        .filter((row) => row !== 'none')
        .flatMap((row) => {
          const bp = scoreOf(t.cells.get(cellKey(row, 'bp')));
          const s = scoreOf(t.cells.get(cellKey(row, m)));
          return bp === null || s === null ? [] : [{ row, g: gap(bp, s) }];
        })
        .sort((a, b) => a.g - b.g || NORM_ORDER.indexOf(a.row) - NORM_ORDER.indexOf(b.row));
      if (bpNone === null || none === null || others.length === 0) continue;
      tested = true;
      const g = gap(bpNone, none);
      const failed = none === 'diverged' || g >= FINDING_THRESHOLDS.failGap;
      fails.push(failed);
      without.push(none === 'diverged' ? `${m} diverged` : `${m} ${gapText(g)}`);
      const best = others[0]!;
      learns.push(best.g <= FINDING_THRESHOLDS.learnGap);
      withNorm.push(`${m} ${gapText(best.g)} (${best.row})`);
    }
    if (tested) notes.push(`${t.arch} without BN and BM: ${without.join(', ')}; with them at best: ${withNorm.join(', ')}`);
  }
  let verdict: Verdict;
  if (fails.length === 0) verdict = 'not tested in these results';
  else if (!learns.every(Boolean)) verdict = 'not supported';
  else verdict = fails.every(Boolean) ? 'supported' : 'partly supported';
  const rule = `failing means diverging or falling ≥ ${FINDING_THRESHOLDS.failGap} points below bp, learning means within ${FINDING_THRESHOLDS.learnGap}`;
  return finding(4, verdict, notes.length ? `${notes.join('; ')} (${rule})` : 'no main-part table with bp and the sign-concordant methods both without and with BN or BM');
}

function judgeFindings(main: readonly Table[], sign: readonly Table[], magnitude: readonly Table[]): Finding[] {
  return [judgeMagnitudes(magnitude), judgeSigns(sign), judgeSymmetry(main), judgeNormalisation(main)];
}

// ---------------------------------------------------------------------------------------------
// Tables

function runText(r: SeedRun): string {
  if (r.accuracy !== null) return pct(r.accuracy);
  if (r.diverged) return r.divergedEpoch !== null ? `diverged (epoch ${r.divergedEpoch})` : 'diverged';
  return 'n/a';
}

function bestCellText(cell: Cell | undefined): string {
  if (!cell) return '—';
  const b = cell.best;
  if (!b) return cell.allDiverged ? 'diverged' : 'n/a';
  const ok = b.runs.filter((r) => r.accuracy !== null).length;
  const partial = ok < b.runs.length ? `; mean of ${ok}/${b.runs.length} seeds` : '';
  return `${pct(b.mean!)} (lr ${b.lr}; ${b.runs.map(runText).join(', ')}${partial})`;
}

function lrCellText(cell: Cell | undefined, lr: number): string {
  const l = cell?.lrs.find((x) => x.lr === lr);
  if (!cell || !l) return '—';
  let text: string;
  if (l.mean === null && l.runs.every((r) => r.diverged)) {
    const epochs = l.runs.map((r) => r.divergedEpoch).filter((e): e is number => e !== null);
    text = epochs.length === l.runs.length ? `diverged (epoch${epochs.length > 1 ? 's' : ''} ${epochs.join(', ')})` : 'diverged';
  } else {
    text = `${l.mean === null ? 'n/a' : pct(l.mean)} (${l.runs.map(runText).join(', ')})`;
  }
  return cell.best === l ? `**${text}**` : text;
}

const mdRow = (cells: readonly string[]): string => `| ${cells.join(' | ')} |`;

function tableMarkdown(t: Table): string[] {
  const lines: string[] = [];
  const header = [mdRow([t.corner, ...t.colLabels]), mdRow([t.corner, ...t.colLabels].map(() => '---'))];
  lines.push('Mean test accuracy (%) over seeds at the best learning rate of each cell, with the per-seed values:', '', ...header);
  for (const row of t.rows) lines.push(mdRow([row, ...t.cols.map((col) => bestCellText(t.cells.get(cellKey(row, col))))]));
  lines.push('');
  if (t.missingCells.length > 0 || t.missingRuns > 0) {
    const names = t.missingCells.length <= 10 ? ` (${t.missingCells.join('; ')})` : '';
    lines.push(`Missing: ${t.missingCells.length} of ${t.rows.length * t.cols.length} cells${names}; ${t.missingRuns} of ${t.expectedRuns} expected runs (learning rate × seed).`, '');
  }
  lines.push('Every learning rate (mean (per-seed values); the best of each cell in bold):', '');
  lines.push(mdRow([t.corner.replace(' \\', ', lr \\'), ...t.colLabels]), mdRow([t.corner, ...t.colLabels].map(() => '---')));
  for (const row of t.rows) {
    for (const lr of t.rowLrs.get(row) ?? []) lines.push(mdRow([`${row}, lr ${lr}`, ...t.cols.map((col) => lrCellText(t.cells.get(cellKey(row, col)), lr))]));
  }
  lines.push('');
  return lines;
}

// ---------------------------------------------------------------------------------------------
// Figures

const ACCURACY_TITLE = 'Test accuracy (%)';
const ACCURACY_SCALE = { domain: [0, 100] };
const FLIP_SCALE = { domain: [0, 1] };
/** The mark drawn where a bar or point would be for a cell whose runs all diverged. */
const DIVERGED_MARK = '✕';

interface Figure {
  readonly name: string;
  readonly caption: string;
  readonly spec: TopLevelSpec;
}

/** Renames Vega's process-wide clip and gradient ids by order of appearance, so output never depends on what was drawn before. */
function normaliseIds(svg: string): string {
  const ids = new Map<string, string>();
  for (const m of svg.matchAll(/id="((?:clip|gradient_|p_gradient_)\d+)"/g)) {
    if (!ids.has(m[1]!)) ids.set(m[1]!, `${m[1]!.replace(/\d+$/, '')}${ids.size + 1}`);
  }
  if (ids.size === 0) return svg;
  return svg.replace(/(id="|url\(#)((?:clip|gradient_|p_gradient_)\d+)/g, (all, pre: string, id: string) => (ids.has(id) ? `${pre}${ids.get(id)}` : all));
}

async function toSvg(spec: TopLevelSpec): Promise<string> {
  const view = new vega.View(vega.parse(compile(spec).spec), { renderer: 'none', logLevel: vega.Error });
  try {
    return normaliseIds(await view.toSVG());
  } finally {
    view.finalize();
  }
}

/** Bar data of a table: one `mean` row per cell with an accuracy, one `seed` row per finished run at it, one `diverged` row per fully diverged cell. */
function barRows(t: Table, extra: Record<string, string>): Record<string, string | number>[] {
  const out: Record<string, string | number>[] = [];
  for (const row of t.rows) {
    for (const col of t.cols) {
      const cell = t.cells.get(cellKey(row, col));
      if (!cell) continue;
      const base = { ...extra, row, col };
      if (cell.best) {
        out.push({ ...base, kind: 'mean', accuracy: cell.best.mean!, lr: cell.best.lr });
        for (const r of cell.best.runs) if (r.accuracy !== null) out.push({ ...base, kind: 'seed', accuracy: r.accuracy, seed: r.seed });
      } else if (cell.allDiverged) {
        out.push({ ...base, kind: 'diverged', accuracy: 0, label: DIVERGED_MARK });
      }
    }
  }
  return out;
}

function divergedNote(tables: readonly Table[], prefix: (t: Table) => string): string {
  const names = tables.flatMap((t) => t.rows.flatMap((row) => t.cols.flatMap((col, i) => (t.cells.get(cellKey(row, col))?.allDiverged ? [`${prefix(t)}${row} ${t.colLabels[i]}`] : []))));
  return names.length === 0 ? 'No cell diverged in every run.' : `${DIVERGED_MARK} marks a cell whose runs all diverged (no bar): ${names.join('; ')}.`;
}

/** Grouped bars: x = column, offset and colour = row, optional facet; per-seed dots; ✕ for diverged cells. */
function groupedBars(opts: {
  values: Record<string, string | number>[];
  xTitle: string;
  xSort: readonly string[];
  colorTitle: string;
  colorSort: readonly string[];
  facet?: { field: string; title: string; sort: readonly string[] };
  width: number;
}): TopLevelSpec {
  const x = { field: 'col', type: 'nominal', title: opts.xTitle, sort: [...opts.xSort], axis: { labelAngle: 0 } } as const;
  const xOffset = { field: 'row', type: 'nominal', sort: [...opts.colorSort] } as const;
  const color = { field: 'row', type: 'nominal', title: opts.colorTitle, sort: [...opts.colorSort] } as const;
  const y = { field: 'accuracy', type: 'quantitative', title: ACCURACY_TITLE, scale: ACCURACY_SCALE } as const;
  const layer = [
    { transform: [{ filter: "datum.kind === 'mean'" }], mark: { type: 'bar' }, encoding: { x, xOffset, y, color, tooltip: [{ field: 'accuracy', type: 'quantitative', format: '.1f' }, { field: 'lr', type: 'quantitative' }] } },
    { transform: [{ filter: "datum.kind === 'seed'" }], mark: { type: 'point', filled: true, size: 14, color: 'black', opacity: 0.7 }, encoding: { x, xOffset, y } },
    { transform: [{ filter: "datum.kind === 'diverged'" }], mark: { type: 'text', dy: -8, fontSize: 12, fontWeight: 'bold' }, encoding: { x, xOffset, y, color, text: { field: 'label' } } },
  ];
  const inner = { width: opts.width, height: 220, layer };
  const spec = opts.facet
    ? { facet: { column: { field: opts.facet.field, type: 'nominal', title: opts.facet.title, sort: [...opts.facet.sort] } }, spec: inner }
    : inner;
  return { $schema: 'https://vega.github.io/schema/vega-lite/v6.json', background: 'white', data: { values: opts.values }, ...spec } as TopLevelSpec;
}

function mainFigure(s: Setting, name: string): Figure | null {
  if (s.main.length === 0) return null;
  const values = s.main.flatMap((t) => barRows(t, { arch: t.arch }));
  if (values.length === 0) return null;
  const archs = s.main.map((t) => t.arch);
  return {
    name,
    caption: `Main part (${s.label}): mean test accuracy over seeds per feedback method, one bar per normalisation (none, BN, BM, BN+BM), at each cell's best learning rate; dots are the individual seeds; one panel per architecture (${archs.join(', ')}). ${divergedNote(s.main, (t) => `${t.arch} `)}`,
    spec: groupedBars({
      values,
      xTitle: 'Feedback method',
      xSort: ordered(METHODS, s.main.flatMap((t) => t.cols)),
      colorTitle: 'Normalisation',
      colorSort: ordered(NORM_ORDER, s.main.flatMap((t) => t.rows)),
      facet: { field: 'arch', title: 'Architecture', sort: archs },
      width: 300,
    }),
  };
}

function signFigure(s: Setting, name: string): Figure | null {
  const multi = s.sign.length > 1;
  const series = (t: Table, row: string) => (multi ? `${t.arch}/${t.method} ${row}` : row);
  const values: Record<string, string | number>[] = [];
  for (const t of s.sign) {
    for (const row of t.rows) {
      for (const col of t.cols) {
        const score = scoreOf(t.cells.get(cellKey(row, col)));
        if (score === null) continue;
        values.push(score === 'diverged' ? { series: series(t, row), flip: Number(col), accuracy: 0, kind: 'diverged', label: DIVERGED_MARK } : { series: series(t, row), flip: Number(col), accuracy: score, kind: 'mean' });
      }
    }
  }
  if (values.length === 0) return null;
  const x = { field: 'flip', type: 'quantitative', title: 'Fraction of flipped feedback signs', scale: FLIP_SCALE } as const;
  const y = { field: 'accuracy', type: 'quantitative', title: ACCURACY_TITLE, scale: ACCURACY_SCALE } as const;
  const color = { field: 'series', type: 'nominal', title: 'Setting', sort: unique(s.sign.flatMap((t) => t.rows.map((row) => series(t, row)))) } as const;
  const what = s.sign.map((t) => `${t.arch}/${t.method}`).join(', ');
  return {
    name,
    caption: `Sign concordance (${s.label}, ${what}): mean test accuracy over seeds at each point's best learning rate against the fraction of feedback signs flipped, one line without BM (BN) and one with BM (BN+BM). ${divergedNote(s.sign, (t) => (multi ? `${t.arch}/${t.method} ` : ''))}`,
    spec: {
      $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
      background: 'white',
      width: 360,
      height: 240,
      data: { values },
      layer: [
        { transform: [{ filter: "datum.kind === 'mean'" }], mark: { type: 'line', point: true }, encoding: { x, y, color } },
        { transform: [{ filter: "datum.kind === 'diverged'" }], mark: { type: 'text', dy: -8, fontSize: 12, fontWeight: 'bold' }, encoding: { x, y, color, text: { field: 'label' } } },
      ],
    } as TopLevelSpec,
  };
}

function magnitudeFigure(s: Setting, name: string): Figure | null {
  const multi = s.magnitude.length > 1;
  const values = s.magnitude.flatMap((t) => barRows(t, { group: `${t.arch}/${t.method}` }));
  if (values.length === 0) return null;
  const what = s.magnitude.map((t) => `${t.arch}/${t.method}`);
  return {
    name,
    caption: `Magnitude laws (${s.label}, ${what.join(', ')}): mean test accuracy over seeds for each law of the feedback magnitudes, one bar for BN and one for BN+BM, at each cell's best learning rate; dots are the individual seeds. ${divergedNote(s.magnitude, (t) => (multi ? `${t.arch}/${t.method} ` : ''))}`,
    spec: groupedBars({
      values,
      xTitle: 'Magnitude law',
      xSort: ordered(MAGNITUDES, s.magnitude.flatMap((t) => t.cols)),
      colorTitle: 'Normalisation',
      colorSort: ordered(SWEEP_ROWS, s.magnitude.flatMap((t) => t.rows)),
      ...(multi ? { facet: { field: 'group', title: 'Architecture / method', sort: what } } : {}),
      width: 360,
    }),
  };
}

function curvesFigure(s: Setting, name: string): Figure | null {
  const t = s.main.find((x) => x.arch === 'lenet') ?? s.main.find((x) => x.arch === 'mlp') ?? s.main[0];
  if (!t) return null;
  const values: Record<string, string | number>[] = [];
  const noCurve: string[] = [];
  for (const row of t.rows) {
    for (const col of t.cols) {
      const cell = t.cells.get(cellKey(row, col));
      if (!cell) continue;
      const runs = cell.best?.runs.filter((r) => r.accuracy !== null) ?? [];
      if (runs.length === 0) {
        noCurve.push(`${row} ${col}${cell.allDiverged ? ' (all runs diverged)' : ''}`);
        continue;
      }
      const epochs = unique(runs.flatMap((r) => r.history.map((h) => h.epoch))).sort((a, b) => a - b);
      for (const epoch of epochs) {
        const accs = runs.flatMap((r) => r.history.filter((h) => h.epoch === epoch && Number.isFinite(h.testAccuracy)).map((h) => h.testAccuracy * 100));
        if (accs.length > 0) values.push({ row, method: col, epoch, accuracy: mean(accs), lr: cell.best!.lr });
      }
    }
  }
  if (values.length === 0) return null;
  return {
    name,
    caption: `Learning curves (${s.label}, ${t.arch}): test accuracy after each epoch, mean over the seeds that did not diverge, per feedback method at each cell's best learning rate; one panel per normalisation. ${noCurve.length ? `No curve: ${noCurve.join('; ')}.` : 'Every cell has a curve.'}`,
    spec: {
      $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
      background: 'white',
      data: { values },
      facet: { column: { field: 'row', type: 'nominal', title: 'Normalisation', sort: [...t.rows] } },
      spec: {
        width: 200,
        height: 200,
        mark: { type: 'line', point: true },
        encoding: {
          x: { field: 'epoch', type: 'quantitative', title: 'Epoch', axis: { tickMinStep: 1, format: 'd' } },
          y: { field: 'accuracy', type: 'quantitative', title: ACCURACY_TITLE, scale: { zero: false } },
          color: { field: 'method', type: 'nominal', title: 'Feedback method', sort: [...t.cols] },
        },
      },
    } as TopLevelSpec,
  };
}

// ---------------------------------------------------------------------------------------------
// The report

function formatDuration(seconds: number): string {
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), r = s % 60;
  const text = h > 0 ? `${h} h ${String(m).padStart(2, '0')} min ${String(r).padStart(2, '0')} s` : m > 0 ? `${m} min ${String(r).padStart(2, '0')} s` : `${r} s`;
  return `${text} (${seconds.toFixed(0)} s)`;
}

const oneLine = (s: string): string => s.replace(/\s*\n\s*/g, ' ').trim();
const list = (xs: readonly (string | number)[]): string => (xs.length ? xs.join(', ') : 'none');

function howJudged(): string {
  const T = FINDING_THRESHOLDS;
  return [
    '### How the findings are judged',
    '',
    "Every number is a cell's mean test accuracy over seeds at its best learning rate (the rate with the fewest diverged seeds, then the highest mean over the seeds that did not diverge), in percent; differences are in percentage points. A cell whose runs all diverged counts as below any accuracy.",
    '',
    `- (1) Magnitudes: for each BN row of the magnitude part (BN, BN+BM), the spread (max − min) across the magnitude laws must be ≤ ${T.magnitudeSpread} points; supported if every row passes, partly supported if some do.`,
    `- (2) Signs: for each row of the sign part, the Spearman correlation between flip fraction and accuracy must be ≤ ${T.signSpearman} and accuracy at the largest flip at least ${T.signDrop} points below the smallest flip (or diverged); supported if every row passes, partly supported if some do.`,
    `- (3) Sign-concordant feedback with random magnitudes: in each architecture's normalisation setting where the mean of brsf and frsf is highest, both must be within ${T.symmetryGap} points of bp in that setting; supported if every architecture passes, partly supported if some do.`,
    `- (4) Normalisation: without BN and BM, each of usf, brsf and frsf must diverge or fall ≥ ${T.failGap} points below bp (fails), and with BN and/or BM (its best of BN, BM, BN+BM, against bp in the same setting) come within ${T.learnGap} points of bp (learns); supported if all fail without and learn with, partly supported if all learn with but some also learn without, not supported if some never learn.`,
    '',
    'A finding whose part of the grid is absent is "not tested in these results".',
    '',
  ].join('\n');
}

function headerLines(a: ResultsAnalysis, options: ReportOptions): string[] {
  const rs = a.records;
  const lines = [`# ${oneLine(options.title ?? DEFAULT_TITLE)}`, ''];
  if (options.command !== undefined) lines.push('Command:', '', '```sh', options.command, '```', '');
  const diverged = rs.filter((r) => r.diverged).length;
  const partCounts = (['main', 'sign', 'magnitude'] as const).map((p) => `${p} ${rs.filter((r) => r.parts.includes(p)).length}`);
  const missingCells = a.settings.reduce((n, s) => n + [...s.main, ...s.sign, ...s.magnitude].reduce((k, t) => k + t.missingCells.length, 0), 0);
  const expectedCells = a.settings.reduce((n, s) => n + [...s.main, ...s.sign, ...s.magnitude].reduce((k, t) => k + t.rows.length * t.cols.length, 0), 0);
  const missingRuns = a.settings.reduce((n, s) => n + [...s.main, ...s.sign, ...s.magnitude].reduce((k, t) => k + t.missingRuns, 0), 0);
  const expectedRuns = a.settings.reduce((n, s) => n + [...s.main, ...s.sign, ...s.magnitude].reduce((k, t) => k + t.expectedRuns, 0), 0);
  lines.push(
    ...(options.machine !== undefined ? [`- Machine: ${oneLine(options.machine)}`] : []),
    ...(options.wallSeconds !== undefined ? [`- Wall time: ${formatDuration(options.wallSeconds)}`] : []),
    `- Dataset(s): ${list(unique(rs.map((r) => r.config.dataset)).sort(byString))}`,
    `- Epochs: ${list(unique(rs.map((r) => r.config.epochs)).sort((x, y) => x - y))}`,
    `- Seeds: ${list(unique(rs.map((r) => r.config.seed)).sort((x, y) => x - y))}`,
    `- Runs: ${rs.length} (per part: ${partCounts.join(', ')}; a run shared by two parts counts in both), of which ${diverged} diverged`,
    `- Run time summed over runs: ${formatDuration(rs.reduce((t, r) => t + (Number.isFinite(r.seconds) ? r.seconds : 0), 0))}`,
    `- Missing: ${missingCells} of ${expectedCells} expected-looking cells have no run, and ${missingRuns} of ${expectedRuns} expected runs are absent (expected: every row and column of each table present, at the learning rates and seeds seen in these results)`,
  );
  const unplaced = a.settings.reduce((n, s) => n + s.unplaced, 0);
  if (unplaced > 0) lines.push(`- Runs in no table (outside the grid's parts): ${unplaced}`);
  if (a.duplicates.length > 0) lines.push(`- Duplicate ids dropped (first kept): ${a.duplicates.length}`);
  lines.push('');
  return lines;
}

function figureMarkdown(f: Figure, n: number): string[] {
  const alt = f.caption.split(':')[0]!.replace(/[[\]]/g, '');
  return [`![${alt}](figures/${f.name})`, '', `*Figure ${n}. ${f.caption}*`, ''];
}

/**
 * Renders the report of a grid's results: markdown with a table per part of the grid, the figures
 * (SVG via Vega-Lite; asynchronous because Vega renders asynchronously) and the findings.
 * Deterministic: the same records and options give byte-identical output.
 *
 * @example
 * const { markdown, figures } = await renderReport(records, { command: 'asymprop grid --preset protocol' });
 */
export async function renderReport(records: readonly ResultRecord[], options: ReportOptions = {}): Promise<RenderedReport> {
  const a = analyseResults(records);
  const multi = a.settings.length > 1;
  const lines = headerLines(a, options);
  const figures: Figure[] = [];
  let figureNo = 0;
  const addFigure = (f: Figure | null): string[] => {
    if (!f) return [];
    figures.push(f);
    return figureMarkdown(f, ++figureNo);
  };

  lines.push('## Findings', '');
  if (a.settings.length === 0) lines.push('No results: nothing to judge.', '');
  for (const s of a.settings) {
    if (multi) lines.push(`### ${s.label}`, '');
    for (const f of s.findings) lines.push(findingMarkdown(f));
    lines.push('');
  }
  lines.push(howJudged());

  for (const s of a.settings) {
    const suffix = multi ? `-${s.slug}` : '';
    const h = multi ? '###' : '##';
    if (multi) lines.push(`## ${s.label}`, '');
    if (s.main.length > 0) {
      lines.push(`${h} Main part: architecture × normalisation × feedback method`, '');
      for (const t of s.main) lines.push(`${h}# ${t.title}`, '', ...tableMarkdown(t));
      lines.push(...addFigure(mainFigure(s, `main-accuracy${suffix}.svg`)));
    }
    if (s.sign.length > 0) {
      lines.push(`${h} Sign concordance: fraction of flipped feedback signs`, '');
      for (const t of s.sign) lines.push(`${h}# ${t.title}`, '', ...tableMarkdown(t));
      lines.push(...addFigure(signFigure(s, `sign-flip${suffix}.svg`)));
    }
    if (s.magnitude.length > 0) {
      lines.push(`${h} Magnitude laws of the feedback weights`, '');
      for (const t of s.magnitude) lines.push(`${h}# ${t.title}`, '', ...tableMarkdown(t));
      lines.push(...addFigure(magnitudeFigure(s, `magnitude-accuracy${suffix}.svg`)));
    }
    const curves = curvesFigure(s, `main-curves${suffix}.svg`);
    if (curves) lines.push(`${h} Learning curves`, '', ...addFigure(curves));
    if (s.main.length + s.sign.length + s.magnitude.length === 0) lines.push('No run of these results belongs to a part of the grid.', '');
  }

  lines.push('## Protocol deviations', '');
  const deviations = options.deviations ?? [];
  if (deviations.length === 0) lines.push('None listed.');
  else for (const d of deviations) lines.push(`- ${oneLine(d)}`);
  lines.push('');

  const rendered: Record<string, string> = {};
  for (const f of figures) rendered[f.name] = await toSvg(f.spec);
  return { markdown: lines.join('\n'), figures: rendered };
}
