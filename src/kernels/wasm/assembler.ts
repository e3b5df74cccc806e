/**
 * A tiny WebAssembly assembler: just what the run-time generated kernels need (the byte-level
 * encodings; `builder.ts` writes functions with them, and `module.ts` puts the kernels of
 * `gemm.ts`, `conv.ts`, `norm.ts`, `vector.ts` and `xor128.ts` into one module). Every function
 * returns the bytes of one encoding as a plain array, to be concatenated.
 */

/** Unsigned LEB128. */
export function uleb(n: number): number[] {
  const out: number[] = [];
  do {
    let byte = n & 0x7f;
    n >>>= 7;
    if (n !== 0) byte |= 0x80;
    out.push(byte);
  } while (n !== 0);
  return out;
}

/** Signed LEB128 (for i32.const). */
export function sleb(n: number): number[] {
  const out: number[] = [];
  for (;;) {
    const byte = n & 0x7f;
    n >>= 7;
    if ((n === 0 && (byte & 0x40) === 0) || (n === -1 && (byte & 0x40) !== 0)) {
      out.push(byte);
      return out;
    }
    out.push(byte | 0x80);
  }
}

/** A module section: its id, then its size, then its body. */
export const section = (id: number, body: number[]): number[] => [id, ...uleb(body.length), ...body];
/** A vector: its length, then its items. */
export const vec = (items: number[][]): number[] => [...uleb(items.length), ...items.flat()];
/** A name (UTF-8; ours are ASCII). */
export const name = (s: string): number[] => [...uleb(s.length), ...[...s].map((c) => c.charCodeAt(0))];

/** Value types. */
export const I32 = 0x7f;
export const V128 = 0x7b;

/** Core opcodes. */
export const op = {
  block: 0x02, loop: 0x03, if: 0x04, else: 0x05, end: 0x0b, br_if: 0x0d, br: 0x0c, return: 0x0f,
  localGet: 0x20, localSet: 0x21, localTee: 0x22,
  i32Const: 0x41, i32Add: 0x6a, i32Sub: 0x6b, i32Mul: 0x6c, i32Shl: 0x74, i32GeU: 0x4f,
  i32Xor: 0x73, i32ShrU: 0x76, i32GtU: 0x4b, i32Eqz: 0x45, i32Load: 0x28, i32Store: 0x36,
  f32Const: 0x43, f32Mul: 0x94, f32Store: 0x38, f32ConvertI32U: 0xb3,
};

/** `local.get l`. */
export const localGet = (l: number): number[] => [op.localGet, ...uleb(l)];
/** `local.set l`. */
export const localSet = (l: number): number[] => [op.localSet, ...uleb(l)];
/** `i32.const v`. */
export const i32Const = (v: number): number[] => [op.i32Const, ...sleb(v)];
/** `l ← l + operand`, where `operand` is the code that pushes the i32 to add. */
export const addToLocal = (l: number, operand: number[]): number[] => [...localGet(l), ...operand, op.i32Add, ...localSet(l)];

/** `f32.const` with the float32 nearest to `value`. */
export const f32Const = (value: number): number[] => [op.f32Const, ...new Uint8Array(Float32Array.of(value).buffer)];

/** A SIMD instruction (prefix 0xfd, then its code). */
export const simd = (code: number): number[] => [0xfd, ...uleb(code)];
export const V128_LOAD = 0x00, V128_LOAD32_SPLAT = 0x09, V128_STORE = 0x0b, V128_CONST = 0x0c, F32X4_ADD = 0xe4, F32X4_MUL = 0xe6;
export const V128_AND = 0x4e, V128_OR = 0x50, V128_XOR = 0x51, I8X16_SHUFFLE = 0x0d, I32X4_SHL = 0xab, I32X4_SHR_U = 0xad, F32X4_CONVERT_I32X4_U = 0xfb, V128_BITSELECT = 0x52, I32X4_NE = 0x38, I32X4_GT_S = 0x3b, F32X4_LT = 0x43, F32X4_GT = 0x44;
/** A memory immediate: log2 of the alignment, then the offset. */
export const memarg = (align: number, offset: number): number[] => [...uleb(align), ...uleb(offset)];

/** `v128.const` with the same 32-bit integer in all four lanes. */
export function i32x4Splat(value: number): number[] {
  const bytes: number[] = [];
  for (let lane = 0; lane < 4; lane++) for (let b = 0; b < 4; b++) bytes.push((value >>> (8 * b)) & 0xff);
  return [...simd(V128_CONST), ...bytes];
}

/** A function of a module: its exported name, its number of i32 parameters (no result), and its locals and code. */
export interface WasmFunction {
  readonly name: string;
  readonly params: number;
  readonly body: number[];
}

/**
 * A module of the given functions, each exported under its name, that imports its memory as
 * `env.memory` (shared, with a maximum of `sharedMaxPages` pages, when that is given).
 */
export function moduleBytes(functions: readonly WasmFunction[], sharedMaxPages?: number): Uint8Array<ArrayBuffer> {
  const type = section(1, vec(functions.map((f) => [0x60, ...vec(new Array(f.params).fill([I32])), 0x00])));
  const limits = sharedMaxPages !== undefined ? [0x03, ...uleb(1), ...uleb(sharedMaxPages)] : [0x00, ...uleb(1)];
  const imports = section(2, vec([[...name('env'), ...name('memory'), 0x02, ...limits]]));
  const declared = section(3, vec(functions.map((_, i) => uleb(i))));
  const exports = section(7, vec(functions.map((f, i) => [...name(f.name), 0x00, ...uleb(i)])));
  const code = section(10, vec(functions.map((f) => [...uleb(f.body.length), ...f.body])));
  return new Uint8Array([0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, ...type, ...imports, ...declared, ...exports, ...code]);
}

/** A module of one function, `exported`, with `params` i32 parameters (see {@link moduleBytes}). */
export function oneFunctionModule(exported: string, params: number, body: number[], sharedMaxPages?: number): Uint8Array<ArrayBuffer> {
  return moduleBytes([{ name: exported, params, body }], sharedMaxPages);
}

/** A kernel module's exports, with views of its own memory. */
export type Kernels<K extends string> = Record<K, (...args: number[]) => void> & { readonly f32: Float32Array; readonly i32: Int32Array };

/**
 * A getter that compiles the module (see {@link instantiate}) on its first call, not at import,
 * and returns the same kernels, or null, from then on.
 */
export function lazyKernels<K extends string>(module: () => Uint8Array<ArrayBuffer>, bytes: number, names: readonly K[]): () => Kernels<K> | null {
  let kernels: Kernels<K> | null | undefined;
  return () => (kernels === undefined ? (kernels = instantiate(module(), bytes, names)) : kernels);
}

/**
 * Compiles a kernel module with a memory of its own of `bytes` bytes (rounded up to 64 KiB pages)
 * and returns the exports `names`. Null where WebAssembly (or its SIMD) is unavailable or refuses
 * the module.
 */
export function instantiate<K extends string>(module: Uint8Array<ArrayBuffer>, bytes: number, names: readonly K[]): Kernels<K> | null {
  try {
    if (typeof WebAssembly === 'undefined' || !WebAssembly.validate(module)) return null;
    const memory = new WebAssembly.Memory({ initial: Math.ceil(bytes / 65536) });
    const inst = new WebAssembly.Instance(new WebAssembly.Module(module), { env: { memory } });
    const kernels: Record<string, unknown> = { f32: new Float32Array(memory.buffer), i32: new Int32Array(memory.buffer) };
    for (const name of names) kernels[name] = inst.exports[name];
    return kernels as Kernels<K>;
  } catch {
    return null;
  }
}
