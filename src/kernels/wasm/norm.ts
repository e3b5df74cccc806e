/**
 * Batch normalisation's loops, generated at run time, in float64 arithmetic over float32 values
 * exactly as the reference kernels compute them (`../reference.ts`): the per-channel sums are
 * chains of float64 additions in the order (sample, position), and every element-wise formula is
 * evaluated in float64 and rounded to float32 once, when stored. Each takes a range of channels,
 * so threads share a call by channels and every sum keeps its order.
 *
 * Layout: `[n, c, s]` (s = H·W, or 1 for `[N, C]`); per-channel statistics are float64 arrays.
 */
import type { WasmFunction } from './assembler.js';
import { F32, F64, Fn, I32, get, i32, type Code, type Local } from './builder.js';

const at32 = (base: Local, index: Code): Code => I32.add(get(base), I32.shl(index, i32(2)));
const at64 = (base: Local, index: Code): Code => I32.add(get(base), I32.shl(index, i32(3)));
const x64 = (addr: Code): Code => F64.promote(F32.load(addr));

/**
 * For each channel `ch` of the range, `p` walks the addresses of its values in order: for every
 * sample i, the s values at `base + 4·((i·c + ch)·s)`. `body(p)` runs once per value.
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
 * `bnSums(x, out, n, c, s, mean, from, to)`: per channel, `out[ch] = Σ x` (mean = 0) or
 * `Σ (x − mean[ch])²` (mean: a float64 array), each a chain of float64 additions.
 */
export function bnSums(): WasmFunction {
  const fn = new Fn('bnSums', ['x', 'out', 'n', 'c', 's', 'mean', 'from', 'to']);
  const [x, out, n, c, s, mean, from, to] = fn.ps('x', 'out', 'n', 'c', 's', 'mean', 'from', 'to');
  const ch = fn.local('i32');
  const [t, mu, d] = [fn.local('f64'), fn.local('f64'), fn.local('f64')];
  fn.for(ch, get(from), get(to), 1, () => {
    fn.set(t, F64.const(0));
    fn.if(get(mean), () => {
      fn.set(mu, F64.load(at64(mean, get(ch))));
      overChannel(fn, x, ch, n, c, s, (p) => fn.set(d, F64.sub(x64(get(p)), get(mu))).set(t, F64.add(get(t), F64.mul(get(d), get(d)))));
    }, () => {
      overChannel(fn, x, ch, n, c, s, (p) => fn.set(t, F64.add(get(t), x64(get(p)))));
    });
    fn.emit(F64.store(at64(out, get(ch)), get(t)));
  });
  return fn.build();
}

/**
 * `bnNormalize(x, xhat, y, n, c, s, mean, invStd, gamma, beta, from, to)`: `h = (x − μ)·(1/σ)`,
 * `x̂ = h`, `y = γ·h + β` (float64, each stored as float32).
 */
export function bnNormalize(): WasmFunction {
  const fn = new Fn('bnNormalize', ['x', 'xhat', 'y', 'n', 'c', 's', 'mean', 'invStd', 'gamma', 'beta', 'from', 'to']);
  const [x, xhat, y, n, c, s, mean, invStd, gamma, beta, from, to] = fn.ps('x', 'xhat', 'y', 'n', 'c', 's', 'mean', 'invStd', 'gamma', 'beta', 'from', 'to');
  const [ch, offset] = [fn.local('i32'), fn.local('i32')];
  const [mu, is, gm, bt, h] = Array.from({ length: 5 }, () => fn.local('f64'));
  fn.for(ch, get(from), get(to), 1, () => {
    fn.set(mu, F64.load(at64(mean, get(ch)))).set(is, F64.load(at64(invStd, get(ch))));
    fn.set(gm, x64(at32(gamma, get(ch)))).set(bt, x64(at32(beta, get(ch))));
    overChannel(fn, x, ch, n, c, s, (p) => {
      fn.set(offset, I32.sub(get(p), get(x)));
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
  const ch = fn.local('i32');
  const [a, b, g] = [fn.local('f64'), fn.local('f64'), fn.local('f64')];
  fn.for(ch, get(from), get(to), 1, () => {
    fn.set(a, F64.const(0)).set(b, F64.const(0));
    overChannel(fn, dy, ch, n, c, s, (p) => {
      fn.set(g, x64(get(p)));
      fn.set(a, F64.add(get(a), get(g)));
      fn.set(b, F64.add(get(b), F64.mul(get(g), x64(I32.add(get(xhat), I32.sub(get(p), get(dy)))))));
    });
    fn.emit(F64.store(at64(sumDy, get(ch)), get(a)), F64.store(at64(sumDyXhat, get(ch)), get(b)));
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
  fn.for(ch, get(from), get(to), 1, () => {
    fn.set(vc, x64(at32(v, get(ch)))).set(is, F64.load(at64(invStd, get(ch))));
    fn.set(mg, F64.load(at64(meanG, get(ch)))).set(mgx, F64.load(at64(meanGXhat, get(ch))));
    overChannel(fn, dy, ch, n, c, s, (p) => {
      fn.set(offset, I32.sub(get(p), get(dy)));
      const value = F64.mul(F64.sub(F64.sub(F64.mul(x64(get(p)), get(vc)), get(mg)), F64.mul(x64(I32.add(get(xhat), get(offset))), get(mgx))), get(is));
      fn.emit(F32.store(I32.add(get(dx), get(offset)), F32.demote(value)));
    });
  });
  return fn.build();
}
