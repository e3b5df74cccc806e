/**
 * Nothing lost on a full disk or to a second process: checkpoints and the results file written
 * whole or not at all, a grid's results file locked by the process writing it.
 *
 * The full-disk tests mount a tmpfs of a few MB (this needs root, as in CI) and fill it; elsewhere
 * they are skipped, and the suite's title says why.
 */
import { spawn, spawnSync } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, statSync, statfsSync, symlinkSync, writeFileSync, writeSync } from 'node:fs';
import { availableParallelism, hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
// The grid runner starts worker threads, which load compiled JavaScript: this suite uses dist/.
import { ArrayDataset, BatchNorm, ConfigError, DataFormatError, Dense, FileError, MAX_THREADS, RMSprop, Rng, SGD, Trainer, decodeCheckpoint, defineStrategy, feedbackByName, feedbackFromSpec, mlp, resolveRunConfig, train, useGemmThreads, type FeedbackContext, type FeedbackSpec } from '../dist/index.js';
import { saveCheckpoint } from '../dist/train/checkpointFile.js';
import { appendDurably, lockFile } from '../dist/io/files.js';
import { reproduce, resultsFile } from '../dist/experiments/reproduce.js';
import { parseResults } from '../dist/experiments/results.js';
import type { GridRun } from '../dist/experiments/grid.js';

const CLI = fileURLToPath(new URL('../dist/cli/main.js', import.meta.url));
const cli = (...args: string[]) => {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 300_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
};

/** Mounts a tmpfs of `size` (e.g. `'4m'`) on a fresh directory; the reason when it cannot. */
function mountTmpfs(size: string): { dir: string } | { reason: string } {
  if (process.platform !== 'linux') return { reason: 'a tmpfs needs Linux' };
  if (process.getuid?.() !== 0) return { reason: 'mounting a tmpfs needs root' };
  const dir = mkdtempSync(join(tmpdir(), 'asymprop-full-'));
  const r = spawnSync('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', dir], { encoding: 'utf8' });
  if (r.status !== 0) return { reason: `mount -t tmpfs failed: ${(r.stderr || String(r.error)).trim()}` };
  return { dir };
}

const mounted: string[] = [];
afterAll(() => {
  for (const dir of mounted) spawnSync('umount', [dir]);
});

/** Fills the file system of `dir` until at most `leave` bytes are free, with one filler file. */
function fill(dir: string, leave = 0): string {
  const filler = join(dir, 'filler');
  const fd = openSync(filler, 'a');
  const chunk = Buffer.alloc(64 * 1024, 1);
  try {
    for (;;) {
      const { bavail, bsize } = statfsSync(dir);
      const free = bavail * bsize;
      if (free <= leave) break;
      writeSync(fd, chunk, 0, Math.min(chunk.length, free - leave));
    }
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOSPC') throw e;
  } finally {
    closeSync(fd);
  }
  return filler;
}


const tmpfs = mountTmpfs('8m');
if ('dir' in tmpfs) mounted.push(tmpfs.dir);
// Skipped with the reason on a machine that cannot mount a tmpfs, but never in CI, where a skip would prove nothing.
if (!('dir' in tmpfs) && process.env.CI) throw new Error(`CI is set and the full-disk tests cannot run: ${tmpfs.reason}`);
const fullDisk = 'dir' in tmpfs ? 'on a full disk (a tmpfs mounted by the test)' : `on a full disk (skipped: ${tmpfs.reason})`;

describe.skipIf(!('dir' in tmpfs))(fullDisk, () => {
  const root = 'dir' in tmpfs ? tmpfs.dir : '';
  const fresh = (name: string) => {
    for (const f of readdirSync(root)) rmSync(join(root, f), { recursive: true, force: true });
    const dir = join(root, name);
    mkdirSync(dir);
    return dir;
  };

  it('a checkpoint that does not fit leaves the previous one in place and throws a FileError', () => {
    const dir = fresh('ckpt');
    const model = mlp({ rng: new Rng(1), inputShape: [64], hidden: [64], classes: 10 });
    const optimizer = new SGD(model.params(), { lr: 0.1, momentum: 0.9 });
    const progress = { epoch: 1, step: 0, epochStartRng: new Rng(2).state(), lossSum: 0, correct: 0, seen: 0, history: [] };
    const path = join(dir, 'run.ckpt');
    saveCheckpoint(path, { model, optimizer, progress });
    const good = readFileSync(path);
    fill(root, 4096); // less than a checkpoint (about 40 KB)
    model.params()[0]!.value.data.fill(0.5);
    let error: unknown;
    try {
      saveCheckpoint(path, { model, optimizer, progress: { ...progress, step: 7 } });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(FileError);
    expect((error as Error).message).toBe(`cannot write the checkpoint ${path}: no space left on device (ENOSPC)`);
    expect(readFileSync(path).equals(good)).toBe(true);
    expect(decodeCheckpoint(readFileSync(path), path).header.progress.step).toBe(0);
    expect(readdirSync(dir)).toEqual(['run.ckpt']); // no temporary file left behind
  });

  it('asymprop train with --checkpoint-every on a disk that fills up exits 2 naming the file; the last good checkpoint stays', () => {
    const dir = fresh('train');
    const path = join(dir, 'run.ckpt');
    const args = ['train', '--arch', 'mlp', '--epochs', '1', '--checkpoint', path, '--checkpoint-every', '20', '--quiet'];
    // One checkpoint fits, two (the new one beside the old, before the rename) do not.
    const size = 2 * 4 * (784 * 256 + 256 + 256 * 256 + 256 + 256 * 10 + 10); // weights and momenta, float32
    fill(root, Math.round(1.5 * size));
    const r = cli(...args);
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toContain(`asymprop: cannot write the checkpoint ${path}: no space left on device (ENOSPC)`);
    expect(r.stderr).not.toMatch(/internal error|at .*\.js:\d+/);
    const kept = decodeCheckpoint(readFileSync(path), path);
    expect(kept.header.progress.step).toBe(20);
    expect(readdirSync(dir)).toEqual(['run.ckpt']);
  }, 120_000);

  it('an append that does not fit is cut back: the file still ends at its last complete line', () => {
    const dir = fresh('append');
    const file = join(dir, 'results.jsonl');
    const fd = openSync(file, 'a');
    try {
      appendDurably(fd, '{"first":1}\n', file);
      fill(root, 0);
      expect(() => appendDurably(fd, `${'x'.repeat(100_000)}\n`, file)).toThrow(`cannot append to ${file}: no space left on device (ENOSPC)`);
    } finally {
      closeSync(fd);
    }
    expect(readFileSync(file, 'utf8')).toBe('{"first":1}\n');
  });

  it('a grid whose results file cannot grow stops with a FileError, loses no line, and resumes once there is room', async () => {
    const out = fresh('grid');
    const pick = (r: GridRun) => r.parts.includes('sign') && r.config.flip >= 0.75 && !r.config.bm;
    const options = { preset: 'quick' as const, epochs: 1, workers: 2, filter: pick, out };
    let filler = '';
    const failed = reproduce({ ...options, onStart: () => void (filler = fill(root, 0)) });
    await expect(failed).rejects.toThrow(FileError);
    await expect(failed).rejects.toThrow(`cannot append to ${resultsFile(out)}: no space left on device (ENOSPC)`);
    expect(readFileSync(resultsFile(out), 'utf8')).toBe('');
    expect(existsSync(`${resultsFile(out)}.lock`)).toBe(false);
    rmSync(filler);
    const again = await reproduce({ ...options, resume: true });
    expect(again.ran).toBe(2);
    const parsed = parseResults(readFileSync(resultsFile(out), 'utf8'), 'results.jsonl');
    expect(parsed.records).toHaveLength(2);
    expect(parsed.truncatedTail).toBe(false);
  }, 120_000);
});

describe('one grid per results file', () => {
  it('a second reproduce on the same --out is refused, naming the first; the first keeps every run', async () => {
    const out = join(mkdtempSync(join(tmpdir(), 'asymprop-lock-')), 'out');
    const args = ['reproduce', '--preset', 'quick', '--only', 'magnitude', '--epochs', '1', '--seeds', '1', '--workers', '2', '--out', out, '--quiet'];
    const first = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let firstErr = '';
    first.stderr.on('data', (b: Buffer) => (firstErr += b.toString()));
    const exited = new Promise<number | null>((resolve) => first.on('exit', resolve));
    const lock = `${resultsFile(out)}.lock`;
    for (let i = 0; i < 600 && !existsSync(lock); i++) await new Promise((r) => setTimeout(r, 50));
    expect(existsSync(lock), 'the first grid took its lock').toBe(true);

    const second = cli(...args.slice(0, -1), '--resume', '--quiet');
    expect(second.code).toBe(2);
    expect(second.stderr).toContain(`asymprop: cannot lock ${resultsFile(out)}: another process is writing it: pid ${first.pid} on `);
    expect(second.stderr).toContain('(asymprop reproduce --preset quick)');
    // Nor can a report replace the file while the grid writes it (once it holds a run to report).
    for (let i = 0; i < 600 && statSync(resultsFile(out)).size === 0; i++) await new Promise((r) => setTimeout(r, 50));
    const report = cli('report', resultsFile(out), '--out', out, '--quiet');
    expect(report.code).toBe(2);
    expect(report.stderr).toMatch(/cannot lock .*results\.jsonl: another process is writing it/);

    expect(await exited, firstErr).toBe(0);
    const { records } = parseResults(readFileSync(resultsFile(out), 'utf8'), 'results.jsonl');
    expect(records).toHaveLength(10); // 5 magnitude laws × BM off/on, 1 seed
    expect(existsSync(lock)).toBe(false);
    expect(existsSync(join(out, 'report.md'))).toBe(true);
  }, 300_000);

  it('a lock left by a process that no longer runs (kill -9) is stale and taken over', async () => {
    const out = mkdtempSync(join(tmpdir(), 'asymprop-stale-'));
    const gone = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
    const pid = Number(gone.stdout);
    writeFileSync(`${resultsFile(out)}.lock`, `${JSON.stringify({ pid, host: (await import('node:os')).hostname(), since: '2026-01-01T00:00:00.000Z', what: 'killed', token: 'f00d' })}\n`);
    const result = await reproduce({ preset: 'quick', epochs: 1, workers: 1, out, filter: (r: GridRun) => r.parts.includes('sign') && r.config.flip === 1 && !r.config.bm });
    expect(result.ran).toBe(1);
    expect(existsSync(`${resultsFile(out)}.lock`)).toBe(false);
  }, 120_000);

  it('a lock naming this very process but not held by it is stale (a pid given again after a kill or reboot)', () => {
    const file = join(mkdtempSync(join(tmpdir(), 'asymprop-self-')), 'results.jsonl');
    writeFileSync(`${file}.lock`, `${JSON.stringify({ pid: process.pid, host: hostname(), since: '2026-01-01T00:00:00.000Z', what: 'before the reboot', token: 'old' })}\n`);
    const lock = lockFile(file, 'after');
    expect(JSON.parse(readFileSync(`${file}.lock`, 'utf8'))).toMatchObject({ pid: process.pid, what: 'after' });
    lock.release();
  });

  it('an unreadable lock file is refused, naming it (asymprop never writes one: its locks appear whole)', () => {
    const file = join(mkdtempSync(join(tmpdir(), 'asymprop-empty-')), 'results.jsonl');
    writeFileSync(`${file}.lock`, '');
    expect(() => lockFile(file, 'x')).toThrow(`cannot lock ${file}: its lock file ${file}.lock is not one asymprop wrote; remove it if no grid is running`);
  });

  it('of processes taking over one stale lock at the same moment, exactly one gets it', async () => {
    const files = fileURLToPath(new URL('../dist/io/files.js', import.meta.url));
    const script = `import(${JSON.stringify(files)}).then(({ lockFile }) => { try { const l = lockFile(process.argv[1], 'race'); process.stdout.write('GOT'); setTimeout(() => l.release(), 1500); } catch (e) { process.stdout.write(e.name); } });`;
    for (let trial = 0; trial < 4; trial++) {
      const file = join(mkdtempSync(join(tmpdir(), 'asymprop-race-')), 'results.jsonl');
      const dead = Number(spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' }).stdout);
      writeFileSync(`${file}.lock`, `${JSON.stringify({ pid: dead, host: hostname(), since: '2026-01-01T00:00:00.000Z', what: 'killed', token: 'dead' })}\n`);
      const outcomes = await Promise.all([0, 1, 2, 3].map(() => new Promise<string>((resolve) => {
        const child = spawn(process.execPath, ['-e', script, file], { stdio: ['ignore', 'pipe', 'inherit'] });
        let out = '';
        child.stdout.on('data', (b: Buffer) => (out += b.toString()));
        child.on('exit', () => resolve(out));
      })));
      expect(outcomes.filter((o) => o === 'GOT'), outcomes.join(',')).toHaveLength(1);
      expect(outcomes.filter((o) => o !== 'GOT').every((o) => o === 'FileError'), outcomes.join(',')).toBe(true);
    }
  }, 60_000);

  it('lockFile refuses a live holder in the same process, and release lets the next one in', () => {
    const file = join(mkdtempSync(join(tmpdir(), 'asymprop-lockfile-')), 'results.jsonl');
    const held = lockFile(file, 'first');
    expect(() => lockFile(file, 'second')).toThrow(new RegExp(`another process is writing it: pid ${process.pid} .*\\(first\\)`));
    held.release();
    held.release(); // twice is harmless
    const next = lockFile(file, 'second');
    expect(JSON.parse(readFileSync(`${file}.lock`, 'utf8'))).toMatchObject({ pid: process.pid, what: 'second' });
    next.release();
    expect(existsSync(`${file}.lock`)).toBe(false);
  });
});

describe('asymprop train checks its checkpoint path before training', () => {
  it('a checkpoint in a missing directory fails at once, exit 2, naming the directory', () => {
    const dir = mkdtempSync(join(tmpdir(), 'asymprop-ckpt-'));
    const path = join(dir, 'missing', 'run.ckpt');
    const r = cli('train', '--arch', 'mlp', '--epochs', '1', '--checkpoint', path);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`asymprop: cannot write the checkpoint file ${path}: its directory ${join(dir, 'missing')} does not exist (ENOENT)`);
    expect(r.stderr).not.toMatch(/epoch 1\/1/); // refused before the first epoch
  });

  it('--resume without a checkpoint yet says it starts from the beginning', () => {
    const dir = mkdtempSync(join(tmpdir(), 'asymprop-ckpt-'));
    const path = join(dir, 'run.ckpt');
    const r = cli('train', '--arch', 'mlp', '--epochs', '1', '--checkpoint', path, '--resume');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain(`--resume: there is no checkpoint at ${path} yet; starting from the beginning`);
    expect(statSync(path).size).toBeGreaterThan(0);
  }, 120_000);
});

describe('--resume continues only the same grid, on the same data', () => {
  /** A Fashion-MNIST-format directory of 200 + 100 random 28×28 images (`change`: one pixel differs). */
  function fashionDir(change = false): string {
    const dir = mkdtempSync(join(tmpdir(), 'asymprop-fashion-'));
    const idx = (dims: number[], data: Uint8Array) => {
      const out = new Uint8Array(4 + 4 * dims.length + data.length);
      out[2] = 0x08;
      out[3] = dims.length;
      dims.forEach((d, i) => new DataView(out.buffer).setUint32(4 + 4 * i, d, false));
      out.set(data, 4 + 4 * dims.length);
      return gzipSync(out);
    };
    const rng = new Rng(5);
    for (const [prefix, n] of [['train', 200], ['t10k', 100]] as const) {
      const images = Uint8Array.from({ length: n * 784 }, () => Math.floor(rng.uniform() * 256));
      if (change && prefix === 'train') images[1000] = (images[1000]! + 1) % 256;
      writeFileSync(join(dir, `${prefix}-images-idx3-ubyte.gz`), idx([n, 28, 28], images));
      writeFileSync(join(dir, `${prefix}-labels-idx1-ubyte.gz`), idx([n], Uint8Array.from({ length: n }, (_, i) => i % 10)));
    }
    return dir;
  }
  const one = (r: GridRun) => r.parts.includes('sign') && r.config.flip === 1 && !r.config.bm;
  const options = (out: string, dataDir: string, epochs = 1) => ({ preset: 'quick' as const, dataset: 'fashion-mnist' as const, dataDir, epochs, workers: 1, filter: one, out });

  it('records the data digest, accepts the same files elsewhere, refuses other data and other settings, naming the field', async () => {
    const a = fashionDir(), copy = fashionDir(), other = fashionDir(true);
    const out = join(mkdtempSync(join(tmpdir(), 'asymprop-identity-')), 'out');
    const first = await reproduce(options(out, a));
    expect(first.ran).toBe(1);
    const digest = first.records[0]!.dataDigest!;
    expect(digest).toMatch(/^[0-9a-f]{16}$/);
    // The same files in another directory are the same data: nothing to redo.
    expect((await reproduce({ ...options(out, copy), resume: true })).ran).toBe(0);
    const changed = reproduce({ ...options(out, other), resume: true });
    await expect(changed).rejects.toThrow(ConfigError);
    await expect(changed).rejects.toThrow(new RegExp(`holds 1 run with data: digest "${digest}" in the results file, "[0-9a-f]{16}" for fashion-mnist from ${other} now; resume with the options it was made with`));
    await expect(reproduce({ ...options(out, a, 2), resume: true })).rejects.toThrow(/holds 1 run with epochs: 1 in the results file, 2 now;/);
    // Nothing was added by the refused attempts.
    expect(parseResults(readFileSync(resultsFile(out), 'utf8'), 'r').records).toHaveLength(1);
  }, 120_000);

  it('asymprop train --resume refuses a checkpoint of other data or another configuration, naming what differs', () => {
    const a = fashionDir(), other = fashionDir(true);
    const path = join(mkdtempSync(join(tmpdir(), 'asymprop-resume-')), 'run.ckpt');
    const train = (dir: string, ...extra: string[]) => cli('train', '--dataset', 'fashion-mnist', '--data-dir', dir, '--epochs', '2', '--checkpoint', path, '--checkpoint-every', '1', '--quiet', ...extra);
    expect(train(a).code).toBe(0);
    const onOther = train(other, '--resume');
    expect(onOther.code).toBe(2);
    expect(onOther.stderr).toMatch(new RegExp(`${path}: it was written for a run on other data \\(data digest "[0-9a-f]{16}" in the checkpoint, "[0-9a-f]{16}" for fashion-mnist from ${other} now\\)`));
    const longer = train(a, '--resume', '--epochs', '3');
    expect(longer.code).toBe(2);
    expect(longer.stderr).toContain(`${path}: it was written for another run (epochs: 2 in the checkpoint, 3 now)`);
  }, 120_000);
});

describe('batch normalisation and a last batch of one sample', () => {
  const five = new ArrayDataset('five', Float32Array.from({ length: 20 }, (_, i) => Math.sin(i)), Int32Array.of(0, 1, 0, 1, 0), [4], 2);
  const run = (bn: boolean, batchSize: number) => {
    const model = mlp({ rng: new Rng(1), inputShape: [4], hidden: [3], classes: 2, bn });
    return new Trainer(model, five, { optimizer: new SGD(model.params(), { lr: 0.1 }), rng: new Rng(2), batchSize });
  };

  it('is left out of the epoch with BN (a different sample each epoch), kept without it', () => {
    expect(run(true, 2).stepsPerEpoch).toBe(2);
    expect(run(false, 2).stepsPerEpoch).toBe(3);
    expect(run(true, 3).stepsPerEpoch).toBe(2); // a last batch of two is kept
    const model = mlp({ rng: new Rng(1), inputShape: [4], hidden: [3], classes: 2, bn: true });
    const result = train(model, { train: five }, { optimizer: new SGD(model.params(), { lr: 0.1 }), epochs: 3, rng: new Rng(2), batchSize: 2 });
    expect(result.diverged).toBeNull();
    expect(result.history.map((h) => Number.isFinite(h.trainLoss))).toEqual([true, true, true]);
  });

  it('a batch size of 1 with BN is refused before training', () => {
    expect(() => run(true, 1)).toThrow('invalid batchSize: 1 (allowed: at least 2 for a model with batch normalisation (it normalises over the batch))');
  });

  it('asymprop train --bn --batch-size 7999 on the 8,000 embedded training digits trains, and says one sits out', () => {
    const r = cli('train', '--bn', '--batch-size', '7999', '--epochs', '1', '--json');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain('note: 8000 training samples in batches of 7999 leave one over');
    expect(JSON.parse(r.stdout).history).toHaveLength(1);
  }, 60_000);
});

describe('bounds: thread, worker and batch counts the machine cannot hold', () => {
  const cores = availableParallelism();

  it('--threads and --workers above 4 per core are refused at once, naming the limit', () => {
    for (const [command, option] of [['train', '--threads'], ['reproduce', '--workers']] as const) {
      for (const n of ['1000', '100000000']) {
        const r = cli(command, option, n, ...(command === 'reproduce' ? ['--out', join(tmpdir(), 'never-made')] : []));
        expect(r.code).toBe(2);
        expect(r.stderr).toContain(`asymprop: invalid ${option.slice(2)}: ${n} (allowed: 1 to ${4 * cores} (at most 4 per core; this machine has ${cores}))`);
      }
    }
  });

  it('useGemmThreads refuses more than MAX_THREADS before starting any', async () => {
    await expect(useGemmThreads(100_000_000)).rejects.toThrow(`invalid threads: 100000000 (allowed: an integer from 1 to ${MAX_THREADS})`);
  });

  it('a batch larger than the training set is the whole set (no buffer of a billion samples)', () => {
    const r = cli('train', '--batch-size', '1000000000', '--epochs', '1', '--json');
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).history).toHaveLength(1);
  }, 60_000);
});

describe('ordinary filesystem errors: the path and the cause, exit 2, no stack trace', () => {
  const grid = ['reproduce', '--preset', 'quick', '--only', 'magnitude', '--epochs', '1', '--seeds', '1', '--quiet'];
  const expectRefused = (r: { code: number | null; stderr: string }, message: string) => {
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toContain(`asymprop: ${message}`);
    expect(r.stderr).not.toMatch(/internal error|\n\s+at /);
  };

  it('--out empty, a file, a symlink loop; a results path that is a directory; a figures path that is a file', () => {
    const dir = mkdtempSync(join(tmpdir(), 'asymprop-fs-'));
    writeFileSync(join(dir, 'afile'), 'x');
    mkdirSync(join(dir, 'resdir', 'results.jsonl'), { recursive: true });
    symlinkSync(join(dir, 'loop2'), join(dir, 'loop1'));
    symlinkSync(join(dir, 'loop1'), join(dir, 'loop2'));
    expectRefused(cli(...grid, '--out', ''), 'invalid out: "" (allowed: a directory path)');
    expectRefused(cli(...grid, '--out', join(dir, 'afile')), `cannot write results into ${join(dir, 'afile')}: it is a file, not a directory`);
    expectRefused(cli(...grid, '--out', join(dir, 'loop1')), `cannot create the directory ${join(dir, 'loop1')}: too many symbolic links (a loop?) (ELOOP)`);
    expectRefused(cli(...grid, '--out', join(dir, 'resdir')), `cannot append to ${join(dir, 'resdir', 'results.jsonl')}: it is not a regular file (a directory?)`);
    expectRefused(cli('report', join(dir, 'resdir', 'results.jsonl'), '--out', join(dir, 'r')), `invalid results file: "${join(dir, 'resdir', 'results.jsonl')}" (allowed: a readable file (EISDIR`);
    expectRefused(cli('report', fileURLToPath(new URL('../docs/results/quick/results.jsonl', import.meta.url)), '--out', join(dir, 'afile')), `cannot write the report into ${join(dir, 'afile')}: it is a file, not a directory`);
    // The grid's runs are kept when its report cannot be written; fixing the path and resuming writes it.
    const figs = join(dir, 'figs');
    mkdirSync(figs);
    writeFileSync(join(figs, 'figures'), 'in the way');
    expectRefused(cli(...grid, '--out', figs), `cannot create the directory ${join(figs, 'figures')}: a file of that name is in the way`);
    expect(parseResults(readFileSync(join(figs, 'results.jsonl'), 'utf8'), 'r').records).toHaveLength(10);
    rmSync(join(figs, 'figures'));
    expect(cli(...grid, '--out', figs, '--resume').code).toBe(0);
    expect(existsSync(join(figs, 'report.md'))).toBe(true);
  }, 120_000);

  it.skipIf(!('dir' in tmpfs))('a read-only --out (a read-only tmpfs)', () => {
    const ro = mkdtempSync(join(tmpdir(), 'asymprop-ro-'));
    expect(spawnSync('mount', ['-t', 'tmpfs', '-o', 'ro,size=1m', 'tmpfs', ro]).status).toBe(0);
    mounted.push(ro);
    expectRefused(cli(...grid, '--out', ro), `cannot lock ${join(ro, 'results.jsonl')}: read-only file system (EROFS)`);
    expectRefused(cli('train', '--epochs', '1', '--checkpoint', join(ro, 'run.ckpt')), `cannot write the checkpoint file ${join(ro, 'run.ckpt')}: its directory ${ro} is not writable`);
  });
});

describe('report input is data, not markup', () => {
  const quick = fileURLToPath(new URL('../docs/results/quick/results.jsonl', import.meta.url));
  const good = readFileSync(quick, 'utf8').split('\n')[0]!;
  const crafted = (change: (r: Record<string, any>) => void) => {
    const r = JSON.parse(good) as Record<string, any>;
    change(r);
    return JSON.stringify(r);
  };

  it('a record outside the vocabulary or of the wrong shape is refused, naming the line and the field', () => {
    const cases: [string, string][] = [
      [crafted((r) => (r.config.dataset = '<script>alert(1)</script>')), 'line 2: config.dataset "<script>alert(1)</script>" is not one of'],
      [crafted((r) => (r.config.feedback = 'usf\n## Injected heading')), 'line 2: config.feedback "usf\\n## Injected heading" is not a method name'],
      [crafted((r) => (r.strategy = '<img src=x onerror=alert(1)>')), 'line 2: strategy "<img src=x onerror=alert(1)>" is not a strategy name'],
      [crafted((r) => (r.config.arch = 'transformer')), 'line 2: config.arch "transformer" is not one of mlp, lenet, resnet'],
      [crafted((r) => (r.history = [null])), 'line 2: history[0] is not the record of epoch 1'],
      [crafted((r) => (r.history[0].testAccuracy = 'high')), 'line 2: history[0].testAccuracy "high" is not null or a number'],
      [crafted((r) => (r.config.epochs = '3')), 'line 2: config.epochs "3" is not an integer'],
      [crafted((r) => (r.parts = ['main', '<b>'])), 'line 2: parts ["main","<b>"] are not among main, sign, magnitude, transport'],
      [good.replace(/"config":\{[^}]*\}/, `"config":${'['.repeat(100_000)}${']'.repeat(100_000)}`), 'line 2: config.dataset undefined is not one of'],
    ];
    const dir = mkdtempSync(join(tmpdir(), 'asymprop-crafted-'));
    for (const [line, message] of cases) {
      const file = join(dir, 'results.jsonl');
      writeFileSync(file, `${good}\n${line}\n`);
      expect(() => parseResults(readFileSync(file, 'utf8'), file)).toThrow(`${file} (byte ${good.length + 1}): ${message}`);
      const r = cli('report', file, '--out', join(dir, 'out'), '--quiet');
      expect(r.code).toBe(2);
      expect(r.stderr).toContain(message);
      expect(r.stderr).not.toMatch(/internal error|\n\s+at /);
    }
  });

  it('a --title cannot close the command fence, open a tag or add a heading', () => {
    const dir = mkdtempSync(join(tmpdir(), 'asymprop-title-'));
    const title = 'Mine\n```\n# Injected <b>bold</b> [link](http://x) *em*';
    const r = cli('report', quick, '--out', dir, '--title', title, '--quiet');
    expect(r.code, r.stderr).toBe(0);
    const md = readFileSync(join(dir, 'report.md'), 'utf8');
    const lines = md.split('\n');
    expect(lines[0]).toBe('# Mine \\`\\`\\` # Injected &lt;b&gt;bold&lt;/b&gt; \\[link\\](http://x) \\*em\\*');
    // The command (with the title's backticks in it) sits inside a fence longer than they are;
    // outside it, no tag and no second heading.
    const open = lines.indexOf('````sh');
    expect(open).toBeGreaterThan(0);
    const close = lines.indexOf('````', open + 1);
    const outside = [...lines.slice(0, open), ...lines.slice(close + 1)];
    expect(outside.join('\n')).not.toContain('<b>');
    expect(outside.filter((l) => l.startsWith('# '))).toHaveLength(1);
    expect(lines.slice(open + 1, close).join('\n')).toContain("--title 'Mine\n```\n# Injected");
    expect(lines.slice(open + 1, close).some((l) => l.startsWith('````'))).toBe(false);
  });
});

describe('library API: typed errors naming the argument, nothing accepted silently', () => {
  it('untyped errors before: BatchNorm without options, decodeCheckpoint of a string, a deeply nested spec, forward of a plain array', () => {
    expect(() => new BatchNorm(3, undefined as never)).toThrow(ConfigError);
    expect(() => new BatchNorm(3, undefined as never)).toThrow(/missing BatchNorm\(3\) options \(needed: \{ rng,/);
    expect(() => decodeCheckpoint('a string longer than twelve' as never, 'x.ckpt')).toThrow(DataFormatError);
    expect(() => decodeCheckpoint('a string longer than twelve' as never, 'x.ckpt')).toThrow(/x\.ckpt: expected the checkpoint's bytes \(a Uint8Array/);
    let spec: FeedbackSpec = { type: 'symmetric', flip: 0 };
    for (let i = 0; i < 100_000; i++) spec = { type: 'batch-manhattan', inner: spec };
    expect(() => feedbackFromSpec(spec)).toThrow(/invalid feedback spec: "9\+ nested wrappers" \(allowed: at most 8 wrappers around a rule\)/);
    expect(feedbackFromSpec({ type: 'batch-manhattan', inner: { type: 'symmetric', flip: 0 } }).name).toBe('bm+bp');
    const dense = new Dense(2, 2, { rng: new Rng(1) });
    expect(() => dense.forward([1, 2] as never, true)).toThrow(/invalid Dense\(2→2\)\.forward input: \[1,2\] \(allowed: a Tensor of shape \[N, 2\]/);
    expect(() => dense.forward([1, 2] as never, true)).toThrow(ConfigError);
  });

  it('silently accepted before: SGD or RMSprop momentum 5, unknown configuration fields', () => {
    expect(() => new SGD([], { lr: 0.1, momentum: 5 })).toThrow('invalid momentum: 5 (allowed: a number in [0, 1))');
    expect(() => new SGD([], { lr: 0.1, momentum: 0.9, dampening: 2 })).toThrow('invalid dampening: 2 (allowed: a number in [0, 1])');
    expect(() => new RMSprop([], { momentum: 1 })).toThrow('invalid momentum: 1 (allowed: a number in [0, 1))');
    expect(() => resolveRunConfig({ feedback: 'usf', epochz: 3 } as never)).toThrow(/invalid run configuration field: "epochz" \(allowed: dataset, dataDir, arch,/);
    expect(() => feedbackByName('brsf', { magnitude: 'const-NaN' })).toThrow(ConfigError);
  });
});

describe('a reader that stops early', () => {
  it('asymprop reproduce --dry-run | head -1: the output ends, exit 0, no EPIPE stack trace', () => {
    const r = spawnSync('sh', ['-c', `"${process.execPath}" "${CLI}" reproduce --preset protocol --dry-run | head -1; exit "\${PIPESTATUS:-0}"`], { encoding: 'utf8' });
    expect(r.stdout.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).not.toMatch(/EPIPE|Unhandled/);
    const status = spawnSync('bash', ['-c', `"${process.execPath}" "${CLI}" reproduce --preset protocol --dry-run | head -1 >/dev/null; echo \${PIPESTATUS[0]}`], { encoding: 'utf8' });
    expect(status.stdout.trim()).toBe('0');
  });
});

describe('strategy names are printable: refused where defined, accepted in records', () => {
  it('defineStrategy refuses a name that would make markup; a record of any other name reads back', () => {
    const bind = (context: FeedbackContext) => feedbackByName('bp').bind(context);
    expect(() => defineStrategy({ name: 'a|b', spec: { type: 'custom', name: 'x' }, bind })).toThrow(/invalid strategy name: "a\|b" \(allowed: 1 to 128 characters/);
    expect(() => defineStrategy({ name: '', spec: { type: 'custom', name: 'x' }, bind })).toThrow(ConfigError);
    for (const name of ['my rule', 'λ-rule', 'sign/feedback', 'bm+brsf(lognormal)(flip=0.25)']) {
      expect(defineStrategy({ name, spec: { type: 'custom', name: 'x' }, bind }).name).toBe(name);
      const quick = readFileSync(fileURLToPath(new URL('../docs/results/quick/results.jsonl', import.meta.url)), 'utf8').split('\n')[0]!;
      const line = JSON.stringify({ ...JSON.parse(quick), strategy: name });
      expect(parseResults(`${line}\n`, 'r').records[0]!.strategy).toBe(name);
    }
  });
});
