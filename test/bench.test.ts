/**
 * Smoke test of the benchmark harness (bench/run.mjs): a --quick run restricted to asymprop on the
 * MLP must print one JSON object of the documented shape, and a --quick run of jax-js and PyTorch
 * must say what it ran on (CPU, SIMD extensions, WebAssembly SIMD peak, PyTorch's BLAS). Speed is
 * not checked: this machine's timings say nothing here.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

interface BenchRow {
  workload: string;
  system: string;
  threads: number;
  samplesPerSec: number;
  gflopsPerSec: number;
  peakRssMB: number;
}

interface BenchReport {
  rows: BenchRow[];
  meta: { details: { threads: number; info: { threads: number } }[] };
  strategyOverhead: { workload: string; strategy: string; ratioToSymmetric: number }[];
}

interface RunReport {
  rows: BenchRow[];
  meta: {
    machine: { cpu: string; simd: Record<string, boolean> | null };
    wasmSimd: { peakGflops: number; chains: number; kernel: string; kernelGflops: number; size: number; fraction: number };
    pytorch: {
      OPENBLAS_CORETYPE: string | null;
      notMeasured?: string;
      version?: string;
      cpuCapability?: string;
      blas?: { name: string; library: string | null; reference: boolean; version?: string; corename?: string };
    };
    warnings: string[];
    details: { system: string; info: Record<string, unknown> }[];
    skipped: { system: string; reason: string }[];
  };
}

const positive = (x: unknown) => typeof x === 'number' && Number.isFinite(x) && x > 0;

/** Whether the harness's default Python imports torch (PyTorch is optional: without it the run says so). */
const HAS_TORCH = spawnSync(existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3', ['-c', 'import torch, numpy'], { encoding: 'utf8' }).status === 0;

/** Runs bench/run.mjs with `args` and returns its stdout, failing the test on a non-zero exit. */
function bench(args: string[], timeout = 110_000): string {
  const r = spawnSync(process.execPath, ['bench/run.mjs', ...args], { cwd: ROOT, encoding: 'utf8', timeout });
  expect(r.error, String(r.error)).toBeUndefined();
  expect(r.status, r.stderr).toBe(0);
  return r.stdout;
}

describe('npm run bench -- --quick --json', () => {
  it('prints one JSON object with a row per measurement and the per-strategy overhead', () => {
    // `npm test` builds dist/ first; the harness measures the built library.
    expect(existsSync(`${ROOT}dist/index.js`), 'dist/index.js is missing: run `npm run build` first').toBe(true);
    const lines = bench(['--quick', '--json', '--systems', 'asymprop', '--workloads', 'mlp', '--threads', '1,2']).trim().split('\n');
    expect(lines).toHaveLength(1);
    const report = JSON.parse(lines[0]!) as BenchReport;

    // One row per thread count asked for, each measured with that many threads.
    expect(report.rows.map((row) => row.threads)).toEqual([1, 2]);
    for (const row of report.rows) {
      expect(row).toMatchObject({ workload: 'mlp', system: 'asymprop' });
      expect(Object.keys(row).sort()).toEqual(['gflopsPerSec', 'peakRssMB', 'samplesPerSec', 'system', 'threads', 'workload']);
      for (const key of ['samplesPerSec', 'gflopsPerSec', 'peakRssMB'] as const) expect(positive(row[key]), `${key} = ${row[key]}`).toBe(true);
      // GFLOP/s is samples/s times the MLP's 1.6128 MFLOP per training sample.
      expect(row.gflopsPerSec).toBeCloseTo((row.samplesPerSec * 1_612_800) / 1e9, 6);
    }

    // The 2-thread row really ran on two threads (the library reports the helpers it started).
    expect(report.meta.details.map((d) => d.info.threads)).toEqual([1, 2]);

    const strategies = report.strategyOverhead.map((s) => s.strategy).sort();
    // Every registered method, without and with Batch Manhattan: the new rules included.
    const names = ['bp', 'usf', 'brsf', 'frsf', 'fa', 'dfa', 'kp', 'wm'];
    expect(strategies).toEqual([...names, ...names.map((n) => `bm+${n}`)].sort());
    for (const s of report.strategyOverhead) {
      expect(s.workload).toBe('mlp');
      expect(positive(s.ratioToSymmetric), `${s.strategy}: ${s.ratioToSymmetric}`).toBe(true);
    }
    expect(report.strategyOverhead.find((s) => s.strategy === 'bp')?.ratioToSymmetric).toBe(1);
  }, 120_000);

  it('says what it ran on (CPU, SIMD extensions, WebAssembly SIMD peak, PyTorch’s BLAS) and measures jax-js', async () => {
    const report = JSON.parse(bench(['--quick', '--json', '--systems', 'jaxjs,pytorch', '--workloads', 'mlp', '--no-overhead']).trim()) as RunReport;
    const { machine, wasmSimd, pytorch, warnings, details, skipped } = report.meta;

    // The CPU's model, and its SIMD extensions exactly as /proc/cpuinfo lists them.
    expect(machine.cpu).toMatch(/\S/);
    const cpuinfo = existsSync('/proc/cpuinfo') ? readFileSync('/proc/cpuinfo', 'utf8') : '';
    const flags = /^(?:flags|Features)\s*:\s*(.*)$/m.exec(cpuinfo)?.[1]!.split(/\s+/);
    if (!flags) expect(machine.simd).toBeNull();
    else {
      if (os.arch() === 'x64') expect(Object.keys(machine.simd!)).toEqual(['sse4_1', 'sse4_2', 'avx', 'avx2', 'fma', 'avx512f', 'avx512dq', 'avx512bw', 'avx512vl', 'avx512_vnni', 'avx512_bf16']);
      for (const [extension, present] of Object.entries(machine.simd!)) expect(present, extension).toBe(flags.includes(extension));
    }

    // The WebAssembly SIMD peak and the matrix kernel's share of it, from one process.
    expect(wasmSimd).toMatchObject({ kernel: 'wasm-simd', size: 1024 });
    expect([8, 10, 12, 14, 16]).toContain(wasmSimd.chains);
    for (const key of ['peakGflops', 'kernelGflops'] as const) expect(positive(wasmSimd[key]), `${key} = ${wasmSimd[key]}`).toBe(true);
    expect(wasmSimd.fraction).toBeCloseTo(wasmSimd.kernelGflops / wasmSimd.peakGflops, 12);

    // jax-js: a row, and what it ran (the installed version, its wasm device, one thread).
    const jaxVersion = (JSON.parse(readFileSync(`${ROOT}node_modules/@jax-js/jax/package.json`, 'utf8')) as { version: string }).version;
    expect(report.rows.filter((r) => r.system === 'jaxjs').map((r) => positive(r.samplesPerSec))).toEqual([true]);
    expect(details.find((d) => d.system === 'jaxjs')?.info).toMatchObject({ version: jaxVersion, device: 'wasm', threads: 1 });

    // PyTorch: no core type forced on OpenBLAS by default; the BLAS it uses, or why it was left out.
    expect(pytorch.OPENBLAS_CORETYPE).toBeNull();
    if (HAS_TORCH) {
      const { blas } = pytorch;
      expect(blas!.name).toMatch(/\S/);
      expect(blas!.library).toMatch(/\.so/);
      if (blas!.name === 'OpenBLAS') {
        expect(blas!.version).toMatch(/^\d+\.\d+/);
        expect(blas!.corename).toMatch(/\S/);
      }
      expect(details.find((d) => d.system === 'pytorch')?.info['blas']).toEqual(blas);
      // The reference BLAS, and only it, is warned about.
      expect(warnings.some((w) => w.includes('reference BLAS'))).toBe(blas!.reference);
    } else {
      expect(pytorch.notMeasured).toMatch(/^PyTorch not measured/);
      expect(skipped.filter((s) => s.system === 'pytorch').map((s) => s.reason)).toEqual([pytorch.notMeasured]);
    }

    // The Markdown header says the same, above the table.
    const { markdown } = (await import(new URL('../bench/run.mjs', import.meta.url).href)) as { markdown: (r: RunReport) => string };
    const text = markdown(report);
    const [machineLine, wasmLine, pytorchLine] = text.split('\n');
    expect(machineLine!.startsWith(`- Machine: ${machine.cpu}, `), machineLine).toBe(true);
    expect(machineLine).toContain(flags ? '; SIMD: ' : '; SIMD extensions unknown');
    expect(wasmLine).toMatch(/^- WebAssembly SIMD, one thread, .* of the peak\.$/);
    expect(pytorchLine).toBe(HAS_TORCH ? `- PyTorch ${pytorch.version}: BLAS ${pytorch.blas!.name === 'OpenBLAS' ? `OpenBLAS ${pytorch.blas!.version}, core type ${pytorch.blas!.corename} (chosen by OpenBLAS)` : pytorch.blas!.name}, ${pytorch.blas!.library}; ATen CPU capability ${pytorch.cpuCapability}.` : `- ${pytorch.notMeasured}.`);
    expect(text).toContain(`jax-js ${jaxVersion} (wasm, 1 thread)`);
  }, 120_000);

  it('rejects an unknown option or system with a message', () => {
    const r = spawnSync(process.execPath, ['bench/run.mjs', '--systems', 'nope'], { cwd: ROOT, encoding: 'utf8', timeout: 30_000 });
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/unknown system "nope"/);
  });
});

describe('the resnet workload', () => {
  it('is ResNet-20 on 3×32×32: the library builder’s parameter shapes, and 40.8 M multiply-adds a sample', async () => {
    // The harness is plain JavaScript (no declarations): loaded by URL, typed here.
    const { forwardMacs, trainingFlopsPerSample } = (await import(new URL('../bench/workloads.mjs', import.meta.url).href)) as Record<string, (name: string) => number>;
    // Written out per stage: stem, 3 blocks of 16 channels at 32×32, then 32 at 16×16 and 64 at
    // 8×8, each stage's first block reading the previous width with stride 2 and a 1×1 shortcut.
    const stem = 16 * 32 * 32 * 3 * 9;
    const stage1 = 6 * (16 * 32 * 32 * 16 * 9);
    const stage2 = 32 * 16 * 16 * 16 * 9 + 5 * (32 * 16 * 16 * 32 * 9) + 32 * 16 * 16 * 16;
    const stage3 = 64 * 8 * 8 * 32 * 9 + 5 * (64 * 8 * 8 * 64 * 9) + 64 * 8 * 8 * 32;
    expect(forwardMacs('resnet')).toBe(stem + stage1 + stage2 + stage3 + 64 * 10);
    expect(forwardMacs('resnet')).toBe(40_813_184);
    expect(trainingFlopsPerSample('resnet')).toBe(6 * 40_813_184);

    const { resnet, Rng, Tensor } = await import('../dist/index.js');
    type Model = ReturnType<typeof resnet>;
    const { create } = (await import(new URL('../bench/systems/asymprop.mjs', import.meta.url).href)) as { create: (w: string, o: object) => Promise<{ model: Model }> };
    const bench = await create('resnet', { strategy: 'usf' });
    const library = resnet({ rng: new Rng(1), depth: 20, bn: true, inputShape: [3, 32, 32] });
    const shapesOf = (m: typeof library) => m.params().map((p) => p.value.shape.join('×'));
    expect(shapesOf(bench.model)).toEqual(shapesOf(library));
    expect(bench.model.params().reduce((n, p) => n + p.value.size, 0)).toBe(272_474);
    expect(bench.model.forward(Tensor.zeros([2, 3, 32, 32]), false).shape).toEqual([2, 10]);
    // The rule reaches every weighted layer: the stem, 18 block convs, the 2 shortcut projections, the dense layer.
    const ruled = bench.model.feedbackLayers().filter(({ layer }) => layer.feedbackKind !== 'batchnorm');
    expect(ruled).toHaveLength(22);
    expect(ruled.every(({ layer }) => layer.feedback.strategy.name === 'usf')).toBe(true);
  });

  it('lenet_bn, the step ResNet-20 is compared with per FLOP, is the library’s lenet with BN', async () => {
    const { forwardMacs } = (await import(new URL('../bench/workloads.mjs', import.meta.url).href)) as Record<string, (name: string) => number>;
    expect(forwardMacs('lenet_bn')).toBe(6 * 28 * 28 * 25 + 16 * 10 * 10 * 6 * 25 + 400 * 120 + 120 * 84 + 84 * 10);
    const { lenet, Rng } = await import('../dist/index.js');
    type Model = ReturnType<typeof lenet>;
    const { create } = (await import(new URL('../bench/systems/asymprop.mjs', import.meta.url).href)) as { create: (w: string, o: object) => Promise<{ model: Model }> };
    const shapesOf = (m: Model) => m.params().map((p) => p.value.shape.join('×'));
    expect(shapesOf((await create('lenet_bn', {})).model)).toEqual(shapesOf(lenet({ rng: new Rng(1), bn: true })));
  });
});

describe('the jax-js peer', () => {
  type Peer = { info: { parameters: number }; step: (batch: number) => number };
  const load = async () => {
    const { create } = (await import(new URL('../bench/systems/jaxjs.mjs', import.meta.url).href)) as { create: (w: string) => Promise<Peer> };
    return create;
  };

  it('builds every workload with as many parameters as asymprop’s network', async () => {
    const create = await load();
    const { WORKLOAD_NAMES } = (await import(new URL('../bench/workloads.mjs', import.meta.url).href)) as { WORKLOAD_NAMES: string[] };
    const { resnet } = await import('../dist/index.js');
    type Model = ReturnType<typeof resnet>;
    const asymprop = (await import(new URL('../bench/systems/asymprop.mjs', import.meta.url).href)) as { create: (w: string, o: object) => Promise<{ model: Model }> };
    for (const workload of WORKLOAD_NAMES) {
      const ours = (await asymprop.create(workload, {})).model.params().reduce((n, p) => n + p.value.size, 0);
      expect((await create(workload)).info.parameters, workload).toBe(ours);
    }
  });

  it('trains: on the MLP the loss falls from the first pass over the batches to the second', async () => {
    const peer = await (await load())('mlp');
    const losses = Array.from({ length: 20 }, (_, i) => peer.step(i % 10));
    expect(losses.every(Number.isFinite), String(losses)).toBe(true);
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
    expect(mean(losses.slice(10))).toBeLessThan(mean(losses.slice(0, 10)));
  });

  it('trains a conv net: its convolution, pooling and BN gradients work (lenet_bn, one batch again and again)', async () => {
    const peer = await (await load())('lenet_bn');
    const losses = Array.from({ length: 6 }, () => peer.step(0));
    expect(losses.every(Number.isFinite), String(losses)).toBe(true);
    expect(losses[5]!).toBeLessThan(losses[0]!);
  }, 120_000);
});
