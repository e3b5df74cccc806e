#!/usr/bin/env node
/**
 * The cost of each feedback strategy relative to symmetric backprop, in one process:
 * `node bench/overhead-worker.mjs <workload> --strategies bp,usf,… [options]`.
 *
 * One asymprop model per strategy (same architecture, same batches), trained in rounds: each round runs
 * one training step of every model, in a rotated order, so a burst of load from a neighbour
 * on a shared machine falls on all strategies alike. A strategy's per-step cost is compared with
 * backprop's within each round (`ratio = its step time ÷ bp's step time`), and the median over
 * rounds is reported. Every step is a full `trainStep`: forward, backward through the feedback
 * matrices, Batch Manhattan's sign where used, the SGD update, and brSF's per-step redraw.
 *
 * Strategies with Batch Manhattan train at `--bm-lr` (default 1e-4, the protocol's smaller BM
 * rate), the others at the benchmark's 0.01. A BM step moves every weight by about lr: on this
 * benchmark's synthetic batches the BM models blow up at 0.01 and at 1e-3 (logits in the
 * thousands), and their loss gradients then hold subnormal floats, whose arithmetic slows the
 * backward pass by up to a sixth whatever the strategy. At 1e-4 every model stays finite and
 * sane, so the ratio measures what the strategy itself adds.
 *
 *   --warmup-rounds N   untimed rounds first (default 2)
 *   --seconds S         then time rounds for at least S seconds ... (default 5)
 *   --min-rounds N      ... and at least N rounds (default 10)
 *   --bm-lr LR          learning rate of the Batch Manhattan strategies (default 1e-4)
 *
 * Prints one line `BENCH_RESULT {json}`.
 */
import { median, reportResult, runAsScript } from './child.mjs';
import { POOL_BATCHES } from './workloads.mjs';

function parse(argv) {
  const [workload, ...rest] = argv;
  const o = { workload, strategies: ['bp'], warmupRounds: 2, seconds: 5, minRounds: 10, bmLr: 1e-4 };
  for (let i = 0; i < rest.length; i++) {
    const a = rest[i];
    if (a === '--strategies') o.strategies = rest[++i].split(',');
    else if (a === '--warmup-rounds') o.warmupRounds = Number(rest[++i]);
    else if (a === '--seconds') o.seconds = Number(rest[++i]);
    else if (a === '--min-rounds') o.minRounds = Number(rest[++i]);
    else if (a === '--bm-lr') o.bmLr = Number(rest[++i]);
    else throw new Error(`unknown option ${a}`);
  }
  if (!o.strategies.includes('bp')) o.strategies.unshift('bp');
  return o;
}

async function main() {
  const o = parse(process.argv.slice(2));
  const result = { workload: o.workload, strategies: o.strategies, bmLr: o.bmLr };
  await reportResult(result, async () => {
    const { create } = await import('./systems/asymprop.mjs');
    const models = [];
    for (const strategy of o.strategies) models.push(await create(o.workload, { strategy, ...(strategy.startsWith('bm+') ? { lr: o.bmLr } : {}) }));
    const n = models.length;
    const times = o.strategies.map(() => []);
    const losses = o.strategies.map(() => []);
    let step = 0;
    const round = (timed) => {
      const b = step++ % POOL_BATCHES;
      for (let j = 0; j < n; j++) {
        const i = (j + step) % n; // rotate who goes first
        const t0 = performance.now();
        losses[i].push(models[i].step(b));
        if (timed) times[i].push(performance.now() - t0);
      }
    };
    for (let r = 0; r < o.warmupRounds; r++) round(false);
    const start = performance.now();
    while (times[0].length < o.minRounds || performance.now() - start < o.seconds * 1000) round(true);
    const bp = times[0];
    result.rounds = bp.length;
    result.perStrategy = o.strategies.map((strategy, i) => {
      const ratios = times[i].map((t, r) => t / bp[r]);
      const sorted = [...ratios].sort((a, b) => a - b);
      return {
        strategy,
        name: models[i].info.strategy,
        stepMsMedian: median(times[i]),
        ratioToSymmetric: median(ratios),
        ratioQuartiles: [sorted[Math.floor((sorted.length - 1) / 4)], sorted[Math.ceil((3 * (sorted.length - 1)) / 4)]],
        finite: losses[i].every(Number.isFinite),
        lastLoss: losses[i][losses[i].length - 1],
      };
    });
  });
}

await runAsScript(import.meta.url, main);
