import { mkdtempSync, mkdirSync, readFileSync, writeFileSync, appendFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
// The grid runner starts worker threads, which load compiled JavaScript: this suite uses the
// build in dist/ (npm test builds first).
import { ConfigError } from '../dist/index.js';
import { gridFor, parseShard, shardOf, type GridRun } from '../dist/experiments/grid.js';
import { reproduce, resultsFile } from '../dist/experiments/reproduce.js';
import { parseResults, mergeRecords } from '../dist/experiments/results.js';

describe('the protocol grid', () => {
  const grid = gridFor('protocol');

  it('has every main-part cell: 2 archs × 5 methods × 4 normalisations × 2 learning rates × 2 seeds', () => {
    const main = grid.filter((r) => r.parts.includes('main'));
    expect(main).toHaveLength(2 * 5 * 4 * 2 * 2);
    const lrs = new Set(main.filter((r) => r.config.bm).map((r) => r.config.lr));
    expect([...lrs].sort()).toEqual([1e-4, 1e-3]);
    expect(new Set(main.filter((r) => !r.config.bm).map((r) => r.config.lr))).toEqual(new Set([0.1, 0.01]));
    for (const r of main) expect(r.config).toMatchObject({ dataset: 'fashion-mnist', epochs: 10, batchSize: 100, momentum: 0.9, weightDecay: 1e-4 });
  });

  it('shares runs between parts instead of repeating them (sign flip 0 and uniform magnitudes are main-part runs)', () => {
    const ids = grid.map((r) => r.id);
    expect(new Set(ids).size).toBe(ids.length);
    const sign = grid.filter((r) => r.parts.includes('sign'));
    expect(sign).toHaveLength(6 * 2 * 2 * 2); // flips × BM × lrs × seeds
    expect(sign.filter((r) => r.config.flip === 0).every((r) => r.parts.includes('main'))).toBe(true);
    const mag = grid.filter((r) => r.parts.includes('magnitude'));
    expect(mag).toHaveLength(5 * 2 * 2 * 2);
    expect(mag.filter((r) => r.config.magnitude === null).every((r) => r.parts.includes('main'))).toBe(true);
    expect(grid).toHaveLength(160 + 40 + 32);
  });

  it('shards partition the grid: every run in exactly one shard', () => {
    const shards = [1, 2, 3].map((index) => shardOf(grid, { index, count: 3 }));
    expect(shards.flat().map((r) => r.id).sort()).toEqual(grid.map((r) => r.id).sort());
    expect(parseShard('2/8')).toEqual({ index: 2, count: 8 });
    for (const bad of ['0/3', '4/3', '1/0', 'x', '1-3']) expect(() => parseShard(bad)).toThrow(ConfigError);
  });

  it('selects and shrinks: --only, --seeds, --epochs, --dataset', () => {
    const g = gridFor('protocol', { only: ['magnitude'], seeds: [7], epochs: 2, dataset: 'mnist-embedded' });
    expect(g).toHaveLength(5 * 2 * 2);
    expect(g.every((r) => r.config.seed === 7 && r.config.epochs === 2 && r.config.dataset === 'mnist-embedded')).toBe(true);
    expect(() => gridFor('protocol', { only: ['nope' as never] })).toThrow(/invalid only: "nope"/);
    expect(() => gridFor('giant' as never)).toThrow(/invalid preset/);
  });
});

describe('reproduce: results written as runs finish, resumable', () => {
  // Three one-epoch runs of the quick grid on the embedded digits.
  const pick = (r: GridRun) => r.parts.includes('sign') && r.config.flip >= 0.5 && !r.config.bm;
  const options = { preset: 'quick' as const, epochs: 1, workers: 2, filter: pick };

  it('writes one line per finished run, refuses to overwrite, and resumes after an interrupted write', async () => {
    const out = mkdtempSync(join(tmpdir(), 'asymprop-grid-'));
    const first = await reproduce({ ...options, out, filter: (r) => pick(r) && r.config.flip === 0.5 });
    expect(first.ran).toBe(1);
    const file = resultsFile(out);
    const lines = readFileSync(file, 'utf8').trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(JSON.parse(lines[0]!)).toMatchObject({ format: 'asymprop-results/1', parts: ['sign'], config: { flip: 0.5, bn: true, feedback: 'frsf' } });

    await expect(reproduce({ ...options, out })).rejects.toThrow(/pass --resume/);

    // A process killed mid-write leaves a partial line: resume drops it and loses nothing else.
    appendFileSync(file, '{"format":"asymprop-results/1","id":"half-writ');
    const second = await reproduce({ ...options, out, resume: true });
    expect(second.skipped).toBe(1);
    expect(second.ran).toBe(2);
    const parsed = parseResults(readFileSync(file, 'utf8'), file);
    expect(parsed.truncatedTail).toBe(false);
    expect(parsed.records.map((r) => r.config.flip).sort()).toEqual([0.5, 0.75, 1]);
    expect(new Set(parsed.records.map((r) => r.id)).size).toBe(3);

    // Nothing left to do: a second resume runs nothing.
    const third = await reproduce({ ...options, out, resume: true });
    expect(third.ran).toBe(0);
    expect(third.records).toHaveLength(3);
  });

  it('reads the data before writing anything: a missing data directory leaves no results file; an empty one is no earlier results', async () => {
    const out = join(mkdtempSync(join(tmpdir(), 'asymprop-grid-')), 'out');
    const one = { ...options, out, filter: (r: GridRun) => pick(r) && r.config.flip === 1 };
    await expect(reproduce({ ...one, dataset: 'fashion-mnist', dataDir: join(out, 'nowhere') })).rejects.toThrow(/nowhere: the data directory does not exist/);
    await expect(reproduce({ ...one, dataset: 'mnist' })).rejects.toThrow(/missing data-dir \(needed: the directory holding the mnist files/);
    expect(existsSync(out)).toBe(false);
    // A grid that stopped before its first run leaves an empty file: running again needs no --resume.
    mkdirSync(out);
    writeFileSync(resultsFile(out), '');
    expect((await reproduce(one)).ran).toBe(1);
  });

  it('a damaged line in the middle is a DataFormatError naming the file and line', () => {
    const out = mkdtempSync(join(tmpdir(), 'asymprop-grid-'));
    const file = join(out, 'results.jsonl');
    writeFileSync(file, '{"format":"asymprop-results/1"}\n');
    expect(() => parseResults(readFileSync(file, 'utf8'), file)).toThrow(/results.jsonl.*line 1: a record needs id/);
    expect(() => parseResults('not json\n{}\n', 'r.jsonl')).toThrow(/r.jsonl \(byte 0\): line 1 is not JSON/);
    expect(existsSync(file)).toBe(true);
  });

  it('shards write their own files and merge back without duplicates', async () => {
    const out = mkdtempSync(join(tmpdir(), 'asymprop-grid-'));
    const two = { ...options, filter: (r: GridRun) => pick(r) && r.config.flip >= 0.75 };
    const a = await reproduce({ ...two, out, shard: { index: 1, count: 2 } });
    const b = await reproduce({ ...two, out, shard: { index: 2, count: 2 } });
    expect(a.file).toMatch(/results\.shard-1-of-2\.jsonl$/);
    expect([a.ran, b.ran]).toEqual([1, 1]);
    const merged = mergeRecords([a.records, b.records, a.records]);
    expect(merged.records).toHaveLength(2);
    expect(merged.duplicates).toHaveLength(a.records.length);
  });
});
