#!/usr/bin/env node
/**
 * Training-throughput benchmark of asymprop against its peers: `npm run bench [-- options]`.
 *
 * Every measurement runs in a fresh child process (bench/worker.mjs, or bench/torch_worker.py for
 * PyTorch) that warms up, times training steps and reports its own peak RSS. The systems are
 * interleaved: each repetition visits every system once, in a rotated order, so slow drift of a
 * shared machine falls on all of them alike; the figures are medians over repetitions.
 *
 * Every run also reports what it ran on: the CPU's model and SIMD extensions, the WebAssembly SIMD
 * peak of one core and the share of it the library's matrix kernel reaches (bench/wasm-peak.mjs),
 * and the BLAS that PyTorch's matrix products use, with the core type OpenBLAS chose.
 *
 * Options:
 *   --json               print one JSON object { rows, strategyOverhead, meta } instead of Markdown
 *   --quick              smoke-test budget: one repetition, a few steps each, no soak run
 *   --all-peers          also measure peers that need minutes per batch (TF.js cpu on conv nets,
 *                        jax-js on ResNet-20)
 *   --systems a,b        subset of asymprop, tfjs-cpu, tfjs-wasm, convnetjs, jaxjs, pytorch
 *   --workloads a,b      subset of mlp, mlp_bn, cnn, cnn_c, lenet_bn (the paper's LeNet with BN), resnet
 *                        (ResNet-20 with BN on 3×32×32)
 *   --strategies a,b     feedback strategies of the overhead table (default every registered method, without and with BM)
 *   --reps N             repetitions (default 3; 1 with --quick)
 *   --no-overhead        skip the per-strategy overhead table
 *   --no-soak            skip the long (subnormal) runs
 *   --python PATH        Python for the PyTorch row (default /usr/bin/python3, else python3; PyTorch
 *                        is left out, with a note, when the default cannot import it)
 *   --threads 1,2        asymprop's thread counts, one row each (default: 1 and every core)
 *   --torch-threads N    PyTorch intra-op threads (default 1)
 *   --torch-lib-path D   prepend D to the PyTorch process's LD_LIBRARY_PATH (e.g. an OpenBLAS)
 *   --openblas-coretype  OPENBLAS_CORETYPE for the PyTorch process (default: none, OpenBLAS picks
 *                        the kernels for this CPU; one inherited from the environment is not passed on)
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { median } from './child.mjs';
import { WORKLOAD_NAMES, forwardMacs, shapes, trainingFlopsPerSample, writeDataFiles } from './workloads.mjs';

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = join(HERE, '..');
export const SYSTEM_NAMES = ['asymprop', 'tfjs-cpu', 'tfjs-wasm', 'convnetjs', 'jaxjs', 'pytorch'];
// Every registered method, without and with Batch Manhattan (the registry is the one list of methods).
const { methods } = await import('../dist/index.js');
export const STRATEGY_NAMES = [...methods().map((m) => m.name), ...methods().map((m) => `bm+${m.name}`)];
const OVERHEAD_WORKLOADS = ['mlp', 'cnn'];
const CONV = new Set(['cnn', 'cnn_c', 'lenet_bn', 'resnet']);

function parseArgs(argv) {
  const o = {
    json: false, quick: false, allPeers: false, systems: SYSTEM_NAMES, workloads: WORKLOAD_NAMES, strategies: STRATEGY_NAMES,
    reps: null, overhead: true, soak: true, python: existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3', pythonGiven: false,
    torchThreads: 1, torchLibPath: null, openblasCoretype: null,
    threads: [...new Set([1, os.availableParallelism?.() ?? os.cpus().length])],
  };
  const list = (v, allowed, what) => {
    const items = v.split(',').map((s) => s.trim()).filter(Boolean);
    for (const i of items) if (!allowed.includes(i)) throw new Error(`unknown ${what} "${i}" (one of ${allowed.join(', ')})`);
    return items;
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const value = () => {
      if (i + 1 >= argv.length) throw new Error(`${a} needs a value`);
      return argv[++i];
    };
    if (a === '--json') o.json = true;
    else if (a === '--quick') o.quick = true;
    else if (a === '--all-peers') o.allPeers = true;
    else if (a === '--systems') o.systems = list(value(), SYSTEM_NAMES, 'system');
    else if (a === '--workloads') o.workloads = list(value(), WORKLOAD_NAMES, 'workload');
    else if (a === '--strategies') o.strategies = list(value(), STRATEGY_NAMES, 'strategy');
    else if (a === '--reps') o.reps = positiveInt(a, value());
    else if (a === '--no-overhead') o.overhead = false;
    else if (a === '--no-soak') o.soak = false;
    else if (a === '--python') {
      o.python = value();
      o.pythonGiven = true;
    }
    else if (a === '--torch-threads') o.torchThreads = positiveInt(a, value());
    else if (a === '--threads') o.threads = [...new Set(value().split(',').map((t) => positiveInt(a, t.trim())))].sort((x, y) => x - y);
    else if (a === '--torch-lib-path') o.torchLibPath = value();
    else if (a === '--openblas-coretype') o.openblasCoretype = value();
    else if (a === '--help' || a === '-h') {
      process.stdout.write(readFileSync(fileURLToPath(import.meta.url), 'utf8').split('*/')[0].replace(/^#!.*\n\/\*\*\n/, '').replace(/^ \* ?/gm, ''));
      process.exit(0);
    } else throw new Error(`unknown option ${a} (see --help)`);
  }
  o.reps ??= o.quick ? 1 : 3;
  if (o.quick) o.soak = false;
  if (!o.strategies.includes('bp')) o.strategies = ['bp', ...o.strategies];
  return o;
}

function positiveInt(flag, v) {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new Error(`${flag}: expected a positive integer, got ${v}`);
  return n;
}

/**
 * The pairs that need minutes per batch of 100, and how slow they are: TF.js cpu on every conv
 * net, and jax-js on ResNet-20 (jax-js's convolutions and their filter gradients run at about
 * 0.25 GFLOP/s here; its other conv nets, 1 to 50 s a batch, are measured).
 */
const GLACIAL = [
  { system: 'tfjs-cpu', workloads: CONV, speed: 'about 0.5 samples/s (minutes per batch of 100)' },
  { system: 'jaxjs', workloads: new Set(['resnet']), speed: 'under 1 sample/s (2 to 5 minutes per batch of 100)' },
];
const glacial = (system, workload) => GLACIAL.find((g) => g.system === system && g.workloads.has(workload));

/**
 * Time budgets. `fast`: the MLPs, and PyTorch everywhere (a step takes milliseconds): warm up for
 * at least 1.5 s and, within 3 s, up to 300 steps, then time ≥ 3 s (the long runs below cover
 * what happens after 1000 steps).
 * `slow`: JavaScript systems on the conv nets (seconds per step): one warm-up step, then ≥ 1 step
 * and ≥ 3 s. `glacial`: the GLACIAL pairs (minutes per batch): skipped unless --all-peers, then
 * one cold batch, once.
 */
function budget(o, system, workload) {
  const conv = CONV.has(workload);
  if (glacial(system, workload)) return { class: 'glacial', args: ['--no-warmup', '--seconds', '0', '--min-steps', '1'], timeoutSec: 1800 };
  if (o.quick) {
    return conv && system !== 'pytorch'
      ? { class: 'slow', args: ['--warmup', '0', '--seconds', '0', '--min-steps', '1'], timeoutSec: 300 }
      : { class: 'fast', args: ['--warmup', '0.2', '--seconds', '0.3', '--min-steps', '2'], timeoutSec: 120 };
  }
  return conv && system !== 'pytorch'
    ? { class: 'slow', args: ['--warmup', '0', '--seconds', '3', '--min-steps', '1'], timeoutSec: 600 }
    : { class: 'fast', args: ['--warmup', '1.5', '--warmup-steps', '300', '--max-warmup', '3', '--seconds', '3', '--min-steps', '2'], timeoutSec: 300 };
}

/** Budgets of the strategy-overhead runs (bench/overhead-worker.mjs, one process per workload). */
function overheadBudget(o, workload) {
  if (o.quick) return ['--warmup-rounds', '1', '--seconds', '0', '--min-rounds', '2'];
  if (CONV.has(workload)) return ['--warmup-rounds', '1', '--seconds', '0', '--min-rounds', '8'];
  return ['--warmup-rounds', '5', '--seconds', '10', '--min-rounds', '20'];
}

/**
 * The long runs: 1200 timed steps (capped at 60 s) of the MLP on the systems fast enough for it,
 * counting subnormal floats in the weights and momentum buffers every 100 steps. Momentum buffers
 * of units whose gradient stays 0 decay by 0.9 a step and reach the subnormal range after
 * roughly 700–900 steps.
 */
const SOAK = { workload: 'mlp', systems: ['asymprop', 'tfjs-wasm', 'jaxjs', 'pytorch'], steps: 1200, window: 100, maxSeconds: 60 };

const log = (msg) => process.stderr.write(`${msg}\n`);

/**
 * asymprop is measured once per thread count: internally as `asymprop@N`, reported as system
 * `asymprop` with `threads: N`. The other systems run as they are (TF.js wasm has no threads in
 * Node; PyTorch uses --torch-threads).
 */
function splitSystem(id) {
  const m = /^asymprop@(\d+)$/.exec(id);
  return m ? { name: 'asymprop', threads: Number(m[1]) } : { name: id, threads: null };
}


class Runner {
  constructor(o) {
    this.o = o;
    this.dataDir = null;
    this.dataFiles = new Map();
  }

  /**
   * The PyTorch process's environment: its thread counts, and OPENBLAS_CORETYPE only when
   * --openblas-coretype asks for one (OpenBLAS otherwise picks the kernels for the CPU it finds;
   * forcing a core type the CPU lacks would run instructions it does not have).
   */
  torchEnv() {
    const env = { ...process.env };
    delete env.OPENBLAS_CORETYPE;
    if (this.o.openblasCoretype) env.OPENBLAS_CORETYPE = this.o.openblasCoretype;
    const threads = String(this.o.torchThreads);
    env.OMP_NUM_THREADS = threads;
    env.OPENBLAS_NUM_THREADS = threads;
    env.MKL_NUM_THREADS = threads;
    if (this.o.torchLibPath) env.LD_LIBRARY_PATH = [this.o.torchLibPath, process.env.LD_LIBRARY_PATH].filter(Boolean).join(':');
    return env;
  }

  /**
   * What PyTorch runs on (`torch_worker.py --probe`: its version, BLAS, OpenBLAS core type, CPU
   * capability), or `{ error }` when it cannot be imported.
   */
  probeTorch() {
    const r = this.exec(this.o.python, [join(HERE, 'torch_worker.py'), '--probe'], this.torchEnv(), 120, {});
    if (r.ok) return r;
    const hint = this.o.openblasCoretype && /SIGILL/.test(r.error) ? ` (does this CPU have the instructions of OPENBLAS_CORETYPE=${this.o.openblasCoretype}?)` : '';
    return { error: `${r.error}${hint}` };
  }

  dataFor(workload) {
    if (!this.dataFiles.has(workload)) {
      this.dataDir ??= mkdtempSync(join(os.tmpdir(), 'asymprop-bench-'));
      this.dataFiles.set(workload, writeDataFiles(this.dataDir, workload));
    }
    return this.dataFiles.get(workload);
  }

  cleanup() {
    if (this.dataDir) rmSync(this.dataDir, { recursive: true, force: true });
  }

  /** Runs a Node script of bench/ in a child process and returns its `BENCH_RESULT`. */
  spawnScript(script, args, timeoutSec) {
    return this.exec(process.execPath, [join(HERE, script), ...args], process.env, timeoutSec, {});
  }

  /** Runs one measurement in a child process and returns its parsed result. */
  spawn(system, workload, args, timeoutSec) {
    let command, argv, env;
    if (system === 'pytorch') {
      const { xPath, yPath } = this.dataFor(workload);
      command = this.o.python;
      argv = [join(HERE, 'torch_worker.py'), workload, '--spec', JSON.stringify(shapes(workload)), '--data', xPath, yPath, '--threads', String(this.o.torchThreads), ...args];
      env = this.torchEnv();
    } else {
      command = process.execPath;
      const { name, threads } = splitSystem(system);
      argv = [join(HERE, 'worker.mjs'), name, workload, ...args, ...(name === 'asymprop' ? ['--threads', String(threads)] : [])];
      env = process.env;
    }
    return this.exec(command, argv, env, timeoutSec, { system, workload });
  }

  exec(command, argv, env, timeoutSec, identity) {
    const spawnedAt = Date.now();
    const r = spawnSync(command, argv, { cwd: ROOT, env, encoding: 'utf8', timeout: timeoutSec * 1000, killSignal: 'SIGKILL', maxBuffer: 64 * 1024 * 1024 });
    const line = (r.stdout ?? '').split('\n').reverse().find((l) => l.startsWith('BENCH_RESULT '));
    if (!line) {
      const why = r.error?.code === 'ETIMEDOUT' ? `timed out after ${timeoutSec} s`
        : r.error ? `could not run ${command} (${r.error.code ?? r.error.message})`
          : `exited with ${r.status ?? r.signal}: ${(r.stderr ?? '').trim().split('\n').slice(-1)[0] ?? ''}`;
      return { ...identity, ok: false, error: why };
    }
    const result = JSON.parse(line.slice('BENCH_RESULT '.length));
    if (result.readyAtMs) result.startupSec = (result.readyAtMs - spawnedAt) / 1000;
    result.wallSec = (Date.now() - spawnedAt) / 1000;
    return result;
  }
}

/** The main table: every (workload, system) pair, repetitions interleaved round-robin. */
function runMain(o, runner, systems) {
  const results = new Map(); // key workload|system -> results[]
  const skipped = [];
  const failed = new Set();
  const key = (w, s) => `${w}|${s}`;
  for (const workload of o.workloads) {
    for (const system of systems) {
      if (glacial(system, workload) && !o.allPeers) {
        skipped.push({ workload, system, reason: `skipped: ${glacial(system, workload).speed}; run with --all-peers to measure one batch` });
        failed.add(key(workload, system));
      } else if (system === 'convnetjs' && shapes(workload).some((l) => l.type === 'bn' || l.type === 'block')) {
        skipped.push({ workload, system, reason: 'not measured: ConvNetJS has no batch normalisation layer (nor a sum of two branches)' });
        failed.add(key(workload, system));
      }
    }
  }
  const total = o.reps * o.workloads.length * systems.length;
  let done = 0;
  for (let rep = 0; rep < o.reps; rep++) {
    for (const workload of o.workloads) {
      const order = systems.map((_, i) => systems[(i + rep) % systems.length]);
      for (const system of order) {
        done++;
        if (failed.has(key(workload, system))) continue;
        const b = budget(o, system, workload);
        if (b.class === 'glacial' && rep > 0) continue; // one cold batch is all that is asked
        const r = runner.spawn(system, workload, b.args, b.timeoutSec);
        if (!r.ok || !r.finite) {
          const reason = !r.ok ? `failed: ${r.error}` : `training diverged (loss ${r.lastLoss})`;
          skipped.push({ workload, system, reason });
          failed.add(key(workload, system));
          log(`[${done}/${total}] ${workload} ${system}: ${reason}`);
          continue;
        }
        if (!results.has(key(workload, system))) results.set(key(workload, system), []);
        results.get(key(workload, system)).push(r);
        log(`[${done}/${total}] ${workload} ${system} rep ${rep + 1}: ${r.samplesPerSec.toFixed(r.samplesPerSec < 100 ? 2 : 0)} samples/s (${r.steps} steps timed, ${r.warmupSteps} warm-up)`);
      }
    }
  }
  const rows = [];
  const details = [];
  for (const workload of o.workloads) {
    for (const system of systems) {
      const rs = results.get(key(workload, system));
      if (!rs?.length) continue;
      const sps = median(rs.map((r) => r.samplesPerSec));
      const { name, threads } = splitSystem(system);
      rows.push({
        workload, system: name,
        threads: threads ?? (name === 'pytorch' ? o.torchThreads : 1),
        samplesPerSec: sps,
        gflopsPerSec: (sps * trainingFlopsPerSample(workload)) / 1e9,
        peakRssMB: Math.max(...rs.map((r) => r.peakRssMB)),
      });
      details.push({
        workload, system: name, threads: threads ?? (name === 'pytorch' ? o.torchThreads : 1),
        repetitions: rs.length,
        samplesPerSecAll: rs.map((r) => r.samplesPerSec),
        samplesPerSecMin: Math.min(...rs.map((r) => r.samplesPerSec)),
        samplesPerSecMax: Math.max(...rs.map((r) => r.samplesPerSec)),
        stepsTimed: rs.map((r) => r.steps),
        warmupSteps: rs.map((r) => r.warmupSteps),
        startupSec: median(rs.map((r) => r.startupSec)),
        coldOnly: rs.some((r) => r.coldOnly),
        subnormalsAtEnd: Math.max(...rs.map((r) => r.subnormals?.count ?? 0)),
        lastLoss: rs[rs.length - 1].lastLoss,
        info: rs[0].info,
      });
    }
  }
  return { rows, details, skipped };
}

/**
 * Per-strategy step time relative to symmetric backprop (asymprop): one process per workload
 * holds a model per strategy and trains them in interleaved rounds (see overhead-worker.mjs).
 */
function runOverhead(o, runner) {
  const workloads = o.workloads.filter((w) => OVERHEAD_WORKLOADS.includes(w));
  const strategyOverhead = [];
  const details = [];
  const notes = [];
  for (const workload of workloads) {
    const r = runner.spawnScript('overhead-worker.mjs', [workload, '--strategies', o.strategies.join(','), ...overheadBudget(o, workload)], 1200);
    if (!r.ok) {
      notes.push({ workload, reason: `failed: ${r.error}` });
      log(`[overhead] ${workload}: failed: ${r.error}`);
      continue;
    }
    for (const s of r.perStrategy) {
      if (!s.finite) {
        notes.push({ workload, strategy: s.strategy, reason: `training diverged (loss ${s.lastLoss})` });
        continue;
      }
      strategyOverhead.push({ workload, strategy: s.strategy, ratioToSymmetric: s.ratioToSymmetric });
      details.push({ workload, rounds: r.rounds, ...s });
    }
    log(`[overhead] ${workload}: ${r.rounds} rounds; ${r.perStrategy.map((s) => `${s.strategy} ${s.ratioToSymmetric.toFixed(2)}`).join(', ')}`);
  }
  return { strategyOverhead, details, notes };
}

/** One long run per fast system on the MLP, reporting throughput and subnormal counts per window. */
function runSoak(o, runner, systems) {
  const out = [];
  if (!o.workloads.includes(SOAK.workload)) return out;
  const ids = SOAK.systems.map((s) => (s === 'asymprop' ? `asymprop@${Math.max(...o.threads)}` : s));
  for (const system of ids.filter((s) => systems.includes(s))) {
    const args = ['--warmup', '1', '--seconds', '0', '--min-steps', String(SOAK.steps), '--max-steps', String(SOAK.steps), '--max-seconds', String(SOAK.maxSeconds), '--window', String(SOAK.window)];
    const r = runner.spawn(system, SOAK.workload, args, SOAK.maxSeconds + 120);
    const { name, threads } = splitSystem(system);
    if (!r.ok) {
      out.push({ workload: SOAK.workload, system: name, threads, error: r.error });
      continue;
    }
    const w = r.windows ?? [];
    const item = {
      workload: SOAK.workload, system: name, threads: threads ?? (name === 'pytorch' ? o.torchThreads : 1),
      stepsRun: r.warmupSteps + r.steps,
      windows: w.map((x) => ({ endStep: x.endStep, samplesPerSec: x.samplesPerSec, subnormals: x.subnormals.count })),
      earlySamplesPerSec: w.length > 1 ? w[1].samplesPerSec : w[0]?.samplesPerSec ?? r.samplesPerSec,
      lateSamplesPerSec: w.length ? w[w.length - 1].samplesPerSec : r.samplesPerSec,
      slowestWindowSamplesPerSec: w.length ? Math.min(...w.map((x) => x.samplesPerSec)) : r.samplesPerSec,
      maxSubnormals: Math.max(0, ...w.map((x) => x.subnormals.count), r.subnormals?.count ?? 0),
      valuesChecked: r.subnormals?.total ?? null,
    };
    out.push(item);
    log(`[soak] ${system} ${SOAK.workload}: ${item.stepsRun} steps, early ${item.earlySamplesPerSec.toFixed(0)} → late ${item.lateSamplesPerSec.toFixed(0)} samples/s, max subnormals ${item.maxSubnormals}`);
  }
  return out;
}

/**
 * What PyTorch will run on, checked before anything is measured: its version, the BLAS that
 * serves its matrix products, the core type OpenBLAS chose and ATen's CPU capability. A --python
 * that cannot import torch, or an --openblas-coretype that OpenBLAS did not take, is an error;
 * when the default Python cannot, PyTorch is left out with `notMeasured` saying why.
 */
function checkPytorch(o, runner) {
  const settings = { python: o.python, threads: o.torchThreads, OPENBLAS_CORETYPE: o.openblasCoretype, libPath: o.torchLibPath };
  const probe = runner.probeTorch();
  if (probe.error) {
    if (o.pythonGiven) throw new Error(`--python ${o.python}: cannot import torch there: ${probe.error}`);
    return { ...settings, notMeasured: `PyTorch not measured (${o.python}): ${probe.error}` };
  }
  const { blas } = probe;
  if (o.openblasCoretype && blas.corename?.toLowerCase() !== o.openblasCoretype.toLowerCase()) {
    throw new Error(`--openblas-coretype ${o.openblasCoretype}: ${blas.name === 'OpenBLAS'
      ? `OpenBLAS ${blas.version} did not take it and chose ${blas.corename}: not a core type it knows`
      : `PyTorch's BLAS is ${blas.name} (${blas.library}), not OpenBLAS`}`);
  }
  return { ...settings, version: probe.version, blas, cpuCapability: probe.cpuCapability, mkldnn: probe.mkldnn };
}

/** The warnings of a run: those that make a row say less than it seems to. */
function warningsFor(pytorch) {
  const warnings = [];
  if (pytorch?.blas?.reference) {
    warnings.push(`PyTorch's matrix products run on the reference BLAS (${pytorch.blas.library}), plain loops many times slower than an optimised BLAS: its rows understate PyTorch. On Debian, libopenblas0-pthread provides OpenBLAS as libblas.so.3.`);
  }
  return warnings;
}

/**
 * The WebAssembly SIMD peak of one core and the matrix kernel's share of it (bench/wasm-peak.mjs),
 * or `{ error }`.
 */
function runWasmPeak(o, runner) {
  const r = runner.spawnScript('wasm-peak.mjs', ['--seconds', o.quick ? '1' : '6'], 300);
  if (!r.ok) {
    log(`[wasm peak] failed: ${r.error}`);
    return { error: r.error };
  }
  const { peakGflops, chains, peakByChains, kernel, kernelGflops, size, fraction } = r;
  log(`[wasm peak] ${peakGflops.toFixed(1)} GFLOP/s (${chains} chains); matrix kernel ${kernelGflops.toFixed(1)} GFLOP/s, ${fraction.toFixed(2)} of it`);
  return { peakGflops, chains, peakByChains, kernel, kernelGflops, size, fraction };
}

/**
 * The SIMD extensions reported with every run, as /proc/cpuinfo spells them: on x86-64 from
 * SSE4.1 (which V8 needs for WebAssembly SIMD) to the AVX-512 families, which WebAssembly's
 * 128-bit SIMD does not use but native code such as OpenBLAS does; on arm64 NEON (asimd) and SVE.
 */
const SIMD_EXTENSIONS = {
  x64: ['sse4_1', 'sse4_2', 'avx', 'avx2', 'fma', 'avx512f', 'avx512dq', 'avx512bw', 'avx512vl', 'avx512_vnni', 'avx512_bf16'],
  arm64: ['asimd', 'asimdhp', 'sve', 'sve2'],
};

/** The CPU's model name, and which of SIMD_EXTENSIONS it has (null without /proc/cpuinfo). */
function cpuInfo() {
  let text = '';
  try {
    text = readFileSync('/proc/cpuinfo', 'utf8');
  } catch {
    // not Linux: the model name from Node, the extensions unknown
  }
  const field = (name) => new RegExp(`^${name}\\s*:\\s*(.*)$`, 'm').exec(text)?.[1].trim();
  const flags = (field('flags') ?? field('Features'))?.split(/\s+/);
  return {
    cpu: field('model name') ?? os.cpus()[0]?.model ?? 'unknown',
    simd: flags ? Object.fromEntries((SIMD_EXTENSIONS[os.arch()] ?? []).map((f) => [f, flags.includes(f)])) : null,
  };
}

function machine() {
  const git = (args) => spawnSync('git', args, { cwd: ROOT, encoding: 'utf8' }).stdout?.trim() || null;
  return {
    ...cpuInfo(), cores: os.availableParallelism?.() ?? os.cpus().length, memoryGB: Math.round(os.totalmem() / 2 ** 30),
    node: process.version, platform: `${os.platform()} ${os.release()}`,
    commit: git(['rev-parse', '--short', 'HEAD']),
    srcChanged: git(['diff', '--name-only', 'HEAD', '--', 'src']) ? 'yes' : 'no',
    loadAverage: os.loadavg().map((x) => Number(x.toFixed(2))),
  };
}

/** A figure for the tables: thousands separated, 3 significant digits or more (or `digits` decimals). */
const fmt = (x, digits) => {
  if (x === null || x === undefined || !Number.isFinite(x)) return '–';
  if (digits !== undefined) return x.toFixed(digits);
  if (x >= 100) return Math.round(x).toLocaleString('en-US');
  return x.toFixed(x < 10 ? 2 : 1);
};

/** The BLAS PyTorch uses, in words: its name and version, OpenBLAS's core type, its file. */
function describeBlas(blas, coretype) {
  if (blas.name !== 'OpenBLAS') return `${blas.name}, ${blas.library ?? 'no library defines sgemm_'}`;
  return `OpenBLAS ${blas.version}, core type ${blas.corename} (${coretype ? 'forced by --openblas-coretype' : 'chosen by OpenBLAS'}), ${blas.library}`;
}

/** What the run ran on: the machine, the WebAssembly SIMD peak and the kernel's share, PyTorch's BLAS; and the warnings. */
function header(meta) {
  const { machine: m, wasmSimd: w, pytorch: p } = meta;
  const present = Object.keys(m.simd ?? {}).filter((f) => m.simd[f]);
  const absent = Object.keys(m.simd ?? {}).filter((f) => !m.simd[f]);
  const simd = m.simd ? `SIMD: ${present.join(' ') || 'none of those reported'}${absent.length ? ` (not: ${absent.join(' ')})` : ''}` : 'SIMD extensions unknown (no /proc/cpuinfo)';
  const lines = [`- Machine: ${m.cpu}, ${m.cores} cores, ${m.memoryGB} GB, Node ${m.node}; ${simd}.`];
  lines.push(w.error
    ? `- WebAssembly SIMD peak: not measured: ${w.error}.`
    : `- WebAssembly SIMD, one thread, per second of CPU time: peak ${fmt(w.peakGflops, 1)} GFLOP/s (${w.chains} independent chains, half f32x4.mul, half f32x4.add); asymprop's matrix kernel (${w.kernel}) on a ${w.size}×${w.size}×${w.size} float32 product ${fmt(w.kernelGflops, 1)} GFLOP/s, ${fmt(w.fraction, 2)} of the peak.`);
  if (p) {
    lines.push(p.notMeasured
      ? `- ${p.notMeasured}.`
      : `- PyTorch ${p.version}: BLAS ${describeBlas(p.blas, p.OPENBLAS_CORETYPE)}; ATen CPU capability ${p.cpuCapability ?? 'unknown'}.`);
  }
  for (const warning of meta.warnings) lines.push('', `**Warning: ${warning}**`);
  return lines;
}

/** The report as Markdown: the header, the tables, the notes. */
export function markdown(report) {
  const { rows, strategyOverhead, meta } = report;
  const lines = [...header(meta), ''];
  const detail = (w, s, t) => meta.details.find((d) => d.workload === w && d.system === s && d.threads === t);
  const asympropThreads = [...new Set(rows.filter((r) => r.system === 'asymprop').map((r) => r.threads))].sort((a, b) => a - b);
  const row = (cells) => `| ${cells.join(' | ')} |`;
  // One ratio column per asymprop thread count (none when asymprop was not measured).
  lines.push(row(['workload', 'system', 'threads', 'samples/s (median)', 'min–max', 'GFLOP/s', ...asympropThreads.map((t) => `asymprop (${t}) ÷ system`), 'peak RSS MB', 'start-up s']));
  lines.push(`|${['---', '---', ...new Array(6 + asympropThreads.length).fill('---:')].join('|')}|`);
  for (const r of rows) {
    const d = detail(r.workload, r.system, r.threads);
    const ratios = asympropThreads.map((t) => {
      const ours = rows.find((x) => x.workload === r.workload && x.system === 'asymprop' && x.threads === t);
      return ours && r.system !== 'asymprop' ? `${fmt(ours.samplesPerSec / r.samplesPerSec, 2)}×` : '';
    });
    const spread = d.repetitions > 1 ? `${fmt(d.samplesPerSecMin)}–${fmt(d.samplesPerSecMax)}` : d.coldOnly ? 'one cold batch' : 'one run';
    lines.push(row([r.workload, r.system, r.threads, fmt(r.samplesPerSec), spread, fmt(r.gflopsPerSec, 2), ...ratios, Math.round(r.peakRssMB), fmt(d.startupSec, 2)]));
  }
  if (meta.skipped.length) {
    lines.push('', 'Not in the table:');
    for (const s of meta.skipped) lines.push(`- ${s.workload}, ${s.system}: ${s.reason}`);
  }
  if (strategyOverhead.length) {
    const ws = [...new Set(strategyOverhead.map((x) => x.workload))];
    const rounds = ws.map((w) => meta.overhead.find((x) => x.workload === w)?.rounds);
    lines.push('', `| strategy | ${ws.map((w, i) => `${w}: step time ÷ bp (quartiles), ${rounds[i]} rounds`).join(' | ')} |`, `|---|${ws.map(() => '---:').join('|')}|`);
    for (const s of [...new Set(strategyOverhead.map((x) => x.strategy))]) {
      const cells = ws.map((w) => {
        const d = meta.overhead.find((x) => x.workload === w && x.strategy === s);
        return d ? `${fmt(d.ratioToSymmetric, 2)} (${fmt(d.ratioQuartiles[0], 2)}–${fmt(d.ratioQuartiles[1], 2)})` : '–';
      });
      lines.push(`| ${s} | ${cells.join(' | ')} |`);
    }
  }
  if (meta.soak.length) {
    lines.push('', '| long run (mlp) | steps run | samples/s, 2nd 100 timed steps | last 100 steps | slowest 100 steps | most subnormal weights + momenta seen |', '|---|---:|---:|---:|---:|---:|');
    for (const s of meta.soak) {
      if (s.error) lines.push(`| ${s.system} (${s.threads} thread(s)) | failed: ${s.error} | | | | |`);
      else lines.push(`| ${s.system} (${s.threads} thread(s)) | ${s.stepsRun} | ${fmt(s.earlySamplesPerSec)} | ${fmt(s.lateSamplesPerSec)} | ${fmt(s.slowestWindowSamplesPerSec)} | ${s.maxSubnormals} of ${s.valuesChecked} |`);
    }
  }
  const infos = new Map(meta.details.map((d) => [d.system, d.info]));
  const describe = (system, i) => {
    if (system === 'asymprop') return `asymprop ${i.version} (gemm kernel: ${i.gemmKernel}; ${asympropThreads.join(' and ')} thread(s))`;
    if (system.startsWith('tfjs-')) return `TF.js ${i.version} ${i.backend}${i.backend === 'wasm' ? ` (SIMD ${i.simd ? 'on' : 'off'}, ${i.threads} thread${i.threads === 1 ? '' : 's'})` : ''}`;
    if (system === 'convnetjs') return `ConvNetJS ${i.version} (${i.precision})`;
    if (system === 'jaxjs') return `jax-js ${i.version} (${i.device}, ${i.threads} thread)`;
    if (system === 'pytorch') {
      const blas = i.blas.corename ? `${i.blas.name} ${i.blas.version} ${i.blas.corename}` : i.blas.name;
      return `PyTorch ${i.version} (${i.threads} thread${i.threads === 1 ? '' : 's'}, BLAS ${blas})`;
    }
    return system;
  };
  const m = meta.machine;
  if (infos.size) lines.push('', `Systems: ${[...infos].map(([s, i]) => describe(s, i ?? {})).join('; ')}.`);
  lines.push('', `Load average at start ${meta.loadAtStart.join(' / ')}, at end ${m.loadAverage.join(' / ')}.`);
  lines.push(`Commit ${m.commit}${m.srcChanged === 'yes' ? ' with uncommitted changes under src/' : ''}; ${meta.repetitions} repetition(s); ${meta.elapsedSec.toFixed(0)} s in all.`);
  return `${lines.join('\n')}\n`;
}

async function main() {
  const started = Date.now();
  const loadAtStart = os.loadavg().map((x) => Number(x.toFixed(2)));
  const o = parseArgs(process.argv.slice(2));
  const runner = new Runner(o);
  const skippedSystems = [];
  let systems = o.systems.flatMap((s) => (s === 'asymprop' ? o.threads.map((t) => `asymprop@${t}`) : [s]));
  const pytorch = systems.includes('pytorch') ? checkPytorch(o, runner) : null;
  if (pytorch?.notMeasured) {
    systems = systems.filter((s) => s !== 'pytorch');
    for (const workload of o.workloads) skippedSystems.push({ workload, system: 'pytorch', reason: pytorch.notMeasured });
  }
  const warnings = warningsFor(pytorch);
  for (const w of warnings) log(`WARNING: ${w}`);
  if (systems.some((s) => s.startsWith('tfjs-'))) {
    // Bundle TF.js's gradient registrations once, before the workers need them.
    (await import('./systems/tfjs.mjs')).gradientsBundle();
  }
  try {
    log(`benchmark: ${systems.join(', ')} on ${o.workloads.join(', ')}, ${o.reps} repetition(s)${o.quick ? ' (quick)' : ''}`);
    const wasmSimd = runWasmPeak(o, runner);
    const main = runMain(o, runner, systems);
    const overhead = o.overhead && o.systems.includes('asymprop') ? runOverhead(o, runner) : { strategyOverhead: [], details: [], notes: [] };
    const soak = o.soak ? runSoak(o, runner, systems) : [];
    const report = {
      rows: main.rows,
      strategyOverhead: overhead.strategyOverhead,
      meta: {
        command: `npm run bench${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}`,
        repetitions: o.reps,
        quick: o.quick,
        batch: 100,
        optimizer: 'SGD, lr 0.01, momentum 0.9, no weight decay',
        flopsPerSample: Object.fromEntries(o.workloads.map((w) => [w, { forwardMultiplyAdds: forwardMacs(w), training: trainingFlopsPerSample(w) }])),
        warnings,
        wasmSimd,
        pytorch,
        details: main.details,
        skipped: [...skippedSystems, ...main.skipped],
        overhead: overhead.details,
        overheadNotes: overhead.notes,
        soak,
        machine: machine(),
        loadAtStart,
        elapsedSec: (Date.now() - started) / 1000,
      },
    };
    process.stdout.write(o.json ? `${JSON.stringify(report)}\n` : markdown(report));
  } finally {
    runner.cleanup();
  }
}

// Run when started as a script; a test imports the module for `markdown` alone.
if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((e) => {
    log(`bench: ${e.message}`);
    process.exit(1);
  });
}
