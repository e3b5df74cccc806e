/**
 * Writes a rendered report to a directory (Node only): `report.md`, `figures/*.svg` and
 * `results.jsonl` (the merged records, one per line, sorted by id). Each file is written under a
 * temporary name, flushed and renamed into place, so an interrupted write never leaves a
 * half-written file; `report.md` is written last.
 */
import { mkdir, open, rename, rm, stat } from 'node:fs/promises';
import { FileError } from '../errors.js';
import { reasonOf, toFileError } from '../io/files.js';
import { join } from 'node:path';
import { renderReport, type RenderedReport, type ReportOptions } from './report/index.js';
import { mergeRecords, type ResultRecord } from './results.js';

/** What {@link writeReport} wrote. */
export interface WrittenReport {
  /** Path of `report.md`. */
  readonly report: string;
  /** Path of `results.jsonl`. */
  readonly results: string;
  /** Paths of the figures (`figures/*.svg`). */
  readonly figures: string[];
  /** Paths of the files written, in the order they were written. */
  readonly files: string[];
  /** The records written to `results.jsonl` (one per id, sorted by id). */
  readonly records: ResultRecord[];
  /** Ids that appeared more than once (the first record was kept). */
  readonly duplicates: string[];
  /** Which runs of each grid the records name they hold (the report's "Missing" lines). */
  readonly coverage: RenderedReport['coverage'];
}

/** Writes `text` to `path` atomically: a temporary file beside it, flushed, then renamed over it. */
export async function writeFileAtomic(path: string, text: string): Promise<void> {
  const tmp = `${path}.${process.pid}.tmp`;
  try {
    if ((await stat(path).catch(() => null))?.isDirectory()) throw new FileError(path, 'write', 'it is a directory');
    const handle = await open(tmp, 'w');
    try {
      await handle.writeFile(text, 'utf8');
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(tmp, path);
  } catch (e) {
    await rm(tmp, { force: true });
    throw toFileError(e, path, 'write');
  }
}

/** The results file of a report: one record per id, sorted by id, one JSON line each. */
export function resultsJsonl(records: readonly ResultRecord[]): {
  /** The file's text, each line ending in a newline. */
  text: string;
  /** The records written, in file order. */
  records: ResultRecord[];
  /** Ids that appeared more than once (the first record was kept). */
  duplicates: string[];
} {
  const { records: merged, duplicates } = mergeRecords([records]);
  merged.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  return { text: merged.map((r) => `${JSON.stringify(r)}\n`).join(''), records: merged, duplicates };
}

/**
 * Renders the report of `records` ({@link renderReport}) and writes it into `dir` (created if
 * needed): `figures/*.svg`, then `results.jsonl`, then `report.md`, each atomically.
 *
 * @example
 * ```ts
 * import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
 * import { tmpdir } from 'node:os';
 * import { join } from 'node:path';
 * import { parseResults } from 'asymprop';
 * import { writeReport } from 'asymprop/report';
 *
 * // The quick preset's results, as shipped with the guides (run from the repository's root).
 * const { records } = parseResults(readFileSync('docs/results/quick/results.jsonl', 'utf8'), 'results.jsonl');
 * const dir = mkdtempSync(join(tmpdir(), 'asymprop-report-'));
 * const written = await writeReport(dir, records, { command: 'asymprop reproduce --preset quick' });
 * console.log(written.records.length, written.figures.length, written.report.endsWith('report.md')); // 40 4 true
 * rmSync(dir, { recursive: true });
 * ```
 */
export async function writeReport(dir: string, records: readonly ResultRecord[], options: ReportOptions = {}): Promise<WrittenReport> {
  const { markdown, figures, coverage } = await renderReport(records, options);
  const results = resultsJsonl(records);
  const figuresDir = join(dir, 'figures');
  try {
    await mkdir(figuresDir, { recursive: true });
  } catch (e) {
    throw new FileError(figuresDir, 'create the directory', (e as NodeJS.ErrnoException).code === 'EEXIST' ? 'a file of that name is in the way' : reasonOf(e));
  }
  const files: string[] = [];
  const put = async (path: string, text: string) => {
    await writeFileAtomic(path, text);
    files.push(path);
  };
  const figurePaths: string[] = [];
  for (const name of Object.keys(figures).sort()) {
    const path = join(figuresDir, name);
    await put(path, figures[name]!);
    figurePaths.push(path);
  }
  const resultsPath = join(dir, 'results.jsonl');
  await put(resultsPath, results.text);
  const reportPath = join(dir, 'report.md');
  await put(reportPath, markdown);
  return { report: reportPath, results: resultsPath, figures: figurePaths, files, records: results.records, duplicates: results.duplicates, coverage };
}
