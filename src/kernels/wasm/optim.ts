/**
 * SGD's momentum update, generated at run time: over `count` float32 weights, gradients and
 * momentum buffers, in float64 arithmetic exactly as the reference kernels' loop
 * (`../reference.ts`), two values at a time in f64x2 lanes, each result rounded to float32 once:
 *
 * ```
 * g ← g + λ·w;   b ← keep·buf + gain·g;   b ← b · [|b| ≥ FLUSH];   buf ← b;   w ← w − lr·b   (heavy ball)
 *                                                                          w ← w − lr·(g + μ·b) (Nesterov)
 * ```
 *
 * The flush multiplies by 1 or 0 (so a tiny negative b becomes −0, and NaN stays NaN), as the
 * reference does. The coefficients come as six float64 at byte `coef`: lr, keep, gain, λ, μ, FLUSH.
 */
import type { WasmFunction } from './assembler.js';
import { F32, F64, Fn, I32, V, get, i32, type Code } from './builder.js';

/** The number of float64 coefficients the update reads at `coef`. */
export const SGD_COEFFICIENTS = 6;

/** `sgdMomentum(w, g, buf, coef, count, nesterov)`: the update above over `count` values. */
export function sgdMomentum(): WasmFunction {
  const fn = new Fn('sgdMomentum', ['w', 'g', 'buf', 'coef', 'count', 'nesterov']);
  const [w, g, buf, coef, count, nesterov] = fn.ps('w', 'g', 'buf', 'coef', 'count', 'nesterov');
  const [i, n4] = [fn.local('i32'), fn.local('i32')];
  const [lr, keep, gain, wd, mu, flush, wi, gi, b] = Array.from({ length: 9 }, () => fn.local('f64'));
  const [lr2, keep2, gain2, wd2, mu2, flush2, w4, g4, b4] = Array.from({ length: 9 }, () => fn.local('v128'));
  const [wLo, wHi, gLo, gHi, bLo, bHi] = Array.from({ length: 6 }, () => fn.local('v128'));
  [lr, keep, gain, wd, mu, flush].forEach((l, k) => fn.set(l, F64.load(get(coef), 8 * k)));
  [[lr2, lr], [keep2, keep], [gain2, gain], [wd2, wd], [mu2, mu], [flush2, flush]].forEach(([v, s]) => fn.set(v!, V.f64x2Splat(get(s!))));
  const one2 = V.f64x2Splat(F64.const(1));
  /** b · [|b| ≥ FLUSH], lane by lane: the comparison's mask picks 1.0 or 0.0. */
  const flushed = (x: Code): Code => V.f64x2Mul(x, V.and(V.f64x2Ge(V.f64x2Abs(x), get(flush2)), one2));
  fn.set(n4, I32.and(get(count), i32(-4)));
  fn.for(i, i32(0), get(n4), 4, () => {
    fn.set(w4, V.load(get(w))).set(g4, V.load(get(g))).set(b4, V.load(get(buf)));
    fn.set(wLo, V.f64x2PromoteLow(get(w4))).set(wHi, V.f64x2PromoteLow(V.high(get(w4))));
    fn.set(gLo, V.f64x2Add(V.f64x2PromoteLow(get(g4)), V.f64x2Mul(get(wd2), get(wLo))));
    fn.set(gHi, V.f64x2Add(V.f64x2PromoteLow(V.high(get(g4))), V.f64x2Mul(get(wd2), get(wHi))));
    fn.set(bLo, flushed(V.f64x2Add(V.f64x2Mul(get(keep2), V.f64x2PromoteLow(get(b4))), V.f64x2Mul(get(gain2), get(gLo)))));
    fn.set(bHi, flushed(V.f64x2Add(V.f64x2Mul(get(keep2), V.f64x2PromoteLow(V.high(get(b4)))), V.f64x2Mul(get(gain2), get(gHi)))));
    fn.emit(V.store(get(buf), V.lowLow(V.f32x4DemoteZero(get(bLo)), V.f32x4DemoteZero(get(bHi)))));
    fn.if(get(nesterov), () => {
      fn.set(bLo, V.f64x2Add(get(gLo), V.f64x2Mul(get(mu2), get(bLo)))).set(bHi, V.f64x2Add(get(gHi), V.f64x2Mul(get(mu2), get(bHi))));
    });
    fn.emit(V.store(get(w), V.lowLow(V.f32x4DemoteZero(V.f64x2Sub(get(wLo), V.f64x2Mul(get(lr2), get(bLo)))), V.f32x4DemoteZero(V.f64x2Sub(get(wHi), V.f64x2Mul(get(lr2), get(bHi)))))));
    fn.inc(w, 16).inc(g, 16).inc(buf, 16);
  });
  fn.for(i, get(n4), get(count), 1, () => {
    fn.set(wi, F64.promote(F32.load(get(w))));
    fn.set(gi, F64.add(F64.promote(F32.load(get(g))), F64.mul(get(wd), get(wi))));
    fn.set(b, F64.add(F64.mul(get(keep), F64.promote(F32.load(get(buf)))), F64.mul(get(gain), get(gi))));
    fn.set(b, F64.mul(get(b), I32.select(F64.const(1), F64.const(0), F64.ge(F64.abs(get(b)), get(flush)))));
    fn.emit(F32.store(get(buf), F32.demote(get(b))));
    fn.if(get(nesterov), () => fn.set(b, F64.add(get(gi), F64.mul(get(mu), get(b)))));
    fn.emit(F32.store(get(w), F32.demote(F64.sub(get(wi), F64.mul(get(lr), get(b))))));
    fn.inc(w, 4).inc(g, 4).inc(buf, 4);
  });
  return fn.build();
}
