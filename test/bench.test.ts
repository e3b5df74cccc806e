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
