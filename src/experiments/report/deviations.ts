import { PROTOCOL_DEFAULTS } from '../config.js';
import { LR_GRID } from '../grid.js';
import type { ResultRecord } from '../results.js';
import { FLUSH_BELOW } from '../../optim/sgd.js';

/**
 * The protocol's fixed settings (docs/protocol.md): its training settings are the library's
 * defaults; its data is Fashion-MNIST (the library's default data is the embedded digits) and it
 * asks for at least 2 seeds per cell.
 */
const PROTOCOL: { readonly dataset: string; readonly epochs: number; readonly batchSize: number; readonly momentum: number; readonly weightDecay: number; readonly seeds: number } = {
  dataset: 'fashion-mnist',
  epochs: PROTOCOL_DEFAULTS.epochs,
  batchSize: PROTOCOL_DEFAULTS.batchSize,
  momentum: PROTOCOL_DEFAULTS.momentum,
  weightDecay: PROTOCOL_DEFAULTS.weightDecay,
  seeds: 2,
};

/**
 * Where these results depart from the protocol (`docs/protocol.md`), read from the runs
 * themselves (data, epochs, batch size, momentum, weight decay, seeds per cell, learning rates),
 * plus what the library does differently from PyTorch in every run. Empty for no runs.
 */
export function protocolDeviations(records: readonly ResultRecord[]): string[] {
  if (records.length === 0) return [];
  const out: string[] = [];
  const of = (n: number) => `${n} of ${records.length} runs`;
  const differs = <K extends 'dataset' | 'epochs' | 'batchSize' | 'momentum' | 'weightDecay'>(key: K, describe: (values: string) => string) => {
    const off = records.filter((r) => (r.config[key] as unknown) !== PROTOCOL[key]);
    if (off.length) out.push(`${describe([...new Set(off.map((r) => String(r.config[key])))].join(', '))} (${of(off.length)})`);
  };
  differs('dataset', (v) => `Data: ${v} instead of Fashion-MNIST`);
  differs('epochs', (v) => `${v} epochs instead of 10 (the learning rate is still divided by 10 for the last 30% of them)`);
  differs('batchSize', (v) => `Batch size ${v} instead of 100`);
  differs('momentum', (v) => `Momentum ${v} instead of 0.9`);
  differs('weightDecay', (v) => `Weight decay ${v} instead of 1e-4`);

  // Seeds per cell: runs that differ only in their seed.
  const cells = new Map<string, number>();
  for (const r of records) {
    const { seed: _seed, ...cell } = r.config;
    const key = JSON.stringify(cell);
    cells.set(key, (cells.get(key) ?? 0) + 1);
  }
  const thin = [...cells.values()].filter((n) => n < PROTOCOL.seeds).length;
  if (thin) out.push(`${thin} of ${cells.size} cells (a learning rate of a configuration) have fewer than ${PROTOCOL.seeds} seeds; the protocol asks for at least ${PROTOCOL.seeds}`);

  // The learning-rate grid, per update rule.
  for (const [bm, grid, rule] of [[false, LR_GRID.plain, 'without BM'], [true, LR_GRID.bm, 'with BM']] as const) {
    const seen = [...new Set(records.filter((r) => r.config.bm === bm).map((r) => r.config.lr))].sort((a, b) => b - a);
    if (seen.length && (seen.length !== grid.length || seen.some((lr) => !(grid as readonly number[]).includes(lr)))) {
      out.push(`Learning rates ${rule}: ${seen.join(', ')} instead of ${grid.join(' and ')}`);
    }
  }
  out.push(
    `In every run, SGD sets momentum values smaller in magnitude than the smallest normal float32 (${FLUSH_BELOW.toPrecision(3)}) to zero, ` +
      'because JavaScript cannot switch on the processor\'s flush-to-zero and arithmetic on such subnormal values is many times slower; PyTorch keeps them. ' +
      'Such a value moves its weight by less than 1e-38 times the learning rate.',
  );
  return out;
}
