/**
 * The one WebAssembly memory the fast kernels work in, and what lives in it.
 *
 * Layers keep their work arrays (activations, errors, patch matrices) here when they can, so the
 * kernels read and write them in place and helper threads can share the work; arrays from
 * elsewhere are copied in (staged) and their results copied out. The memory is shared (a
 * SharedArrayBuffer underneath) wherever the platform allows: growing a shared memory leaves the
 * arrays already handed out valid. Where it cannot be shared (a browser page that is not
 * cross-origin isolated), growing would detach every view, so no array is handed out and every
 * operand is staged.
 *
 * Space is handed out in regions: a first-fit list of free byte ranges, merged when neighbours
 * are freed, and the memory grown when none fits. A region handed out as an array is freed when
 * the array is garbage-collected; the kernels' own scratch regions grow and are reused.
 */
import { ConfigError } from '../../errors.js';
import type { DType, Storage } from '../../tensor/tensor.js';

/** The largest memory: 4 GiB (a 32-bit address space), or 2 GiB where the larger is refused. */
const MAX_PAGES = [65536, 32768];
const PAGE = 65536;
/** Regions start on 64-byte boundaries (a cache line), and never at 0, which the kernels read as "none". */
const ALIGN = 64;

/** A region of the memory: its first byte and its size in bytes. */
interface Region {
  readonly offset: number;
  readonly bytes: number;
}

export class KernelMemory {
  readonly memory: WebAssembly.Memory;
  /** Whether the memory is shared (helper threads can use it, and arrays in it survive its growth). */
  readonly shared: boolean;
  /** The most pages the memory may grow to (its declared maximum when shared). */
  readonly maxPages: number;
  private readonly freeList: Region[] = [];
  private top = ALIGN;
  private readonly seen = new WeakSet<ArrayBufferLike>();
  private views!: { f32: Float32Array; f64: Float64Array; i32: Int32Array };
  private readonly scratchRegions = new Map<string, Region>();
  private readonly released = new FinalizationRegistry<Region>((r) => this.release(r));
  /** The regions of the arrays handed out by {@link KernelMemory.array}, by array, until freed. */
  private readonly handedOut = new WeakMap<object, Region>();

  constructor() {
    let memory: WebAssembly.Memory | null = null;
    let maxPages = MAX_PAGES[0]!;
    if (typeof SharedArrayBuffer !== 'undefined') {
      for (const maximum of MAX_PAGES) {
        try {
          memory = new WebAssembly.Memory({ initial: 16, maximum, shared: true });
          maxPages = maximum;
          break;
        } catch {
          // try the smaller maximum, then an unshared memory
        }
      }
    }
    this.shared = memory !== null;
    this.maxPages = maxPages;
    this.memory = memory ?? new WebAssembly.Memory({ initial: 16 });
    this.refresh();
  }

  /** Views of the whole memory as it is now (taken again after it grows). */
  get f32(): Float32Array {
    if (this.views.f32.buffer !== this.memory.buffer || this.views.f32.byteLength !== this.memory.buffer.byteLength) this.refresh();
    return this.views.f32;
  }

  get f64(): Float64Array {
    return this.f32 && this.views.f64;
  }

  get i32(): Int32Array {
    return this.f32 && this.views.i32;
  }

  private refresh(): void {
    const buffer = this.memory.buffer;
    this.seen.add(buffer);
    this.views = { f32: new Float32Array(buffer), f64: new Float64Array(buffer), i32: new Int32Array(buffer) };
  }

  /** Whether `array` lives in this memory (so the kernels can use it in place). */
  contains(array: ArrayBufferView): boolean {
    return this.seen.has(array.buffer);
  }

  /** A region of `bytes` bytes, the memory grown when no free range fits. */
  alloc(bytes: number): Region {
    const size = Math.ceil(Math.max(bytes, 1) / ALIGN) * ALIGN;
    for (let i = 0; i < this.freeList.length; i++) {
      const r = this.freeList[i]!;
      if (r.bytes < size) continue;
      if (r.bytes === size) this.freeList.splice(i, 1);
      else this.freeList[i] = { offset: r.offset + size, bytes: r.bytes - size };
      return { offset: r.offset, bytes: size };
    }
    const offset = this.top;
    const end = offset + size;
    const have = this.memory.buffer.byteLength;
    if (end > have) {
      const pages = Math.ceil((end - have) / PAGE);
      try {
        this.memory.grow(Math.max(pages, Math.min(have / PAGE, 4096))); // at least double while small, at most 256 MiB ahead
      } catch {
        try {
          this.memory.grow(pages);
        } catch {
          throw new ConfigError('kernel memory', `${Math.ceil(end / 2 ** 20)} MiB`, `at most ${Math.floor(have / 2 ** 20)} MiB (the WebAssembly memory cannot grow further)`);
        }
      }
      this.refresh();
    }
    this.top = end;
    return { offset, bytes: size };
  }

  /** Returns a region to the free list, merged with free neighbours. */
  release(region: Region): void {
    let { offset, bytes } = region;
    let i = this.freeList.findIndex((r) => r.offset > offset);
    if (i < 0) i = this.freeList.length;
    const before = this.freeList[i - 1];
    if (before && before.offset + before.bytes === offset) {
      offset = before.offset;
      bytes += before.bytes;
      this.freeList.splice(--i, 1);
    }
    const after = this.freeList[i];
    if (after && offset + bytes === after.offset) {
      bytes += after.bytes;
      this.freeList.splice(i, 1);
    }
    if (offset + bytes === this.top) this.top = offset; // the end of the used space comes back
    else this.freeList.splice(i, 0, { offset, bytes });
  }

  /**
   * A zero-filled typed array of `length` values in this memory, freed when the array is
   * garbage-collected; null where the memory is not shared (its growth would detach the array).
   */
  array(dtype: DType | 'int32', length: number): Storage | Int32Array | null {
    if (!this.shared) return null;
    const bytesPer = dtype === 'float64' ? 8 : 4;
    let region: Region;
    try {
      region = this.alloc(length * bytesPer);
    } catch {
      return null; // the memory cannot grow further: an ordinary array, which the kernels copy in and out
    }
    const buffer = this.memory.buffer;
    this.seen.add(buffer);
    const view = dtype === 'float64' ? new Float64Array(buffer, region.offset, length) : dtype === 'int32' ? new Int32Array(buffer, region.offset, length) : new Float32Array(buffer, region.offset, length);
    view.fill(0); // the region may have held another array
    this.released.register(view, region, view);
    this.handedOut.set(view, region);
    return view;
  }

  /** Frees the region of an array {@link KernelMemory.array} handed out, now rather than when it is garbage-collected; anything else is left alone. */
  free(array: ArrayBufferView): void {
    const region = this.handedOut.get(array);
    if (!region) return;
    this.handedOut.delete(array);
    this.released.unregister(array);
    this.release(region);
  }

  /**
   * The byte address of the kernels' scratch region `name`, at least `bytes` long: reused from call
   * to call, and replaced by a larger one when needed (its old contents are not kept).
   */
  scratch(name: string, bytes: number): number {
    const have = this.scratchRegions.get(name);
    if (have && have.bytes >= bytes) return have.offset;
    if (have) this.release(have);
    const region = this.alloc(Math.max(bytes, (have?.bytes ?? 0) * 2));
    this.scratchRegions.set(name, region);
    return region.offset;
  }

  /**
   * The byte address of `array` in this memory: in place when it lives here, else a copy in the
   * scratch region `name` (copied in when `copyIn`, else left for the kernel to fill).
   */
  place(array: Float32Array | Float64Array | Int32Array, name: string, copyIn = true): number {
    if (this.contains(array)) return array.byteOffset;
    const at = this.scratch(name, array.byteLength);
    if (copyIn) {
      if (array instanceof Float64Array) this.f64.set(array, at >> 3);
      else if (array instanceof Int32Array) this.i32.set(array, at >> 2);
      else this.f32.set(array, at >> 2);
    }
    return at;
  }

  /** Copies what a kernel wrote at byte `at` back into `array`, unless the kernel wrote `array` in place. */
  unplace(array: Float32Array | Float64Array | Int32Array, at: number): void {
    if (this.contains(array)) return;
    if (array instanceof Float64Array) array.set(this.f64.subarray(at >> 3, (at >> 3) + array.length));
    else if (array instanceof Int32Array) array.set(this.i32.subarray(at >> 2, (at >> 2) + array.length));
    else array.set(this.f32.subarray(at >> 2, (at >> 2) + array.length));
  }
}
