import { ConfigError } from '../errors.js';
import type { Geometry2d } from '../tensor/geometry.js';
import type { DType, Storage } from '../tensor/tensor.js';
import { FLUSH_BELOW, type ChannelGradSums, type Kernels, type MomentumStep, type StridedMatrix } from './kernels.js';
import { ReferenceKernels, outputColumns, referenceKernels } from './reference.js';
import { GEO } from './wasm/conv.js';
import { KERNEL_ROWS } from './wasm/gemm.js';
import { KernelMemory } from './wasm/memory.js';
import { KERNEL_NAMES, kernelModuleBytes, type KernelName } from './wasm/module.js';
import { KernelThreadPool, type Band, type KernelFunction, type ThreadSpawner, type ThreadWorker } from './wasm/threads.js';
import { SGD_COEFFICIENTS } from './wasm/optim.js';
import { XOR_MIN_LENGTH, XOR_SCRATCH_BYTES, xor128Fill } from './wasm/xor128.js';

/** Below this many multiply-adds a product stays with the reference kernel: packing would not pay. */
const WASM_MIN_WORK = 4096;
/** Below this many multiply-adds a product runs on the calling thread alone. */
const PARALLEL_MIN_WORK = 1 << 20;
/** Below this many values a pass runs on the calling thread alone (waking the helpers costs microseconds). */
const PARALLEL_MIN_VALUES = 1 << 13;
/** Shorter element-wise passes stay with the reference loops: the copies in and out would not pay. */
const MIN_LENGTH = 512;

/** The most threads {@link WasmKernels.useThreads} starts. */
export const MAX_THREADS = 256;

const INDEX = Object.fromEntries(KERNEL_NAMES.map((name, i) => [name, i])) as Record<KernelName, number>;
const f32 = (...arrays: (Storage | null)[]): boolean => arrays.every((a) => a === null || a instanceof Float32Array);

/**
 * The fast kernels: the {@link Kernels} protocol in WebAssembly SIMD generated at run time (see
 * `wasm/`), one module on one memory, with helper threads sharing each call when
 * {@link WasmKernels.useThreads} started some. What they do not take (float64, short arrays) goes
 * to the reference loops they extend.
 *
 * Operands that live in the kernels' memory (the work arrays {@link WasmKernels.allocate} hands
 * out) are used in place; others are copied in and the results copied out.
 */
export class WasmKernels extends ReferenceKernels {
  override readonly name: Kernels['name'] = 'wasm-simd';
  private readonly mem: KernelMemory;
  private readonly module: WebAssembly.Module;
  private readonly functions: readonly KernelFunction[];
  private readonly fn: Readonly<Record<KernelName, KernelFunction>>;
  private pool: KernelThreadPool | null = null;

  /** The fast kernels, or null where WebAssembly SIMD (or run-time compilation) is unavailable. */
  static create(): WasmKernels | null {
    try {
      if (typeof WebAssembly === 'undefined' || !WebAssembly.validate(kernelModuleBytes())) return null;
      return new WasmKernels();
    } catch {
      return null;
    }
  }

  private constructor() {
    super();
    this.mem = new KernelMemory();
    this.module = new WebAssembly.Module(kernelModuleBytes(this.mem.shared ? this.mem.maxPages : undefined));
    const instance = new WebAssembly.Instance(this.module, { env: { memory: this.mem.memory } });
    this.functions = KERNEL_NAMES.map((name) => instance.exports[name] as KernelFunction);
    this.fn = Object.fromEntries(KERNEL_NAMES.map((name, i) => [name, this.functions[i]!])) as Record<KernelName, KernelFunction>;
  }

  override threads(): number {
    return this.livePool()?.threads ?? 1;
  }

  /** Calls shared out among threads by the current helpers (0 without helpers): for tests and benchmarks. */
  parallelCalls(): number {
    return this.pool?.jobs ?? 0;
  }

  /** Matrix products shared out among threads by the current helpers (0 without helpers). */
  parallelProducts(): number {
    return this.pool ? this.sharedProducts : 0;
  }
  private sharedProducts = 0;

  /** In this memory where it is shared (helpers can use it, and it survives growth), else an ordinary array. */
  override allocate(dtype: DType, size: number): Storage {
    return (dtype === 'float32' && size >= MIN_LENGTH ? (this.mem.array(dtype, size) as Storage | null) : null) ?? super.allocate(dtype, size);
  }

  override release(array: Storage | Int32Array): void {
    this.mem.free(array);
  }

  /** In the kernels' memory for float32 (so a product reads it in place), else the reference's. */
  override scratch(dtype: DType, size: number): Storage {
    if (dtype !== 'float32') return super.scratch(dtype, size);
    const at = this.mem.scratch('layer.scratch', 4 * size);
    return new Float32Array(this.mem.memory.buffer, at, size);
  }

  override allocateIndices(size: number): Int32Array {
    return (size >= MIN_LENGTH ? (this.mem.array('int32', size) as Int32Array | null) : null) ?? super.allocateIndices(size);
  }

  /**
   * Shares the kernels' calls among `threads` threads: the calling one plus `threads − 1`
   * helpers started by `spawn`. `threads = 1` stops the helpers. Resolves to the number of
   * threads in use: 1 where the memory cannot be shared.
   */
  async useThreads(threads: number, spawn: ThreadSpawner, stallSeconds = 60): Promise<number> {
    this.pool?.close();
    this.pool = null;
    if (threads === 1 || !this.mem.shared) return 1;
    const pool = new KernelThreadPool(threads, this.module, this.mem.memory, KERNEL_NAMES, spawn);
    pool.stallMs = stallSeconds * 1000;
    await pool.ready(); // closes the pool and throws when a helper does not start
    this.pool = pool;
    this.sharedProducts = 0;
    return threads;
  }

  /** The pool while it works: a helper that stopped answering sends the kernels back to one thread. */
  private livePool(): KernelThreadPool | null {
    if (this.pool?.broken) this.pool = null;
    return this.pool;
  }

  /**
   * Runs `name` over the range [0, total) of its outer dimension, cut into one band per thread
   * when there is `work` enough (each band's arguments from `args(from, to)`).
   */
  private split(name: KernelName, total: number, work: number, args: (from: number, to: number) => number[]): void {
    const pool = this.livePool();
    if (!pool || work < PARALLEL_MIN_VALUES || total < 2) {
      this.fn[name](...args(0, total));
      return;
    }
    const parts = Math.min(pool.threads, total);
    const bands: (Band | null)[] = [];
    for (let t = 0; t < pool.threads; t++) {
      bands.push(t < parts ? { fn: INDEX[name], args: args(Math.floor((total * t) / parts), Math.floor((total * (t + 1)) / parts)) } : null);
    }
    pool.run(this.functions, bands);
  }

  // --- matrix products ---------------------------------------------------------------------

  override gemmProduct(transA: boolean, transB: boolean, m: number, n: number, k: number, a: Storage, b: Storage): StridedMatrix {
    if (!(f32(a, b) && m * n * k >= WASM_MIN_WORK && k > 0 && a.length >= m * k && b.length >= k * n)) return super.gemmProduct(transA, transB, m, n, k, a, b);
    const mem = this.mem;
    const mb = Math.ceil(m / KERNEL_ROWS), nb = Math.ceil(n / 8), ldc = nb * 8;
    // A is read in place (in either layout); B is packed into panels of 8 columns.
    const aAt = mem.place((a as Float32Array).subarray(0, m * k), 'gemm.a');
    const bAt = mem.place((b as Float32Array).subarray(0, k * n), 'gemm.b');
    const panels = mem.scratch('gemm.panels', nb * 8 * k * 4);
    const cAt = mem.scratch('gemm.c', mb * KERNEL_ROWS * ldc * 4);
    this.split(transB ? 'packBT' : 'packB', nb, nb * 8 * k, (from, to) => [bAt, panels, k, n, from, to]);
    // Row i of op(A) starts at i·k (or at i when transposed); consecutive p are 1 apart (or m).
    const aRow = (transA ? 1 : k) * 4, aStep = (transA ? m : 1) * 4;
    this.product([mb, nb, k, aAt, panels, cAt, ldc * 4, aRow, aStep, m, k * 32], m * n * k);
    return { data: mem.f32, offset: cAt >> 2, ld: ldc };
  }

  /**
   * Runs a product on the block kernel, its inner dimension in chunks: on one thread, or cut into
   * bands of row blocks (or of 8-column panels when C has few rows), one per thread.
   */
  private product(call: readonly number[], work: number): void {
    const pool = this.livePool();
    if (!pool || work < PARALLEL_MIN_WORK) {
      this.fn.gemmChunks(...call);
      return;
    }
    const [mb, nb, k, a, b, c, ldc, aRow, aStep, m, bPanel] = call as [number, number, number, number, number, number, number, number, number, number, number];
    const parts = pool.threads;
    const byRows = mb >= 2 * parts || mb >= nb;
    const blocks = byRows ? mb : nb;
    const bands: Band[] = [];
    for (let t = 0; t < parts; t++) {
      const from = Math.floor((blocks * t) / parts), to = Math.floor((blocks * (t + 1)) / parts);
      const args = byRows
        ? [to - from, nb, k, a + KERNEL_ROWS * from * aRow, b, c + KERNEL_ROWS * from * ldc, ldc, aRow, aStep, m - KERNEL_ROWS * from, bPanel]
        : [mb, to - from, k, a, b + from * bPanel, c + from * 32, ldc, aRow, aStep, m, bPanel];
      bands.push({ fn: INDEX.gemmChunks, args });
    }
    pool.run(this.functions, bands);
    this.sharedProducts++;
  }

  override gemm(transA: boolean, transB: boolean, m: number, n: number, k: number, a: Storage, b: Storage, c: Storage, accumulate = false): void {
    if (!(f32(a, b, c) && m * n * k >= WASM_MIN_WORK && k > 0 && c.length >= m * n && a.length >= m * k && b.length >= k * n)) {
      super.gemm(transA, transB, m, n, k, a, b, c, accumulate);
      return;
    }
    const { data, offset, ld } = this.gemmProduct(transA, transB, m, n, k, a, b);
    if (this.mem.contains(c)) {
      this.split('unpad', m, m * n, (from, to) => [offset * 4, ld * 4, c.byteOffset, n, from, to, accumulate ? 1 : 0]);
      return;
    }
    for (let i = 0; i < m; i++) {
      const src = offset + i * ld, dst = i * n;
      if (accumulate) for (let j = 0; j < n; j++) c[dst + j] += data[src + j]!;
      else for (let j = 0; j < n; j++) c[dst + j] = data[src + j]!;
    }
  }

  // --- convolution ----------------------------------------------------------------------------

  /** The geometry block the conv kernels read (its fields, then each window column's range of output columns), in scratch. */
  private geometry(g: Geometry2d): number {
    const [ox0, ox1] = outputColumns(g);
    const at = this.mem.scratch('conv.geo', 4 * (GEO.length + 2 * g.kw));
    const i32 = this.mem.i32;
    GEO.forEach((field, i) => (i32[(at >> 2) + i] = g[field]));
    i32.set(ox0, (at >> 2) + GEO.length);
    i32.set(ox1, (at >> 2) + GEO.length + g.kw);
    return at;
  }

  /**
   * The byte address of a strided matrix's first row in this memory (staged when it lives
   * elsewhere). Callers take it before any other scratch: growing an unshared memory would
   * detach a product left in it.
   */
  private placeStrided(m: StridedMatrix, rows: number, name: string): number {
    const data = m.data as Float32Array;
    if (this.mem.contains(data)) return data.byteOffset + 4 * m.offset;
    return this.mem.place(data.subarray(m.offset, m.offset + rows * m.ld), name);
  }

  override im2col(x: Storage, n: number, g: Geometry2d, out: Storage): void {
    if (!f32(x, out)) return super.im2col(x, n, g, out);
    const rows = n * g.oh * g.ow, size = rows * g.c * g.kh * g.kw;
    const geo = this.geometry(g);
    const xAt = this.mem.place((x as Float32Array).subarray(0, n * g.c * g.h * g.w), 'conv.x');
    const outAt = this.mem.place((out as Float32Array).subarray(0, size), 'conv.out', false);
    this.split('im2col', n, size, (from, to) => [xAt, outAt, geo, rows, from, to]);
    this.mem.unplace((out as Float32Array).subarray(0, size), outAt);
  }

  override col2im(patches: StridedMatrix, n: number, g: Geometry2d, dx: Storage): void {
    if (!f32(patches.data, dx)) return super.col2im(patches, n, g, dx);
    const size = n * g.c * g.h * g.w;
    const pAt = this.placeStrided(patches, g.c * g.kh * g.kw, 'conv.patches'); // first: a product may sit in an unshared memory that later scratch would grow
    const geo = this.geometry(g);
    const dxAt = this.mem.place((dx as Float32Array).subarray(0, size), 'conv.dx', false);
    this.split('col2im', n, n * g.oh * g.ow * g.c * g.kh * g.kw, (from, to) => [pAt, patches.ld * 4, dxAt, geo, from, to]);
    this.mem.unplace((dx as Float32Array).subarray(0, size), dxAt);
  }

  override positionsToChannels(src: StridedMatrix, n: number, ch: number, p: number, dst: Storage, bias: Storage | null): void {
    if (!f32(src.data, dst, bias)) return super.positionsToChannels(src, n, ch, p, dst, bias);
    const sAt = this.placeStrided(src, n * p, 'conv.rows');
    const bAt = bias ? this.mem.place(bias as Float32Array, 'conv.bias') : 0;
    const dAt = this.mem.place((dst as Float32Array).subarray(0, n * ch * p), 'conv.y', false);
    this.split('positionsToChannels', n, n * ch * p, (from, to) => [sAt, src.ld * 4, dAt, bAt, ch, p, from, to]);
    this.mem.unplace((dst as Float32Array).subarray(0, n * ch * p), dAt);
  }

  override channelsToPositions(src: Storage, n: number, ch: number, p: number, dst: Storage): void {
    if (!f32(src, dst)) return super.channelsToPositions(src, n, ch, p, dst);
    const size = n * ch * p;
    const sAt = this.mem.place((src as Float32Array).subarray(0, size), 'conv.nchw');
    const dAt = this.mem.place((dst as Float32Array).subarray(0, size), 'conv.rows', false);
    this.split('channelsToPositions', n, size, (from, to) => [sAt, dAt, ch, p, from, to]);
    this.mem.unplace((dst as Float32Array).subarray(0, size), dAt);
  }

  override sumPlanes(src: Storage, n: number, ch: number, p: number, out: Storage): void {
    if (!f32(src, out)) return super.sumPlanes(src, n, ch, p, out);
    const sAt = this.mem.place((src as Float32Array).subarray(0, n * ch * p), 'conv.nchw');
    const oAt = this.mem.place(out as Float32Array, 'conv.sums');
    // Channel pairs stay together in one band (each band's first channel even), as the kernel pairs them.
    this.split('sumPlanes', Math.ceil(ch / 2), n * ch * p, (from, to) => [sAt, oAt, n, ch, p, 2 * from, Math.min(ch, 2 * to)]);
    this.mem.unplace(out as Float32Array, oAt);
  }

  // --- element-wise --------------------------------------------------------------------------

  /** An element-wise pass: inputs placed, the output placed (copied in only when it is also an input), split by stretches. */
  private elementwise(name: KernelName, out: Storage, inputs: readonly Storage[], extra: readonly number[] = []): boolean {
    if (!f32(out, ...inputs) || out.length < MIN_LENGTH || inputs.some((x) => x.length < out.length)) return false;
    const n = out.length;
    const ins = inputs.map((x, i) => (x === out ? -1 : this.mem.place((x as Float32Array).subarray(0, n), `vector.${i}`)));
    const oAt = this.mem.place(out as Float32Array, 'vector.out', inputs.includes(out));
    const at = ins.map((a) => (a < 0 ? oAt : a));
    this.split(name, n, n, (from, to) => [oAt + 4 * from, ...at.map((a) => a + 4 * from), to - from, ...extra]);
    this.mem.unplace(out as Float32Array, oAt);
    return true;
  }

  override relu(out: Storage, x: Storage): void {
    if (!this.elementwise('relu', out, [x])) super.relu(out, x);
  }

  override reluBackward(out: Storage, dy: Storage, y: Storage): void {
    if (!this.elementwise('reluBackward', out, [dy, y])) super.reluBackward(out, dy, y);
  }

  override add(out: Storage, a: Storage, b: Storage): void {
    if (!this.elementwise('add', out, [a, b])) super.add(out, a, b);
  }

  override addRows(out: Storage, row: Storage, rows: number, cols: number): void {
    if (!f32(out, row) || rows * cols < MIN_LENGTH) return super.addRows(out, row, rows, cols);
    const oAt = this.mem.place((out as Float32Array).subarray(0, rows * cols), 'vector.out');
    const rAt = this.mem.place((row as Float32Array).subarray(0, cols), 'vector.0');
    this.split('addRows', rows, rows * cols, (from, to) => [oAt, rAt, cols, from, to]);
    this.mem.unplace((out as Float32Array).subarray(0, rows * cols), oAt);
  }

  override sumRows(a: Storage, rows: number, cols: number, out: Storage): void {
    if (!f32(a, out) || rows * cols < MIN_LENGTH) return super.sumRows(a, rows, cols, out);
    const aAt = this.mem.place((a as Float32Array).subarray(0, rows * cols), 'vector.0');
    const oAt = this.mem.place((out as Float32Array).subarray(0, cols), 'vector.out');
    // Bands of whole groups of four columns, as the kernel takes them.
    this.split('sumRows', Math.ceil(cols / 4), rows * cols, (from, to) => [aAt, oAt, rows, cols, 4 * from, Math.min(cols, 4 * to)]);
    this.mem.unplace((out as Float32Array).subarray(0, cols), oAt);
  }

  override allFinite(x: Storage): boolean {
    if (!f32(x) || x.length < MIN_LENGTH) return super.allFinite(x);
    const xAt = this.mem.place(x as Float32Array, 'vector.0');
    const flag = this.mem.scratch('vector.flag', 4);
    this.mem.i32[flag >> 2] = 0;
    this.fn.allFinite(xAt, x.length, flag);
    return this.mem.i32[flag >> 2] === 0;
  }

  override axpy(alpha: number, x: Storage, y: Storage): void {
    if (!this.elementwise('axpy', y, [x, y], [this.constant(alpha)])) super.axpy(alpha, x, y);
  }

  override scale(out: Storage, alpha: number, x: Storage): void {
    if (!this.elementwise('scale', out, [x, x], [this.constant(alpha)])) super.scale(out, alpha, x);
  }

  /** The byte address of a float64 constant for a kernel (in scratch, valid until the next call). */
  private constant(value: number): number {
    const at = this.mem.scratch('vector.alpha', 8);
    this.mem.f64[at >> 3] = value;
    return at;
  }

  override sign(out: Storage, x: Storage): void {
    if (!this.elementwise('sign', out, [x])) super.sign(out, x);
  }

  override signScale(v: Storage, w: Storage, m: Storage | number): void {
    if (typeof m === 'number') {
      // The kernel multiplies in float32: a constant beyond float32's range would give ∞·0 = NaN where the definition gives 0.
      if (!Number.isFinite(Math.fround(m)) || !f32(v, w) || v.length < MIN_LENGTH) return super.signScale(v, w, m);
      const c = this.mem.scratch('vector.constant', 16);
      this.mem.f32.fill(m, c >> 2, (c >> 2) + 4);
      const n = v.length;
      const wAt = this.mem.place((w as Float32Array).subarray(0, n), 'vector.0');
      const vAt = this.mem.place(v as Float32Array, 'vector.out', false);
      this.split('signScale', n, n, (from, to) => [vAt + 4 * from, wAt + 4 * from, c, to - from, 0]);
      this.mem.unplace(v as Float32Array, vAt);
      return;
    }
    const n = v.length;
    if (!f32(v, w, m) || n < MIN_LENGTH) return super.signScale(v, w, m);
    const wAt = this.mem.place((w as Float32Array).subarray(0, n), 'vector.0');
    const mAt = this.mem.place((m as Float32Array).subarray(0, n), 'vector.1');
    const vAt = this.mem.place(v as Float32Array, 'vector.out', false);
    this.split('signScale', n, n, (from, to) => [vAt + 4 * from, wAt + 4 * from, mAt + 4 * from, to - from, 4]);
    this.mem.unplace(v as Float32Array, vAt);
  }

  override uniform24(out: Storage, state: Int32Array): void {
    if (out.length < XOR_MIN_LENGTH) return super.uniform24(out, state);
    const base = this.mem.scratch('xor128', XOR_SCRATCH_BYTES);
    xor128Fill({ f32: this.mem.f32, i32: this.mem.i32, base, xor128: this.fn.xor128, xor128x4: this.fn.xor128x4 }, out, state);
  }

  // --- batch normalisation -----------------------------------------------------------------

  override channelSums(x: Storage, n: number, c: number, s: number, mean: Float64Array | null): Float64Array {
    if (!f32(x)) return super.channelSums(x, n, c, s, mean);
    const out = new Float64Array(c);
    const xAt = this.mem.place((x as Float32Array).subarray(0, n * c * s), 'bn.x');
    const mAt = mean ? this.mem.place(mean, 'bn.mean') : 0;
    const oAt = this.mem.place(out, 'bn.sums', false);
    this.split('bnSums', c, n * c * s, (from, to) => [xAt, oAt, n, c, s, mAt, from, to]);
    this.mem.unplace(out, oAt);
    return out;
  }

  override batchNormNormalize(x: Storage, n: number, c: number, s: number, mean: Float64Array, invStd: Float64Array, gamma: Storage, beta: Storage, xhat: Storage, y: Storage): void {
    if (!f32(x, gamma, beta, xhat, y)) return super.batchNormNormalize(x, n, c, s, mean, invStd, gamma, beta, xhat, y);
    const size = n * c * s;
    const mem = this.mem;
    const [xAt, mAt, iAt, gAt, bAt] = [mem.place((x as Float32Array).subarray(0, size), 'bn.x'), mem.place(mean, 'bn.mean'), mem.place(invStd, 'bn.invStd'), mem.place(gamma as Float32Array, 'bn.gamma'), mem.place(beta as Float32Array, 'bn.beta')];
    const hAt = mem.place((xhat as Float32Array).subarray(0, size), 'bn.xhat', false);
    const yAt = mem.place((y as Float32Array).subarray(0, size), 'bn.y', false);
    this.split('bnNormalize', c, size, (from, to) => [xAt, hAt, yAt, n, c, s, mAt, iAt, gAt, bAt, from, to]);
    mem.unplace((xhat as Float32Array).subarray(0, size), hAt);
    mem.unplace((y as Float32Array).subarray(0, size), yAt);
  }

  override batchNormGradSums(dy: Storage, xhat: Storage, n: number, c: number, s: number): ChannelGradSums {
    if (!f32(dy, xhat)) return super.batchNormGradSums(dy, xhat, n, c, s);
    const size = n * c * s;
    const mem = this.mem;
    const sumDy = new Float64Array(c), sumDyXhat = new Float64Array(c);
    const [dAt, hAt] = [mem.place((dy as Float32Array).subarray(0, size), 'bn.dy'), mem.place((xhat as Float32Array).subarray(0, size), 'bn.xhat')];
    const [aAt, bAt] = [mem.place(sumDy, 'bn.sumDy', false), mem.place(sumDyXhat, 'bn.sumDyXhat', false)];
    this.split('bnGradSums', c, size, (from, to) => [dAt, hAt, aAt, bAt, n, c, s, from, to]);
    mem.unplace(sumDy, aAt);
    mem.unplace(sumDyXhat, bAt);
    return { sumDy, sumDyXhat };
  }

  override batchNormInputGrad(dy: Storage, xhat: Storage, n: number, c: number, s: number, v: Storage, invStd: Float64Array, meanG: Float64Array, meanGXhat: Float64Array, dx: Storage): void {
    if (!f32(dy, xhat, v, dx)) return super.batchNormInputGrad(dy, xhat, n, c, s, v, invStd, meanG, meanGXhat, dx);
    const size = n * c * s;
    const mem = this.mem;
    const [dAt, hAt, vAt, iAt, gAt, gxAt] = [mem.place((dy as Float32Array).subarray(0, size), 'bn.dy'), mem.place((xhat as Float32Array).subarray(0, size), 'bn.xhat'), mem.place(v as Float32Array, 'bn.v'), mem.place(invStd, 'bn.invStd'), mem.place(meanG, 'bn.meanG'), mem.place(meanGXhat, 'bn.meanGXhat')];
    const xAt = mem.place((dx as Float32Array).subarray(0, size), 'bn.dx', false);
    this.split('bnInputGrad', c, size, (from, to) => [dAt, hAt, xAt, n, c, s, vAt, iAt, gAt, gxAt, from, to]);
    mem.unplace((dx as Float32Array).subarray(0, size), xAt);
  }

  // --- pooling ------------------------------------------------------------------------------

  override maxPool(x: Storage, planes: number, g: Geometry2d, y: Storage, argmax: Int32Array): void {
    if (!f32(x, y)) return super.maxPool(x, planes, g, y, argmax);
    const mem = this.mem;
    const [inSize, outSize] = [planes * g.h * g.w, planes * g.oh * g.ow];
    const geo = this.geometry(g);
    const xAt = mem.place((x as Float32Array).subarray(0, inSize), 'pool.x');
    const yAt = mem.place((y as Float32Array).subarray(0, outSize), 'pool.y', false);
    const iAt = mem.place(argmax.subarray(0, outSize), 'pool.argmax', false);
    this.split('maxPool', planes, inSize, (from, to) => [xAt, yAt, iAt, geo, from, to]);
    mem.unplace((y as Float32Array).subarray(0, outSize), yAt);
    mem.unplace(argmax.subarray(0, outSize), iAt);
  }

  override maxPoolBackward(dy: Storage, argmax: Int32Array, planes: number, g: Geometry2d, dx: Storage): void {
    if (!f32(dy, dx)) return super.maxPoolBackward(dy, argmax, planes, g, dx);
    const mem = this.mem;
    const [planeIn, planeOut] = [g.h * g.w, g.oh * g.ow];
    const dAt = mem.place((dy as Float32Array).subarray(0, planes * planeOut), 'pool.y');
    const iAt = mem.place(argmax.subarray(0, planes * planeOut), 'pool.argmax');
    const xAt = mem.place((dx as Float32Array).subarray(0, planes * planeIn), 'pool.x', false);
    this.split('maxPoolBackward', planes, planes * planeIn, (from, to) => [dAt, iAt, xAt, planeIn, planeOut, from, to]);
    mem.unplace((dx as Float32Array).subarray(0, planes * planeIn), xAt);
  }

  // --- the optimizer ------------------------------------------------------------------------

  override sgdMomentum(w: Storage, g: Storage, buf: Storage, step: MomentumStep): void {
    const n = w.length;
    if (!f32(w, g, buf) || n < MIN_LENGTH) return super.sgdMomentum(w, g, buf, step);
    const mem = this.mem;
    const coef = mem.scratch('sgd.coef', 8 * SGD_COEFFICIENTS);
    mem.f64.set([step.lr, step.keep, step.gain, step.weightDecay, step.momentum, FLUSH_BELOW], coef >> 3);
    const [wAt, gAt, bAt] = [mem.place(w as Float32Array, 'sgd.w'), mem.place((g as Float32Array).subarray(0, n), 'sgd.g'), mem.place((buf as Float32Array).subarray(0, n), 'sgd.buf')];
    this.split('sgdMomentum', n, n, (from, to) => [wAt + 4 * from, gAt + 4 * from, bAt + 4 * from, coef, to - from, step.nesterov ? 1 : 0]);
    mem.unplace(w as Float32Array, wAt);
    mem.unplace((buf as Float32Array).subarray(0, n), bAt);
  }
}

let defaults: Kernels | undefined;

/**
 * The kernels a layer uses unless told otherwise: the fast WebAssembly kernels where the
 * platform has WebAssembly SIMD, else {@link referenceKernels}. One instance per module
 * instance (each thread of a program has its own); `useThreads` gives it helper threads.
 */
export function defaultKernels(): Kernels {
  return (defaults ??= WasmKernels.create() ?? referenceKernels);
}

/** The default kernels as {@link WasmKernels}, or null where they are the reference. */
export function fastKernels(): WasmKernels | null {
  const k = defaultKernels();
  return k instanceof WasmKernels ? k : null;
}

/** Checks a thread count for {@link WasmKernels.useThreads}. */
export function checkThreads(threads: unknown): number {
  // Each helper is a thread with its own stack and WebAssembly instance: thousands only exhaust memory.
  if (typeof threads !== 'number' || !Number.isInteger(threads) || threads < 1 || threads > MAX_THREADS) throw new ConfigError('threads', threads, `an integer from 1 to ${MAX_THREADS}`);
  return threads;
}


/**
 * Shares the default kernels' calls among `threads` threads: the calling one plus `threads − 1`
 * helpers started by `spawn`, all running the kernel module on one shared WebAssembly memory:
 * matrix products, im2col and col2im, layout changes, batch normalisation, ReLU, the residual
 * sums and the passes of the feedback rules. `threads = 1` stops the helpers. Results are
 * bit-identical for any number of threads (each value is computed by one thread, in the same
 * order).
 *
 * In Node, call `useThreads` from `asymprop/node`, which passes a worker-thread spawner. In a
 * browser the default spawner starts module Web Workers running `kernelWorker.js`, the file beside
 * the library's `fast.js` in `kernels/wasm/`, with
 * `new Worker(new URL('./wasm/kernelWorker.js', import.meta.url), { type: 'module' })`: bundlers
 * that understand that pattern (Vite's build among them) emit the worker and rewrite its URL.
 * SharedArrayBuffer requires the page to be cross-origin isolated (served with
 * `Cross-Origin-Opener-Policy: same-origin` and `Cross-Origin-Embedder-Policy: require-corp`);
 * elsewhere this resolves to 1 and calls stay on the calling thread. It works on a page's main
 * thread, which cannot block: the pool spins there while the helpers finish their share.
 *
 * Vite's dev server (Vite 7) runs an installed library from its dependency optimizer's folder,
 * where `kernelWorker.js` is missing, so the helpers fail to start; have it serve the library
 * from node_modules instead, its CommonJS dependencies still optimized:
 * `optimizeDeps: { exclude: ['asymprop'], include: ['asymprop > ndarray', 'asymprop > ndarray-ops', 'asymprop > seedrandom/lib/alea.js', 'asymprop > seedrandom/lib/xor128.js'] }`.
 *
 * Resolves to the number of threads in use: 1 when the platform has no SIMD kernels or no shared
 * memory.
 *
 * A helper that stops answering later (a crashed worker) does not hang training: a call that
 * waits `options.stallSeconds` (default 60) for it throws a `StateError`, the helpers are stopped
 * and calls run on the calling thread again.
 *
 * @throws {@link ConfigError} when `threads` is not an integer from 1 to {@link MAX_THREADS} or helpers fail to start
 * (at once when a helper reports an error, such as a worker script that did not load).
 */
export async function useGemmThreads(threads: number, spawn: ThreadSpawner = spawnWebWorker, options: { stallSeconds?: number } = {}): Promise<number> {
  checkThreads(threads);
  const stallSeconds = options.stallSeconds ?? 60;
  if (!(stallSeconds > 0 && Number.isFinite(stallSeconds))) throw new ConfigError('stallSeconds', options.stallSeconds, 'a finite number of seconds > 0');
  const fast = fastKernels();
  if (!fast) return 1;
  try {
    return await fast.useThreads(threads, spawn, stallSeconds);
  } catch (e) {
    if (spawn === spawnWebWorker && e instanceof ConfigError) {
      throw new ConfigError('threads', threads, `${e.allowed}; the default spawner's worker is kernels/wasm/kernelWorker.js beside kernels/fast.js, which the bundler or server must provide (see useGemmThreads)`);
    }
    throw e;
  }
}

/** Threads the default kernels' calls run on (1 unless {@link useGemmThreads} started helpers). */
export function gemmThreads(): number {
  return defaultKernels().threads();
}

/** How many matrix products the default kernels' current helper threads have shared out (0 without helpers): for tests and benchmarks. */
export function gemmParallelProducts(): number {
  return fastKernels()?.parallelProducts() ?? 0;
}

declare const Worker: new (url: URL, options: { type: 'module' }) => ThreadWorker;

/** The browser's default: a module Web Worker running `kernelWorker.js`. */
function spawnWebWorker(): ThreadWorker {
  if (typeof Worker === 'undefined') throw new ConfigError('threads', 'Web Workers', 'a platform with Worker (in Node, use useThreads from asymprop/node)');
  return new Worker(new URL('./wasm/kernelWorker.js', import.meta.url), { type: 'module' });
}
