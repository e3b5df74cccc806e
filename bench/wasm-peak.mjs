#!/usr/bin/env node
/**
 * The WebAssembly SIMD limit of this CPU on one thread, and the share of it that the library's
 * matrix kernel reaches: `node bench/wasm-peak.mjs [options]`.
 *
 * - **Peak.** A function generated at run time keeps `chains` f32x4 values in registers and
 *   updates each, again and again, with no memory traffic inside the loop: half of them by
 *   `f32x4.mul` (x ← x·x, with x = 1) and half by `f32x4.add` (y ← y + y, with y = 0), values that
 *   never change, so nothing overflows, nothing is subnormal and no register is spent on a
 *   constant. The chains are independent of one another, so the CPU can keep as many in flight as
 *   it has floating-point ports; enough chains hide the latency of each operation. Each operation
 *   is 4 FLOP (4 lanes), so a multiply and an add count 8, as the matrix kernel counts its own
 *   separate `f32x4.mul` and `f32x4.add` (WebAssembly SIMD has no fused multiply-add). Several
 *   chain counts are tried, since the best one depends on the CPU's latencies and on the 16
 *   vector registers V8 allocates on x64; the best is the peak.
 * - **Kernel.** The library's public `gemm` (dist/index.js) on a SIZE×SIZE×SIZE float32 product,
 *   2·SIZE³ FLOP a call.
 *
 * Both are timed in the process's CPU time, not the wall clock, so that time spent waiting for a
 * core on a shared machine does not count; and each round times every chain count, then one
 * product, so that whatever else slows the core (a neighbour sharing its caches) falls on both.
 * Each figure is the best call seen over the rounds; the fraction is kernel ÷ peak.
 *
 *   --seconds S   time spent measuring, about (default 6)
 *   --size N      the matrix product's size (default 1024)
 *
 * Prints one line `BENCH_RESULT {json}`.
 */
import { reportResult, runAsScript } from './child.mjs';

const { gemm, gemmKernel } = await import('../dist/index.js');
const asm = await import('../dist/kernels/wasm/assembler.js');
const { F32X4_ADD, F32X4_MUL, V128, V128_STORE, i32Const, i32x4Splat, localGet: get, localSet: set, memarg, op, simd, uleb, vec } = asm;

/** The chain counts tried (half multiplies, half adds): up to the 16 vector registers of x64. */
export const CHAIN_COUNTS = [8, 10, 12, 14, 16];
/** Operations per chain written out per loop iteration, so that the loop's own counting costs nothing. */
const UNROLL = 8;
const FLOP_PER_OPERATION = 4;

/** `v128.const` with the float32 `value` in all four lanes. */
const f32x4Splat = (value) => i32x4Splat(new Int32Array(Float32Array.of(value).buffer)[0]);

/**
 * The code of `peak(iterations)`: `chains` independent chains, the odd ones x ← x·x (x = 1), the
 * even ones y ← y + y (y = 0), UNROLL operations of each per iteration; at the end every chain is
 * stored (at byte 16·i), so that none can be dropped.
 */
export function peakBody(chains) {
  const N = 0; // the parameter: iterations left
  const X = 1; // locals: the chains
  const code = [];
  const emit = (...parts) => parts.forEach((p) => code.push(...p));
  const multiplies = (i) => i % 2 === 1;
  for (let i = 0; i < chains; i++) emit(f32x4Splat(multiplies(i) ? 1 : 0), set(X + i));
  emit([op.block, 0x40], [op.loop, 0x40]);
  emit(get(N), [op.i32Eqz], [op.br_if, 1]);
  for (let u = 0; u < UNROLL; u++) {
    for (let i = 0; i < chains; i++) emit(get(X + i), get(X + i), simd(multiplies(i) ? F32X4_MUL : F32X4_ADD), set(X + i));
  }
  emit(get(N), i32Const(1), [op.i32Sub], set(N));
  emit([op.br, 0], [op.end, op.end]);
  for (let i = 0; i < chains; i++) emit(i32Const(16 * i), get(X + i), simd(V128_STORE), memarg(4, 0));
  emit([op.end]);
  return [...vec([[...uleb(chains), V128]]), ...code];
}

/** `peak(iterations)` compiled for `chains` chains, or null where WebAssembly SIMD is missing. */
export function peakFunction(chains) {
  const kernels = asm.instantiate(asm.oneFunctionModule('peak', 1, peakBody(chains)), 16 * chains, ['peak']);
  return kernels?.peak ?? null;
}

/**
 * CPU seconds taken by `f()`: the process's user and system time. Nothing else runs in this
 * process meanwhile (no worker threads; V8's background compiler is done after the first calls).
 */
function seconds(f) {
  const t0 = process.cpuUsage();
  f();
  const { user, system } = process.cpuUsage(t0);
  return (user + system) / 1e6;
}

/** GFLOP/s of one call of `peak` with enough iterations to last about `target` seconds. */
function peakGflops(peak, chains, target) {
  let iterations = 1000;
  for (;;) {
    const t = seconds(() => peak(iterations));
    const gflops = (iterations * UNROLL * chains * FLOP_PER_OPERATION) / t / 1e9;
    if (t >= target) return gflops;
    iterations = Math.ceil(iterations * Math.min(100, (1.2 * target) / Math.max(t, 1e-6)));
  }
}

function parse(argv) {
  const o = { seconds: 6, size: 1024 };
  for (let i = 0; i < argv.length; i += 2) {
    const [a, v] = [argv[i], Number(argv[i + 1])];
    if (a === '--seconds' && v > 0) o.seconds = v;
    else if (a === '--size' && Number.isInteger(v) && v > 0) o.size = v;
    else if (a === '--seconds' || a === '--size') throw new Error(`${a}: expected a positive ${a === '--size' ? 'integer' : 'number'}, got ${argv[i + 1]}`);
    else throw new Error(`unknown option ${a}`);
  }
  return o;
}

async function main() {
  const o = parse(process.argv.slice(2));
  const result = { size: o.size };
  await reportResult(result, async () => {
    const peaks = CHAIN_COUNTS.map((chains) => ({ chains, run: peakFunction(chains), gflops: 0 }));
    if (peaks.some((p) => !p.run)) throw new Error('WebAssembly SIMD is not available');
    const n = o.size;
    const a = Float32Array.from({ length: n * n }, (_, i) => ((i * 7919) % 1000) / 1000 - 0.5);
    const b = Float32Array.from({ length: n * n }, (_, i) => ((i * 104729) % 1000) / 1000 - 0.5);
    const c = new Float32Array(n * n);
    const product = () => gemm(false, false, n, n, n, a, b, c);
    product(); // compiles the kernel and sizes its memory
    let kernelGflops = 0, rounds = 0;
    const start = performance.now();
    do {
      for (const p of peaks) p.gflops = Math.max(p.gflops, peakGflops(p.run, p.chains, 0.05));
      kernelGflops = Math.max(kernelGflops, (2 * n ** 3) / seconds(product) / 1e9);
      rounds++;
    } while (performance.now() - start < o.seconds * 1000);
    const best = peaks.reduce((x, y) => (y.gflops > x.gflops ? y : x));

    Object.assign(result, {
      peakGflops: best.gflops, chains: best.chains, peakByChains: Object.fromEntries(peaks.map((p) => [p.chains, p.gflops])),
      kernel: gemmKernel(), kernelGflops, fraction: kernelGflops / best.gflops, rounds,
    });
  });
}

await runAsScript(import.meta.url, main);
