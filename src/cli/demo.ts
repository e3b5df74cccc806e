import { parseArgs } from 'node:util';
import { resolveRunConfig, type Architecture, type RunConfig } from '../experiments/config.js';
import type { RunResult } from '../experiments/run.js';
import { methods } from '../feedback/registry.js';
import { intOption } from './args.js';
import { runPool } from '../experiments/pool.js';
import { checkEmbeddedMnist } from '../data/embeddedMnist.js';
import { Progress, bar } from './progress.js';
import { formatAccuracy, renderTable } from './table.js';

/** The methods of the demo's first part: the registry's `protocol` study, in its order. */
export const DEMO_METHODS: readonly string[] = methods('protocol').map((m) => m.name);
/** The architectures × normalisations of the second part. */
const BN_ROWS: readonly { arch: Architecture; bn: boolean }[] = [
  { arch: 'mlp', bn: false },
  { arch: 'mlp', bn: true },
  { arch: 'lenet', bn: false },
  { arch: 'lenet', bn: true },
];
/** The methods of the second part: the registry's `demo-bn` study (bp and uSF). */
const BN_METHODS: readonly string[] = methods('demo-bn').map((m) => m.name);

/** The default length of the demo: long enough for backprop's 95%, short enough for a first try. */
export const DEMO_EPOCHS = 5;

/**
 * The demo's runs: (1) the mlp under every method, without and with Batch Manhattan;
 * (2) mlp and lenet without and with Batch Normalization under bp and uSF. Runs shared by both
 * parts (the plain mlp under bp and uSF) are listed once.
 */
export function demoConfigs(epochs: number, seed: number): RunConfig[] {
  const part1 = [false, true].flatMap((bm) => DEMO_METHODS.map((feedback) => resolveRunConfig({ feedback, bm, epochs, seed })));
  const part2 = BN_ROWS.filter((r) => r.arch !== 'mlp' || r.bn).flatMap(({ arch, bn }) =>
    BN_METHODS.map((feedback) => resolveRunConfig({ arch, bn, feedback, epochs, seed })),
  );
  return [...part1, ...part2];
}

/** `asymprop demo`: a terminal-sized version of the study (the README's main job is the `quick` preset). */
export async function runDemo(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    strict: true,
    allowPositionals: false,
    options: {
      epochs: { type: 'string' },
      seed: { type: 'string' },
      workers: { type: 'string' },
      json: { type: 'boolean' },
      quiet: { type: 'boolean' },
    },
  });
  const configs = demoConfigs(intOption('epochs', values.epochs, true) ?? DEMO_EPOCHS, intOption('seed', values.seed) ?? 1);
  const workers = intOption('workers', values.workers, true);
  const progress = new Progress(process.stderr, values.quiet === true);
  const first = configs[0]!;
  progress.log(
    `asymprop demo: embedded MNIST digits (8,000 train / 2,000 test), ${first.epochs} epochs, seed ${first.seed}, ` +
      `${configs.length} runs on ${workers ?? 'all'} worker threads`,
  );
  checkEmbeddedMnist(); // every run reads the digits, in a worker: say now if they are missing
  const state = configs.map(() => ({ fraction: 0, done: false }));
  const t0 = Date.now();
  const results = await runPool(configs, {
    ...(workers !== undefined ? { workers } : {}),
    onMessage: (m) => {
      const s = state[m.id]!;
      const c = configs[m.id]!;
      if (m.type === 'batch') s.fraction = (m.epoch - 1 + m.step / m.steps) / c.epochs;
      if (m.type === 'epoch') progress.log(`  ${label(c).padEnd(18)} epoch ${m.epoch}/${c.epochs}  test acc ${(m.testAccuracy * 100).toFixed(2)}%`);
      if (m.type === 'done') {
        s.done = true;
        s.fraction = 1;
        progress.log(`  ${label(c).padEnd(18)} done: ${formatAccuracy(m.result.testAccuracy, m.result.divergedAt)} in ${m.result.seconds.toFixed(0)} s`);
      }
      const total = state.reduce((a, b) => a + b.fraction, 0) / state.length;
      progress.update(`${bar(total)}  ${state.filter((x) => x.done).length}/${configs.length} runs done, ${((Date.now() - t0) / 1000).toFixed(0)} s`);
    },
  });
  progress.done();
  if (values.json) {
    process.stdout.write(`${JSON.stringify({ runs: results })}\n`);
  } else {
    process.stdout.write(`\n${demoTables(results)}\n\nWall time ${((Date.now() - t0) / 1000).toFixed(0)} s.\n`);
  }
  return 0;
}

function label(c: RunConfig): string {
  return `${c.arch}${c.bn ? '+bn' : ''} ${c.bm ? 'bm+' : ''}${c.feedback}`;
}

function find(results: readonly RunResult[], where: Partial<RunConfig>): RunResult | undefined {
  return results.find((r) => Object.entries(where).every(([k, v]) => r.config[k as keyof RunConfig] === v));
}

/** The demo's tables: accuracy by method and update rule, error angles, and accuracy with and without BN. */
export function demoTables(results: readonly RunResult[]): string {
  const lrOf = (bm: boolean) => find(results, { bm })?.config.lr;
  const header = ['feedback', `gradient g (lr ${lrOf(false)})`, `Batch Manhattan sign(g) (lr ${lrOf(true)})`];
  const cell = (where: Partial<RunConfig>) => {
    const r = find(results, where);
    return r ? formatAccuracy(r.testAccuracy, r.divergedAt) : '';
  };
  const angle = (where: Partial<RunConfig>) => {
    const s = find(results, where)?.history.at(-1)?.feedback?.['3'];
    return s && Number.isFinite(s.errorAngle) ? `${s.errorAngle.toFixed(1)}°` : 'n/a';
  };
  const mlpPlain = { arch: 'mlp', bn: false } as const;
  const accuracy = DEMO_METHODS.map((f) => [f, cell({ ...mlpPlain, feedback: f, bm: false }), cell({ ...mlpPlain, feedback: f, bm: true })]);
  const angles = DEMO_METHODS.map((f) => [f, angle({ ...mlpPlain, feedback: f, bm: false }), angle({ ...mlpPlain, feedback: f, bm: true })]);
  const bnRows = BN_ROWS.map(({ arch, bn }) => [`${arch}${bn ? ' + BN' : ''}`, ...BN_METHODS.map((f) => cell({ arch, bn, feedback: f, bm: false }))]);
  return [
    'mlp 784-256-256-10: test accuracy after the last epoch',
    '',
    renderTable(header, accuracy),
    '',
    'Angle between the error the second hidden layer sends down and the one backprop would send',
    '(last batch of the last epoch; 0° is backprop, 90° is no agreement)',
    '',
    renderTable(header, angles),
    '',
    `Batch Normalization (gradient g, lr ${lrOf(false)}): test accuracy after the last epoch`,
    '',
    renderTable(['model', ...BN_METHODS], bnRows),
  ].join('\n');
}
