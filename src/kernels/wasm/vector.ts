/**
 * The element-wise kernels, generated at run time: each runs over `count` float32 values, four
 * at a time, then the last up to three one at a time with the same operations, and gives the bits
 * of the reference kernels' loops (`../reference.ts`). Output and input may be the same array.
 *
 * - `relu`, `reluBackward`: every hidden activation of every step, forward and backward:
 *   `y = x · [x > 0] + 0` and `dx = dy · [y > 0] + 0` (each exact: a product with 1 or 0, then + 0,
 *   so −0 becomes 0, NaN stays NaN and −∞ gives NaN).
 * - `add`: a residual block's sum, forward and backward.
 * - `sign`: Batch Manhattan's sign of every gradient, on the bits (±1 with the value's sign bit,
 *   ±0 and NaN kept).
 * - `signScale`: sign-concordant feedback's `V = M ∘ s(W)`, s(w) = (w > 0) − (w < 0), with M an
 *   array or one constant.
 */
import type { WasmFunction } from './assembler.js';
import { F32, F64, Fn, I32, V, get, i32, type Code, type Local } from './builder.js';

/**
 * A loop over `count` values from the addresses in `pointers` (each moving 4 bytes per value):
 * `vector()` for four at a time, then `scalar()` for each of the rest.
 */
function lanes(fn: Fn, count: Local, pointers: readonly Local[], vector: () => void, scalar: () => void): void {
  const [i, n4] = [fn.local('i32'), fn.local('i32')];
  fn.set(n4, I32.and(get(count), i32(-4)));
  fn.for(i, i32(0), get(n4), 4, () => {
    vector();
    for (const p of pointers) fn.inc(p, 16);
  });
  fn.for(i, get(n4), get(count), 1, () => {
    scalar();
    for (const p of pointers) fn.inc(p, 4);
  });
}

const one = F32.const(1);
const zero = F32.const(0);
/** 1.0 in the lanes where `x > 0`, else 0 (on the bits: the comparison's mask and 1.0f). */
const positiveMask = (x: Code): Code => V.and(V.f32x4Gt(x, V.i32x4(0)), V.i32x4(0x3f800000));

/** `relu(out, x, count)`: `out = x · [x > 0] + 0`. */
export function relu(): WasmFunction {
  const fn = new Fn('relu', ['out', 'x', 'count']);
  const [out, x, count] = fn.ps('out', 'x', 'count');
  const v = fn.local('f32');
  lanes(fn, count, [out, x],
    () => fn.emit(V.store(get(out), V.f32x4Add(V.f32x4Mul(V.load(get(x)), positiveMask(V.load(get(x)))), V.i32x4(0)))),
    () => fn.set(v, F32.load(get(x))).emit(F32.store(get(out), F32.add(F32.mul(get(v), I32.select(one, zero, F32.gt(get(v), zero))), zero))));
  return fn.build();
}

/** `reluBackward(out, dy, y, count)`: `out = dy · [y > 0] + 0`. */
export function reluBackward(): WasmFunction {
  const fn = new Fn('reluBackward', ['out', 'dy', 'y', 'count']);
  const [out, dy, y, count] = fn.ps('out', 'dy', 'y', 'count');
  lanes(fn, count, [out, dy, y],
    () => fn.emit(V.store(get(out), V.f32x4Add(V.f32x4Mul(V.load(get(dy)), positiveMask(V.load(get(y)))), V.i32x4(0)))),
    () => fn.emit(F32.store(get(out), F32.add(F32.mul(F32.load(get(dy)), I32.select(one, zero, F32.gt(F32.load(get(y)), zero))), zero))));
  return fn.build();
}

/** `add(out, a, b, count)`: `out = a + b`. */
export function add(): WasmFunction {
  const fn = new Fn('add', ['out', 'a', 'b', 'count']);
  const [out, a, b, count] = fn.ps('out', 'a', 'b', 'count');
  lanes(fn, count, [out, a, b],
    () => fn.emit(V.store(get(out), V.f32x4Add(V.load(get(a)), V.load(get(b))))),
    () => fn.emit(F32.store(get(out), F32.add(F32.load(get(a)), F32.load(get(b))))));
  return fn.build();
}

/**
 * `axpy(out, x, y, count, alpha)`: `out = y + α·x` with α the float64 at byte `alpha`, in float64
 * (two values at a time in f64x2 lanes), rounded once to float32; and with `scaleOnly`, `out = α·x`.
 */
function axpyLike(name: 'axpy' | 'scale'): WasmFunction {
  const fn = new Fn(name, ['out', 'x', 'y', 'count', 'alpha']);
  const [out, x, y, count, alpha] = fn.ps('out', 'x', 'y', 'count', 'alpha');
  const [a, a2, xv, yv] = [fn.local('f64'), fn.local('v128'), fn.local('v128'), fn.local('v128')];
  fn.set(a, F64.load(get(alpha))).set(a2, V.f64x2Splat(get(a)));
  // Lanes 0, 1 then 2, 3 of the four values, each computed in float64 and rounded once.
  const half = (xs: Code, ys: Code): Code => (name === 'axpy' ? V.f64x2Add(ys, V.f64x2Mul(get(a2), xs)) : V.f64x2Mul(get(a2), xs));
  const four = (): Code => V.lowLow(V.f32x4DemoteZero(half(V.f64x2PromoteLow(get(xv)), V.f64x2PromoteLow(get(yv)))), V.f32x4DemoteZero(half(V.f64x2PromoteLow(V.high(get(xv))), V.f64x2PromoteLow(V.high(get(yv))))));
  const one1 = (): Code => F32.demote(name === 'axpy' ? F64.add(F64.promote(F32.load(get(y))), F64.mul(get(a), F64.promote(F32.load(get(x))))) : F64.mul(get(a), F64.promote(F32.load(get(x)))));
  lanes(fn, count, [out, x, y],
    () => fn.set(xv, V.load(get(x))).set(yv, V.load(get(y))).emit(V.store(get(out), four())),
    () => fn.emit(F32.store(get(out), one1())));
  return fn.build();
}

/** `axpy(out, x, y, count, alpha)`: `out = y + α·x`, α the float64 at byte `alpha`, in float64, rounded once. */
export const axpy = (): WasmFunction => axpyLike('axpy');
/** `scale(out, x, y, count, alpha)`: `out = α·x` (y unused), in float64, rounded once. */
export const scale = (): WasmFunction => axpyLike('scale');

/**
 * `sign(out, x, count)`: the sign on the bits, as the reference's `signInto`:
 *
 * ```
 * m = v & 0x7fffffff                    the magnitude bits
 * r = (v & 0x80000000) | ((m ≠ 0) & 0x3f800000)
 * out ← m > 0x7f800000 ? v : r          NaN (magnitude above infinity's) kept
 * ```
 */
export function sign(): WasmFunction {
  const fn = new Fn('sign', ['out', 'x', 'count']);
  const [out, x, count] = fn.ps('out', 'x', 'count');
  const [v, m] = [fn.local('v128'), fn.local('v128')];
  const [s, sm] = [fn.local('i32'), fn.local('i32')];
  lanes(fn, count, [out, x],
    () => {
      fn.set(v, V.load(get(x))).set(m, V.and(get(v), V.i32x4(0x7fffffff)));
      const r = V.or(V.and(get(v), V.i32x4(0x80000000)), V.and(V.i32x4Ne(get(m), V.i32x4(0)), V.i32x4(0x3f800000)));
      fn.emit(V.store(get(out), V.bitselect(get(v), r, V.i32x4GtS(get(m), V.i32x4(0x7f800000)))));
    },
    () => {
      fn.set(s, I32.load(get(x))).set(sm, I32.and(get(s), i32(0x7fffffff)));
      const r = I32.or(I32.and(get(s), i32(0x80000000)), I32.select(i32(0x3f800000), i32(0), get(sm)));
      fn.emit(I32.store(get(out), I32.select(get(s), r, I32.gtU(get(sm), i32(0x7f800000)))));
    });
  return fn.build();
}

/**
 * `signScale(v, w, m, count, mStep)`: `v = M · s(w)` with s(w) = (w > 0) − (w < 0) (0 for ±0 and
 * NaN), M read from m, which moves by `mStep` bytes per value: 4 for an array of magnitudes, 0 for
 * one constant (written four times at m). Exact in float32 as in float64 (M times ±1 or 0) for a finite M.
 */
export function signScale(): WasmFunction {
  const fn = new Fn('signScale', ['v', 'w', 'm', 'count', 'mStep']);
  const [v, w, m, count, mStep] = fn.ps('v', 'w', 'm', 'count', 'mStep');
  const [i, n4, mVec, c] = [fn.local('i32'), fn.local('i32'), fn.local('i32'), fn.local('f32')];
  const s = (x: Code): Code => V.or(V.and(V.f32x4Gt(x, V.i32x4(0)), V.i32x4(0x3f800000)), V.and(V.f32x4Lt(x, V.i32x4(0)), V.i32x4(0xbf800000)));
  // A constant M stands four times at m (the caller writes it so): with mStep 0 the vector loop
  // reads the same four lanes on every turn.
  fn.set(n4, I32.and(get(count), i32(-4)));
  fn.set(mVec, I32.shl(get(mStep), i32(2)));
  fn.for(i, i32(0), get(n4), 4, () => {
    fn.emit(V.store(get(v), V.f32x4Mul(V.load(get(m)), s(V.load(get(w))))));
    fn.inc(v, 16).inc(w, 16).inc(m, get(mVec));
  });
  fn.for(i, get(n4), get(count), 1, () => {
    fn.set(c, F32.load(get(w)));
    const sw = I32.select(one, I32.select(F32.const(-1), zero, F32.lt(get(c), zero)), F32.gt(get(c), zero));
    fn.emit(F32.store(get(v), F32.mul(F32.load(get(m)), sw)));
    fn.inc(v, 4).inc(w, 4).inc(m, get(mStep));
  });
  return fn.build();
}

/** `addRows(out, row, cols, from, to)`: `out[i, j] += row[j]` for the rows `from` … `to − 1` of a matrix of `cols` columns. */
export function addRows(): WasmFunction {
  const fn = new Fn('addRows', ['out', 'row', 'cols', 'from', 'to']);
  const [out, row, cols, from, to] = fn.ps('out', 'row', 'cols', 'from', 'to');
  const [i, j, o, cols4] = [fn.local('i32'), fn.local('i32'), fn.local('i32'), fn.local('i32')];
  const at = (base: Code, index: Code): Code => I32.add(base, I32.shl(index, i32(2)));
  fn.set(cols4, I32.and(get(cols), i32(-4)));
  fn.for(i, get(from), get(to), 1, () => {
    fn.set(o, at(get(out), I32.mul(get(i), get(cols))));
    fn.for(j, i32(0), get(cols4), 4, () => fn.emit(V.store(at(get(o), get(j)), V.f32x4Add(V.load(at(get(o), get(j))), V.load(at(get(row), get(j)))))));
    fn.for(j, get(cols4), get(cols), 1, () => fn.emit(F32.store(at(get(o), get(j)), F32.add(F32.load(at(get(o), get(j))), F32.load(at(get(row), get(j)))))));
  });
  return fn.build();
}

/**
 * `sumRows(a, out, rows, cols, from, to)`: `out[j] += Σ_i a[i, j]` for the columns `from` … `to − 1`
 * (`from` a multiple of 4 or the last group), each column a float32 chain in the order of i; four
 * columns side by side in the lanes, then the rest one at a time.
 */
export function sumRows(): WasmFunction {
  const fn = new Fn('sumRows', ['a', 'out', 'rows', 'cols', 'from', 'to']);
  const [a, out, rows, cols, from, to] = fn.ps('a', 'out', 'rows', 'cols', 'from', 'to');
  const [i, j, to4, p] = [fn.local('i32'), fn.local('i32'), fn.local('i32'), fn.local('i32')];
  const [acc, s] = [fn.local('v128'), fn.local('f32')];
  const at = (base: Code, index: Code): Code => I32.add(base, I32.shl(index, i32(2)));
  fn.set(to4, I32.add(get(from), I32.and(I32.sub(get(to), get(from)), i32(-4))));
  fn.for(j, get(from), get(to4), 4, () => {
    fn.set(acc, V.load(at(get(out), get(j)))).set(p, at(get(a), get(j)));
    fn.for(i, i32(0), get(rows), 1, () => fn.set(acc, V.f32x4Add(get(acc), V.load(get(p)))).inc(p, I32.shl(get(cols), i32(2))));
    fn.emit(V.store(at(get(out), get(j)), get(acc)));
  });
  fn.for(j, get(to4), get(to), 1, () => {
    fn.set(s, F32.load(at(get(out), get(j)))).set(p, at(get(a), get(j)));
    fn.for(i, i32(0), get(rows), 1, () => fn.set(s, F32.add(get(s), F32.load(get(p)))).inc(p, I32.shl(get(cols), i32(2))));
    fn.emit(F32.store(at(get(out), get(j)), get(s)));
  });
  return fn.build();
}

/** `allFinite(x, count, flag)`: sets the i32 at `flag` to 1 when one of the values is NaN or ±∞ (x − x is then NaN), leaves it otherwise. */
export function allFinite(): WasmFunction {
  const fn = new Fn('allFinite', ['x', 'count', 'flag']);
  const [x, count, flag] = fn.ps('x', 'count', 'flag');
  const [bad, v] = [fn.local('v128'), fn.local('v128')];
  const c = fn.local('f32');
  fn.set(bad, V.i32x4(0));
  lanes(fn, count, [x],
    () => fn.set(v, V.load(get(x))).set(bad, V.or(get(bad), V.f32x4Ne(V.f32x4Sub(get(v), get(v)), V.i32x4(0)))),
    () => fn.set(c, F32.load(get(x))).if(F32.ne(F32.sub(get(c), get(c)), F32.const(0)), () => fn.emit(I32.store(get(flag), i32(1)))));
  fn.if(V.anyTrue(get(bad)), () => fn.emit(I32.store(get(flag), i32(1))));
  return fn.build();
}
