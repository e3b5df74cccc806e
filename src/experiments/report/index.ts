/**
 * The report of a grid's results: tables for each part of the protocol's grid, figures (SVG, drawn
 * with Vega-Lite), and a verdict on each of the paper's four findings computed from the numbers by
 * fixed, documented rules ({@link FINDING_THRESHOLDS}).
 *
 * Everything here is a pure function of the records (and the options): the same records give a
 * byte-identical report. Writing it to disk is `writeReport` in `../writeReport.ts`.
 */
import { protocolDeviations } from './deviations.js';
import type { ResultRecord } from '../results.js';
import { analyseResults } from './analysis.js';
import { curvesFigure, magnitudeFigure, mainFigure, signFigure, toSvg, type Figure } from './figures.js';
import { howJudged } from './findings.js';
import { figureMarkdown, findingMarkdown, headerLines, oneLine, tableMarkdown, type ReportOptions } from './markdown.js';
import { transportSection } from './transport.js';
import type { GridCoverage } from './coverage.js';

export { analyseResults, type Cell, type LrResult, type ResultsAnalysis, type SeedRun, type Setting, type Table } from './analysis.js';
export { FINDING_THRESHOLDS, spearman, type Finding, type Verdict } from './findings.js';
export type { ReportOptions } from './markdown.js';
export { gridCoverage, type GridCoverage } from './coverage.js';

/** A rendered report: the markdown text and its figures (file name → SVG text). */
export interface RenderedReport {
  /** The report's markdown; figures are referenced as `figures/<name>`. */
  readonly markdown: string;
  /** The figures: file name (e.g. `main-accuracy.svg`) → SVG text. */
  readonly figures: Record<string, string>;
  /** Which runs of each grid the records name they hold (see {@link ResultsAnalysis.coverage}). */
  readonly coverage: readonly GridCoverage[];
}

/**
 * Renders the report of a grid's results: markdown with a table per part of the grid, the figures
 * (SVG via Vega-Lite; asynchronous because Vega renders asynchronously) and the findings.
 * Deterministic: the same records and options give byte-identical output.
 *
 * The figures need the optional dependencies `vega` and `vega-lite` (`npm install vega vega-lite`).
 *
 * @throws {@link asymprop!MissingPackageError} when `vega` or `vega-lite` is not installed.
 *
 * @example
 * ```ts
 * import { readFileSync } from 'node:fs';
 * import { parseResults } from 'asymprop';
 * import { analyseResults, renderReport } from 'asymprop/report';
 *
 * const { records } = parseResults(readFileSync('docs/results/quick/results.jsonl', 'utf8'), 'results.jsonl');
 * for (const f of analyseResults(records).settings[0]!.findings) console.log(f.number, f.verdict); // 1 partly supported, 2 supported, …
 * const { markdown, figures } = await renderReport(records, { command: 'asymprop reproduce --preset quick' });
 * console.log(markdown.split('\n')[0], Object.keys(figures).length); // # asymprop: how important is weight symmetry in backpropagation? 4
 * ```
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

  const protocolRecords = a.records.filter((r) => r.parts.some((p) => p !== 'transport'));
  const transport = transportSection(a.records);
  if (protocolRecords.length > 0 || !transport) {
    lines.push('## Findings', '');
    if (a.settings.length === 0) lines.push('No results: nothing to judge.', '');
    for (const s of a.settings) {
      if (multi) lines.push(`### ${s.label}`, '');
      for (const f of s.findings) lines.push(findingMarkdown(f));
      lines.push('');
    }
    lines.push(howJudged());
  }

  for (const s of protocolRecords.length > 0 || !transport ? a.settings : []) {
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

  if (transport) {
    lines.push(...transport.lines);
    for (const f of transport.figures) lines.push(...addFigure(f));
  }

  lines.push('## Protocol deviations', '');
  const deviations = [...(options.deviations ?? []), ...protocolDeviations(a.records)];
  if (deviations.length === 0) lines.push('None listed.');
  else for (const d of deviations) lines.push(`- ${oneLine(d)}`);
  lines.push('');

  const rendered: Record<string, string> = {};
  for (const f of figures) rendered[f.name] = await toSvg(f.spec);
  return { markdown: lines.join('\n'), figures: rendered, coverage: a.coverage };
}
