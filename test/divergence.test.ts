import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
// The pool starts worker threads, which load compiled JavaScript: this suite uses the build in
// dist/ (npm test builds first).
import { ArrayDataset, DivergenceError, Rng, SGD, mlp, parseResults, resolveRunConfig, runId, toRecord, train, usf, type RunResult } from '../dist/index.js';
import { runPool } from '../dist/node.js';

const CLI = fileURLToPath(new URL('../dist/cli/main.js', import.meta.url));

function cli(...args: string[]) {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 300_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

const dirs: string[] = [];
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});
function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'asymprop-diverge-'));
  dirs.push(dir);
  return dir;
}

/** 200 samples of 8 features in 3 classes. */
function smallData(seed: number): ArrayDataset {
  const rng = new Rng(seed);
  const x = new Float32Array(200 * 8);
  rng.fillNormal(x);
  const y = Int32Array.from({ length: 200 }, (_, i) => i % 3);
  for (let i = 0; i < 200; i++) x[i * 8 + y[i]!] += 2;
  return new ArrayDataset(`small-${seed}`, x, y, [8], 3);
}

/** The place `locateNonFinite` names: a parameter or a layer's output. */
const LAYER = /^(parameter \S+ of layer \d+ \S+|output of layer \d+ \S+)$/;

describe('a diverging run', () => {
  const build = () => {
    const rng = new Rng(1);
    const model = mlp({ rng, inputShape: [8], hidden: [16, 16], classes: 3, feedback: usf() });
    const optimizer = new SGD(model.params(), { lr: 1e30, momentum: 0.9 });
    return { model, optimizer, rng };
  };

  it('is recorded as diverged with its epoch, step, what was non-finite, and the first layer where it was', () => {
    const { model, optimizer, rng } = build();
    const epochs: number[] = [];
    const result = train(model, { train: smallData(1), test: smallData(2) }, { optimizer, epochs: 3, batchSize: 20, rng, onEpoch: (r) => epochs.push(r.epoch) });
    expect(result.diverged).not.toBeNull();
    const at = result.diverged!;
    expect(at.epoch).toBe(1);
    expect(at.step).toBeGreaterThanOrEqual(1);
    expect(at.step).toBeLessThanOrEqual(10);
    expect(at.detail).toMatch(/^(loss is (NaN|Infinity|-Infinity)|parameter \S+ has a non-finite value)$/);
    expect(at.layer).toMatch(LAYER);
    expect(epochs).toEqual([]); // training stopped in the epoch where it diverged
    expect(result.history).toEqual([]);
    expect(result.testAccuracy).toBeNaN();
  });

  it("with onDivergence 'throw' is a DivergenceError naming the same epoch and step", () => {
    const stopped = (() => {
      const { model, optimizer, rng } = build();
      return train(model, { train: smallData(1) }, { optimizer, epochs: 1, batchSize: 20, rng }).diverged!;
    })();
    const { model, optimizer, rng } = build();
    let error: unknown;
    try {
      train(model, { train: smallData(1) }, { optimizer, epochs: 1, batchSize: 20, rng, onDivergence: 'throw' });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(DivergenceError);
    const e = error as DivergenceError;
    expect([e.epoch, e.step]).toEqual([stopped.epoch, stopped.step]);
    expect(e.message).toContain(`training diverged at epoch ${stopped.epoch}, step ${stopped.step}: ${stopped.detail}; first non-finite: ${stopped.layer}`);
  });
});

describe('a diverging run in a grid', () => {
  it('is written as diverged, and the worker goes on with the next run', async () => {
    const diverging = resolveRunConfig({ feedback: 'usf', lr: 1e30, epochs: 1 });
    const next = resolveRunConfig({ feedback: 'bp', lr: 0.01, epochs: 1 });
    const seen: string[] = [];
    // One worker: the run after the diverging one runs on the same worker thread.
    const results = await runPool([diverging, next], { workers: 1, onMessage: (m) => seen.push(`${m.id}:${m.type}`) });
    expect(seen.filter((s) => s.endsWith(':done'))).toEqual(['0:done', '1:done']);
    expect(seen.some((s) => s.endsWith(':error'))).toBe(false);

    const [bad, good] = results as [RunResult, RunResult];
    expect(bad.diverged).toBe(true);
    expect(bad.divergedAt).toMatchObject({ epoch: 1 });
    expect(bad.divergedAt!.layer).toMatch(LAYER);
    expect(good.diverged).toBe(false);
    expect(good.testAccuracy).toBeGreaterThan(0.5);

    // As reproduce writes them: one JSON line per run, read back by parseResults.
    const text = [bad, good].map((r) => `${JSON.stringify(toRecord(runId(r.config), ['main'], r))}\n`).join('');
    const { records, truncatedTail } = parseResults(text, 'results.jsonl');
    expect(truncatedTail).toBe(false);
    expect(records[0]).toMatchObject({ id: runId(diverging), diverged: true, testAccuracy: null, trainLoss: null, history: [] });
    expect(records[0]!.divergedAt).toEqual(bad.divergedAt);
    expect(records[1]).toMatchObject({ id: runId(next), diverged: false, divergedAt: null, testAccuracy: good.testAccuracy });
  }, 300_000);
});

describe('asymprop train and divergence', () => {
  const DIVERGE = ['train', '--lr', '1e30', '--feedback', 'usf', '--epochs', '1', '--quiet'];
  let at: { epoch: number; step: number; detail: string; layer: string | null };

  it('records a diverged run and exits 0 by default', () => {
    const r = cli(...DIVERGE, '--json');
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout) as RunResult;
    expect(out.diverged).toBe(true);
    expect(out.testAccuracy).toBeNull(); // NaN in JSON
    at = out.divergedAt!;
    expect(at.epoch).toBe(1);
    expect(at.step).toBeGreaterThanOrEqual(1);
    expect(at.detail.length).toBeGreaterThan(0);
    expect(at.layer).toMatch(LAYER);
  });

  it('with --on-divergence error, exits 3 with a message naming the epoch and step', () => {
    const r = cli(...DIVERGE, '--on-divergence', 'error');
    expect(r.code, r.stderr).toBe(3);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain(`asymprop: training diverged at epoch ${at.epoch}, step ${at.step}: ${at.detail}; first non-finite: ${at.layer}`);
  });

  it('refuses --checkpoint-every without --checkpoint (exit 2)', () => {
    const r = cli('train', '--checkpoint-every', '5', '--epochs', '1', '--quiet');
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/missing checkpoint \(needed: a file path \(--checkpoint FILE\)/);
  });
});

describe('asymprop train --checkpoint, then --resume of the finished run', () => {
  it('finds the final checkpoint and prints the same result without training again', () => {
    const path = join(tempDir(), 'x.ckpt');
    const args = ['train', '--feedback', 'usf', '--bn', '--lr', '0.01', '--checkpoint', path, '--checkpoint-every', '30', '--epochs', '1', '--json'];
    const first = cli(...args, '--quiet');
    expect(first.code, first.stderr).toBe(0);
    const a = JSON.parse(first.stdout) as RunResult;
    expect(a.diverged).toBe(false);
    const saved = readFileSync(path);
    const mtime = statSync(path).mtimeMs;

    const second = cli(...args, '--resume'); // not quiet: the resume is announced on stderr
    // FAILS until decodeCheckpoint copies each array out of a Node Buffer (see
    // test/fuzz-files.test.ts): loading any checkpoint file ends in "asymprop: checkpoint
    // checkpoint parameter "1.weight": expected [256, 784], received [256, 784]", exit 2.
    expect(second.code, second.stderr).toBe(0);
    expect(second.stderr).toContain(`resuming from ${path} (epoch 2, step 0)`);
    expect(second.stderr).not.toMatch(/^epoch 1\/1 /m); // no epoch was trained again
    const b = JSON.parse(second.stdout) as RunResult;
    expect(b.testAccuracy).toBe(a.testAccuracy);
    expect(b.trainLoss).toBe(a.trainLoss);
    expect(b.history).toEqual(a.history); // the epoch's record, timing included, comes from the checkpoint
    // Nothing was trained, so nothing was checkpointed again.
    expect(readFileSync(path).equals(saved)).toBe(true);
    expect(statSync(path).mtimeMs).toBe(mtime);
  }, 300_000);
});
