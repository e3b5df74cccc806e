/**
 * The report's markdown: the header lines, the tables, the findings and the figure references.
 */
import type { Cell, ResultsAnalysis, SeedRun, Table } from './analysis.js';
import type { Figure } from './figures.js';
import type { GridCoverage } from './coverage.js';
import type { Finding } from './findings.js';
import { byString, cellKey, pct, unique } from './util.js';

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
  /** Where the runs departed from the protocol, one item each, listed before those the report finds in the runs themselves. */
  deviations?: readonly string[];
}

const DEFAULT_TITLE = 'asymprop: how important is weight symmetry in backpropagation?';

export function findingMarkdown(f: Finding): string {
  const head = `**${f.claim}: ${f.verdict}**`;
  return f.verdict === 'not tested in these results' ? `${f.number}. ${head} (${f.detail}).` : `${f.number}. ${head}; ${f.detail}.`;
}

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

export function tableMarkdown(t: Table): string[] {
  const lines: string[] = [];
  const header = [mdRow([t.corner, ...t.colLabels]), mdRow([t.corner, ...t.colLabels].map(() => '---'))];
  lines.push('Mean test accuracy (%) over seeds at the best learning rate of each cell, with the per-seed values:', '', ...header);
  for (const row of t.rows) lines.push(mdRow([row, ...t.cols.map((col) => bestCellText(t.cells.get(cellKey(row, col))))]));
  lines.push('');
  if (t.missingCells.length > 0 || t.missingRuns > 0) {
    const names = t.missingCells.length <= 10 ? ` (${t.missingCells.join('; ')})` : '';
    lines.push(`Missing: ${t.missingCells.length} of ${t.rows.length * t.cols.length} cells${names}; ${t.missingRuns} of ${t.expectedRuns} expected runs (learning rate × seed).`, '');
  }
  // With one learning rate per row the table by learning rate would repeat the one above.
  if (t.rows.every((row) => (t.rowLrs.get(row)?.length ?? 0) <= 1)) return lines;
  lines.push('Every learning rate (mean (per-seed values); the best of each cell in bold):', '');
  lines.push(mdRow([t.corner.replace(' \\', ', lr \\'), ...t.colLabels]), mdRow([t.corner, ...t.colLabels].map(() => '---')));
  for (const row of t.rows) {
    for (const lr of t.rowLrs.get(row) ?? []) lines.push(mdRow([`${row}, lr ${lr}`, ...t.cols.map((col) => lrCellText(t.cells.get(cellKey(row, col)), lr))]));
  }
  lines.push('');
  return lines;
}

function formatDuration(seconds: number): string {
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), r = s % 60;
  const text = h > 0 ? `${h} h ${String(m).padStart(2, '0')} min ${String(r).padStart(2, '0')} s` : m > 0 ? `${m} min ${String(r).padStart(2, '0')} s` : `${r} s`;
  return `${text} (${seconds.toFixed(0)} s)`;
}

export const oneLine = (s: string): string => s.replace(/\s*\n\s*/g, ' ').trim();

/**
 * Text from outside (a title, a machine description) as inline Markdown that shows as written:
 * one line, HTML's special characters as entities, and the punctuation of emphasis, code, links
 * and tables escaped, so that it can neither open a tag nor a link, nor start another line.
 */
export function inlineText(s: string): string {
  return oneLine(s)
    .replace(/[\u0000-\u001f\u007f]/g, ' ')
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/([\\`*_[\]|])/g, '\\$1');
}
const list = (xs: readonly (string | number)[]): string => (xs.length ? xs.join(', ') : 'none');

export function headerLines(a: ResultsAnalysis, options: ReportOptions): string[] {
  const rs = a.records;
  const lines = [`# ${inlineText(options.title ?? DEFAULT_TITLE)}`, ''];
  if (options.command !== undefined) {
    // A fence longer than any run of backticks in the command: nothing in it can close the block.
    const fence = '`'.repeat(Math.max(3, ...[...options.command.matchAll(/`+/g)].map((m) => m[0].length + 1)));
    lines.push('Command:', '', `${fence}sh`, options.command, fence, '');
  }
  const diverged = rs.filter((r) => r.diverged).length;
  const partCounts = (['main', 'sign', 'magnitude', 'transport'] as const).filter((p) => p !== 'transport' || rs.some((r) => r.parts.includes(p))).map((p) => `${p} ${rs.filter((r) => r.parts.includes(p)).length}`);
  const missingCells = a.settings.reduce((n, s) => n + [...s.main, ...s.sign, ...s.magnitude].reduce((k, t) => k + t.missingCells.length, 0), 0);
  const expectedCells = a.settings.reduce((n, s) => n + [...s.main, ...s.sign, ...s.magnitude].reduce((k, t) => k + t.rows.length * t.cols.length, 0), 0);
  const missingRuns = a.settings.reduce((n, s) => n + [...s.main, ...s.sign, ...s.magnitude].reduce((k, t) => k + t.missingRuns, 0), 0);
  const expectedRuns = a.settings.reduce((n, s) => n + [...s.main, ...s.sign, ...s.magnitude].reduce((k, t) => k + t.expectedRuns, 0), 0);
  lines.push(
    ...(options.machine !== undefined ? [`- Machine: ${inlineText(options.machine)}`] : []),
    ...(options.wallSeconds !== undefined ? [`- Wall time: ${formatDuration(options.wallSeconds)}`] : []),
    `- Dataset(s): ${list(unique(rs.map((r) => r.config.dataset)).sort(byString))}`,
    `- Epochs: ${list(unique(rs.map((r) => r.config.epochs)).sort((x, y) => x - y))}`,
    `- Seeds: ${list(unique(rs.map((r) => r.config.seed)).sort((x, y) => x - y))}`,
    `- Runs: ${rs.length} (per part: ${partCounts.join(', ')}; a run shared by two parts counts in both), of which ${diverged} diverged`,
    `- Run time summed over runs: ${formatDuration(rs.reduce((t, r) => t + (Number.isFinite(r.seconds) ? r.seconds : 0), 0))}`,
  );
  // Records that name their grid say exactly which runs are missing; older ones only let the
  // tables' shape suggest it.
  const coverage = a.coverage;
  if (coverage.length > 0) lines.push(...coverage.flatMap(coverageLines));
  // Without their grid, the tables' shape is the only clue: a row and a column that both have runs
  // should meet in a cell with runs, at every learning rate and seed seen.
  if (coverage.every((c) => c.missing === null) && expectedCells > 0) {
    lines.push(missingCells + missingRuns === 0
      ? `- Missing: nothing that the tables show (every cell has a run, at every learning rate and seed seen in these results)`
      : `- Missing: ${missingCells} table cell${missingCells === 1 ? '' : 's'} without a run; ${missingRuns} of the ${expectedRuns} runs that the tables' rows, columns, learning rates and seeds imply are absent`);
  }
  const unplaced = a.settings.reduce((n, s) => n + s.unplaced, 0);
  if (unplaced > 0) lines.push(`- Runs in no table (outside the grid's parts): ${unplaced}`);
  if (a.duplicates.length > 0) lines.push(`- Duplicate ids dropped (first kept): ${a.duplicates.length}`);
  lines.push('');
  return lines;
}

/** How many missing runs the header names one by one. */
const MISSING_LISTED = 10;

function coverageLines(c: GridCoverage): string[] {
  const grid = `\`asymprop reproduce ${c.flags}\``;
  if (c.missing === null) return [`- Grid ${grid} (${c.runs} runs): which of its runs are missing cannot be told here: ${inlineText(c.problem ?? '')}`];
  const shards = c.mixedCounts.length > 0 ? `; from shards of ${c.mixedCounts.map((n) => (n === 1 ? 'an unsharded run' : `${n} shards`)).join(' and ')}` : c.shards.length === 0 ? '' : `; by shard: ${c.shards.map((s) => `${s.index}/${s.count} ${s.present === s.runs ? `complete (${s.runs} runs)` : s.present === 0 ? `**none of its ${s.runs} runs** (failed, still running, or its file not given)` : `${s.present} of ${s.runs} runs`}`).join(', ')}`;
  if (c.missing.length === 0) return [`- Grid: ${grid}, all ${c.runs} runs present${shards}`];
  const named = c.missing.slice(0, MISSING_LISTED).map((id) => `  - missing: ${inlineText(id)}`);
  const more = c.missing.length > MISSING_LISTED ? [`  - … and ${c.missing.length - MISSING_LISTED} more`] : [];
  return [`- Missing: **${c.missing.length} of the ${c.runs} runs** of ${grid}${shards}`, ...named, ...more];
}

export function figureMarkdown(f: Figure, n: number): string[] {
  const alt = f.caption.split(':')[0]!.replace(/[[\]]/g, '');
  return [`![${alt}](figures/${f.name})`, '', `*Figure ${n}. ${f.caption}*`, ''];
}
