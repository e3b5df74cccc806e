/**
 * The kernels on more than one core: helper threads (Node worker threads or Web Workers) that
 * each instantiate the same WebAssembly module on one shared memory.
 *
 * How a call is shared out. The calling thread cuts the work into as many bands as there are
 * threads (row blocks or column panels of a product, samples of a convolution, channels of a
 * batch normalisation, stretches of an element-wise pass), writes each helper's band (the
 * function and its arguments) into a small control array (a SharedArrayBuffer), bumps a sequence
 * number and wakes the helpers with `Atomics.notify`. It runs its own band meanwhile, then waits
 * until every helper has counted itself done. Every value is computed by exactly one thread, in
 * the same order as with one thread, so results are bit-identical whatever the number of threads.
 *
 * Between calls a helper spins for a few microseconds before it sleeps in `Atomics.wait`: a
 * training step makes hundreds of calls, and waking a sleeping thread costs tens of microseconds.
 *
 * This module runs anywhere JavaScript runs. Starting the helpers is the environment's business:
 * `asymprop/node` starts worker threads (`useThreads`), and in a browser {@link useGemmThreads}
 * starts module Web Workers by default (the page must be cross-origin isolated for
 * SharedArrayBuffer).
 */
import { ConfigError, StateError } from '../../errors.js';

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

/** How {@link KernelThreadPool} hears of a helper that fails to start: a Web Worker's listeners, or a Node worker's. */
interface EventListening {
  addEventListener(type: 'error', listener: (event: unknown) => void): void;
  removeEventListener(type: 'error', listener: (event: unknown) => void): void;
  on(event: 'error', listener: (error: unknown) => void): unknown;
  off(event: 'error', listener: (error: unknown) => void): unknown;
}

/** Starts one helper thread running `serveKernelThread` (the library's `kernelWorker.js` or `nodeKernelWorker.js`). */
export type ThreadSpawner = () => ThreadWorker;

/** The first (and only) message a helper receives. */
export interface KernelThreadInit {
  readonly module: WebAssembly.Module;
  readonly memory: WebAssembly.Memory;
  readonly control: SharedArrayBuffer;
  /** The module's exported functions, in the order bands name them by. */
  readonly functions: readonly string[];
  /** This helper's number, 1 … threads − 1 (the calling thread is 0). */
  readonly index: number;
}

/** A band of a call: the function's index among the module's functions, and its (i32) arguments. */
export interface Band {
  readonly fn: number;
  readonly args: readonly number[];
}

/** A function of the kernel module, as JavaScript calls it. */
export type KernelFunction = (...args: number[]) => void;

// Layout of the control array (Int32Array).
const SEQ = 0; //   bumped by the caller for every job
const DONE = 1; //  helpers that finished the current job
const READY = 2; // helpers that started
const QUIT = 3; //  set to 1 to stop the helpers
const SLOT = 16; // each helper's band starts at SLOT·index: the function, the argument count, the arguments
/** The most arguments a band can carry. */
export const MAX_ARGS = SLOT - 2;
/** Turns a helper spins on the sequence number before it sleeps (a few microseconds). */
const SPIN = 1_000_000;

/** The calling thread's side of a running pool. */
export class KernelThreadPool {
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
    functions: readonly string[],
    spawn: ThreadSpawner,
  ) {
    const control = new SharedArrayBuffer(4 * SLOT * (threads + 1));
    this.control = new Int32Array(control);
    this.workers = [];
    for (let index = 1; index < threads; index++) {
      const worker = spawn();
      this.watch(worker, index);
      worker.postMessage({ module, memory, control, functions, index } satisfies KernelThreadInit);
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

  /** Calls shared out so far. */
  jobs = 0;

  /**
   * Runs one band per thread (`bands[0]` on the calling thread; a null band leaves its helper
   * idle) and returns when all are done.
   */
  run(functions: readonly KernelFunction[], bands: readonly (Band | null)[]): void {
    if (this.crashed) this.fail(`a kernel helper thread stopped (${this.crashed})`);
    this.jobs++;
    const ctl = this.control;
    for (let t = 1; t < this.threads; t++) {
      const band = bands[t];
      ctl[SLOT * t] = band ? band.fn : -1;
      if (band) {
        ctl[SLOT * t + 1] = band.args.length;
        for (let i = 0; i < band.args.length; i++) ctl[SLOT * t + 2 + i] = band.args[i]!;
      }
    }
    Atomics.store(ctl, DONE, 0);
    Atomics.add(ctl, SEQ, 1);
    Atomics.notify(ctl, SEQ);
    const own = bands[0];
    if (own) functions[own.fn]!(...own.args);
    const helpers = this.threads - 1;
    const since = performance.now();
    for (let spins = 0; ; spins++) {
      const done = Atomics.load(ctl, DONE);
      if (done >= helpers) return;
      if (this.canBlock && spins > SPIN) Atomics.wait(ctl, DONE, done, 1000);
      // A helper that died (or was killed) would otherwise leave this loop waiting forever. The
      // helpers' count is read again first, so a caller paused longer than stallMs (a stopped
      // process, a sleeping laptop) does not give up on a call that is in fact complete.
      if (((this.canBlock && spins > SPIN) || (spins & 0xffff) === 0) && performance.now() - since > this.stallMs && Atomics.load(ctl, DONE) < helpers) {
        this.fail(`a kernel helper thread sent no result within ${this.stallMs / 1000} s${this.crashed ? ` (${this.crashed})` : ' (it may have crashed)'}`);
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
 * A helper thread's loop: instantiate the module on the shared memory, count itself ready, then
 * wait for jobs and run its band of each until told to quit. Call it with the first message.
 */
export function serveKernelThread(init: KernelThreadInit): void {
  const { module, memory, index } = init;
  const ctl = new Int32Array(init.control);
  const instance = new WebAssembly.Instance(module, { env: { memory } });
  const functions = init.functions.map((name) => instance.exports[name] as KernelFunction);
  const args: number[] = [];
  let seq = Atomics.load(ctl, SEQ);
  Atomics.add(ctl, READY, 1);
  for (;;) {
    for (let spins = 0; spins < SPIN && Atomics.load(ctl, SEQ) === seq; spins++);
    Atomics.wait(ctl, SEQ, seq);
    seq = Atomics.load(ctl, SEQ);
    if (Atomics.load(ctl, QUIT)) return;
    const fn = ctl[SLOT * index]!;
    if (fn >= 0) {
      args.length = ctl[SLOT * index + 1]!;
      for (let i = 0; i < args.length; i++) args[i] = ctl[SLOT * index + 2 + i]!;
      functions[fn]!(...args);
    }
    Atomics.add(ctl, DONE, 1);
    Atomics.notify(ctl, DONE);
  }
}
