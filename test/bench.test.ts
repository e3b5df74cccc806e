/**
 * Smoke test of the benchmark harness (bench/run.mjs): a --quick run restricted to asymprop on the
 * MLP must print one JSON object of the documented shape. Speed is not checked: this machine's
 * timings say nothing here.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

interface BenchRow {
  workload: string;
  system: string;
  threads: number;
  samplesPerSec: number;
  gflopsPerSec: number;
  peakRssMB: number;
}

interface BenchReport {
  rows: BenchRow[];
  meta: { details: { threads: number; info: { threads: number } }[] };
  strategyOverhead: { workload: string; strategy: string; ratioToSymmetric: number }[];
}

const positive = (x: unknown) => typeof x === 'number' && Number.isFinite(x) && x > 0;

describe('npm run bench -- --quick --json', () => {
  it('prints one JSON object with a row per measurement and the per-strategy overhead', () => {
    // `npm test` builds dist/ first; the harness measures the built library.
    expect(existsSync(`${ROOT}dist/index.js`), 'dist/index.js is missing: run `npm run build` first').toBe(true);
    const r = spawnSync(process.execPath, ['bench/run.mjs', '--quick', '--json', '--systems', 'asymprop', '--workloads', 'mlp', '--threads', '1,2'], {
      cwd: ROOT,
      encoding: 'utf8',
      timeout: 110_000,
    });
    expect(r.error, String(r.error)).toBeUndefined();
    expect(r.status, r.stderr).toBe(0);

    const lines = r.stdout.trim().split('\n');
    expect(lines).toHaveLength(1);
    const report = JSON.parse(lines[0]!) as BenchReport;

    // One row per thread count asked for, each measured with that many threads.
    expect(report.rows.map((row) => row.threads)).toEqual([1, 2]);
    for (const row of report.rows) {
      expect(row).toMatchObject({ workload: 'mlp', system: 'asymprop' });
      expect(Object.keys(row).sort()).toEqual(['gflopsPerSec', 'peakRssMB', 'samplesPerSec', 'system', 'threads', 'workload']);
      for (const key of ['samplesPerSec', 'gflopsPerSec', 'peakRssMB'] as const) expect(positive(row[key]), `${key} = ${row[key]}`).toBe(true);
      // GFLOP/s is samples/s times the MLP's 1.6128 MFLOP per training sample.
      expect(row.gflopsPerSec).toBeCloseTo((row.samplesPerSec * 1_612_800) / 1e9, 6);
    }

    // The 2-thread row really ran on two threads (the library reports the helpers it started).
    expect(report.meta.details.map((d) => d.info.threads)).toEqual([1, 2]);

    const strategies = report.strategyOverhead.map((s) => s.strategy).sort();
    // Every registered method, without and with Batch Manhattan: the new rules included.
    const names = ['bp', 'usf', 'brsf', 'frsf', 'fa', 'dfa', 'kp', 'wm'];
    expect(strategies).toEqual([...names, ...names.map((n) => `bm+${n}`)].sort());
    for (const s of report.strategyOverhead) {
      expect(s.workload).toBe('mlp');
      expect(positive(s.ratioToSymmetric), `${s.strategy}: ${s.ratioToSymmetric}`).toBe(true);
    }
    expect(report.strategyOverhead.find((s) => s.strategy === 'bp')?.ratioToSymmetric).toBe(1);
  }, 120_000);

  it('rejects an unknown option or system with a message', () => {
    const r = spawnSync(process.execPath, ['bench/run.mjs', '--systems', 'nope'], { cwd: ROOT, encoding: 'utf8', timeout: 30_000 });
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/unknown system "nope"/);
  });
});

describe('the resnet workload', () => {
  it('is ResNet-20 on 3×32×32: the library builder’s parameter shapes, and 40.8 M multiply-adds a sample', async () => {
    // The harness is plain JavaScript (no declarations): loaded by URL, typed here.
    const { forwardMacs, trainingFlopsPerSample } = (await import(new URL('../bench/workloads.mjs', import.meta.url).href)) as Record<string, (name: string) => number>;
    // Written out per stage: stem, 3 blocks of 16 channels at 32×32, then 32 at 16×16 and 64 at
    // 8×8, each stage's first block reading the previous width with stride 2 and a 1×1 shortcut.
    const stem = 16 * 32 * 32 * 3 * 9;
    const stage1 = 6 * (16 * 32 * 32 * 16 * 9);
    const stage2 = 32 * 16 * 16 * 16 * 9 + 5 * (32 * 16 * 16 * 32 * 9) + 32 * 16 * 16 * 16;
    const stage3 = 64 * 8 * 8 * 32 * 9 + 5 * (64 * 8 * 8 * 64 * 9) + 64 * 8 * 8 * 32;
    expect(forwardMacs('resnet')).toBe(stem + stage1 + stage2 + stage3 + 64 * 10);
    expect(forwardMacs('resnet')).toBe(40_813_184);
    expect(trainingFlopsPerSample('resnet')).toBe(6 * 40_813_184);

    const { resnet, Rng, Tensor } = await import('../dist/index.js');
    type Model = ReturnType<typeof resnet>;
    const { create } = (await import(new URL('../bench/systems/asymprop.mjs', import.meta.url).href)) as { create: (w: string, o: object) => Promise<{ model: Model }> };
    const bench = await create('resnet', { strategy: 'usf' });
    const library = resnet({ rng: new Rng(1), depth: 20, bn: true, inputShape: [3, 32, 32] });
    const shapesOf = (m: typeof library) => m.params().map((p) => p.value.shape.join('×'));
    expect(shapesOf(bench.model)).toEqual(shapesOf(library));
    expect(bench.model.params().reduce((n, p) => n + p.value.size, 0)).toBe(272_474);
    expect(bench.model.forward(Tensor.zeros([2, 3, 32, 32]), false).shape).toEqual([2, 10]);
    // The rule reaches every weighted layer: the stem, 18 block convs, the 2 shortcut projections, the dense layer.
    const ruled = bench.model.feedbackLayers().filter(({ layer }) => layer.feedbackKind !== 'batchnorm');
    expect(ruled).toHaveLength(22);
    expect(ruled.every(({ layer }) => layer.feedback.strategy.name === 'usf')).toBe(true);
  });

  it('lenet_bn, the step ResNet-20 is compared with per FLOP, is the library’s lenet with BN', async () => {
    const { forwardMacs } = (await import(new URL('../bench/workloads.mjs', import.meta.url).href)) as Record<string, (name: string) => number>;
    expect(forwardMacs('lenet_bn')).toBe(6 * 28 * 28 * 25 + 16 * 10 * 10 * 6 * 25 + 400 * 120 + 120 * 84 + 84 * 10);
    const { lenet, Rng } = await import('../dist/index.js');
    type Model = ReturnType<typeof lenet>;
    const { create } = (await import(new URL('../bench/systems/asymprop.mjs', import.meta.url).href)) as { create: (w: string, o: object) => Promise<{ model: Model }> };
    const shapesOf = (m: Model) => m.params().map((p) => p.value.shape.join('×'));
    expect(shapesOf((await create('lenet_bn', {})).model)).toEqual(shapesOf(lenet({ rng: new Rng(1), bn: true })));
  });
});
