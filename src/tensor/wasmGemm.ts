/**
 * A WebAssembly SIMD matrix-multiply kernel, generated at run time by the TypeScript below (no
 * binary is shipped, no toolchain is needed), with the plain TypeScript kernel as the fallback
 * wherever WebAssembly SIMD is unavailable.
 *
 * The kernel computes one 4×8 block of C in eight 128-bit registers: for each step p along the
 * inner dimension it loads the 8 values of the packed B panel once (two f32x4 vectors), then for
 * each of the 4 rows broadcasts A's value (`v128.load32_splat`) and accumulates 2 products. A is
 * read in place; the TypeScript wrapper packs B into 8-column panels (transposing as it goes), so
 * every B load in the inner loop is contiguous.
 *
 * Loading B once per step rather than once per row, and A once per row rather than once per
 * product, took the kernel from about 11 to about 30 GFLOP/s on one core here: V8 does not merge
 * repeated loads from WebAssembly memory. A 6×8 block (12 accumulators) was slower: with the
 * three working registers it needs more than the 16 vector registers V8 allocates on x64.
 */

import { ConfigError } from '../errors.js';
import { GemmThreadPool, KERNEL_ROWS, runKernel, type Kernel, type KernelCall, type ThreadWorker, type ThreadSpawner } from './threads.js';

import { F32X4_ADD, F32X4_MUL, I32, V128, V128_CONST, V128_LOAD, V128_LOAD32_SPLAT, V128_STORE, i32Const as i32, localGet as get, localSet as set, memarg, oneFunctionModule, op, simd, uleb, vec } from './wasmAssembler.js';

/**
 * The kernel's code. Parameters: mb (blocks of 4 rows), nb (blocks of 8 columns), k (steps along
 * the inner dimension in this call), aPtr, bPtr, cPtr (byte addresses), ldc (bytes per row of the
 * padded C), aRow (bytes between rows of A), aStep (bytes between consecutive p in a row of A),
 * m (rows of A: rows past it repeat the last row, and their results are dropped by the caller),
 * bPanel (bytes between B's 8-column panels), acc (0: C = A·B; otherwise C += A·B). A is read in
 * place, in either layout; B is packed into 8-column panels. Locals: ib, jb, p, b, c, row, cr, the
 * row pointers into A, then the v128 accumulators, B's two vectors and A's splat.
 *
 * With `acc` the caller can split a long inner dimension into chunks that stay in cache, adding
 * each chunk's product to C.
 */
function kernelBody(): number[] {
  const R = KERNEL_ROWS;
  const [MB, NB, K, AP, BP, CP, LDC, AROW, ASTEP, M, BPANEL, ACCF] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11];
  const [IB, JB, P, B, C, ROW, CR] = [12, 13, 14, 15, 16, 17, 18];
  const A0 = 19; //            A0 … A0+R−1: the R row pointers into A
  const ACC = A0 + R; //       ACC … ACC+2R−1: the 2R accumulators (row r, half h at ACC + 2r + h)
  const [B0, B1, AS] = [ACC + 2 * R, ACC + 2 * R + 1, ACC + 2 * R + 2]; // this step's B vectors, A splat
  const zero128 = [...simd(V128_CONST), ...new Array(16).fill(0)];
  const code: number[] = [];
  const emit = (...parts: number[][]) => parts.forEach((p) => code.push(...p));

  emit(i32(0), set(IB));
  emit([op.block, 0x40], [op.loop, 0x40]); // rows of blocks
  emit(get(IB), get(MB), [op.i32GeU], [op.br_if, 1]);
  emit(i32(0), set(JB));
  emit([op.block, 0x40], [op.loop, 0x40]); // columns of blocks
  emit(get(JB), get(NB), [op.i32GeU], [op.br_if, 1]);
  // c = cPtr + ib·R·ldc + jb·32: the R×8 block of C
  emit(get(CP), get(IB), i32(R), [op.i32Mul], get(LDC), [op.i32Mul], [op.i32Add], get(JB), i32(5), [op.i32Shl], [op.i32Add], set(C));
  // accumulators ← the block of C (acc ≠ 0) or zeros
  emit(get(ACCF), [op.if, 0x40], get(C), set(CR));
  for (let r = 0; r < R; r++) {
    for (let h = 0; h < 2; h++) emit(get(CR), simd(V128_LOAD), memarg(4, 16 * h), set(ACC + 2 * r + h));
    if (r < R - 1) emit(get(CR), get(LDC), [op.i32Add], set(CR));
  }
  emit([op.else]);
  for (let r = 0; r < 2 * R; r++) emit(zero128, set(ACC + r));
  emit([op.end]);
  // a_r = aPtr + min(R·ib + r, m − 1)·aRow
  for (let r = 0; r < R; r++) {
    emit(get(IB), i32(R), [op.i32Mul], i32(r), [op.i32Add], set(ROW));
    emit(get(ROW), get(M), [op.i32GeU], [op.if, 0x40], get(M), i32(1), [op.i32Sub], set(ROW), [op.end]);
    emit(get(AP), get(ROW), get(AROW), [op.i32Mul], [op.i32Add], set(A0 + r));
  }
  // b = bPtr + jb·bPanel
  emit(get(BP), get(JB), get(BPANEL), [op.i32Mul], [op.i32Add], set(B));
  emit(i32(0), set(P));
  emit([op.block, 0x40], [op.loop, 0x40]); // the inner dimension
  emit(get(P), get(K), [op.i32GeU], [op.br_if, 1]);
  // the 8 values of B at step p, once; then per row: one splat of A[row r, p], two multiply-adds
  emit(get(B), simd(V128_LOAD), memarg(4, 0), set(B0));
  emit(get(B), simd(V128_LOAD), memarg(4, 16), set(B1));
  for (let r = 0; r < R; r++) {
    emit(get(A0 + r), simd(V128_LOAD32_SPLAT), memarg(2, 0), set(AS));
    for (let h = 0; h < 2; h++) {
      // acc[r][h] += splat(A[row r, p]) * B[p, 8 columns][h]
      emit(get(ACC + 2 * r + h), get(AS), get(h === 0 ? B0 : B1), simd(F32X4_MUL), simd(F32X4_ADD), set(ACC + 2 * r + h));
    }
    emit(get(A0 + r), get(ASTEP), [op.i32Add], set(A0 + r));
  }
  emit(get(B), i32(32), [op.i32Add], set(B));
  emit(get(P), i32(1), [op.i32Add], set(P));
  emit([op.br, 0], [op.end, op.end]);
  // store the R×8 block
  for (let r = 0; r < R; r++) {
    for (let h = 0; h < 2; h++) {
      emit(get(C), get(ACC + 2 * r + h), simd(V128_STORE), memarg(4, 16 * h));
    }
    if (r < R - 1) emit(get(C), get(LDC), [op.i32Add], set(C));
  }
  emit(get(JB), i32(1), [op.i32Add], set(JB));
  emit([op.br, 0], [op.end, op.end]);
  emit(get(IB), i32(1), [op.i32Add], set(IB));
  emit([op.br, 0], [op.end, op.end]);
  emit([op.end]);
  const locals = vec([
    [...uleb(7 + R), I32],
    [...uleb(2 * R + 3), V128],
  ]);
  return [...locals, ...code];
}

/** Pages (64 KiB) a shared memory may grow to: 2 GiB, far beyond any layer's product. */
const SHARED_MAX_PAGES = 32768;

/**
 * The whole module: imports `env.memory`, exports `kernel`. With `shared`, the memory it imports
 * is a shared one (limits flag 3, with a maximum), so helper threads can run the same kernel on it.
 */
export function gemmModuleBytes(shared = false): Uint8Array<ArrayBuffer> {
  return oneFunctionModule('kernel', 12, kernelBody(), shared ? SHARED_MAX_PAGES : undefined);
}

// --- the wrapper ------------------------------------------------------------------------------

interface Instance {
  readonly memory: WebAssembly.Memory;
  readonly module: WebAssembly.Module;
  readonly kernel: Kernel;
  f32: Float32Array;
  /** Helper threads sharing this memory, when {@link useGemmThreads} started some. */
  pool: GemmThreadPool | null;
}

let instance: Instance | null | undefined;

function instantiate(shared: boolean, pages: number): Instance {
  const module = new WebAssembly.Module(gemmModuleBytes(shared));
  const memory = shared ? new WebAssembly.Memory({ initial: pages, maximum: SHARED_MAX_PAGES, shared: true }) : new WebAssembly.Memory({ initial: pages });
  const inst = new WebAssembly.Instance(module, { env: { memory } });
  return { memory, module, kernel: inst.exports['kernel'] as Kernel, f32: new Float32Array(memory.buffer), pool: null };
}

/** Compiles the kernel once (synchronously; it is a few hundred bytes). Null where SIMD is unavailable. */
function getInstance(): Instance | null {
  if (instance !== undefined) return instance;
  try {
    if (typeof WebAssembly === 'undefined' || !WebAssembly.validate(gemmModuleBytes())) return (instance = null);
    instance = instantiate(false, 16);
  } catch {
    instance = null;
  }
  return instance;
}

/** Below this many multiply-adds a product runs on the calling thread alone (waking helpers costs microseconds). */
const PARALLEL_MIN_WORK = 1 << 20;

/** The most threads {@link useGemmThreads} starts. */
export const MAX_THREADS = 256;

/**
 * Runs the float32 matrix products on `threads` threads: the calling one plus `threads − 1`
 * helpers started by `spawn`, all running the SIMD kernel on one shared WebAssembly memory.
 * `threads = 1` stops the helpers. Results are bit-identical for any number of threads (each
 * element of a product is computed by one thread, in the same order).
 *
 * In Node, call `useThreads` from `asymprop/node`, which passes a worker-thread spawner. In a
 * browser the default spawner starts module Web Workers running `gemmWorker.js`, the file beside
 * the library's `wasmGemm.js`, with `new Worker(new URL('./gemmWorker.js', import.meta.url), { type: 'module' })`:
 * bundlers that understand that pattern (Vite's build among them) emit the worker and rewrite
 * its URL. SharedArrayBuffer requires the page to be cross-origin isolated (served with
 * `Cross-Origin-Opener-Policy: same-origin` and `Cross-Origin-Embedder-Policy: require-corp`);
 * elsewhere this resolves to 1 and products stay on the calling thread. It works on a page's
 * main thread, which cannot block: the pool spins there while the helpers finish their share.
 *
 * Vite's dev server (Vite 7) runs an installed library from its dependency optimizer's folder,
 * where `gemmWorker.js` is missing, so the helpers fail to start; have it serve the library from
 * node_modules instead, its CommonJS dependencies still optimized:
 * `optimizeDeps: { exclude: ['asymprop'], include: ['asymprop > ndarray', 'asymprop > ndarray-ops', 'asymprop > seedrandom/lib/alea.js', 'asymprop > seedrandom/lib/xor128.js'] }`.
 *
 * Resolves to the number of threads in use: 1 when the platform has no SIMD kernel or no shared
 * memory.
 *
 * A helper that stops answering later (a crashed worker) does not hang training: a product that
 * waits `options.stallSeconds` (default 60) for it throws a `StateError`, the helpers are stopped
 * and products run on the calling thread again.
 *
 * @throws {@link ConfigError} when `threads` is not an integer from 1 to {@link MAX_THREADS} or helpers fail to start
 * (at once when a helper reports an error, such as a worker script that did not load).
 */
export async function useGemmThreads(threads: number, spawn: ThreadSpawner = spawnWebWorker, options: { stallSeconds?: number } = {}): Promise<number> {
  // Each helper is a thread with its own stack and WebAssembly instance: thousands only exhaust memory.
  if (!Number.isInteger(threads) || threads < 1 || threads > MAX_THREADS) throw new ConfigError('threads', threads, `an integer from 1 to ${MAX_THREADS}`);
  const stallSeconds = options.stallSeconds ?? 60;
  if (!(stallSeconds > 0 && Number.isFinite(stallSeconds))) throw new ConfigError('stallSeconds', options.stallSeconds, 'a finite number of seconds > 0');
  const current = getInstance();
  if (!current) return 1;
  current.pool?.close();
  current.pool = null;
  if (threads === 1) return 1;
  if (typeof SharedArrayBuffer === 'undefined') return 1;
  let shared: Instance;
  try {
    shared = current.memory.buffer instanceof SharedArrayBuffer ? current : instantiate(true, Math.max(16, current.memory.buffer.byteLength / 65536));
  } catch {
    return 1; // no shared WebAssembly memory here
  }
  const pool = new GemmThreadPool(threads, shared.module, shared.memory, spawn);
  pool.stallMs = stallSeconds * 1000;
  try {
    await pool.ready();
  } catch (e) {
    pool.close();
    if (spawn === spawnWebWorker && e instanceof ConfigError) {
      throw new ConfigError('threads', threads, `${e.allowed}; the default spawner's worker is gemmWorker.js beside wasmGemm.js, which the bundler or server must provide (see useGemmThreads)`);
    }
    throw e;
  }
  shared.pool = pool;
  instance = shared;
  return threads;
}

/** Threads the float32 matrix products run on (1 unless {@link useGemmThreads} started helpers). */
export function gemmThreads(): number {
  const pool = instance?.pool;
  return pool && !pool.broken ? pool.threads : 1;
}

/** How many products the current helper threads have shared out (0 without helpers): for tests and benchmarks. */
export function gemmParallelProducts(): number {
  return instance?.pool?.jobs ?? 0;
}

declare const Worker: new (url: URL, options: { type: 'module' }) => ThreadWorker;

/** The browser's default: a module Web Worker running `gemmWorker.js`. */
function spawnWebWorker(): ThreadWorker {
  if (typeof Worker === 'undefined') throw new ConfigError('threads', 'Web Workers', 'a platform with Worker (in Node, use useThreads from asymprop/node)');
  return new Worker(new URL('./gemmWorker.js', import.meta.url), { type: 'module' });
}

/** Whether the WebAssembly SIMD kernel is in use here. */
export function wasmGemmAvailable(): boolean {
  return getInstance() !== null;
}

/** Makes sure the memory holds `floats` float32 values; returns the current view. */
function reserve(inst: Instance, floats: number): Float32Array {
  const bytes = floats * 4;
  if (bytes > inst.memory.buffer.byteLength) {
    inst.memory.grow(Math.ceil((bytes - inst.memory.buffer.byteLength) / 65536));
    inst.f32 = new Float32Array(inst.memory.buffer);
  }
  return inst.f32;
}

/**
 * Where {@link wasmProduct} left a product: row i of C is `data[offset + i·ld …+ n)`. The view is
 * into the kernel's memory, valid only until the next product.
 */
export interface WasmProduct {
  readonly data: Float32Array;
  readonly offset: number;
  readonly ld: number;
}

/**
 * `C = op(A) · op(B)` (m×n) for float32 arrays on the SIMD kernel, left in the kernel's memory
 * (rows padded to a multiple of 8 columns) for a caller that reads it once and can skip a copy.
 * Null when the kernel is unavailable.
 */
export function wasmProduct(transA: boolean, transB: boolean, m: number, n: number, k: number, a: Float32Array, b: Float32Array): WasmProduct | null {
  const inst = getInstance();
  if (!inst) return null;
  const mb = Math.ceil(m / KERNEL_ROWS), nb = Math.ceil(n / 8);
  const aFloats = m * k, bFloats = nb * 8 * k, ldc = nb * 8;
  const aOff = 0, bOff = aFloats + ((4 - (aFloats % 4)) % 4), cOff = bOff + bFloats;
  const mem = reserve(inst, cOff + mb * KERNEL_ROWS * ldc);

  // A is copied as it is (a memcpy); the kernel walks its rows in either layout.
  mem.set(a.length === aFloats ? a : a.subarray(0, aFloats), aOff);
  // B → panels of 8 columns: panel j holds, for each p, B[p, 8j..8j+7] (columns past n are zeros).
  for (let jb = 0; jb < nb; jb++) {
    const base = bOff + jb * 8 * k;
    const cols = Math.min(8, n - jb * 8);
    if (transB) {
      for (let q = 0; q < 8; q++) {
        const j = jb * 8 + q;
        if (q >= cols) {
          for (let p = 0; p < k; p++) mem[base + p * 8 + q] = 0;
        } else {
          const row = j * k;
          for (let p = 0; p < k; p++) mem[base + p * 8 + q] = b[row + p]!;
        }
      }
    } else {
      for (let p = 0; p < k; p++) {
        const src = p * n + jb * 8, dst = base + p * 8;
        for (let q = 0; q < cols; q++) mem[dst + q] = b[src + q]!;
        for (let q = cols; q < 8; q++) mem[dst + q] = 0;
      }
    }
  }
  // Row i of op(A) starts at i·k (or at i when transposed); consecutive p are 1 apart (or m).
  const aRow = (transA ? 1 : k) * 4, aStep = (transA ? m : 1) * 4;
  const call: KernelCall = [mb, nb, k, aOff * 4, bOff * 4, cOff * 4, ldc * 4, aRow, aStep, m, k * 32];
  if (inst.pool?.broken) inst.pool = null; // a helper stopped answering: back to one thread
  if (inst.pool && m * n * k >= PARALLEL_MIN_WORK) inst.pool.run(inst.kernel, call);
  else runKernel(inst.kernel, call);
  return { data: inst.f32, offset: cOff, ld: ldc };
}

/**
 * `C (m×n) (+)= op(A) · op(B)` for float32 arrays, like `gemm`, on the SIMD kernel. Returns false
 * (doing nothing) when the kernel is unavailable, so the caller falls back.
 */
export function wasmGemm(
  transA: boolean,
  transB: boolean,
  m: number,
  n: number,
  k: number,
  a: Float32Array,
  b: Float32Array,
  c: Float32Array,
  accumulate: boolean,
): boolean {
  const product = wasmProduct(transA, transB, m, n, k, a, b);
  if (!product) return false;
  const { data: mem, offset, ld } = product;
  for (let i = 0; i < m; i++) {
    const src = offset + i * ld, dst = i * n;
    if (accumulate) for (let j = 0; j < n; j++) c[dst + j] += mem[src + j]!;
    else for (let j = 0; j < n; j++) c[dst + j] = mem[src + j]!;
  }
  return true;
}
