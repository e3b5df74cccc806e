import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunConfig } from '../src/experiments/config.js';
import { gridFor, normalisationOf, runId, shardOf, type GridRun } from '../src/experiments/grid.js';
import { analyseResults, renderReport, spearman, type Finding, type RenderedReport } from '../src/experiments/report/index.js';
import { RESULTS_FORMAT, parseResults, type ResultRecord } from '../src/experiments/results.js';
import { writeReport } from '../src/experiments/writeReport.js';
import { protocolDeviations } from '../src/experiments/report/deviations.js';
import { readFileSync } from 'node:fs';
import { methods } from '../src/feedback/registry.js';
import { closestPair } from './colour-vision.js';

/** A run's outcome: final test accuracy in percent, or the epoch where it diverged. */
type Outcome = number | { diverged: number };

const EPOCHS = 3;
const METHOD_BASE: Record<string, number> = { bp: 90, usf: 89, brsf: 89.5, frsf: 89.2, fa: 85 };
const MAGNITUDE_OFFSET: Record<string, number> = { 'abs-normal': -0.2, lognormal: -0.6, 'const-10': 0.1, 'const-0.1': -0.5 };

/**
 * The synthetic grid's known numbers. Best learning rate: 0.01 without BM, 1e-3 with it (the other
 * rate is 2 or 3 points worse), except mlp/BN/fa where 0.1 wins. BN+BM adds half a point. Without
 * BN and BM the sign-concordant methods fail: usf diverges, brsf and frsf fall 20–30 points.
 * Seed 1 is 0.1 below the cell's value, seed 2 0.1 above.
 */
function outcome(c: RunConfig): Outcome {
  const norm = normalisationOf(c);
  const seedOffset = c.seed === 1 ? -0.1 : 0.1;
  const bestLr = c.bm ? 1e-3 : 0.01;
  const lrOffset = c.lr === bestLr ? 0 : c.bm ? -3 : -2;
  if (norm === 'none') {
    switch (c.feedback) {
      case 'usf':
        return { diverged: c.lr === 0.1 ? 2 : 3 };
      case 'brsf':
        // lr 0.1: every seed diverges; lr 0.01: mlp's seed 2 diverges, the rest learn.
        if (c.lr === 0.1) return { diverged: 1 };
        if (c.arch === 'mlp' && c.seed === 2) return { diverged: 2 };
        return 60 + seedOffset;
      case 'frsf':
        // lr 0.1 has the higher mean over the seed that survives, but lr 0.01 has no divergence.
        if (c.lr === 0.1) return c.seed === 1 ? { diverged: 1 } : 75;
        return 70 + seedOffset;
      case 'bp':
        return 90 + lrOffset + seedOffset;
      default:
        return 80 + lrOffset + seedOffset;
    }
  }
  let value = METHOD_BASE[c.feedback]! + (norm === 'BN+BM' ? 0.5 : 0);
  if (c.arch === 'mlp' && norm === 'BN' && c.feedback === 'fa') value += c.lr === 0.1 ? 1 : 0;
  else value += lrOffset;
  value -= 70 * c.flip;
  if (c.magnitude !== null) value += MAGNITUDE_OFFSET[c.magnitude]!;
  return value + seedOffset;
}

function record(run: GridRun, out: Outcome): ResultRecord {
  const diverged = typeof out === 'object';
  const lastEpoch = diverged ? out.diverged - 1 : run.config.epochs;
  const final = diverged ? 0.3 : out / 100;
  const history = Array.from({ length: lastEpoch }, (_, i) => {
    const epoch = i + 1;
    const testAccuracy = Math.max(0, final - 0.05 * (run.config.epochs - epoch));
    return { epoch, lr: run.config.lr, trainLoss: 1 / epoch, trainAccuracy: testAccuracy, testLoss: 1 / epoch, testAccuracy };
  });
  return {
    format: RESULTS_FORMAT,
    id: run.id,
    parts: run.parts,
    config: run.config,
    strategy: run.config.feedback,
    testAccuracy: diverged ? null : final,
    trainLoss: diverged ? null : 0.3,
    diverged,
    divergedAt: diverged ? { epoch: out.diverged, step: 7, detail: 'loss is NaN', layer: 'output of layer 5 Dense(256→10)' } : null,
    history,
    seconds: 2,
    finishedAt: '2026-01-01T00:00:00.000Z',
  };
}

const GRID = gridFor('protocol', { seeds: [1, 2], epochs: EPOCHS });
/** The full synthetic grid, less mlp/BM/fa (a shard not merged yet). */
const RECORDS: ResultRecord[] = GRID.filter((r) => !(r.config.arch === 'mlp' && normalisationOf(r.config) === 'BM' && r.config.feedback === 'fa')).map((run) =>
  record(run, outcome(run.config)),
);

/** The records with some outcomes changed. */
function tweak(records: readonly ResultRecord[], change: (c: RunConfig, current: Outcome) => Outcome): ResultRecord[] {
  return records.map((r) => {
    const current: Outcome = r.diverged ? { diverged: r.divergedAt!.epoch } : r.testAccuracy! * 100;
    const next = change(r.config, current);
    return next === current ? r : record({ id: r.id, parts: r.parts, config: r.config }, next);
  });
}

const lower = (by: number) => (out: Outcome): Outcome => (typeof out === 'number' ? out - by : out);
const verdicts = (records: readonly ResultRecord[]): Finding['verdict'][] => analyseResults(records).settings[0]!.findings.map((f) => f.verdict);
const finding = (records: readonly ResultRecord[], n: number): Finding => analyseResults(records).settings[0]!.findings[n - 1]!;

/** The markdown row of a table row label, within the section that starts at `heading`. */
function tableRow(markdown: string, heading: string, label: string): string[] {
  const section = markdown.slice(markdown.indexOf(heading));
  const line = section.split('\n').find((l) => l.startsWith(`| ${label} |`));
  expect(line, `row ${label} under ${heading}`).toBeDefined();
  return line!.split(' | ').map((c) => c.replace(/^\| /, '').replace(/ \|$/, ''));
}

describe('report tables', () => {
  let report: RenderedReport;
  beforeAll(async () => {
    report = await renderReport(RECORDS, {
      title: 'Synthetic grid',
      command: 'asymprop reproduce --preset protocol',
      machine: '2 cores, Node 20',
      wallSeconds: 3725,
      deviations: ['Shuffling uses the library generator, not PyTorch.'],
    });
  });

  it('shows the mean and per-seed values at the best learning rate of each cell', () => {
    const md = report.markdown;
    const bn = tableRow(md, '### Main part: mlp', 'BN');
    // columns: label, bp, usf, brsf, frsf, fa
    expect(bn[1]).toBe('90.0 (lr 0.01; 89.9, 90.1)');
    expect(bn[5]).toBe('86.0 (lr 0.1; 85.9, 86.1)');
    const bm = tableRow(md, '### Main part: lenet', 'BM');
    expect(bm[1]).toBe('90.0 (lr 0.001; 89.9, 90.1)');
    const bnbm = tableRow(md, '### Main part: lenet', 'BN+BM');
    expect(bnbm[3]).toBe('90.0 (lr 0.001; 89.9, 90.1)');
  });

  it('lists every learning rate and marks the best in bold', () => {
    const md = report.markdown;
    expect(tableRow(md, '### Main part: mlp', 'BN, lr 0.1')[1]).toBe('88.0 (87.9, 88.1)');
    expect(tableRow(md, '### Main part: mlp', 'BN, lr 0.01')[1]).toBe('**90.0 (89.9, 90.1)**');
    expect(tableRow(md, '### Main part: mlp', 'none, lr 0.1')[2]).toBe('diverged (epochs 2, 2)');
    expect(tableRow(md, '### Main part: mlp', 'none, lr 0.1')[4]).toBe('75.0 (diverged (epoch 1), 75.0)');
  });

  it('renders diverged cells and runs as such', () => {
    const none = tableRow(report.markdown, '### Main part: mlp', 'none');
    expect(none[2]).toBe('diverged');
    expect(none[3]).toBe('59.9 (lr 0.01; 59.9, diverged (epoch 2); mean of 1/2 seeds)');
    // A rate where a seed diverged loses to one where none did, even with a higher mean.
    expect(none[4]).toBe('70.0 (lr 0.01; 69.9, 70.1)');
  });

  it('shows missing cells as — and counts them in the header', () => {
    const md = report.markdown;
    expect(tableRow(md, '### Main part: mlp', 'BM')[5]).toBe('—');
    expect(tableRow(md, '### Main part: mlp', 'BM, lr 0.001')[5]).toBe('—');
    expect(tableRow(md, '### Main part: lenet', 'BM')[5]).not.toBe('—');
    expect(md).toContain('- Missing: 1 table cell without a run; 4 of the 248 runs that the tables\' rows, columns, learning rates and seeds imply are absent');
    expect(md).toContain('Missing: 1 of 20 cells (BM fa); 4 of 80 expected runs');
  });

  it('puts the sign and magnitude sweeps in their own tables', () => {
    const md = report.markdown;
    const sign = tableRow(md, '### Sign concordance: lenet, frsf', 'BN');
    expect(sign.slice(1).map((c) => c.split(' ')[0])).toEqual(['89.2', '82.2', '71.7', '54.2', '36.7', '19.2']);
    expect(md).toContain('| normalisation \\ flip | flip 0 | flip 0.1 | flip 0.25 | flip 0.5 | flip 0.75 | flip 1 |');
    const mag = tableRow(md, '### Magnitude laws: lenet, brsf', 'BN+BM');
    expect(mag[0]).toBe('BN+BM');
    expect(mag.slice(1).map((c) => c.split(' ')[0])).toEqual(['90.0', '89.8', '89.4', '90.1', '89.5']);
  });

  it('has the header, the findings, how they are judged and the deviations', () => {
    const md = report.markdown;
    expect(md.startsWith('# Synthetic grid\n')).toBe(true);
    expect(md).toContain('asymprop reproduce --preset protocol');
    expect(md).toContain('- Machine: 2 cores, Node 20');
    expect(md).toContain('- Wall time: 1 h 02 min 05 s (3725 s)');
    expect(md).toContain('- Dataset(s): fashion-mnist');
    expect(md).toContain('- Epochs: 3');
    expect(md).toContain('- Seeds: 1, 2');
    expect(md).toMatch(/- Runs: 228 \(per part: main 156, sign 48, magnitude 40; .*\), of which 15 diverged/);
    expect(md).toContain('### How the findings are judged');
    expect(md).toContain('## Protocol deviations\n\n- Shuffling uses the library generator, not PyTorch.');
    for (let n = 1; n <= 4; n++) expect(md).toMatch(new RegExp(`^${n}\\. \\*\\*.*: supported\\*\\*`, 'm'));
  });

  it('embeds valid SVG figures with their axis titles', () => {
    const { figures, markdown } = report;
    expect(Object.keys(figures).sort()).toEqual(['magnitude-accuracy.svg', 'main-accuracy.svg', 'main-curves.svg', 'sign-flip.svg']);
    for (const [name, svg] of Object.entries(figures)) {
      expect(svg.startsWith('<svg'), name).toBe(true);
      expect(svg.trimEnd().endsWith('</svg>'), name).toBe(true);
      expect(svg, name).toContain('Test accuracy (%)');
      expect(markdown).toMatch(new RegExp(`!\\[[^\\]]+\\]\\(figures/${name.replace('.', '\\.')}\\)`));
    }
    expect(figures['main-accuracy.svg']).toContain('Feedback method');
    expect(figures['main-accuracy.svg']).toContain('Normalisation');
    expect(figures['main-accuracy.svg']).toContain('lenet');
    expect(figures['main-accuracy.svg']).toContain('✕');
    expect(figures['sign-flip.svg']).toContain('Fraction of flipped feedback signs');
    expect(figures['sign-flip.svg']).toContain('BN+BM');
    expect(figures['magnitude-accuracy.svg']).toContain('Magnitude law');
    expect(figures['magnitude-accuracy.svg']).toContain('lognormal');
    expect(figures['main-curves.svg']).toContain('Epoch');
    expect(figures['main-curves.svg']).toContain('frsf');
    expect(markdown).toContain('No curve: none usf (all runs diverged)');
    expect(markdown).toContain('✕ marks a cell whose runs all diverged (no bar): mlp none usf; lenet none usf.');
  });

  it('is deterministic: the same records in any order give byte-identical output', async () => {
    const again = await renderReport([...RECORDS].reverse(), {
      title: 'Synthetic grid',
      command: 'asymprop reproduce --preset protocol',
      machine: '2 cores, Node 20',
      wallSeconds: 3725,
      deviations: ['Shuffling uses the library generator, not PyTorch.'],
    });
    expect(again.markdown).toBe(report.markdown);
    expect(again.figures).toEqual(report.figures);
  });
});

describe('report findings', () => {
  it('supports all four findings on the synthetic grid', () => {
    expect(verdicts(RECORDS)).toEqual(['supported', 'supported', 'supported', 'supported']);
    expect(finding(RECORDS, 1).sentence).toContain('under BN the lenet/brsf accuracy across 5 magnitude laws spans 0.7 points (lognormal 88.9 to const-10 89.6)');
    expect(finding(RECORDS, 2).sentence).toContain('falls by 70.0 points from flip 0 (89.2) to flip 1 (19.2), Spearman ρ = -1.00');
    expect(finding(RECORDS, 3).sentence).toContain('in lenet with BN+BM (their best setting; bp 90.5) brsf is 0.5 points below bp and frsf is 0.8 points below bp');
    expect(finding(RECORDS, 4).sentence).toContain('mlp without BN and BM: usf diverged, brsf 30.1 points below bp, frsf 20.0 points below bp');
  });

  it('finding 1 turns when one magnitude law is far off', () => {
    const bnOnly = tweak(RECORDS, (c, o) => (c.magnitude === 'const-10' && !c.bm ? lower(5)(o) : o));
    expect(finding(bnOnly, 1).verdict).toBe('partly supported');
    expect(finding(bnOnly, 1).sentence).toContain('spans 4.9 points (const-10 84.6 to uniform 89.5), more than 2');
    const both = tweak(RECORDS, (c, o) => (c.magnitude === 'const-10' ? lower(5)(o) : o));
    expect(finding(both, 1).verdict).toBe('not supported');
    const diverged = tweak(RECORDS, (c, o) => (c.magnitude === 'lognormal' ? { diverged: 4 } : o));
    expect(finding(diverged, 1).verdict).toBe('not supported');
    expect(finding(diverged, 1).sentence).toContain('diverged: lognormal');
  });

  it('finding 2 turns when accuracy does not fall with the flipped fraction', () => {
    const flat = tweak(RECORDS, (c, o) => (c.flip > 0 && typeof o === 'number' ? o + 70 * c.flip : o));
    expect(finding(flat, 2).verdict).toBe('not supported');
    const small = tweak(RECORDS, (c, o) => (c.flip > 0 && typeof o === 'number' ? o + 65 * c.flip : o));
    expect(finding(small, 2).verdict).toBe('not supported');
    expect(finding(small, 2).sentence).toContain('falls by 5.0 points');
  });

  it('finding 3 turns when brsf or frsf falls behind bp', () => {
    const behind = tweak(RECORDS, (c, o) => (c.feedback === 'frsf' && c.flip === 0 ? lower(3)(o) : o));
    expect(finding(behind, 3).verdict).toBe('not supported');
    expect(finding(behind, 3).sentence).toContain('frsf is 3.8 points below bp, not within 2');
  });

  it('finding 4 turns when feedback learns without normalisation, or fails with it', () => {
    const learnsWithout = tweak(RECORDS, (c, o) => (!c.bn && !c.bm && c.feedback !== 'bp' ? 89 : o));
    expect(finding(learnsWithout, 4).verdict).toBe('partly supported');
    const failsWith = tweak(RECORDS, (c, o) => ((c.bn || c.bm) && c.feedback === 'usf' ? lower(10)(o) : o));
    expect(finding(failsWith, 4).verdict).toBe('not supported');
    expect(finding(failsWith, 4).sentence).toContain('usf 11.0 points below bp (BN)');
  });

  it('says "not tested in these results" when a part is absent', () => {
    const noSweeps = RECORDS.flatMap((r) => {
      const parts = r.parts.filter((p) => p === 'main');
      return parts.length === 0 ? [] : [{ ...r, parts }];
    });
    const v = verdicts(noSweeps);
    expect(v).toEqual(['not tested in these results', 'not tested in these results', 'supported', 'supported']);
    expect(finding(noSweeps, 1).sentence).toMatch(/not tested in these results \(.+\)\.$/);
    expect(analyseResults([]).settings).toEqual([]);
  });

  it('renders a report of no records at all', async () => {
    const { markdown, figures } = await renderReport([]);
    expect(markdown).toContain('- Runs: 0');
    expect(markdown).toContain('## Protocol deviations\n\nNone listed.');
    expect(figures).toEqual({});
  });

  it('computes Spearman correlations with ties', () => {
    expect(spearman([0, 0.5, 1], [3, 2, 1])).toBeCloseTo(-1);
    expect(spearman([1, 2, 3, 4], [1, 1, 2, 2])).toBeCloseTo(0.894, 3);
    expect(spearman([1, 2, 3], [5, 5, 5])).toBeNaN();
  });
});

describe('report of several settings', () => {
  it('gives each dataset and schedule its own tables, findings and figures', async () => {
    const mlp = RECORDS.filter((r) => r.config.arch === 'mlp' && r.parts.includes('main'));
    const other = mlp.map((r) => {
      const config: RunConfig = { ...r.config, dataset: 'mnist-embedded', epochs: 2 };
      return record({ id: runId(config), parts: r.parts, config }, r.diverged ? { diverged: 1 } : r.testAccuracy! * 100);
    });
    const { markdown, figures } = await renderReport([...mlp, ...other]);
    expect(Object.keys(figures).sort()).toEqual([
      'main-accuracy-fashion-mnist-3ep.svg',
      'main-accuracy-mnist-embedded-2ep.svg',
      'main-curves-fashion-mnist-3ep.svg',
      'main-curves-mnist-embedded-2ep.svg',
    ]);
    expect(markdown).toContain('- Dataset(s): fashion-mnist, mnist-embedded');
    expect(markdown).toContain('- Epochs: 2, 3');
    expect(markdown).toContain('## Findings\n\n### fashion-mnist, 3 epochs\n');
    expect(markdown).toContain('### mnist-embedded, 2 epochs\n');
    expect(markdown).toContain('## mnist-embedded, 2 epochs\n\n### Main part');
    expect(tableRow(markdown, '## mnist-embedded, 2 epochs', 'BN')[1]).toBe('90.0 (lr 0.01; 89.9, 90.1)');
  });
});

describe('writeReport', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'asymprop-report-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('writes report.md, the figures and results.jsonl, leaving no temporary file', async () => {
    const out = join(dir, 'nested', 'report');
    const small = RECORDS.filter((r) => r.config.arch === 'mlp');
    const written = await writeReport(out, [...small, ...small.slice(0, 3)], { title: 'Small' });
    expect(written.report).toBe(join(out, 'report.md'));
    expect(written.duplicates).toHaveLength(3);
    expect((await readdir(out)).sort()).toEqual(['figures', 'report.md', 'results.jsonl']);
    expect((await readdir(join(out, 'figures'))).sort()).toEqual(['main-accuracy.svg', 'main-curves.svg']);
    const md = await readFile(written.report, 'utf8');
    expect(md).toBe((await renderReport([...small, ...small.slice(0, 3)], { title: 'Small' })).markdown);
    expect(md).toContain('- Duplicate ids dropped (first kept): 3');
    expect(md).toContain('1. **The magnitudes of the feedback weights do not matter: not tested in these results**');
    const text = await readFile(join(out, 'results.jsonl'), 'utf8');
    const parsed = parseResults(text, 'results.jsonl');
    expect(parsed.truncatedTail).toBe(false);
    expect(parsed.records).toHaveLength(small.length);
    const ids = parsed.records.map((r) => r.id);
    expect(ids).toEqual([...ids].sort());
    expect(parsed.records.find((r) => r.id === small[0]!.id)).toEqual(small[0]);

    // Writing again replaces every file in place.
    await writeReport(out, small.slice(0, 10), { title: 'Smaller' });
    expect((await readFile(written.report, 'utf8')).startsWith('# Smaller\n')).toBe(true);
    expect(parseResults(await readFile(join(out, 'results.jsonl'), 'utf8'), 'results.jsonl').records).toHaveLength(10);
    const all = [...(await readdir(out)), ...(await readdir(join(out, 'figures')))];
    expect(all.filter((f) => f.includes('.tmp'))).toEqual([]);
  });
});

describe('protocol deviations read from the runs', () => {
  const quick = parseResults(readFileSync(new URL('../docs/results/quick/results.jsonl', import.meta.url), 'utf8'), 'quick').records;

  it('lists what the quick preset leaves out of the protocol: data, epochs, seeds and learning rates', () => {
    const d = protocolDeviations(quick);
    expect(d[0]).toBe('Data: mnist-embedded instead of Fashion-MNIST (56 of 56 runs)');
    expect(d[1]).toMatch(/^3 epochs instead of 10 .*\(56 of 56 runs\)$/);
    expect(d[2]).toMatch(/^56 of 56 cells .* fewer than 2 seeds/);
    expect(d).toContain('Learning rates without BM: 0.01 instead of 0.1 and 0.01');
    expect(d).toContain('Learning rates with BM: 0.001 instead of 0.001 and 0.0001');
    expect(d[d.length - 1]).toMatch(/flush-to-zero/);
  });

  it('lists only the library-wide deviation for runs that follow the protocol, and nothing for no runs', () => {
    const conform = quick.flatMap((r) =>
      [1, 2].map((seed) => ({ ...r, config: { ...r.config, dataset: 'fashion-mnist' as const, epochs: 10, seed, lr: r.config.bm ? (seed === 1 ? 1e-3 : 1e-4) : seed === 1 ? 0.1 : 0.01 } })),
    );
    // Each configuration now has its two learning rates, but one seed each: seeds are still flagged.
    expect(protocolDeviations(conform).filter((d) => !/flush-to-zero/.test(d))).toEqual([expect.stringMatching(/fewer than 2 seeds/)]);
    const twoSeeds = conform.flatMap((r) => [r, { ...r, config: { ...r.config, seed: r.config.seed + 10 } }]);
    expect(protocolDeviations(twoSeeds)).toHaveLength(1);
    expect(protocolDeviations([])).toEqual([]);
  });
});


describe('the committed reports are what their results render to', () => {
  // Everything in a report is a function of its results, except what the header says about how it
  // was made (title, command, machine, wall time): read those back from the committed report.
  for (const dir of ['quick', 'protocol', 'transport-quick', 'transport', 'deep-quick', 'deep']) {
    it(`docs/results/${dir}`, async () => {
      const base = new URL(`../docs/results/${dir}/`, import.meta.url);
      const committed = readFileSync(new URL('report.md', base), 'utf8');
      const { records } = parseResults(readFileSync(new URL('results.jsonl', base), 'utf8'), `${dir}/results.jsonl`);
      const wall = /^- Wall time: .* \((\d+) s\)$/m.exec(committed);
      const rendered = await renderReport(records, {
        title: /^# (.*)$/m.exec(committed)![1]!,
        command: /^```sh\n(.*)\n```$/m.exec(committed)![1]!,
        machine: /^- Machine: (.*)$/m.exec(committed)![1]!,
        ...(wall ? { wallSeconds: Number(wall[1]) } : {}),
      });
      expect(rendered.markdown).toBe(committed);
      const figureFiles = (await readdir(new URL('figures/', base))).sort();
      expect(Object.keys(rendered.figures).sort()).toEqual(figureFiles);
      for (const name of figureFiles) expect(rendered.figures[name], name).toBe(readFileSync(new URL(`figures/${name}`, base), 'utf8'));
    });
  }

  it('the protocol grid is complete: every run of the preset, 2 seeds a cell, on Fashion-MNIST for 10 epochs', () => {
    const { records } = parseResults(readFileSync(new URL('../docs/results/protocol/results.jsonl', import.meta.url), 'utf8'), 'protocol');
    const expected = gridFor('protocol', {}).map((run) => run.id);
    expect(expected).toHaveLength(232);
    expect(records.map((r) => r.id).sort()).toEqual([...expected].sort());
    // The only deviation the report finds is the library-wide one.
    expect(protocolDeviations(records)).toEqual([expect.stringMatching(/flush-to-zero/)]);
  });
});

describe('the deep report (a residual network)', () => {
  // ResNet-20's 22 weighted layers, as the model names them (stem, block convs, shortcuts, dense).
  const LAYERS = ['0', ...['3', '4', '5'].flatMap((stage, s) => [0, 1, 2].flatMap((b) => [`${stage}.${b}.conv1`, `${stage}.${b}.conv2`, ...(s > 0 && b === 0 ? [`${stage}.${b}.shortcut.conv`] : [])])), '7'];
  const ACC: Record<string, number> = { bp: 90, usf: 89, brsf: 88.5, frsf: 89.5, fa: 70, dfa: 75, kp: 85 };
  const deepRecords = (acc: Record<string, number>) =>
    gridFor('deep', { epochs: 2 }).filter((run) => run.config.feedback in acc).map((run) => {
      const r = record(run, acc[run.config.feedback]! + (run.config.seed === 1 ? -0.1 : 0.1));
      // Angles: B–W 40° for the sign-concordant rules, 90° for FA and KP, none for DFA; received 10° more.
      const vw = ['fa', 'kp'].includes(run.config.feedback) ? 90 : run.config.feedback === 'dfa' ? null : 40;
      const history = r.history.map((h) => ({ ...h, feedback: Object.fromEntries(LAYERS.map((l, i) => [l, { angleVW: vw, receivedErrorAngle: i === LAYERS.length - 1 ? 0 : (vw ?? 80) + 10 }])) }));
      return { ...r, history };
    });

  it('has a row per layer in the alignment table, and its own figure with the layers wrapped', async () => {
    const { markdown, figures } = await renderReport(deepRecords(ACC));
    const table = markdown.split('**resnet20+BN** (22 weighted layers; each cell: B–W, then received)')[1]!.split('\n\n')[1]!.split('\n');
    expect(table[0]).toBe('| layer | uSF | brSF | frSF | FA | DFA | KP |');
    expect(table.slice(2).map((row) => row.split(' | ')[0]!.slice(2))).toEqual([...LAYERS.slice(0, -1), '7 (top)']);
    expect(table[2]).toBe('| 0 | 40° → 40° · 50° → 50° | 40° → 40° · 50° → 50° | 40° → 40° · 50° → 50° | 90° → 90° · 100° → 100° | – → – · 90° → 90° | 90° → 90° · 100° → 100° |');
    expect(Object.keys(figures)).toContain('transport-alignment-resnet20-bn.svg');
    expect(Object.keys(figures)).not.toContain('transport-alignment.svg');
    // The 22 panels (wrapped six to a row), titled in forward order.
    const svg = figures['transport-alignment-resnet20-bn.svg']!;
    expect(svg.startsWith('<svg')).toBe(true);
    const titles = [...svg.matchAll(/>(layer \d+ of 22)</g)].map((m) => m[1]);
    expect(titles).toEqual(LAYERS.map((_, i) => `layer ${i + 1} of 22`));
  });

  it('answers both questions from the accuracy table, and turns with it', async () => {
    const verdict = async (acc: Record<string, number>) => (await renderReport(deepRecords(acc))).markdown.split('\n').find((l) => l.startsWith('- **resnet20+BN**'));
    expect(await verdict(ACC)).toBe('- **resnet20+BN** (bp 90.0%): sign-concordant feedback (uSF −1.0, brSF −1.5, frSF −0.5 against bp): all within 3 points of bp; random feedback (FA −20.0, DFA −15.0 against bp): all more than 3 points behind bp.');
    expect(await verdict({ ...ACC, usf: 85, fa: 88 })).toBe('- **resnet20+BN** (bp 90.0%): sign-concordant feedback (uSF −5.0, brSF −1.5, frSF −0.5 against bp): brSF, frSF within 3 points, uSF further behind; random feedback (FA −2.0, DFA −15.0 against bp): FA within 3 points, DFA further behind.');
    // A grid still running: what is missing is named, not guessed.
    expect(await verdict({ bp: 90, usf: 89, fa: 70 })).toBe('- **resnet20+BN** (bp 90.0%): sign-concordant feedback (uSF −1.0 against bp): all within 3 points of bp; brSF, frSF not run yet; random feedback (FA −20.0 against bp): all more than 3 points behind bp; DFA not run yet.');
    expect(await verdict({ bp: 90, fa: 70 })).toBe('- **resnet20+BN** (bp 90.0%): sign-concordant feedback (uSF, brSF, frSF): not run yet; random feedback (FA −20.0 against bp): all more than 3 points behind bp; DFA not run yet.');
    expect(await verdict({ usf: 89 })).toBe('- **resnet20+BN**: no bp run yet, so neither question can be answered.');
  });
});

describe('a report says what is missing plainly and repeats nothing', () => {
  it('leaves out the table by learning rate when every row has one learning rate (the quick preset)', async () => {
    const quick = parseResults(readFileSync(new URL('../docs/results/quick/results.jsonl', import.meta.url), 'utf8'), 'quick').records;
    const md = (await renderReport(quick)).markdown;
    expect(md).toContain('Mean test accuracy (%) over seeds at the best learning rate of each cell');
    expect(md).not.toContain('Every learning rate');
    expect(md).toContain('- Missing: nothing that the tables show');
    expect(md).not.toMatch(/expected-looking|0 of \d+ .*cells/);
    // With two learning rates per row (the synthetic protocol grid) the table by rate stays.
    expect((await renderReport(RECORDS)).markdown).toContain('Every learning rate');
  });
});

describe('the missing runs of a grid whose records name it', () => {
  // The quick preset, 1 epoch, split into 3 shards; shard 3 wrote nothing and shard 2 lost a run.
  const grid = gridFor('quick', { epochs: 1 });
  const shard = (i: number) => shardOf(grid, { index: i, count: 3 });
  const named = (i: number) => shard(i).map((run) => ({ ...record(run, 90), grid: { preset: 'quick' as const, options: { epochs: 1 }, runs: grid.length, shard: { index: i, count: 3 } } }));
  const header = async (records: ResultRecord[]) => (await renderReport(records)).markdown.split('\n## ')[0]!;

  it('names each missing run and the shard that holds none of its runs', async () => {
    const records = [...named(1), ...named(2).slice(1)];
    const text = await header(records);
    const lost = [shard(2)[0]!.id, ...shard(3).map((r) => r.id)];
    expect(text).toContain(`- Missing: **${lost.length} of the 56 runs** of \`asymprop reproduce --preset quick --epochs 1\`; by shard: 1/3 complete (19 runs), 2/3 18 of 19 runs, 3/3 **none of its 18 runs** (failed, still running, or its file not given)`);
    const listed = text.split('\n').filter((l) => l.startsWith('  - missing: ')).map((l) => l.slice('  - missing: '.length).replace(/\\/g, ''));
    expect(listed).toEqual(grid.map((r) => r.id).filter((id) => lost.includes(id)).slice(0, 10));
    expect(text).toContain(`  - … and ${lost.length - 10} more`);
    expect(text).not.toContain('table cell');
  });

  it('says the grid is complete when every shard is there, and records without a grid keep the old estimate', async () => {
    expect(await header([...named(1), ...named(2), ...named(3)])).toContain('- Grid: `asymprop reproduce --preset quick --epochs 1`, all 56 runs present; by shard: 1/3 complete (19 runs), 2/3 complete (19 runs), 3/3 complete (18 runs)');
    expect(await header(named(1).map(({ grid: _, ...r }) => r))).toMatch(/- Missing: \d+ table cells without a run; \d+ of the \d+ runs that the tables' rows/);
  });

  it('refuses a malformed grid field when reading a results file', () => {
    const line = (grid: unknown) => `${JSON.stringify({ ...named(1)[0], grid })}\n`;
    expect(parseResults(line(named(1)[0]!.grid), 'r.jsonl').records[0]!.grid).toEqual(named(1)[0]!.grid);
    expect(() => parseResults(line({ preset: 'nope', options: {}, runs: 3 }), 'r.jsonl')).toThrow(/line 1: grid \.preset "nope" is not one of/);
    expect(() => parseResults(line({ preset: 'quick', options: {}, runs: 3, shard: { index: 4, count: 3 } }), 'r.jsonl')).toThrow(/grid \.shard .* is not \{ index, count \}/);
    expect(() => parseResults(line({ preset: 'quick', options: { filter: 1 }, runs: 3 }), 'r.jsonl')).toThrow(/grid \.options\.filter 1 is not a valid grid option/);
  });
});

describe('a grid identity', () => {
  it('is one for the same grid spelled two ways, and none for a filtered grid', async () => {
    const { gridIdentity } = await import('../src/experiments/grid.js');
    expect(gridIdentity('quick', { only: ['sign', 'main'], epochs: 3, seeds: [1] }, 10)).toEqual({ preset: 'quick', options: { only: ['main', 'sign'] }, runs: 10 });
    expect(gridIdentity('quick', { only: ['main', 'sign', 'magnitude', 'transport'], dataset: 'mnist-embedded' }, 56, { index: 2, count: 3 })).toEqual({ preset: 'quick', options: {}, runs: 56, shard: { index: 2, count: 3 } });
    expect(gridIdentity('quick', { filter: () => true }, 56)).toBeNull();
  });

  it('is refused when it could not be a grid (a shard count above its runs, no seeds, zero epochs)', () => {
    const base = { ...record(gridFor('quick')[0]!, 90) };
    const line = (grid: unknown) => `${JSON.stringify({ ...base, grid })}\n`;
    expect(() => parseResults(line({ preset: 'quick', options: {}, runs: 56, shard: { index: 1, count: 1e10 } }), 'r.jsonl')).toThrow(/grid \.shard .* count ≤ runs/);
    expect(() => parseResults(line({ preset: 'quick', options: { seeds: [] }, runs: 56 }), 'r.jsonl')).toThrow(/grid \.options\.seeds \[\] is not a valid grid option/);
    expect(() => parseResults(line({ preset: 'quick', options: { epochs: 0 }, runs: 56 }), 'r.jsonl')).toThrow(/grid \.options\.epochs 0/);
  });
});

describe("the figures' colours keep the methods apart", () => {
  /** The colour of each method in a figure's legend, read from the SVG Vega drew. */
  function legendColours(svg: string): Record<string, string> {
    const entries = svg.matchAll(/role-legend-symbol"[^>]*><path [^>]*stroke="(#[0-9A-Fa-f]{6})"[^]*?role-legend-label"[^>]*><text [^>]*>([^<]+)<\/text>/g);
    return Object.fromEntries([...entries].map((m) => [m[2]!, m[1]!.toUpperCase()]));
  }

  it('every two methods of the learning curves and of the alignment figure differ by ΔE00 ≥ 10, to every kind of colour vision, and each has the same colour in both', async () => {
    const render = async (dir: string) => {
      const { records } = parseResults(readFileSync(new URL(`../docs/results/${dir}/results.jsonl`, import.meta.url), 'utf8'), dir);
      return (await renderReport(records)).figures;
    };
    const curves = legendColours((await render('quick'))['main-curves.svg']!);
    const alignment = legendColours((await render('transport-quick'))['transport-alignment.svg']!);
    expect(Object.keys(curves)).toEqual(['bp', 'usf', 'brsf', 'frsf', 'fa']);
    // The alignment figure names the rules by their labels.
    const labels = Object.fromEntries(methods('transport').map((m) => [m.label, m.name]));
    const byName = Object.fromEntries(Object.entries(alignment).filter(([label]) => label in labels).map(([label, colour]) => [labels[label]!, colour]));
    // Every rule but bp, the reference its alignment is measured against.
    expect(Object.keys(byName).sort()).toEqual(methods('transport').map((m) => m.name).filter((name) => name !== 'bp').sort());
    for (const [name, colour] of Object.entries(curves)) if (name !== 'bp') expect(byName[name], `${name} in both figures`).toBe(colour);
    for (const palette of [curves, byName]) {
      const closest = closestPair(palette);
      expect(closest.distance, `${closest.pair.join(' and ')} under ${closest.vision}`).toBeGreaterThanOrEqual(10);
    }
  });
});
