/**
 * Batch normalisation's loops, generated at run time, in float64 arithmetic over float32 values
 * exactly as the reference kernels compute them (`../reference.ts`): the per-channel sums are
 * chains of float64 additions in the order (sample, position), two channels' chains side by side;
 * every element-wise formula is evaluated in float64 (two values at a time, in f64x2 lanes) and
 * rounded to float32 once, when stored. Each takes a range of channels, so threads share a call by
 * channels and every sum keeps its order.
 *
 * Layout: `[n, c, s]` (s = H·W, or 1 for `[N, C]`); per-channel statistics are float64 arrays.
 */
import type { WasmFunction } from './assembler.js';
import { F32, F64, Fn, I32, V, get, i32, type Code, type Local } from './builder.js';

const at32 = (base: Local, index: Code): Code => I32.add(get(base), I32.shl(index, i32(2)));
const at64 = (base: Local, index: Code): Code => I32.add(get(base), I32.shl(index, i32(3)));
const x64 = (addr: Code): Code => F64.promote(F32.load(addr));

/**
 * For the channels `ch` (and `ch + 1` when `pair`) of a range, `p` walks the addresses of channel
 * ch's values in order: for every sample i, the s values at `base + 4·((i·c + ch)·s)`; channel
 * ch + 1's value is s values on. `body(p)` runs once per value.
 */
function overChannel(fn: Fn, base: Local, ch: Local, n: Local, c: Local, s: Local, body: (p: Local) => void): void {
  const [i, p, end] = [fn.local('i32'), fn.local('i32'), fn.local('i32')];
  fn.for(i, i32(0), get(n), 1, () => {
    fn.set(p, at32(base, I32.mul(I32.add(I32.mul(get(i), get(c)), get(ch)), get(s))));
    fn.set(end, I32.add(get(p), I32.shl(get(s), i32(2))));
    fn.while(I32.ltU(get(p), get(end)), () => {
      body(p);
      fn.inc(p, 4);
    });
  });
}

/**
 * For each channel ch of [from, to): `body(ch, pair)` with `pair` the code of an i32 that is 1 when
 * channels ch and ch + 1 go together (both in the range), after which ch moves on by 2, else 0.
 */
function channelPairs(fn: Fn, from: Local, to: Local, ch: Local, body: (pair: boolean) => void): void {
  fn.set(ch, get(from));
  fn.while(I32.ltU(I32.add(get(ch), i32(1)), get(to)), () => {
    body(true);
    fn.inc(ch, 2);
  });
  fn.if(I32.ltU(get(ch), get(to)), () => body(false));
}

/**
 * For `[N, C]` inputs (s = 1) the values of one channel are c apart, and four neighbouring
 * channels are contiguous. `acrossChannels` runs over the rows i and, in each, over the range's
 * channels: `vector(i, ch)` for each group of four, lanes being channels ch … ch + 3, then
 * `scalar(i, ch)` for those left over. (Element-wise formulas only: each value its own.)
 */
function acrossChannels(fn: Fn, n: Local, from: Local, to: Local, vector: (i: Local, ch: Local) => void, scalar: (i: Local, ch: Local) => void): void {
  const [i, ch, to4] = [fn.local('i32'), fn.local('i32'), fn.local('i32')];
  fn.set(to4, I32.add(get(from), I32.and(I32.sub(get(to), get(from)), i32(-4))));
  fn.for(i, i32(0), get(n), 1, () => {
    fn.for(ch, get(from), get(to4), 4, () => vector(i, ch));
    fn.for(ch, get(to4), get(to), 1, () => scalar(i, ch));
  });
}

/**
 * For `[N, C]` inputs (s = 1), the per-channel chains of `sums` four channels at a time: for each
 * group ch … ch + 3 of the range, `init(ch)`, then `step(row, ch)` for every row in order (row: the
 * byte offset of the group's values in that row), then `done(ch)`; the channels left over one at a
 * time through the scalar path of the caller.
 */
function channelGroups(fn: Fn, n: Local, c: Local, from: Local, to: Local, init: (ch: Local) => void, step: (row: Local) => void, done: (ch: Local) => void): Local {
  const [i, ch, to4, row] = [fn.local('i32'), fn.local('i32'), fn.local('i32'), fn.local('i32')];
  fn.set(to4, I32.add(get(from), I32.and(I32.sub(get(to), get(from)), i32(-4))));
  fn.for(ch, get(from), get(to4), 4, () => {
    init(ch);
    fn.for(i, i32(0), get(n), 1, () => {
      fn.set(row, I32.shl(I32.add(I32.mul(get(i), get(c)), get(ch)), i32(2)));
      step(row);
    });
    done(ch);
  });
  return to4;
}

/** The two f64x2 halves of four float32 lanes, promoted. */
const halves = (v: Code): [Code, Code] => [V.f64x2PromoteLow(v), V.f64x2PromoteLow(V.high(v))];
/** Two f64x2 halves rounded to float32 and joined into four lanes. */
const join = (lo: Code, hi: Code): Code => V.lowLow(V.f32x4DemoteZero(lo), V.f32x4DemoteZero(hi));

/**
 * `bnSums(x, out, n, c, s, mean, from, to)`: per channel, `out[ch] = Σ x` (mean = 0) or
 * `Σ (x − mean[ch])²` (mean: a float64 array), each a chain of float64 additions.
 */
export function bnSums(): WasmFunction {
  const fn = new Fn('bnSums', ['x', 'out', 'n', 'c', 's', 'mean', 'from', 'to']);
  const [x, out, n, c, s, mean, from, to] = fn.ps('x', 'out', 'n', 'c', 's', 'mean', 'from', 'to');
  const [ch, plane, rest] = [fn.local('i32'), fn.local('i32'), fn.local('i32')];
  const [t0, t1, mu0, mu1, d] = Array.from({ length: 5 }, () => fn.local('f64'));
  const [tLo, tHi, muLo, muHi, v, dv] = Array.from({ length: 6 }, () => fn.local('v128'));
  fn.set(plane, I32.shl(get(s), i32(2)));
  fn.set(rest, get(from));
  fn.if(I32.eq(get(s), i32(1)), () => {
    // [N, C]: four channels' chains in the lanes of two f64x2 accumulators
    const to4 = channelGroups(fn, n, c, from, to,
      (g) => {
        fn.set(tLo, V.f64x2Splat(F64.const(0))).set(tHi, V.f64x2Splat(F64.const(0)));
        fn.if(get(mean), () => fn.set(muLo, V.load(at64(mean, get(g)))).set(muHi, V.load(at64(mean, get(g)), 16)));
      },
      (row) => {
        fn.set(v, V.load(I32.add(get(x), get(row))));
        const [lo, hi] = halves(get(v));
        fn.if(get(mean), () => {
          fn.set(dv, V.f64x2Sub(lo, get(muLo))).set(tLo, V.f64x2Add(get(tLo), V.f64x2Mul(get(dv), get(dv))));
          fn.set(dv, V.f64x2Sub(hi, get(muHi))).set(tHi, V.f64x2Add(get(tHi), V.f64x2Mul(get(dv), get(dv))));
        }, () => fn.set(tLo, V.f64x2Add(get(tLo), lo)).set(tHi, V.f64x2Add(get(tHi), hi)));
      },
      (g) => fn.emit(V.store(at64(out, get(g)), get(tLo)), V.store(at64(out, get(g)), get(tHi), 16)));
    fn.set(rest, get(to4));
  });
  channelPairs(fn, rest, to, ch, (pair) => {
    fn.set(t0, F64.const(0)).set(t1, F64.const(0));
    fn.if(get(mean), () => {
      fn.set(mu0, F64.load(at64(mean, get(ch))));
      if (pair) fn.set(mu1, F64.load(at64(mean, get(ch)), 8));
      overChannel(fn, x, ch, n, c, s, (p) => {
        fn.set(d, F64.sub(x64(get(p)), get(mu0))).set(t0, F64.add(get(t0), F64.mul(get(d), get(d))));
        if (pair) fn.set(d, F64.sub(x64(I32.add(get(p), get(plane))), get(mu1))).set(t1, F64.add(get(t1), F64.mul(get(d), get(d))));
      });
    }, () => {
      overChannel(fn, x, ch, n, c, s, (p) => {
        fn.set(t0, F64.add(get(t0), x64(get(p))));
        if (pair) fn.set(t1, F64.add(get(t1), x64(I32.add(get(p), get(plane)))));
      });
    });
    fn.emit(F64.store(at64(out, get(ch)), get(t0)));
    if (pair) fn.emit(F64.store(at64(out, get(ch)), get(t1), 8));
  });
  return fn.build();
}

/**
 * Runs over each (sample, channel) plane of the range: `vector(p, offset)` for four values at a
 * time from p (offset: p's distance in bytes from x's plane start, for the other arrays), then
 * `scalar(p, offset)` for the rest.
 */
function overPlanes(fn: Fn, x: Local, ch: Local, n: Local, c: Local, s: Local, offset: Local, vector: (p: Local) => void, scalar: (p: Local) => void): void {
  const [i, p, end, end4] = [fn.local('i32'), fn.local('i32'), fn.local('i32'), fn.local('i32')];
  fn.for(i, i32(0), get(n), 1, () => {
    fn.set(p, at32(x, I32.mul(I32.add(I32.mul(get(i), get(c)), get(ch)), get(s))));
    fn.set(end, I32.add(get(p), I32.shl(get(s), i32(2))));
    fn.set(end4, I32.add(get(p), I32.shl(I32.and(get(s), i32(-4)), i32(2))));
    fn.while(I32.ltU(get(p), get(end4)), () => {
      fn.set(offset, I32.sub(get(p), get(x)));
      vector(p);
      fn.inc(p, 16);
    });
    fn.while(I32.ltU(get(p), get(end)), () => {
      fn.set(offset, I32.sub(get(p), get(x)));
      scalar(p);
      fn.inc(p, 4);
    });
  });
}

/** Four float32 values computed as two f64x2 halves by `f` (given each half, promoted) and stored, each rounded once, at `addr`. */
const storeFour = (addr: Code, v: Code, f: (half: Code) => Code): Code =>
  V.store(addr, V.lowLow(V.f32x4DemoteZero(f(V.f64x2PromoteLow(v))), V.f32x4DemoteZero(f(V.f64x2PromoteLow(V.high(v))))));

/**
 * `bnNormalize(x, xhat, y, n, c, s, mean, invStd, gamma, beta, from, to)`: `h = (x − μ)·(1/σ)`,
 * `x̂ = h`, `y = γ·h + β` (float64, each stored as float32).
 */
export function bnNormalize(): WasmFunction {
  const fn = new Fn('bnNormalize', ['x', 'xhat', 'y', 'n', 'c', 's', 'mean', 'invStd', 'gamma', 'beta', 'from', 'to']);
  const [x, xhat, y, n, c, s, mean, invStd, gamma, beta, from, to] = fn.ps('x', 'xhat', 'y', 'n', 'c', 's', 'mean', 'invStd', 'gamma', 'beta', 'from', 'to');
  const [ch, offset] = [fn.local('i32'), fn.local('i32')];
  const [mu, is, gm, bt, h] = Array.from({ length: 5 }, () => fn.local('f64'));
  const [mu2, is2, gm2, bt2, v] = Array.from({ length: 5 }, () => fn.local('v128'));
  const normalized = (half: Code): Code => V.f64x2Mul(V.f64x2Sub(half, get(mu2)), get(is2));
  const [p, muL, muH, isL, isH, gmL, gmH, btL, btH, hL, hH] = [fn.local('i32'), ...Array.from({ length: 10 }, () => fn.local('v128'))];
  fn.if(I32.eq(get(s), i32(1)), () => {
    // [N, C]: lanes are four neighbouring channels, each with its own statistics
    acrossChannels(fn, n, from, to, (i, c4) => {
      fn.set(p, I32.shl(I32.add(I32.mul(get(i), get(c)), get(c4)), i32(2)));
      fn.set(muL, V.load(at64(mean, get(c4)))).set(muH, V.load(at64(mean, get(c4)), 16));
      fn.set(isL, V.load(at64(invStd, get(c4)))).set(isH, V.load(at64(invStd, get(c4)), 16));
      const [gl, gh] = halves(V.load(at32(gamma, get(c4))));
      const [bl, bh] = halves(V.load(at32(beta, get(c4))));
      fn.set(gmL, gl).set(gmH, gh).set(btL, bl).set(btH, bh);
      const [xl, xh] = halves(V.load(I32.add(get(x), get(p))));
      fn.set(hL, V.f64x2Mul(V.f64x2Sub(xl, get(muL)), get(isL))).set(hH, V.f64x2Mul(V.f64x2Sub(xh, get(muH)), get(isH)));
      fn.emit(V.store(I32.add(get(xhat), get(p)), join(get(hL), get(hH))));
      fn.emit(V.store(I32.add(get(y), get(p)), join(V.f64x2Add(V.f64x2Mul(get(gmL), get(hL)), get(btL)), V.f64x2Add(V.f64x2Mul(get(gmH), get(hH)), get(btH)))));
    }, (i, c1) => {
      fn.set(p, I32.shl(I32.add(I32.mul(get(i), get(c)), get(c1)), i32(2)));
      fn.set(h, F64.mul(F64.sub(x64(I32.add(get(x), get(p))), F64.load(at64(mean, get(c1)))), F64.load(at64(invStd, get(c1)))));
      fn.emit(F32.store(I32.add(get(xhat), get(p)), F32.demote(get(h))));
      fn.emit(F32.store(I32.add(get(y), get(p)), F32.demote(F64.add(F64.mul(x64(at32(gamma, get(c1))), get(h)), x64(at32(beta, get(c1)))))));
    });
    fn.emit([0x0f]); // return
  });
  fn.for(ch, get(from), get(to), 1, () => {
    fn.set(mu, F64.load(at64(mean, get(ch)))).set(is, F64.load(at64(invStd, get(ch))));
    fn.set(gm, x64(at32(gamma, get(ch)))).set(bt, x64(at32(beta, get(ch))));
    fn.set(mu2, V.f64x2Splat(get(mu))).set(is2, V.f64x2Splat(get(is))).set(gm2, V.f64x2Splat(get(gm))).set(bt2, V.f64x2Splat(get(bt)));
    overPlanes(fn, x, ch, n, c, s, offset, (p) => {
      fn.set(v, V.load(get(p)));
      fn.emit(storeFour(I32.add(get(xhat), get(offset)), get(v), normalized));
      fn.emit(storeFour(I32.add(get(y), get(offset)), get(v), (half) => V.f64x2Add(V.f64x2Mul(get(gm2), normalized(half)), get(bt2))));
    }, (p) => {
      fn.set(h, F64.mul(F64.sub(x64(get(p)), get(mu)), get(is)));
      fn.emit(F32.store(I32.add(get(xhat), get(offset)), F32.demote(get(h))));
      fn.emit(F32.store(I32.add(get(y), get(offset)), F32.demote(F64.add(F64.mul(get(gm), get(h)), get(bt)))));
    });
  });
  return fn.build();
}

/** `bnGradSums(dy, xhat, sumDy, sumDyXhat, n, c, s, from, to)`: per channel, `Σ dy` and `Σ dy·x̂` (float64 chains). */
export function bnGradSums(): WasmFunction {
  const fn = new Fn('bnGradSums', ['dy', 'xhat', 'sumDy', 'sumDyXhat', 'n', 'c', 's', 'from', 'to']);
  const [dy, xhat, sumDy, sumDyXhat, n, c, s, from, to] = fn.ps('dy', 'xhat', 'sumDy', 'sumDyXhat', 'n', 'c', 's', 'from', 'to');
  const [ch, plane, h, rest] = [fn.local('i32'), fn.local('i32'), fn.local('i32'), fn.local('i32')];
  const [a0, b0, a1, b1, g] = Array.from({ length: 5 }, () => fn.local('f64'));
  const [aLo, aHi, bLo, bHi, gv, hv] = Array.from({ length: 6 }, () => fn.local('v128'));
  fn.set(plane, I32.shl(get(s), i32(2)));
  fn.set(rest, get(from));
  fn.if(I32.eq(get(s), i32(1)), () => {
    // [N, C]: four channels' four chains (Σ dy and Σ dy·x̂ per lane) in four f64x2 accumulators
    const to4 = channelGroups(fn, n, c, from, to,
      () => fn.set(aLo, V.f64x2Splat(F64.const(0))).set(aHi, V.f64x2Splat(F64.const(0))).set(bLo, V.f64x2Splat(F64.const(0))).set(bHi, V.f64x2Splat(F64.const(0))),
      (row) => {
        fn.set(gv, V.load(I32.add(get(dy), get(row)))).set(hv, V.load(I32.add(get(xhat), get(row))));
        const [gLo, gHi] = halves(get(gv));
        const [hLo, hHi] = halves(get(hv));
        fn.set(aLo, V.f64x2Add(get(aLo), gLo)).set(aHi, V.f64x2Add(get(aHi), gHi));
        fn.set(bLo, V.f64x2Add(get(bLo), V.f64x2Mul(gLo, hLo))).set(bHi, V.f64x2Add(get(bHi), V.f64x2Mul(gHi, hHi)));
      },
      (g4) => fn.emit(V.store(at64(sumDy, get(g4)), get(aLo)), V.store(at64(sumDy, get(g4)), get(aHi), 16), V.store(at64(sumDyXhat, get(g4)), get(bLo)), V.store(at64(sumDyXhat, get(g4)), get(bHi), 16)));
    fn.set(rest, get(to4));
  });
  channelPairs(fn, rest, to, ch, (pair) => {
    fn.set(a0, F64.const(0)).set(b0, F64.const(0)).set(a1, F64.const(0)).set(b1, F64.const(0));
    overChannel(fn, dy, ch, n, c, s, (p) => {
      fn.set(h, I32.add(get(xhat), I32.sub(get(p), get(dy))));
      fn.set(g, x64(get(p)));
      fn.set(a0, F64.add(get(a0), get(g))).set(b0, F64.add(get(b0), F64.mul(get(g), x64(get(h)))));
      if (pair) {
        fn.set(g, x64(I32.add(get(p), get(plane))));
        fn.set(a1, F64.add(get(a1), get(g))).set(b1, F64.add(get(b1), F64.mul(get(g), x64(I32.add(get(h), get(plane))))));
      }
    });
    fn.emit(F64.store(at64(sumDy, get(ch)), get(a0)), F64.store(at64(sumDyXhat, get(ch)), get(b0)));
    if (pair) fn.emit(F64.store(at64(sumDy, get(ch)), get(a1), 8), F64.store(at64(sumDyXhat, get(ch)), get(b1), 8));
  });
  return fn.build();
}

/**
 * `bnInputGrad(dy, xhat, dx, n, c, s, v, invStd, meanG, meanGXhat, from, to)`:
 * `dx = (dy·v − meanG − x̂·meanGXhat)·(1/σ)` per channel (v float32; the rest float64 arrays).
 */
export function bnInputGrad(): WasmFunction {
  const fn = new Fn('bnInputGrad', ['dy', 'xhat', 'dx', 'n', 'c', 's', 'v', 'invStd', 'meanG', 'meanGXhat', 'from', 'to']);
  const [dy, xhat, dx, n, c, s, v, invStd, meanG, meanGXhat, from, to] = fn.ps('dy', 'xhat', 'dx', 'n', 'c', 's', 'v', 'invStd', 'meanG', 'meanGXhat', 'from', 'to');
  const [ch, offset] = [fn.local('i32'), fn.local('i32')];
  const [vc, is, mg, mgx] = Array.from({ length: 4 }, () => fn.local('f64'));
  const [vc2, is2, mg2, mgx2, g4, h4] = Array.from({ length: 6 }, () => fn.local('v128'));
  const p = fn.local('i32');
  fn.if(I32.eq(get(s), i32(1)), () => {
    // [N, C]: lanes are four neighbouring channels, each with its own v, 1/σ and means
    acrossChannels(fn, n, from, to, (i, c4) => {
      fn.set(p, I32.shl(I32.add(I32.mul(get(i), get(c)), get(c4)), i32(2)));
      const [vl, vh] = halves(V.load(at32(v, get(c4))));
      const [gl, gh] = halves(V.load(I32.add(get(dy), get(p))));
      const [hl, hh] = halves(V.load(I32.add(get(xhat), get(p))));
      const half = (g: Code, vv: Code, hx: Code, k: number): Code =>
        V.f64x2Mul(V.f64x2Sub(V.f64x2Sub(V.f64x2Mul(g, vv), V.load(at64(meanG, get(c4)), 16 * k)), V.f64x2Mul(hx, V.load(at64(meanGXhat, get(c4)), 16 * k))), V.load(at64(invStd, get(c4)), 16 * k));
      fn.emit(V.store(I32.add(get(dx), get(p)), join(half(gl, vl, hl, 0), half(gh, vh, hh, 1))));
    }, (i, c1) => {
      fn.set(p, I32.shl(I32.add(I32.mul(get(i), get(c)), get(c1)), i32(2)));
      const value = F64.mul(F64.sub(F64.sub(F64.mul(x64(I32.add(get(dy), get(p))), x64(at32(v, get(c1)))), F64.load(at64(meanG, get(c1)))), F64.mul(x64(I32.add(get(xhat), get(p))), F64.load(at64(meanGXhat, get(c1))))), F64.load(at64(invStd, get(c1))));
      fn.emit(F32.store(I32.add(get(dx), get(p)), F32.demote(value)));
    });
    fn.emit([0x0f]); // return
  });
  fn.for(ch, get(from), get(to), 1, () => {
    fn.set(vc, x64(at32(v, get(ch)))).set(is, F64.load(at64(invStd, get(ch))));
    fn.set(mg, F64.load(at64(meanG, get(ch)))).set(mgx, F64.load(at64(meanGXhat, get(ch))));
    fn.set(vc2, V.f64x2Splat(get(vc))).set(is2, V.f64x2Splat(get(is))).set(mg2, V.f64x2Splat(get(mg))).set(mgx2, V.f64x2Splat(get(mgx)));
    overPlanes(fn, dy, ch, n, c, s, offset, (p) => {
      fn.set(g4, V.load(get(p))).set(h4, V.load(I32.add(get(xhat), get(offset))));
      // lanes 0, 1 of dy and x̂ together, then lanes 2, 3
      const lo = V.f64x2Mul(V.f64x2Sub(V.f64x2Sub(V.f64x2Mul(V.f64x2PromoteLow(get(g4)), get(vc2)), get(mg2)), V.f64x2Mul(V.f64x2PromoteLow(get(h4)), get(mgx2))), get(is2));
      const hi = V.f64x2Mul(V.f64x2Sub(V.f64x2Sub(V.f64x2Mul(V.f64x2PromoteLow(V.high(get(g4))), get(vc2)), get(mg2)), V.f64x2Mul(V.f64x2PromoteLow(V.high(get(h4))), get(mgx2))), get(is2));
      fn.emit(V.store(I32.add(get(dx), get(offset)), V.lowLow(V.f32x4DemoteZero(lo), V.f32x4DemoteZero(hi))));
    }, (p) => {
      const value = F64.mul(F64.sub(F64.sub(F64.mul(x64(get(p)), get(vc)), get(mg)), F64.mul(x64(I32.add(get(xhat), get(offset))), get(mgx))), get(is));
      fn.emit(F32.store(I32.add(get(dx), get(offset)), F32.demote(value)));
    });
  });
  return fn.build();
}
