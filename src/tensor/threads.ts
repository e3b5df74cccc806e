/**
 * Matrix products on more than one core: helper threads (Node worker threads or Web Workers)
 * that each run the same WebAssembly SIMD kernel on one shared memory.
 *
 * How a product is shared out. The calling thread packs the operands into the shared memory as
 * usual, then cuts C into as many bands as there are threads (bands of row blocks, or of
 * 8-column panels when C has few rows), writes each helper's band into a small control array
 * (a SharedArrayBuffer), bumps a sequence number and wakes the helpers with `Atomics.notify`.
 * It computes its own band meanwhile, then waits until every helper has counted itself done.
 * Every element of C is computed by exactly one thread, in the same order as with one thread,
 * so results are bit-identical whatever the number of threads.
 *
 * This module runs anywhere JavaScript runs. Starting the helpers is the environment's business:
 * `asymprop/node` starts worker threads (`useThreads`), and in a browser {@link useGemmThreads}
 * starts module Web Workers by default (the page must be cross-origin isolated for
 * SharedArrayBuffer).
 */
import { ConfigError, StateError } from '../errors.js';

/**
 * What the thread pool needs of a worker: the environment's Worker, or anything like it. When it
 * also has `addEventListener` (a Web Worker) or `on` (a Node worker), the pool listens for its
 * `error` event while the helpers start, to fail at once with the reason.
 */
export interface ThreadWorker {
  /** Sends the helper its one setup message (the module, the shared memory, the control array, its index). */
  postMessage(message: unknown): void;
  /** Stops the helper (when the pool closes). */
  terminate(): unknown;
}

/** How {@link GemmThreadPool} hears of a helper that fails to start: a Web Worker's listeners, or a Node worker's. */
interface EventListening {
  addEventListener(type: 'error', listener: (event: unknown) => void): void;
  removeEventListener(type: 'error', listener: (event: unknown) => void): void;
  on(event: 'error', listener: (error: unknown) => void): unknown;
  off(event: 'error', listener: (error: unknown) => void): unknown;
}

/** Starts one helper thread running `serveGemmThread` (the library's `gemmWorker.js` or `nodeGemmWorker.js`). */
export type ThreadSpawner = () => ThreadWorker;

/** The first (and only) message a helper receives. */
export interface GemmThreadInit {
  readonly module: WebAssembly.Module;
  readonly memory: WebAssembly.Memory;
  readonly control: SharedArrayBuffer;
  /** This helper's number, 1 … threads − 1 (the calling thread is 0). */
  readonly index: number;
}

/** The kernel's parameters, in its order (see `kernelBody` in wasmGemm.ts), plus the total k. */
export type KernelCall = [mb: number, nb: number, k: number, a: number, b: number, c: number, ldc: number, aRow: number, aStep: number, m: number, bPanel: number];
export type Kernel = (mb: number, nb: number, k: number, a: number, b: number, c: number, ldc: number, aRow: number, aStep: number, m: number, bPanel: number, acc: number) => void;

// Layout of the control array (Int32Array).
const SEQ = 0; //   bumped by the caller for every job
const DONE = 1; //  helpers that finished the current job
const READY = 2; // helpers that started
const QUIT = 3; //  set to 1 to stop the helpers
const SLOT = 16; // each helper's call parameters start at SLOT·index
const PARAMS = 11;

/**
 * Steps of the inner dimension per kernel call. A long product is split into chunks of KC steps,
 * each added to C: a chunk of A's rows (4 × KC) and of B's panels (nb × KC × 8) stays in cache
 * while the kernel walks over the blocks of C, instead of streaming the whole of A and B from
 * memory once per block.
 */
export const KC = 256;

/** Rows of C per kernel block (the kernel computes KERNEL_ROWS × 8 blocks in registers). */
export const KERNEL_ROWS = 4;

/** Runs one band of a product: the kernel over k in chunks of {@link KC}. */
export function runKernel(kernel: Kernel, call: Readonly<KernelCall>): void {
  const [mb, nb, k, a, b, c, ldc, aRow, aStep, m, bPanel] = call;
  if (mb === 0 || nb === 0) return;
  for (let p0 = 0; p0 < k; p0 += KC) {
    kernel(mb, nb, Math.min(KC, k - p0), a + p0 * aStep, b + p0 * 32, c, ldc, aRow, aStep, m, bPanel, p0 > 0 ? 1 : 0);
  }
}

/**
 * Cuts a product into `parts` bands: of row blocks when there are enough of them, else of
 * 8-column panels; each band is a kernel call of its own (its A, B and C pointers moved to it).
 */
export function splitCall(call: Readonly<KernelCall>, parts: number): KernelCall[] {
  const [mb, nb, k, a, b, c, ldc, aRow, aStep, m, bPanel] = call;
  const byRows = mb >= 2 * parts || mb >= nb;
  const blocks = byRows ? mb : nb;
  const out: KernelCall[] = [];
  for (let t = 0; t < parts; t++) {
    const from = Math.floor((blocks * t) / parts), to = Math.floor((blocks * (t + 1)) / parts);
    if (byRows) out.push([to - from, nb, k, a + KERNEL_ROWS * from * aRow, b, c + KERNEL_ROWS * from * ldc, ldc, aRow, aStep, m - KERNEL_ROWS * from, bPanel]);
    else out.push([mb, to - from, k, a, b + from * bPanel, c + from * 32, ldc, aRow, aStep, m, bPanel]);
  }
  return out;
}

/** The calling thread's side of a running pool. */
export class GemmThreadPool {
  private readonly control: Int32Array;
  private readonly workers: ThreadWorker[];
  /** Whether this thread may block in `Atomics.wait` (not a browser's main thread). */
  private readonly canBlock: boolean;

  /**
   * How long a product waits for the helpers' bands before giving up with a `StateError` (a
   * helper that crashed never answers). Far above any band's time: a band is at most a few
   * seconds of work.
   */
  stallMs = 60_000;
  /** Set when a product gave up on a helper: the pool is closed and must not be used again. */
  broken = false;

  /** Why a helper failed to start (its first `error` event), while {@link ready} waits. */
  private failure: string | null = null;
  private readonly unwatch: (() => void)[] = [];

  constructor(
    readonly threads: number,
    module: WebAssembly.Module,
    memory: WebAssembly.Memory,
    spawn: ThreadSpawner,
  ) {
    const control = new SharedArrayBuffer(4 * SLOT * (threads + 1));
    this.control = new Int32Array(control);
    this.workers = [];
    for (let index = 1; index < threads; index++) {
      const worker = spawn();
      this.watch(worker, index);
      worker.postMessage({ module, memory, control, index } satisfies GemmThreadInit);
      this.workers.push(worker);
    }
    this.canBlock = canBlock(this.control);
  }

  /**
   * Listens for a helper's `error` event (a Web Worker's script that does not load, a Node
   * worker that throws) for the pool's whole life: while the helpers start, {@link ready} then
   * fails at once and says why; later, the pool is marked broken and the next product throws
   * instead of sharing work with a dead helper. (Without a listener, an error in a Node worker
   * would end the whole process.)
   */
  private watch(worker: ThreadWorker, index: number): void {
    const onError = (event: unknown) => {
      const message = (event as { message?: unknown } | null)?.message;
      const why = typeof message === 'string' && message ? message : 'its script did not load';
      if (Atomics.load(this.control, READY) >= this.threads - 1) this.crashed ??= `helper ${index} stopped: ${why}`;
      else this.failure ??= `helper ${index} failed to start: ${why}`;
    };
    const w = worker as Partial<EventListening>;
    if (typeof w.addEventListener === 'function' && typeof w.removeEventListener === 'function') {
      w.addEventListener('error', onError);
      this.unwatch.push(() => w.removeEventListener!('error', onError));
    } else if (typeof w.on === 'function' && typeof w.off === 'function') {
      w.on('error', onError);
      this.unwatch.push(() => w.off!('error', onError));
    }
  }

  /** Why a running helper stopped (its `error` event after start-up), if one did. */
  private crashed: string | null = null;

  /**
   * Resolves once every helper has started; rejects as soon as one reports an error, or after
   * `timeoutMs`. Waits with timers, so a browser's main thread (which cannot block) stays free
   * for the workers to load.
   */
  async ready(timeoutMs = 30_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    try {
      for (;;) {
        const n = Atomics.load(this.control, READY);
        if (n >= this.threads - 1) return;
        if (this.failure !== null) throw new ConfigError('threads', this.threads, `helper threads that start (${this.failure})`);
        if (Date.now() > deadline) throw new ConfigError('threads', this.threads, `helper threads that start (only ${n} of ${this.threads - 1} started within ${timeoutMs} ms)`);
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
    } catch (e) {
      this.close();
      throw e;
    }
  }

  /** Products shared out so far. */
  jobs = 0;

  /** Runs `call` on all threads, the calling one included; returns when C is complete. */
  run(kernel: Kernel, call: Readonly<KernelCall>): void {
    if (this.crashed) this.fail(`a matrix-product helper thread stopped (${this.crashed})`);
    this.jobs++;
    const bands = splitCall(call, this.threads);
    const ctl = this.control;
    for (let t = 1; t < this.threads; t++) for (let i = 0; i < PARAMS; i++) ctl[SLOT * t + i] = bands[t]![i]!;
    Atomics.store(ctl, DONE, 0);
    Atomics.add(ctl, SEQ, 1);
    Atomics.notify(ctl, SEQ);
    runKernel(kernel, bands[0]!);
    const helpers = this.threads - 1;
    const since = performance.now();
    for (let spins = 0; ; spins++) {
      const done = Atomics.load(ctl, DONE);
      if (done >= helpers) return;
      if (this.canBlock) Atomics.wait(ctl, DONE, done, 1000);
      // A helper that died (or was killed) would otherwise leave this loop waiting forever. The
      // helpers' count is read again first, so a caller paused longer than stallMs (a stopped
      // process, a sleeping laptop) does not give up on a product that is in fact complete.
      if ((this.canBlock || (spins & 0xffff) === 0) && performance.now() - since > this.stallMs && Atomics.load(ctl, DONE) < helpers) {
        this.fail(`a matrix-product helper thread sent no result within ${this.stallMs / 1000} s${this.crashed ? ` (${this.crashed})` : ' (it may have crashed)'}`);
      }
    }
  }

  /** Marks the pool broken, stops its helpers and throws: products run on the calling thread again. */
  private fail(why: string): never {
    this.broken = true;
    this.close();
    throw new StateError(`${why}; its threads are stopped, products run on the calling thread again, and useGemmThreads starts new ones`);
  }

  /** Stops the helpers (and stops listening to them). */
  close(): void {
    for (const stop of this.unwatch.splice(0)) stop();
    Atomics.store(this.control, QUIT, 1);
    Atomics.add(this.control, SEQ, 1);
    Atomics.notify(this.control, SEQ);
    for (const w of this.workers) w.terminate();
  }
}

function canBlock(control: Int32Array): boolean {
  try {
    Atomics.wait(control, QUIT, 1, 0); // throws on a browser's main thread
    return true;
  } catch {
    return false;
  }
}

/**
 * A helper thread's loop: instantiate the kernel on the shared memory, count itself ready, then
 * wait for jobs and run its band of each until told to quit. Call it with the first message.
 */
export function serveGemmThread(init: GemmThreadInit): void {
  const { module, memory, index } = init;
  const ctl = new Int32Array(init.control);
  const instance = new WebAssembly.Instance(module, { env: { memory } });
  const kernel = instance.exports['kernel'] as Kernel;
  const call = new Array(PARAMS).fill(0) as KernelCall;
  let seq = Atomics.load(ctl, SEQ);
  Atomics.add(ctl, READY, 1);
  for (;;) {
    Atomics.wait(ctl, SEQ, seq);
    seq = Atomics.load(ctl, SEQ);
    if (Atomics.load(ctl, QUIT)) return;
    for (let i = 0; i < PARAMS; i++) call[i] = ctl[SLOT * index + i]!;
    runKernel(kernel, call);
    Atomics.add(ctl, DONE, 1);
    Atomics.notify(ctl, DONE);
  }
}
