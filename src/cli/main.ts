#!/usr/bin/env node
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { AsympropError } from '../errors.js';
import { ARCHITECTURES, DATASETS, resolveRunConfig, runLabel, type Architecture, type DatasetName } from '../experiments/config.js';
import { loadDataset } from '../experiments/datasets.js';
import { runExperiment } from '../experiments/run.js';
import { FEEDBACK_NAMES } from '../feedback/spec.js';
import { intOption, numberOption } from './args.js';
import { runDemo } from './demo.js';
import { Progress, bar } from './progress.js';

const USAGE = `asymprop: neural networks with asymmetric feedback (Liao, Leibo & Poggio, AAAI 2016)

Usage:
  asymprop demo  [--epochs N] [--seed S] [--workers N] [--json] [--quiet]
      The main job, on the embedded MNIST digits (8,000 train / 2,000 test), 5 epochs by default:
      the protocol's mlp with bp, usf, brsf, frsf and fa, each without and with Batch Manhattan;
      then mlp and lenet, without and with Batch Normalization, under bp and usf. Runs in
      parallel on worker threads and prints the accuracy tables.

  asymprop train [options]
      One run. Options (protocol defaults in brackets):
        --arch ${ARCHITECTURES.join('|')} [mlp]
        --dataset ${DATASETS.join('|')} [mnist-embedded]
        --data-dir DIR    where the dataset's files are
        --feedback ${FEEDBACK_NAMES.join('|')} [bp]
        --bm              Batch Manhattan update: g <- sign(g) on every parameter
        --bn              Batch Normalization after every conv and hidden dense layer
        --lr X            [0.1 without --bm, 1e-4 with it]; divided by 10 for the last 30% of epochs
        --flip F          fraction of feedback signs flipped, 0..1 [0]
        --magnitude M     brsf/frsf magnitude law: uniform|abs-normal|lognormal|const-<c> [uniform]
        --epochs N [10]   --seed S [1]   --batch-size N [100]
        --momentum X [0.9]   --weight-decay X [1e-4]
        --json            print one JSON object (testAccuracy, trainLoss, diverged, history, ...)
        --quiet           no progress on stderr

  asymprop reproduce [--preset quick|protocol] [options]
      A grid of runs of the protocol (../shared/protocol.md), in parallel, each written to
      <out>/results.jsonl the moment it ends; then <out>/report.md with tables and SVG figures.
        --dataset D --data-dir DIR   (protocol: fashion-mnist, /usr/share/datasets/fashion-mnist)
        --seeds 1,2  --epochs N  --only main,sign,magnitude  --workers N
        --out DIR [results/<preset>]  --resume (continue an interrupted grid)
        --shard i/n (run one n-th of the grid; merge with asymprop report)  --dry-run (list runs)

  asymprop report <results.jsonl ...> [--out DIR]
      Merge results files (e.g. shards) and render report.md and figures.

  asymprop --version | --help
`;

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
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
      process.stdout.write(USAGE);
      return command === undefined ? 2 : 0;
    default:
      process.stderr.write(`asymprop: unknown command ${JSON.stringify(command)} (commands: demo, train, reproduce, report, help)\n`);
      return 2;
  }
}

function trainCommand(args: string[]): number {
  const { values } = parseArgs({
    args,
    strict: true,
    allowPositionals: false,
    options: {
      arch: { type: 'string' },
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
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  const config = resolveRunConfig({
    arch: values.arch as Architecture | undefined,
    dataset: values.dataset as DatasetName | undefined,
    dataDir: values['data-dir'],
    feedback: values.feedback,
    bm: values.bm,
    bn: values.bn,
    lr: numberOption('lr', values.lr),
    flip: numberOption('flip', values.flip),
    magnitude: values.magnitude,
    epochs: intOption('epochs', values.epochs),
    seed: intOption('seed', values.seed),
    batchSize: intOption('batch-size', values['batch-size']),
    momentum: numberOption('momentum', values.momentum),
    weightDecay: numberOption('weight-decay', values['weight-decay']),
  });
  const progress = new Progress(process.stderr, values.quiet === true);
  progress.log(`asymprop train: ${runLabel(config)}, ${config.epochs} epochs on ${config.dataset}`);
  const data = loadDataset(config.dataset, config.dataDir);
  const result = runExperiment(config, data, {
    onBatch: (epoch, step, steps, loss) =>
      progress.update(`epoch ${epoch}/${config.epochs} ${bar(step / steps)} loss ${loss.toFixed(4)}`),
    onEpoch: (r) =>
      progress.log(
        `epoch ${r.epoch}/${config.epochs}  lr ${r.lr.toPrecision(2)}  train loss ${r.trainLoss.toFixed(4)}  ` +
          `train acc ${(r.trainAccuracy * 100).toFixed(2)}%  test acc ${(r.testAccuracy * 100).toFixed(2)}%  (${r.seconds.toFixed(1)} s)`,
      ),
  });
  progress.done();
  if (result.diverged) progress.log(`diverged at epoch ${result.divergedAt!.epoch}, step ${result.divergedAt!.step}: ${result.divergedAt!.detail}`);
  if (values.json) process.stdout.write(`${JSON.stringify(result)}\n`);
  else process.stdout.write(`test accuracy ${result.diverged ? 'n/a (diverged)' : `${(result.testAccuracy * 100).toFixed(2)}%`}\n`);
  return 0;
}

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    const err = e as Error & { code?: string };
    if (e instanceof AsympropError || err.code?.startsWith('ERR_PARSE_ARGS')) {
      process.stderr.write(`asymprop: ${err.message}\nRun "asymprop --help" for the options.\n`);
      process.exitCode = 2;
    } else {
      process.stderr.write(`asymprop: internal error: ${err.stack ?? String(e)}\n`);
      process.exitCode = 1;
    }
  },
);
