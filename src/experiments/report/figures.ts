/**
 * The report's figures: Vega-Lite specifications drawn from the tables, rendered to SVG with Vega.
 * Vega and Vega-Lite are optional dependencies, imported when the first figure is drawn.
 */
import type { TopLevelSpec } from 'vega-lite';
import { REPORT_PACKAGES, importOptional } from '../../io/optional.js';
import { EXTRA_METHOD_COLORS, methodColor, methods } from '../../feedback/registry.js';
import { MAGNITUDES, METHODS } from '../grid.js';
import type { Setting, Table } from './analysis.js';
import { NORM_ORDER, SWEEP_ROWS, cellKey, mean, ordered, scoreOf, unique } from './util.js';

const ACCURACY_TITLE = 'Test accuracy (%)';
const ACCURACY_SCALE = { domain: [0, 100] };
const FLIP_SCALE = { domain: [0, 1] };
/** The mark drawn where a bar or point would be for a cell whose runs all diverged. */
const DIVERGED_MARK = '✕';

export interface Figure {
  readonly name: string;
  readonly caption: string;
  /**
   * Its Vega-Lite specification (a vega-lite `TopLevelSpec`, built typed as one). Typed as an
   * object here so that the shipped declarations never name vega-lite's types, which TypeScript
   * cannot resolve under node10 resolution (vega-lite declares them only in "exports").
   */
  readonly spec: object;
}

/**
 * The colour scale of a figure whose series are methods: each method in its own colour, the one
 * it has everywhere (`methodColor`), whatever else the figure shows. A method that is not
 * registered (a results file of a user's method read without `--import`) gets an extra colour.
 *
 * @param names the methods' names, in the legend's order.
 * @param label how the figure's data name a method (its name by default).
 */
export function methodColorScale(names: readonly string[], label: (name: string) => string = (name) => name): { domain: string[]; range: string[] } {
  const known = new Set(methods().flatMap((m) => [m.name, ...m.aliases]));
  return {
    domain: names.map(label),
    range: names.map((name, i) => (known.has(name) ? methodColor(name) : EXTRA_METHOD_COLORS[i % EXTRA_METHOD_COLORS.length]!)),
  };
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

/** Vega and Vega-Lite, imported once. */
let renderer: Promise<[typeof import('vega'), typeof import('vega-lite')]> | null = null;

/** Imports the renderer, Vega and Vega-Lite (not exported, so that no declaration names their types). */
function loadRenderer(): Promise<[typeof import('vega'), typeof import('vega-lite')]> {
  renderer ??= importOptional(REPORT_PACKAGES, () => Promise.all([import('vega'), import('vega-lite')])).catch((e: unknown) => {
    renderer = null; // installed later, found next time
    throw e;
  });
  return renderer;
}

/**
 * Resolves when the figures can be drawn: Vega and Vega-Lite are installed (and now loaded).
 *
 * @throws `MissingPackageError` when `vega` or `vega-lite` is not installed.
 */
export async function checkRenderer(): Promise<void> {
  await loadRenderer();
}

/** Renders a figure's Vega-Lite specification to SVG. */
export async function toSvg(spec: object): Promise<string> {
  const [vega, { compile }] = await loadRenderer();
  const view = new vega.View(vega.parse(compile(spec as TopLevelSpec).spec), { renderer: 'none', logLevel: vega.Error });
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

export function mainFigure(s: Setting, name: string): Figure | null {
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

export function signFigure(s: Setting, name: string): Figure | null {
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

export function magnitudeFigure(s: Setting, name: string): Figure | null {
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

export function curvesFigure(s: Setting, name: string): Figure | null {
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
          color: { field: 'method', type: 'nominal', title: 'Feedback method', sort: [...t.cols], scale: methodColorScale(t.cols) },
          shape: { field: 'method', type: 'nominal', title: 'Feedback method', sort: [...t.cols] },
        },
      },
    } as TopLevelSpec,
  };
}
