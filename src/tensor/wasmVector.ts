/**
 * Element-wise float32 kernels in WebAssembly SIMD, generated at run time like the matrix kernel
 * (`wasmGemm.ts`), for the passes over every parameter that plain TypeScript runs one value at a
 * time. Each kernel has its own small memory: the caller's values are copied in, transformed four
 * at a time, and copied back, in chunks that stay in cache. Callers fall back to their TypeScript
 * loop where WebAssembly SIMD is unavailable (`null` below).
 *
 * `sign`: Batch Manhattan replaces every gradient by its sign on every step. V8 compiles the
 * TypeScript loop to about 1.5 ns a value; copy in, SIMD and copy out take about a third of that.
 */

import {
  I32X4_GT_S,
  I32X4_NE,
  V128,
  V128_AND,
  V128_BITSELECT,
  V128_LOAD,
  V128_OR,
  V128_STORE,
  i32x4Splat,
  memarg,
  oneFunctionModule,
  op,
  simd,
  sleb,
  uleb,
  vec,
} from './wasmAssembler.js';

/** Values per chunk: 256 KiB of float32, so a chunk's copy in, pass and copy out stay in cache. */
const CHUNK = 1 << 16;

/**
 * The code of `sign(p, end)`: for every 4 float32 values from byte p up to end (p and end multiples
 * of 16), replaces each by its sign on the bits, exactly as the TypeScript `signInto` does: ±1 is
 * the value's sign bit with 1.0f's exponent and mantissa, ±0 stays ±0 and NaN stays NaN.
 *
 * ```
 * m = v & 0x7fffffff                    the magnitude bits
 * r = (v & 0x80000000) | ((m ≠ 0) & 0x3f800000)
 * v ← m > 0x7f800000 ? v : r            NaN (magnitude above infinity's) kept
 * ```
 */
function signBody(): number[] {
  const [P, END, V, M] = [0, 1, 2, 3];
  const get = (l: number) => [op.localGet, l];
  const set = (l: number) => [op.localSet, l];
  const code = [
    ...[op.block, 0x40, op.loop, 0x40],
    ...get(P), ...get(END), op.i32GeU, op.br_if, 1,
    ...get(P), ...simd(V128_LOAD), ...memarg(4, 0), ...set(V),
    ...get(V), ...i32x4Splat(0x7fffffff), ...simd(V128_AND), ...set(M),
    ...get(P), //                                                   the store's address
    ...get(V), //                                                   bitselect: v where NaN ...
    ...get(V), ...i32x4Splat(0x80000000), ...simd(V128_AND), //     ... else the sign bit
    ...get(M), ...i32x4Splat(0), ...simd(I32X4_NE), ...i32x4Splat(0x3f800000), ...simd(V128_AND),
    ...simd(V128_OR), //                                            | 1.0f where m ≠ 0
    ...get(M), ...i32x4Splat(0x7f800000), ...simd(I32X4_GT_S), //  the NaN lanes
    ...simd(V128_BITSELECT),
    ...simd(V128_STORE), ...memarg(4, 0),
    ...get(P), op.i32Const, ...sleb(16), op.i32Add, ...set(P),
    ...[op.br, 0, op.end, op.end],
    op.end,
  ];
  return [...vec([[...uleb(2), V128]]), ...code];
}

/** The module of the `sign` kernel (two i32 parameters: the start and end byte addresses). */
export function signModuleBytes(): Uint8Array<ArrayBuffer> {
  return oneFunctionModule('sign', 2, signBody());
}

interface SignInstance {
  readonly sign: (p: number, end: number) => void;
  readonly f32: Float32Array;
}

let signInstance: SignInstance | null | undefined;

function getSign(): SignInstance | null {
  if (signInstance !== undefined) return signInstance;
  try {
    const bytes = signModuleBytes();
    if (typeof WebAssembly === 'undefined' || !WebAssembly.validate(bytes)) return (signInstance = null);
    const memory = new WebAssembly.Memory({ initial: (CHUNK * 4) / 65536 });
    const inst = new WebAssembly.Instance(new WebAssembly.Module(bytes), { env: { memory } });
    signInstance = { sign: inst.exports['sign'] as SignInstance['sign'], f32: new Float32Array(memory.buffer) };
  } catch {
    signInstance = null;
  }
  return signInstance;
}

/**
 * `out[i] = sign(x[i])` for float32 arrays of the same length (`out` may be `x`) on the SIMD
 * kernel; false, with nothing written, where WebAssembly SIMD is unavailable.
 */
export function wasmSignFloat32(out: Float32Array, x: Float32Array): boolean {
  const inst = getSign();
  if (!inst) return false;
  const { f32, sign } = inst;
  for (let start = 0; start < x.length; start += CHUNK) {
    const n = Math.min(CHUNK, x.length - start);
    f32.set(x.subarray(start, start + n));
    // Up to 3 values past n are transformed too (whatever the memory held) and never copied out.
    sign(0, ((n + 3) >> 2) << 4);
    out.set(f32.subarray(0, n), start);
  }
  return true;
}

/** Whether the SIMD element-wise kernels run here. */
export function wasmVectorAvailable(): boolean {
  return getSign() !== null;
}
