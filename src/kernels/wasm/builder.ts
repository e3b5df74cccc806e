/**
 * A structured way to write the run-time generated WebAssembly kernels, on top of the byte-level
 * encoder in `assembler.ts`: named parameters, typed locals, counted loops and conditionals, and
 * expressions that read like the arithmetic they encode.
 *
 * Every expression helper returns the bytes that push its value (its operands' bytes first), so
 * expressions nest as they would in a formula:
 *
 * ```
 * fn.set(sum, F64.add(get(sum), F64.promote(F32.load(get(p)))));   // sum += x[p]
 * ```
 *
 * Addresses are byte addresses into the one memory the module imports; all parameters are i32.
 */
import { memarg, op, simd, sleb, uleb, vec, type WasmFunction } from './assembler.js';

/** The bytes of some code (an expression pushes one value; a statement pushes none). */
export type Code = readonly number[];

/** A value type of WebAssembly. */
export type ValType = 'i32' | 'f32' | 'f64' | 'v128';
const TYPE_CODE: Record<ValType, number> = { i32: 0x7f, f32: 0x7d, f64: 0x7c, v128: 0x7b };

/** A parameter or local of a function being built. */
export interface Local {
  readonly index: number;
  readonly type: ValType;
}

const cat = (...parts: Code[]): number[] => parts.flatMap((p) => [...p]);

/** `local.get`. */
export const get = (l: Local): Code => [op.localGet, ...uleb(l.index)];
/** `i32.const`. */
export const i32 = (v: number): Code => [op.i32Const, ...sleb(v | 0)];

/** A function under construction: its parameters (all i32, by name), its locals and its code. */
export class Fn {
  private readonly code: number[] = [];
  private readonly localTypes: ValType[] = [];
  private readonly byName = new Map<string, Local>();

  constructor(
    /** The name the module exports it under. */
    readonly name: string,
    params: readonly string[],
  ) {
    params.forEach((p, index) => this.byName.set(p, { index, type: 'i32' }));
    this.params = params.length;
  }

  /** The number of (i32) parameters. */
  readonly params: number;

  /** The parameter called `name`. */
  p(name: string): Local {
    const l = this.byName.get(name);
    if (!l) throw new Error(`kernel ${this.name}: no parameter ${name}`);
    return l;
  }

  /** The parameters called `names`, in that order. */
  ps(...names: string[]): Local[] {
    return names.map((n) => this.p(n));
  }

  /** A new local of type `type`. */
  local(type: ValType): Local {
    this.localTypes.push(type);
    return { index: this.params + this.localTypes.length - 1, type };
  }

  /** Appends statements. */
  emit(...parts: Code[]): this {
    for (const p of parts) this.code.push(...p);
    return this;
  }

  /** `l ← value`. */
  set(l: Local, value: Code): this {
    return this.emit(value, [op.localSet, ...uleb(l.index)]);
  }

  /** `l ← l + step` (i32). */
  inc(l: Local, step: Code | number = 1): this {
    return this.set(l, I32.add(get(l), typeof step === 'number' ? i32(step) : step));
  }

  /**
   * `for (i = from; i < to; i += step) body()` with unsigned comparison; `to` is evaluated on every
   * turn (pass a local for a fixed bound).
   */
  for(i: Local, from: Code, to: Code, step: Code | number, body: () => void): this {
    this.set(i, from);
    this.emit([op.block, 0x40, op.loop, 0x40]);
    this.emit(I32.geU(get(i), to), [op.br_if, 1]);
    body();
    this.inc(i, step);
    this.emit([op.br, 0, op.end, op.end]);
    return this;
  }

  /** `while (cond) body()`. */
  while(cond: Code, body: () => void): this {
    this.emit([op.block, 0x40, op.loop, 0x40]);
    this.emit(I32.eqz(cond), [op.br_if, 1]);
    body();
    this.emit([op.br, 0, op.end, op.end]);
    return this;
  }

  /** `if (cond) then() else otherwise()`. */
  if(cond: Code, then: () => void, otherwise?: () => void): this {
    this.emit(cond, [op.if, 0x40]);
    then();
    if (otherwise) {
      this.emit([op.else]);
      otherwise();
    }
    this.emit([op.end]);
    return this;
  }

  /** The function: its locals, code and end, as `moduleBytes` takes it. */
  build(): WasmFunction {
    const groups: number[][] = [];
    for (const t of this.localTypes) {
      const last = groups[groups.length - 1];
      if (last && last[1] === TYPE_CODE[t]) last[0]!++;
      else groups.push([1, TYPE_CODE[t]]);
    }
    const locals = vec(groups.map(([count, type]) => [...uleb(count!), type!]));
    return { name: this.name, params: this.params, body: [...locals, ...this.code, op.end] };
  }
}

const bin = (opcode: number) => (a: Code, b: Code): Code => cat(a, b, [opcode]);
const un = (opcode: number) => (a: Code): Code => cat(a, [opcode]);
const simdBin = (code: number) => (a: Code, b: Code): Code => cat(a, b, simd(code));
const simdUn = (code: number) => (a: Code): Code => cat(a, simd(code));

/** i32 arithmetic, comparisons (unsigned where it matters: addresses), loads and stores. */
export const I32 = {
  add: bin(0x6a), sub: bin(0x6b), mul: bin(0x6c), divU: bin(0x6e), remU: bin(0x70),
  and: bin(0x71), or: bin(0x72), shl: bin(0x74), shrU: bin(0x76),
  eq: bin(0x46), ne: bin(0x47), ltU: bin(0x49), gtU: bin(0x4b), leU: bin(0x4d), geU: bin(0x4f),
  ltS: bin(0x48), geS: bin(0x4e),
  eqz: un(op.i32Eqz),
  min: (a: Code, b: Code): Code => cat(a, b, a, b, [0x48, 0x1b]), // select(a, b, a < b) (signed)
  max: (a: Code, b: Code): Code => cat(a, b, a, b, [0x4a, 0x1b]), // select(a, b, a > b) (signed)
  load: (addr: Code, offset = 0): Code => cat(addr, [0x28], memarg(2, offset)),
  store: (addr: Code, value: Code, offset = 0): Code => cat(addr, value, [0x36], memarg(2, offset)),
  /** `c ? a : b`. */
  select: (a: Code, b: Code, c: Code): Code => cat(a, b, c, [0x1b]),
};

/** float32 arithmetic, comparisons (giving i32), loads and stores. */
export const F32 = {
  add: bin(0x92), sub: bin(0x93), mul: bin(0x94), div: bin(0x95),
  gt: bin(0x5e), lt: bin(0x5d), ge: bin(0x60), ne: bin(0x5c),
  const: (v: number): Code => [0x43, ...new Uint8Array(Float32Array.of(v).buffer)],
  load: (addr: Code, offset = 0): Code => cat(addr, [0x2a], memarg(2, offset)),
  store: (addr: Code, value: Code, offset = 0): Code => cat(addr, value, [0x38], memarg(2, offset)),
  /** float64 → float32, rounding to nearest. */
  demote: un(0xb6),
  /** i32 → float32 (signed). */
  fromI32: un(0xb2),
};

/** float64 arithmetic, loads and stores, and conversions. */
export const F64 = {
  add: bin(0xa0), sub: bin(0xa1), mul: bin(0xa2), div: bin(0xa3),
  sqrt: un(0x9f), abs: un(0x99),
  ge: bin(0x66), gt: bin(0x64),
  const: (v: number): Code => [0x44, ...new Uint8Array(Float64Array.of(v).buffer)],
  load: (addr: Code, offset = 0): Code => cat(addr, [0x2b], memarg(3, offset)),
  store: (addr: Code, value: Code, offset = 0): Code => cat(addr, value, [0x39], memarg(3, offset)),
  /** float32 → float64 (exact). */
  promote: un(0xbb),
  /** i32 → float64 (signed, exact). */
  fromI32: un(0xb7),
};

/** 128-bit SIMD: loads, stores, and the lane-wise operations the kernels use. */
export const V = {
  load: (addr: Code, offset = 0): Code => cat(addr, simd(0x00), memarg(4, offset)),
  store: (addr: Code, value: Code, offset = 0): Code => cat(addr, value, simd(0x0b), memarg(4, offset)),
  /** A float32 loaded into all four lanes. */
  load32Splat: (addr: Code, offset = 0): Code => cat(addr, simd(0x09), memarg(2, offset)),
  /** The same i32 bits in all four lanes (a constant). */
  i32x4: (value: number): Code => {
    const bytes: number[] = [];
    for (let lane = 0; lane < 4; lane++) for (let b = 0; b < 4; b++) bytes.push((value >>> (8 * b)) & 0xff);
    return [...simd(0x0c), ...bytes];
  },
  f32x4Splat: simdUn(0x13),
  f64x2Splat: simdUn(0x14),
  and: simdBin(0x4e), or: simdBin(0x50), xor: simdBin(0x51),
  /** Lanes of `a` where `mask` is set, else of `b`. */
  bitselect: (a: Code, b: Code, mask: Code): Code => cat(a, b, mask, simd(0x52)),
  i32x4Ne: simdBin(0x38), i32x4GtS: simdBin(0x3b),
  f32x4Add: simdBin(0xe4), f32x4Sub: simdBin(0xe5), f32x4Mul: simdBin(0xe6),
  f32x4Gt: simdBin(0x44), f32x4Lt: simdBin(0x43), f32x4Ne: simdBin(0x42),
  /** 1 when any bit of the vector is set, else 0 (an i32). */
  anyTrue: simdUn(0x53),
  f64x2Add: simdBin(0xf0), f64x2Sub: simdBin(0xf1), f64x2Mul: simdBin(0xf2),
  f64x2Abs: simdUn(0xec), f64x2Ge: simdBin(0x4c),
  /** Lanes 0 and 1 of a float32x4, as float64x2 (exact). */
  f64x2PromoteLow: simdUn(0x5f),
  /** A float64x2 rounded to float32 in lanes 0 and 1 (lanes 2 and 3 zero). */
  f32x4DemoteZero: simdUn(0x5e),
  /** Lanes 2, 3 of `a` moved to lanes 0, 1 (32-bit lanes; the rest from `a` again). */
  high: (a: Code): Code => cat(a, a, simd(0x0d), [8, 9, 10, 11, 12, 13, 14, 15, 8, 9, 10, 11, 12, 13, 14, 15]),
  /** Lanes 0, 1 of `a` then lanes 0, 1 of `b` (32-bit lanes). */
  lowLow: (a: Code, b: Code): Code => cat(a, b, simd(0x0d), [0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23]),
};

/** `call f` (by its index in the module) with the given arguments. */
export const call = (index: number, ...args: Code[]): Code => cat(...args, [0x10], uleb(index));
