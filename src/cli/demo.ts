import { parseArgs } from 'node:util';
import { resolveRunConfig, type RunConfig } from '../experiments/config.js';
import type { RunResult } from '../experiments/run.js';
import { intOption } from './args.js';
import { runPool } from './pool.js';
import { Progress, bar } from './progress.js';
import { formatAccuracy, renderTable } from './table.js';

/** The methods of the main job, in the protocol's order. */
export const DEMO_METHODS = ['bp', 'usf', 'brsf', 'frsf', 'fa'] as const;

/** The main job's runs: every method without and with Batch Manhattan, at their default rates. */
export function demoConfigs(epochs: number, seed: number): RunConfig[] {
  return [false, true].flatMap((bm) => DEMO_METHODS.map((feedback) => resolveRunConfig({ feedback, bm, epochs, seed })));
}

/** `asymprop demo`: the README's main job. */
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
  const configs = demoConfigs(intOption('epochs', values.epochs) ?? 10, intOption('seed', values.seed) ?? 1);
  const workers = intOption('workers', values.workers);
  const progress = new Progress(process.stderr, values.quiet === true);
  const first = configs[0]!;
  progress.log(
    `asymprop demo: mlp 784-256-256-10 on the embedded MNIST digits (8,000 train / 2,000 test), ` +
      `${first.epochs} epochs, seed ${first.seed}, ${configs.length} runs on ${workers ?? 'all'} worker threads`,
  );
  const state = configs.map(() => ({ epoch: 0, fraction: 0, done: false }));
  const t0 = Date.now();
  const results = await runPool(configs, {
    ...(workers !== undefined ? { workers } : {}),
    onMessage: (m) => {
      const s = state[m.id]!;
      const c = configs[m.id]!;
      if (m.type === 'batch') s.fraction = (m.epoch - 1 + m.step / m.steps) / c.epochs;
      if (m.type === 'epoch') progress.log(`  ${label(c).padEnd(10)} epoch ${m.epoch}/${c.epochs}  test acc ${(m.testAccuracy * 100).toFixed(2)}%`);
      if (m.type === 'done') {
        s.done = true;
        s.fraction = 1;
        const r = m.result;
        progress.log(`  ${label(c).padEnd(10)} done: ${formatAccuracy(r.testAccuracy, r.divergedAt)} in ${r.seconds.toFixed(0)} s`);
      }
      const total = state.reduce((a, b) => a + b.fraction, 0) / state.length;
      progress.update(`${bar(total)}  ${state.filter((x) => x.done).length}/${configs.length} runs done, ${((Date.now() - t0) / 1000).toFixed(0)} s`);
    },
  });
  progress.done();
  if (values.json) {
    process.stdout.write(`${JSON.stringify({ runs: results })}\n`);
  } else {
    process.stdout.write(`\n${demoTable(results)}\n\nWall time ${((Date.now() - t0) / 1000).toFixed(0)} s.\n`);
  }
  return 0;
}

function label(c: RunConfig): string {
  return `${c.bm ? 'bm+' : ''}${c.feedback}`;
}

/** The accuracy table (one row per method, one column per update rule), then the error angles. */
export function demoTable(results: readonly RunResult[]): string {
  const lrOf = (bm: boolean) => results.find((r) => r.config.bm === bm)?.config.lr;
  const find = (method: string, bm: boolean) => results.find((x) => x.config.feedback === method && x.config.bm === bm);
  const header = ['feedback', `gradient g (lr ${lrOf(false)})`, `Batch Manhattan sign(g) (lr ${lrOf(true)})`];
  const accuracy = DEMO_METHODS.map((method) => {
    const cell = (bm: boolean) => {
      const r = find(method, bm);
      return r ? formatAccuracy(r.testAccuracy, r.divergedAt) : '';
    };
    return [method, cell(false), cell(true)];
  });
  const angles = DEMO_METHODS.map((method) => {
    const cell = (bm: boolean) => {
      const last = find(method, bm)?.history.at(-1)?.feedback?.['3'];
      return last && Number.isFinite(last.errorAngle) ? `${last.errorAngle.toFixed(1)}°` : 'n/a';
    };
    return [method, cell(false), cell(true)];
  });
  return [
    'Test accuracy after the last epoch',
    '',
    renderTable(header, accuracy),
    '',
    'Angle between the error the second hidden layer sends down and the one backprop would send',
    '(last batch of the last epoch; 0° is backprop, 90° is no agreement)',
    '',
    renderTable(header, angles),
  ].join('\n');
}
