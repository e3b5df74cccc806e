/**
 * The weight-transport part of a report: accuracy per rule, architecture and normalisation; the
 * alignment of each layer's feedback over training (the angle between B and W, and between the
 * error a layer receives and backprop's); a sentence per rule, written from the numbers.
 */
import type { TopLevelSpec } from 'vega-lite';
import { archLabel } from '../config.js';
import { methods } from '../../feedback/registry.js';
import type { ResultRecord } from '../results.js';
import { methodColorScale, type Figure } from './figures.js';
import { mean, ordered, pct, unique } from './util.js';

/** A row of the transport tables: an architecture with or without BN (`mlp`, `mlp+BN`, …). */
const settingOf = (r: ResultRecord): string => `${archLabel(r.config)}${r.config.bn ? '+BN' : ''}`;
const SETTING_ORDER = ['mlp', 'mlp+BN', 'lenet', 'lenet+BN', 'resnet8+BN', 'resnet20+BN', 'resnet56+BN'];

/** What the report shows of the transport part. */
export interface TransportSection {
  readonly lines: string[];
  readonly figures: Figure[];
}

type Stat = Record<string, number | null> | null;

/**
 * The dense and conv layers of a setting, by their index in the model: BatchNorm layers keep the
 * exact backward under every rule, so their B–W angle is 0 (to rounding) where a weighted layer's is
 * not (feedback alignment's random B stays near 90°).
 */
function weightedLayers(rs: readonly ResultRecord[]): string[] {
  const probe = rs.find((r) => r.config.feedback === 'fa' && r.history.length > 0) ?? rs.find((r) => r.config.feedback !== 'bp' && r.history.length > 0);
  if (!probe) return [];
  // A layer is weighted if its angle was ever away from 0 (a learned B may reach 0 by the end) or undefined (DFA).
  const layers = new Set<string>();
  for (const h of probe.history) {
    for (const [k, s] of Object.entries((h.feedback ?? {}) as Record<string, Stat>)) if (s && (s['angleVW'] === null || (s['angleVW'] as number) > 0.5)) layers.add(k);
  }
  return [...layers].sort(byLayerIndex);
}

/**
 * Orders dotted layer indices (`"7"`, `"3.0.conv1"`, `"4.0.shortcut.conv"`) segment by segment,
 * numbers numerically and names alphabetically: forward order for the models the builders make
 * (a block's conv1, conv2, then its shortcut). A record's statistics object cannot keep the order
 * itself: JavaScript lists integer-like keys (`"7"`) before the others.
 */
export function byLayerIndex(a: string, b: string): number {
  const pa = a.split('.'), pb = b.split('.');
  for (let i = 0; i < Math.min(pa.length, pb.length); i++) {
    const x = pa[i]!, y = pb[i]!;
    if (x === y) continue;
    const nx = /^\d+$/.test(x), ny = /^\d+$/.test(y);
    if (nx && ny) return Number(x) - Number(y);
    if (nx !== ny) return nx ? -1 : 1;
    return x < y ? -1 : 1;
  }
  return pa.length - pb.length;
}

/** Mean over the seeds of one statistic of one layer at each epoch. */
function statSeries(rs: readonly ResultRecord[], layer: string, key: string): (number | null)[] {
  const epochs = Math.max(0, ...rs.map((r) => r.history.length));
  return Array.from({ length: epochs }, (_, e) => {
    const xs = rs.map((r) => (r.history[e]?.feedback as Record<string, Stat> | undefined)?.[layer]?.[key]).filter((v): v is number => typeof v === 'number');
    return xs.length ? mean(xs) : null;
  });
}

/** Above this many weighted layers, the alignment table has a row per layer instead of a column. */
const WIDE_LAYERS = 8;

const fmtAngle = (x: number | null | undefined): string => (x === null || x === undefined ? '–' : `${x.toFixed(0)}°`);

/** Renders the transport part of `records` (those whose parts include `transport`). */
export function transportSection(records: readonly ResultRecord[], heading = '##'): TransportSection | null {
  const rs = records.filter((r) => r.parts.includes('transport'));
  if (rs.length === 0) return null;
  const registered = methods();
  const cols = ordered(methods('transport').map((m) => m.name), rs.map((r) => r.config.feedback), false);
  const label = (name: string) => registered.find((m) => m.name === name)?.label ?? name;
  const settings = ordered(SETTING_ORDER, rs.map(settingOf), false);
  // The weighted layers of each setting, bottom to top, found once.
  const layersOf = new Map(settings.map((s) => [s, weightedLayers(rs.filter((r) => settingOf(r) === s))]));
  const runsOf = (setting: string, method: string) => rs.filter((r) => settingOf(r) === setting && r.config.feedback === method);
  const accuracy = (setting: string, method: string): { mean: number | null; diverged: number; runs: number } => {
    const cell = runsOf(setting, method);
    const ok = cell.filter((r) => !r.diverged && r.testAccuracy !== null).map((r) => r.testAccuracy as number);
    return { mean: ok.length ? 100 * mean(ok) : null, diverged: cell.filter((r) => r.diverged).length, runs: cell.length };
  };

  const lines: string[] = [`${heading} The weight-transport rules`, ''];
  const lrs = unique(rs.map((r) => r.config.lr)).sort((a, b) => a - b);
  lines.push(`Every rule of the registry's transport study, at learning rate ${lrs.join(', ')} (SGD with momentum ${unique(rs.map((r) => r.config.momentum)).join(', ')}, the protocol's schedule), ${unique(rs.map((r) => r.config.seed)).length} seed(s) per cell.`, '');
  for (const m of cols) {
    const method = registered.find((x) => x.name === m);
    if (method) lines.push(`- **${method.label}** (\`${m}\`): ${method.description}; \`${method.formula}\`.`);
  }
  lines.push('', `${heading}# Test accuracy`, '', 'Mean test accuracy (%) over seeds after the last epoch (✕: every run diverged; (n✕): n of the runs diverged):', '');
  lines.push(`| model | ${cols.map(label).join(' | ')} |`, `|${' --- |'.repeat(cols.length + 1)}`);
  for (const s of settings) {
    lines.push(`| ${s} | ${cols.map((c) => {
      const a = accuracy(s, c);
      if (a.runs === 0) return '';
      if (a.mean === null) return '✕';
      return `${pct(a.mean)}${a.diverged ? ` (${a.diverged}✕)` : ''}`;
    }).join(' | ')} |`);
  }
  lines.push('');

  // Alignment: per setting, per rule, per weighted layer, the first and last epoch's angles.
  lines.push(`${heading}# Alignment of the feedback`, '');
  lines.push("Per weighted layer (dense and conv, bottom to top), the angle between the feedback matrix and W (B–W; none for DFA, which has no matrix of W's shape) and between the error the layer receives and the one backprop would deliver to it (received), each on the last batch of the first → last epoch, averaged over seeds. The top layer always receives the true error.", '');
  const figures: Figure[] = [];
  const figureRows: Record<string, string | number>[] = [];
  for (const s of settings) {
    const layers = layersOf.get(s)!;
    if (layers.length === 0) continue;
    const rules = cols.filter((x) => x !== 'bp' && runsOf(s, x).some((r) => !r.diverged));
    const span = (c: string, l: string, key: string) => {
      const series = statSeries(runsOf(s, c).filter((r) => !r.diverged), l, key);
      return `${fmtAngle(series[0])} → ${fmtAngle(series[series.length - 1])}`;
    };
    if (layers.length <= WIDE_LAYERS) {
      lines.push(`**${s}** (layers ${layers.join(', ')})`, '');
      lines.push(`| rule | ${layers.map((l, i) => `layer ${l} B–W${i === layers.length - 1 ? ' (top)' : ''}`).join(' | ')} | ${layers.slice(0, -1).map((l) => `layer ${l} received`).join(' | ')} |`);
      lines.push(`|${' --- |'.repeat(2 * layers.length)}`);
      for (const c of rules) {
        lines.push(`| ${label(c)} | ${[...layers.map((l) => span(c, l, 'angleVW')), ...layers.slice(0, -1).map((l) => span(c, l, 'receivedErrorAngle'))].join(' | ')} |`);
      }
    } else {
      // A deep network: a row per layer (a column per layer would make the table unreadable).
      lines.push(`**${s}** (${layers.length} weighted layers; each cell: B–W, then received)`, '');
      lines.push(`| layer | ${rules.map(label).join(' | ')} |`, `|${' --- |'.repeat(rules.length + 1)}`);
      layers.forEach((l, i) => {
        const top = i === layers.length - 1;
        lines.push(`| ${l}${top ? ' (top)' : ''} | ${rules.map((c) => `${span(c, l, 'angleVW')}${top ? '' : ` · ${span(c, l, 'receivedErrorAngle')}`}`).join(' | ')} |`);
      });
    }
    for (const c of rules) {
      const cell = runsOf(s, c).filter((r) => !r.diverged);
      layers.forEach((l, i) => {
        for (const [key, measure] of [['angleVW', 'angle between B and W'], ['receivedErrorAngle', 'angle to backprop’s error']] as const) {
          statSeries(cell, l, key).forEach((v, e) => {
            if (v !== null) figureRows.push({ setting: s, layer: `layer ${i + 1} of ${layers.length}`, method: label(c), measure, epoch: e + 1, angle: v });
          });
        }
      });
    }
    lines.push('');
  }
  // The rules drawn (not bp, the reference), each in its own colour.
  const drawn = (rows: readonly Record<string, string | number>[]) => cols.filter((c) => rows.some((r) => r['method'] === label(c)));
  const figureSpec = (rows: Record<string, string | number>[], facet: object, columns?: number): TopLevelSpec => ({
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    data: { values: rows },
    facet,
    spec: {
      width: 150,
      height: 110,
      layer: [{
        mark: { type: 'line', point: true },
        encoding: {
          x: { field: 'epoch', type: 'quantitative', title: 'epoch', axis: { tickMinStep: 1 } },
          y: { field: 'angle', type: 'quantitative', title: 'angle (°)', scale: { domain: [0, 100] } },
          color: { field: 'method', type: 'nominal', sort: cols.map(label), scale: methodColorScale(drawn(rows), label), title: 'rule' },
          strokeDash: { field: 'measure', type: 'nominal', title: null },
        },
      }],
    },
    ...(columns ? { columns } : {}),
    config: { font: 'sans-serif' },
  }) as unknown as TopLevelSpec;
  const caption = 'Alignment over training, per weighted layer (bottom to top): the angle between each rule’s feedback matrix and W (solid), and between the error each layer receives and backprop’s (dashed), mean over seeds';
  const deep = new Set(settings.filter((s) => layersOf.get(s)!.length > WIDE_LAYERS));
  const shallowRows = figureRows.filter((r) => !deep.has(r['setting'] as string));
  if (shallowRows.length > 0) {
    figures.push({ name: 'transport-alignment.svg', caption, spec: figureSpec(shallowRows, { row: { field: 'setting', sort: settings, title: null }, column: { field: 'layer', title: null } }) });
  }
  // A deep setting gets a figure of its own, its layers wrapped six to a row.
  for (const s of deep) {
    const rows = figureRows.filter((r) => r['setting'] === s);
    if (rows.length === 0) continue;
    const n = layersOf.get(s)!.length;
    const sort = Array.from({ length: n }, (_, i) => `layer ${i + 1} of ${n}`);
    figures.push({ name: `transport-alignment-${s.replace(/\W+/g, '-').toLowerCase()}.svg`, caption: `${caption} (${s})`, spec: figureSpec(rows, { field: 'layer', sort, title: null }, 6) });
  }

  lines.push(`${heading}# What the numbers show`, '');
  const bpAcc = (s: string) => accuracy(s, 'bp').mean;
  for (const c of cols.filter((x) => x !== 'bp')) {
    const parts: string[] = [];
    const gaps = settings.map((s) => ({ s, a: accuracy(s, c), b: bpAcc(s) })).filter((x) => x.a.runs > 0);
    const accText = gaps.map(({ s, a, b }) => (a.mean === null ? `${s} diverged` : `${s} ${pct(a.mean)}%${b !== null ? ` (${a.mean - b >= 0 ? '+' : '−'}${pct(Math.abs(a.mean - b))} against bp)` : ''}`));
    parts.push(`test accuracy ${accText.join(', ')}`);
    const aligned: string[] = [];
    for (const s of settings) {
      const cell = runsOf(s, c).filter((r) => !r.diverged);
      const layers = layersOf.get(s)!.slice(0, -1);
      if (cell.length === 0 || layers.length === 0) continue;
      const recv = layers.map((l) => statSeries(cell, l, 'receivedErrorAngle')).map((x) => x[x.length - 1]).filter((v): v is number => v !== null && v !== undefined);
      const vw = layers.map((l) => statSeries(cell, l, 'angleVW')).map((x) => [x[0], x[x.length - 1]] as const).filter(([a, b]) => typeof a === 'number' && typeof b === 'number') as [number, number][];
      const vwText = vw.length ? `, B–W ${fmtAngle(mean(vw.map(([a]) => a)))} → ${fmtAngle(mean(vw.map(([, b]) => b)))}` : '';
      if (recv.length) aligned.push(`${s}: received error ${fmtAngle(mean(recv))} from backprop's${vwText}`);
    }
    if (aligned.length) parts.push(`below the top layer, on average over layers at the last epoch, ${aligned.join('; ')}`);
    lines.push(`- **${label(c)}**: ${parts.join('; ')}.`);
  }
  lines.push('');

  // The two questions at depth, answered per residual setting from the accuracy table.
  const residual = settings.filter((s) => rs.some((r) => settingOf(r) === s && r.config.arch === 'resnet'));
  if (residual.length > 0) {
    lines.push(`${heading}# At depth`, '');
    lines.push(`Does sign-concordant feedback stay close to backprop on a residual network, and does random feedback fall behind? "Close" is within ${CLOSE_POINTS} points of bp's mean test accuracy (the upper end of the 1–3 points BioTorch reports on ResNet-20 and -56 with BN); "behind" is further below it.`, '');
    for (const s of residual) lines.push(`- ${depthVerdict(s, cols, accuracy, label)}`);
    lines.push('');
  }
  return { lines, figures };
}

/** Points of test accuracy within which a rule counts as close to backprop in the depth verdict. */
export const CLOSE_POINTS = 3;

/** The rules with a fixed random feedback matrix, unrelated to W: the "random feedback" of the depth verdict. */
const RANDOM_RULES = ['fa', 'dfa'];

type Accuracy = (setting: string, method: string) => { mean: number | null; diverged: number; runs: number };

/** One setting's answer to the two depth questions, with the gaps it rests on. */
function depthVerdict(s: string, cols: readonly string[], accuracy: Accuracy, label: (name: string) => string): string {
  const bp = accuracy(s, 'bp');
  if (bp.mean === null) return `**${s}**: no bp run ${bp.runs ? 'trained' : 'yet'}, so neither question can be answered.`;
  // The groups hold every rule of the transport study, so that a grid still running names what it lacks.
  const study = ordered(methods('transport').map((m) => m.name), cols, true);
  const groups = [
    { name: 'sign-concordant feedback', rules: study.filter((c) => c !== 'bp' && methods().find((m) => m.name === c)?.signConcordant) },
    { name: 'random feedback', rules: study.filter((c) => RANDOM_RULES.includes(c)) },
  ];
  const parts = groups.map(({ name, rules }) => {
    const run = rules.filter((c) => accuracy(s, c).runs > 0);
    if (run.length === 0) return `${name} (${rules.map(label).join(', ')}): not run yet`;
    const gaps = run.map((c) => {
      const a = accuracy(s, c);
      return { c, gap: a.mean === null ? null : bp.mean! - a.mean, diverged: a.diverged, runs: a.runs };
    });
    const text = gaps.map(({ c, gap, diverged, runs }) => `${label(c)} ${gap === null ? 'diverged' : `${gap >= 0 ? '−' : '+'}${pct(Math.abs(gap))}`}${diverged && gap !== null ? ` (${diverged} of ${runs} runs diverged)` : ''}`).join(', ');
    const close = gaps.filter((g) => g.gap !== null && g.gap <= CLOSE_POINTS).map((g) => label(g.c));
    const far = gaps.filter((g) => g.gap === null || g.gap > CLOSE_POINTS).map((g) => label(g.c));
    const verdict = far.length === 0 ? `all within ${CLOSE_POINTS} points of bp` : close.length === 0 ? `all more than ${CLOSE_POINTS} points behind bp` : `${close.join(', ')} within ${CLOSE_POINTS} points, ${far.join(', ')} further behind`;
    const missing = rules.filter((c) => !run.includes(c)).map(label);
    return `${name} (${text} against bp): ${verdict}${missing.length ? `; ${missing.join(', ')} not run yet` : ''}`;
  });
  return `**${s}** (bp ${pct(bp.mean)}%): ${parts.join('; ')}.`;
}
