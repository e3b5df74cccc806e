#!/usr/bin/env node
/**
 * One measurement in a fresh process: `node bench/worker.mjs <system> <workload> [options]`.
 *
 * Builds the workload's network on one system, warms up, then times training steps (batch 100,
 * SGD with momentum 0.9) and prints one line `BENCH_RESULT {json}` on stdout. Options:
 *
 *   --seconds S        timed phase: run at least S seconds ...
 *   --min-steps N      ... and at least N steps (default 2) ...
 *   --max-steps N      ... but at most N steps ...
 *   --max-seconds S    ... and stop once S seconds have passed, whatever the step minimum
 *   --warmup S         warm-up: at least S seconds (default 1) and at least one step ...
 *   --warmup-steps N   ... and up to N steps while --max-warmup allows (default 0)
 *   --max-warmup S     cap on the warm-up spent reaching --warmup-steps (default 10)
 *   --no-warmup        time the very first step (a cold, one-batch figure)
 *   --window N         also report throughput and subnormal counts every N timed steps
 *   --strategy NAME    asymprop only: feedback strategy (bp, usf, brsf, frsf, fa, bm+…)
 *   --threads N        asymprop only: threads for its matrix products (default 1)
 */
import { median, reportResult, runAsScript } from './child.mjs';
import { BATCH } from './workloads.mjs';

const SYSTEMS = {
  asymprop: async (workload, o) => (await import('./systems/asymprop.mjs')).create(workload, { strategy: o.strategy, threads: o.threads }),
  'tfjs-cpu': async (workload) => (await import('./systems/tfjs.mjs')).create(workload, { backend: 'cpu' }),
  'tfjs-wasm': async (workload) => (await import('./systems/tfjs.mjs')).create(workload, { backend: 'wasm' }),
  convnetjs: async (workload) => (await import('./systems/convnetjs.mjs')).create(workload),
  jaxjs: async (workload) => (await import('./systems/jaxjs.mjs')).create(workload),
};

export function parseWorkerArgs(argv) {
  const [system, workload, ...rest] = argv;
  const o = {
    system, workload, seconds: 3, minSteps: 2, maxSteps: Infinity, maxSeconds: Infinity,
    warmup: 1, warmupSteps: 0, maxWarmup: 10, noWarmup: false, window: 0, strategy: 'bp', threads: 1,
  };
  const numeric = { '--threads': 'threads', '--seconds': 'seconds', '--min-steps': 'minSteps', '--max-steps': 'maxSteps', '--max-seconds': 'maxSeconds', '--warmup': 'warmup', '--warmup-steps': 'warmupSteps', '--max-warmup': 'maxWarmup', '--window': 'window' };
  for (let i = 0; i < rest.length; i++) {
    const a = rest[i];
    if (a in numeric) {
      const v = Number(rest[++i]);
      if (!Number.isFinite(v) && v !== Infinity) throw new Error(`${a}: expected a number, got ${rest[i]}`);
      o[numeric[a]] = v;
    } else if (a === '--strategy') o.strategy = rest[++i];
    else if (a === '--no-warmup') o.noWarmup = true;
    else throw new Error(`unknown option ${a}`);
  }
  return o;
}

const now = () => performance.now() / 1000;

/**
 * The measurement protocol shared by every system (the PyTorch worker mirrors it): warm-up, then
 * timed steps over the pool of batches in order; only the steps themselves are timed.
 */
export async function measure(model, o, poolBatches) {
  let step = 0;
  const losses = [];
  const warmStart = now();
  if (!o.noWarmup) {
    for (;;) {
      losses.push(model.step(step++ % poolBatches));
      const t = now() - warmStart;
      if (t >= o.warmup && (step >= o.warmupSteps || t >= o.maxWarmup)) break;
    }
  }
  const warmupSec = now() - warmStart;
  const warmupSteps = step;

  const times = [];
  const windows = [];
  let windowTime = 0;
  const timedStart = now();
  for (;;) {
    const t0 = now();
    const loss = model.step(step++ % poolBatches);
    const dt = now() - t0;
    losses.push(loss);
    times.push(dt);
    windowTime += dt;
    if (o.window > 0 && times.length % o.window === 0) {
      windows.push({ endStep: step, samplesPerSec: (o.window * BATCH) / windowTime, subnormals: await model.subnormals() });
      windowTime = 0;
    }
    const elapsed = now() - timedStart;
    if (times.length >= o.maxSteps || elapsed >= o.maxSeconds) break;
    if (elapsed >= o.seconds && times.length >= o.minSteps) break;
  }
  const timedSec = times.reduce((a, b) => a + b, 0);
  return {
    warmupSteps, warmupSec, steps: times.length, timedSec,
    samplesPerSec: (times.length * BATCH) / timedSec,
    stepMs: { median: median(times) * 1e3, min: Math.min(...times) * 1e3, max: Math.max(...times) * 1e3 },
    firstLoss: losses[0], lastLoss: losses[losses.length - 1], finite: losses.every(Number.isFinite),
    windows: o.window > 0 ? windows : undefined,
    coldOnly: o.noWarmup,
  };
}

async function main() {
  const o = parseWorkerArgs(process.argv.slice(2));
  const result = { system: o.system, workload: o.workload, strategy: o.strategy };
  await reportResult(result, async () => {
    if (!SYSTEMS[o.system]) throw new Error(`unknown system "${o.system}" (one of ${Object.keys(SYSTEMS).join(', ')})`);
    const model = await SYSTEMS[o.system](o.workload, o);
    result.readyAtMs = Date.now();
    result.readySinceStartSec = performance.now() / 1000;
    const { POOL_BATCHES } = await import('./workloads.mjs');
    Object.assign(result, await measure(model, o, POOL_BATCHES));
    result.subnormals = await model.subnormals();
    result.info = model.info;
  });
}

await runAsScript(import.meta.url, main);
