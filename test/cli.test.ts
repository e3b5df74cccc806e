import { spawnSync } from 'node:child_process';
import { statSync } from 'node:fs';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { demoTables } from '../src/cli/demo.js';
import { formatLoss } from '../src/cli/table.js';
import type { RunResult } from '../src/experiments/run.js';

// These tests drive the built command line (npm test builds dist/ first), as a user would.
const CLI = fileURLToPath(new URL('../dist/cli/main.js', import.meta.url));

function cli(...args: string[]) {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 540_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

function json<T>(stdout: string): T {
  return JSON.parse(stdout) as T;
}

describe('asymprop train', () => {
  it('symmetric backprop reaches at least 95% test accuracy on the embedded MNIST split (protocol defaults, 10 epochs)', () => {
    const r = cli('train', '--arch', 'mlp', '--feedback', 'bp', '--seed', '1', '--json', '--quiet');
    expect(r.code, r.stderr).toBe(0);
    const out = json<RunResult>(r.stdout);
    expect(out.config).toMatchObject({ epochs: 10, batchSize: 100, momentum: 0.9, weightDecay: 1e-4, lr: 0.1 });
    expect(out.history).toHaveLength(10);
    expect(out.history[7]!.lr).toBeCloseTo(0.01);
    expect(out.diverged).toBe(false);
    expect(out.testAccuracy).toBeGreaterThanOrEqual(0.95);
  }, 600_000);

  it('takes the issue\'s example options and prints one JSON object with the per-epoch history', () => {
    const r = cli('train', '--arch', 'mlp', '--feedback', 'usf', '--bm', '--epochs', '2', '--seed', '1', '--json', '--quiet');
    expect(r.code, r.stderr).toBe(0);
    const out = json<RunResult & { history: { feedback: Record<string, { signConcordance: number }> }[] }>(r.stdout);
    expect(out.strategy).toBe('bm+usf');
    expect(out.config.lr).toBe(1e-4);
    expect(out.history).toHaveLength(2);
    expect(out.testAccuracy).toBeGreaterThan(0.8);
    expect(out.testAccuracy).toBeLessThanOrEqual(1);
    expect(typeof out.trainLoss).toBe('number');
    expect(out.history[1]!.feedback['1']!.signConcordance).toBe(1);
  });

  it('is deterministic: the same seed gives the same result (random feedback included)', () => {
    const a = json<RunResult>(cli('train', '--feedback', 'brsf', '--flip', '0.25', '--epochs', '1', '--seed', '3', '--json', '--quiet').stdout);
    const b = json<RunResult>(cli('train', '--feedback', 'brsf', '--flip', '0.25', '--epochs', '1', '--seed', '3', '--json', '--quiet').stdout);
    expect(a.history[0]!.trainLoss).toBe(b.history[0]!.trainLoss);
    expect(a.testAccuracy).toBe(b.testAccuracy);
  });

  it('--threads 2 trains on two threads to the same result as one thread', () => {
    const args = ['train', '--arch', 'mlp', '--bn', '--feedback', 'brsf', '--epochs', '1', '--seed', '2', '--json'];
    const one = cli(...args);
    const two = cli(...args, '--threads', '2');
    expect(two.code, two.stderr).toBe(0);
    expect(two.stderr).toMatch(/, 2 threads/);
    expect(one.stderr).not.toMatch(/threads/);
    const [a, b] = [json<RunResult>(one.stdout), json<RunResult>(two.stdout)];
    expect(b.history[0]!.trainLoss).toBe(a.history[0]!.trainLoss);
    expect(b.testAccuracy).toBe(a.testAccuracy);
    expect(cli('train', '--threads', '0').stderr).toMatch(/threads/);
  });

  it('prints progress on stderr and the accuracy on stdout without --json', () => {
    const r = cli('train', '--feedback', 'fa', '--epochs', '1');
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/asymprop train: mlp fa lr=0.1 seed=1/);
    expect(r.stderr).toMatch(/epoch 1\/1 .* test acc/);
    expect(r.stdout).toMatch(/^test accuracy (\d+\.\d\d%|n\/a \(diverged\))\n$/);
  });

  const bad: [string[], RegExp][] = [
    [['train', '--feedback', 'nope'], /invalid feedback: "nope" \(allowed: 'bp'/],
    [['train', '--lr=-1'], /invalid lr: -1/],
    [['train', '--lr', 'abc'], /invalid lr: "abc" \(allowed: a finite number\)/],
    [['train', '--lr', '-1'], /invalid lr: -1 \(allowed: a finite number > 0\)/],
    [['train', '--momentum', '-0.5'], /invalid momentum: -0.5/],
    [['train', '--epochs', '2.5'], /invalid epochs: "2.5" \(allowed: a positive integer\)/],
    [['train', '--epochs', 'abc'], /invalid epochs: "abc" \(allowed: a positive integer\)/],
    [['train', '--seed', '1.5'], /invalid seed: "1.5" \(allowed: an integer\)/],
    [['train', '--epochs', '1e3'], /invalid epochs: "1e3" \(allowed: a positive integer\)/],
    [['train', '--seed', '9007199254740993'], /invalid seed: "9007199254740993" \(allowed: an integer\)/],
    [['train', '--dataset', 'cifar10'], /missing data-dir \(needed: the directory holding the cifar10 files/],
    [['train', '--dataset', 'fashion-mnist', '--data-dir', '/nonexistent-asymprop'], /\/nonexistent-asymprop: the data directory does not exist/],
    [['report', 'no-such-results.jsonl', '--quiet'], /invalid results file: "no-such-results.jsonl" \(allowed: a readable file/],
    [['train', '--checkpoint-every', '10'], /missing checkpoint \(needed: a file path/],
    [['train', '--on-divergence', 'panic'], /invalid on-divergence: "panic"/],
    [['demo', '--workers', '0'], /invalid workers: 0/],
    [['reproduce', '--preset', 'giant'], /invalid preset: "giant"/],
    [['reproduce', '--shard', '3/2'], /invalid shard: "3\/2"/],
    [['train', '--flip', '2'], /invalid flip: 2 \(allowed: a fraction in \[0, 1\]\)/],
    [['train', '--epochs', '0'], /invalid epochs: 0 \(allowed: a positive integer\)/],
    [['train', '--batch-size', '0'], /invalid batch-size: 0/],
    [['train', '--magnitude', 'lognormal'], /magnitude.*only with feedback 'brsf' or 'frsf'/],
    [['train', '--feedback', 'brsf', '--magnitude', 'cauchy'], /invalid magnitude: "cauchy"/],
    [['train', '--arch', 'vgg'], /invalid arch: "vgg"/],
    [['train', '--arch', 'resnet', '--depth', '9'], /invalid depth: 9 \(allowed: a resnet depth 6n\+2/],
    [['train', '--optimizer', 'lbfgs'], /invalid optimizer: "lbfgs" \(allowed: 'sgd', 'adam', 'rmsprop'\)/],
    [['reproduce', '--optimizer', 'lbfgs', '--dry-run'], /invalid optimizer: "lbfgs"/],
    [['train', '--depth', '8'], /invalid depth: 8 \(allowed: no depth: only --arch resnet/],
    [['train', '--dataset', 'imagenet'], /invalid dataset: "imagenet"/],
    [['train', '--bogus'], /unknown option --bogus for asymprop train\nRun "asymprop train --help" for its options/],
    [['train', '--epoch', '1'], /unknown option --epoch for asymprop train \(did you mean --epochs\?\)/],
    [['reproduce', '--preset', 'quick', '--worker', '2'], /unknown option --worker for asymprop reproduce \(did you mean --workers\?\)/],
    [['report', 'r.jsonl', '--titel', 'x'], /unknown option --titel for asymprop report \(did you mean --title\?\)/],
    [['demo', '--seeed', '2'], /unknown option --seeed for asymprop demo \(did you mean --seed\?\)/],
    [['train', '--epochs', '0'], /Run "asymprop train --help" for its options/],
    [['frobnicate'], /unknown command "frobnicate"/],
  ];
  for (const [args, message] of bad) {
    it(`rejects ${args.join(' ')} with exit code 2 and a message naming the option`, () => {
      const r = cli(...args);
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(message);
      expect(r.stdout).toBe('');
    });
  }

  it('trains a resnet-8 with BN and uSF on the embedded digits for one epoch, well above chance, on two threads', () => {
    const r = cli('train', '--arch', 'resnet', '--depth', '8', '--bn', '--feedback', 'usf', '--epochs', '1', '--threads', '2', '--json', '--quiet');
    expect(r.code, r.stderr).toBe(0);
    const out = json<RunResult & { config: { arch: string; depth: number } }>(r.stdout);
    expect(out.config.arch).toBe('resnet');
    expect(out.config.depth).toBe(8);
    expect(out.diverged).toBe(false);
    expect(out.testAccuracy).toBeGreaterThan(0.5);
    // Every weighted layer inside the blocks is instrumented, the shortcut's projection included.
    expect(Object.keys(out.history[0]!.feedback ?? {})).toContain('4.0.shortcut.conv');
  });

  it('--optimizer adam trains with PyTorch\'s default learning rate, named in the config; reproduce --optimizer puts it in every run id', () => {
    const r = cli('train', '--optimizer', 'adam', '--epochs', '1', '--json', '--quiet');
    expect(r.code, r.stderr).toBe(0);
    const out = json<RunResult & { config: { optimizer: string; lr: number } }>(r.stdout);
    expect(out.config.optimizer).toBe('adam');
    expect(out.config.lr).toBe(1e-3);
    expect(out.testAccuracy).toBeGreaterThan(0.85);
    const sgd = json<{ config: Record<string, unknown> }>(cli('train', '--optimizer', 'sgd', '--epochs', '1', '--json', '--quiet').stdout);
    expect('optimizer' in sgd.config).toBe(false); // SGD runs' configurations (and ids) are what they were
    const ids = cli('reproduce', '--preset', 'transport-quick', '--optimizer', 'rmsprop', '--dry-run').stdout.trim().split('\n').slice(0, -1);
    expect(ids.length).toBe(64);
    for (const line of ids) expect(line).toMatch(/\/optimizer=rmsprop\/momentum=/);
  });

  it('the built command is executable, so `npx asymprop` works in a clone (npm sets the bit only when it installs a package)', () => {
    expect(statSync(CLI).mode & 0o111).toBe(0o111);
  });

  it('--version prints the package version', () => {
    expect(cli('--version').stdout.trim()).toMatch(/^\d+\.\d+\.\d+/);
  });
});

describe('asymprop reproduce --dry-run', () => {
  // Each line is `<parts>\t<id>`; the last line is the count.
  const listed = (stdout: string) => {
    const lines = stdout.trimEnd().split('\n');
    return { ids: lines.slice(0, -1).map((line) => line.split('\t')[1]), summary: lines.at(-1) };
  };

  it('lists the grid, and with --shard i/n only that shard\'s runs (every n-th, from run i), running nothing', () => {
    const out = join(mkdtempSync(join(tmpdir(), 'asymprop-dry-')), 'results');
    const all = cli('reproduce', '--preset', 'protocol', '--dry-run', '--out', out);
    expect(all.code, all.stderr).toBe(0);
    const grid = listed(all.stdout);
    expect(grid.ids).toHaveLength(232);
    expect(grid.summary).toBe('232 runs');
    const shards = [1, 2, 3].map((i) => cli('reproduce', '--preset', 'protocol', '--shard', `${i}/3`, '--dry-run', '--out', out));
    shards.forEach((r, k) => {
      expect(r.code, r.stderr).toBe(0);
      const shard = listed(r.stdout);
      expect(shard.ids).toEqual(grid.ids.filter((_, i) => i % 3 === k));
      expect(shard.summary).toBe(`${shard.ids.length} runs (shard ${k + 1}/3 of 232 runs)`);
    });
    expect(shards.map((r) => listed(r.stdout).ids.length)).toEqual([78, 77, 77]);
    expect(existsSync(out)).toBe(false);
  });
});

describe('losses printed for people', () => {
  it('keep four decimals while small and switch to three significant digits when huge (never 14 integer digits or e+24 with 16)', () => {
    expect([0.123456, 2.302585, 999.99999, 12345.678, 90761339055319.1563, 4.5968698546627265e24, -2e7].map(formatLoss)).toEqual(['0.1235', '2.3026', '1000.0000', '12345.68', '9.076e+13', '4.597e+24', '-2.000e+7']);
    expect([NaN, Infinity, -Infinity].map(formatLoss)).toEqual(['NaN', '∞', '−∞']);
  });
});

describe('asymprop <command> --help', () => {
  for (const command of ['demo', 'train', 'reproduce', 'report']) {
    it(`asymprop ${command} --help and -h print that command's own section, exit 0`, () => {
      for (const flag of ['--help', '-h']) {
        const r = cli(command, flag);
        expect(r.code, r.stderr).toBe(0);
        expect(r.stdout.startsWith(`  asymprop ${command}`)).toBe(true);
        expect(r.stdout).not.toMatch(new RegExp(`^ {2}asymprop (?!${command})[a-z]+`, 'm'));
        expect(r.stdout).toContain('Every command: asymprop --help');
      }
    });
  }
  it('help comes before any other option, valid or not', () => {
    const r = cli('reproduce', '--preset', 'nope', '--bogus', '--help');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('--shard i/n');
  });
});

describe('asymprop --help', () => {
  it('lists reproduce --quiet and report --title', () => {
    const help = cli('--help').stdout;
    const section = (command: string) => help.slice(help.indexOf(`  asymprop ${command} `)).split('\n\n')[0]!;
    expect(section('reproduce')).toMatch(/--quiet/);
    expect(section('report')).toMatch(/--title/);
  });
});

describe('asymprop demo', () => {
  it('runs every method without and with Batch Manhattan, then mlp and lenet with and without BN, and tabulates them', () => {
    const r = cli('demo', '--epochs', '1', '--workers', '2', '--json', '--quiet');
    expect(r.code, r.stderr).toBe(0);
    const { runs } = json<{ runs: RunResult[] }>(r.stdout);
    const names = runs.map((x) => `${x.config.arch}${x.config.bn ? '+bn' : ''} ${x.config.bm ? 'bm+' : ''}${x.config.feedback}`);
    expect(names).toEqual([
      'mlp bp', 'mlp usf', 'mlp brsf', 'mlp frsf', 'mlp fa',
      'mlp bm+bp', 'mlp bm+usf', 'mlp bm+brsf', 'mlp bm+frsf', 'mlp bm+fa',
      'mlp+bn bp', 'mlp+bn usf', 'lenet bp', 'lenet usf', 'lenet+bn bp', 'lenet+bn usf',
    ]);
    for (const run of runs) {
      expect(run.diverged || (run.testAccuracy >= 0 && run.testAccuracy <= 1)).toBe(true);
      expect(run.config.lr).toBe(run.config.bm ? 1e-4 : 0.1);
      expect(run.config.epochs).toBe(1);
    }
    const acc = (name: string) => runs[names.indexOf(name)]!.testAccuracy;
    expect(acc('mlp bp')).toBeGreaterThan(0.85);
    // The paper's fourth finding, already after one epoch: uSF needs BN (or BM) to learn.
    expect(acc('mlp+bn usf')).toBeGreaterThan(0.8);
    expect(acc('lenet+bn usf')).toBeGreaterThan(0.8);
    const tables = demoTables(runs);
    expect(tables).toMatch(/feedback\s+gradient g \(lr 0.1\)\s+Batch Manhattan sign\(g\) \(lr 0.0001\)/);
    expect(tables).toMatch(/\nbp\s+0\.0°\s+0\.0°/);
    for (const method of ['bp', 'usf', 'brsf', 'frsf', 'fa']) expect(tables).toMatch(new RegExp(`\\n${method}\\s+(\\d+\\.\\d\\d%|diverged)`));
    expect(tables).toMatch(/\nlenet \+ BN\s+\d+\.\d\d%\s+\d+\.\d\d%/);
  }, 600_000);
});

describe('the command a report records', () => {
  it('gives the same arguments back through a shell (titles with spaces, quotes and parentheses)', async () => {
    const { shellWords } = await import('../src/cli/reproduceCommand.js');
    const { execFileSync } = await import('node:child_process');
    const args = ['report', 'a/results.jsonl', '--title', "it's (in progress: 3 of 232)", '--out', 'x y', '', '$HOME', '--seeds', '1,2'];
    const line = shellWords(args);
    expect(line).toContain('a/results.jsonl --title');
    const back = execFileSync('sh', ['-c', `for a in ${line}; do printf '%s\\n' "[$a]"; done`], { encoding: 'utf8' });
    expect(back.trimEnd().split('\n')).toEqual(args.map((a) => `[${a}]`));
  });
});

describe('asymprop report never drops runs', () => {
  // Real records: the committed quick grid's.
  const lines = readFileSync(fileURLToPath(new URL('../docs/results/quick/results.jsonl', import.meta.url)), 'utf8').trim().split('\n');
  const runsIn = (file: string) => readFileSync(file, 'utf8').trim().split('\n').length;

  it('refuses to replace an --out/results.jsonl that holds other runs, and merges it when named', () => {
    const dir = mkdtempSync(join(tmpdir(), 'asymprop-report-'));
    const [a, b] = [join(dir, 'a.jsonl'), join(dir, 'b.jsonl')];
    writeFileSync(a, `${lines.slice(0, 5).join('\n')}\n`);
    writeFileSync(b, `${lines.slice(5, 10).join('\n')}\n`);
    const out = join(dir, 'out'), target = join(out, 'results.jsonl');
    expect(cli('report', a, '--out', out, '--quiet')).toMatchObject({ code: 0, stderr: '' });
    expect(runsIn(target)).toBe(5);
    const before = [target, join(out, 'report.md'), join(out, 'figures', 'main-accuracy.svg')].map((f) => readFileSync(f, 'utf8'));

    // Named by a relative path from another directory, the same file is still recognised.
    const refused = spawnSync(process.execPath, [CLI, 'report', 'b.jsonl', '--out', 'out'], { cwd: dir, encoding: 'utf8' });
    expect(refused.status).toBe(2);
    expect(refused.stderr).toMatch(/invalid out: "out" .*out\/results\.jsonl holds 5 other runs that the report would replace; name it among the files to merge/);
    expect([target, join(out, 'report.md'), join(out, 'figures', 'main-accuracy.svg')].map((f) => readFileSync(f, 'utf8'))).toEqual(before);
    const relative = spawnSync(process.execPath, [CLI, 'report', 'out/results.jsonl', 'b.jsonl', '--out', './out/', '--quiet'], { cwd: dir, encoding: 'utf8' });
    expect(relative.status, relative.stderr).toBe(0);
    expect(runsIn(target)).toBe(10);
    writeFileSync(target, before[0]!);

    // Named among the inputs, its runs are merged; a file whose runs are all merged again is replaced.
    expect(cli('report', target, b, '--out', out, '--quiet').code).toBe(0);
    expect(runsIn(target)).toBe(10);
    expect(cli('report', a, b, '--out', out, '--quiet').code).toBe(0);
    expect(runsIn(target)).toBe(10);
  });

  it('a results.jsonl in --out that cannot be read as results stops the report and is left as it was', () => {
    const dir = mkdtempSync(join(tmpdir(), 'asymprop-report-'));
    const a = join(dir, 'a.jsonl'), target = join(dir, 'results.jsonl');
    writeFileSync(a, `${lines[0]}\n`);
    writeFileSync(target, 'notes I keep here\n');
    const r = cli('report', a, '--out', dir);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/invalid out: .*results\.jsonl cannot be read as results \(.*line 1 is not JSON.*\); move it or choose another --out/);
    expect(readFileSync(target, 'utf8')).toBe('notes I keep here\n');
  });

  it('an empty or unreadable-as-runs results file is an error, not an empty report', () => {
    const dir = mkdtempSync(join(tmpdir(), 'asymprop-report-'));
    const empty = join(dir, 'empty.jsonl'), garbage = join(dir, 'garbage.jsonl');
    writeFileSync(empty, '');
    writeFileSync(garbage, '\x00\x01binary');
    const notJson = join(dir, 'not-json.jsonl');
    writeFileSync(notJson, 'not json\n');
    const r = cli('report', notJson, '--out', join(dir, 'out'));
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/not-json\.jsonl \(byte 0\): line 1 is not JSON/);
    for (const file of [empty, garbage]) {
      const r = cli('report', file, '--out', join(dir, 'out'));
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(/holds no complete run/);
      expect(r.stderr).toMatch(/invalid results files: .* \(allowed: files holding at least one complete run\)/);
      expect(existsSync(join(dir, 'out'))).toBe(false);
    }
  });
});
