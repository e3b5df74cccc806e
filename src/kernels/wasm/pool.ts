/**
 * Max pooling, generated at run time: the window's largest value and where it was (forward), and
 * the gradient routed back to it (backward), as the reference kernels compute them
 * (`../reference.ts`): windows scanned row by row, a value taking over only when strictly larger
 * (the first of equal values wins; a NaN never takes over, unless it comes first), the padding
 * never read. Each takes a range of planes (sample, channel); a window stays inside its plane, so
 * threads share a call by planes. Indices are of float32 elements of x, as an Int32Array holds them.
 *
 * The geometry block at byte `geo` is that of the convolution kernels (`conv.ts`, {@link GEO}).
 */
import type { WasmFunction } from './assembler.js';
import { GEO } from './conv.js';
import { F32, Fn, I32, get, i32, type Code, type Local } from './builder.js';

const at32 = (base: Local, index: Code): Code => I32.add(get(base), I32.shl(index, i32(2)));

/** `maxPool(x, y, argmax, geo, from, to)`: planes `from` … `to − 1` of `[n·c, h, w]` into `[n·c, oh, ow]`. */
export function maxPool(): WasmFunction {
  const fn = new Fn('maxPool', ['x', 'y', 'argmax', 'geo', 'from', 'to']);
  const [x, y, argmax, geo, from, to] = fn.ps('x', 'y', 'argmax', 'geo', 'from', 'to');
  const g = Object.fromEntries(GEO.map((name, i) => {
    const l = fn.local('i32');
    fn.set(l, I32.load(get(geo), 4 * i));
    return [name, l];
  })) as Record<(typeof GEO)[number], Local>;
  const [plane, base, o, oy, ox, ky, kx, iy, ix, best] = Array.from({ length: 10 }, () => fn.local('i32'));
  const [bestValue, v] = [fn.local('f32'), fn.local('f32')];
  fn.for(plane, get(from), get(to), 1, () => {
    fn.set(base, I32.mul(get(plane), I32.mul(get(g.h), get(g.w))));
    fn.set(o, I32.mul(get(plane), I32.mul(get(g.oh), get(g.ow))));
    fn.for(oy, i32(0), get(g.oh), 1, () => {
      fn.for(ox, i32(0), get(g.ow), 1, () => {
        fn.set(best, i32(-1)).set(bestValue, F32.const(-Infinity));
        fn.for(ky, i32(0), get(g.kh), 1, () => {
          fn.set(iy, I32.add(I32.sub(I32.mul(get(oy), get(g.sh)), get(g.ph)), get(ky)));
          fn.if(I32.and(I32.geS(get(iy), i32(0)), I32.ltS(get(iy), get(g.h))), () => {
            fn.for(kx, i32(0), get(g.kw), 1, () => {
              fn.set(ix, I32.add(I32.sub(I32.mul(get(ox), get(g.sw)), get(g.pw)), get(kx)));
              fn.if(I32.and(I32.geS(get(ix), i32(0)), I32.ltS(get(ix), get(g.w))), () => {
                fn.set(v, F32.load(at32(x, I32.add(get(base), I32.add(I32.mul(get(iy), get(g.w)), get(ix))))));
                fn.if(I32.or(F32.gt(get(v), get(bestValue)), I32.ltS(get(best), i32(0))), () => {
                  fn.set(bestValue, get(v)).set(best, I32.add(get(base), I32.add(I32.mul(get(iy), get(g.w)), get(ix))));
                });
              });
            });
          });
        });
        fn.emit(F32.store(at32(y, get(o)), get(bestValue)), I32.store(at32(argmax, get(o)), get(best)));
        fn.inc(o);
      });
    });
  });
  return fn.build();
}

/**
 * `maxPoolBackward(dy, argmax, dx, planeIn, planeOut, from, to)`: for planes `from` … `to − 1`,
 * dx set to zeros, then `dx[argmax[o]] += dy[o]` in the order of the outputs o.
 */
export function maxPoolBackward(): WasmFunction {
  const fn = new Fn('maxPoolBackward', ['dy', 'argmax', 'dx', 'planeIn', 'planeOut', 'from', 'to']);
  const [dy, argmax, dx, planeIn, planeOut, from, to] = fn.ps('dy', 'argmax', 'dx', 'planeIn', 'planeOut', 'from', 'to');
  const [p, end, o, t] = Array.from({ length: 4 }, () => fn.local('i32'));
  fn.set(p, at32(dx, I32.mul(get(from), get(planeIn))));
  fn.set(end, at32(dx, I32.mul(get(to), get(planeIn))));
  fn.while(I32.ltU(get(p), get(end)), () => fn.emit(I32.store(get(p), i32(0))).inc(p, 4));
  fn.for(o, I32.mul(get(from), get(planeOut)), I32.mul(get(to), get(planeOut)), 1, () => {
    fn.set(t, at32(dx, I32.load(at32(argmax, get(o)))));
    fn.emit(F32.store(get(t), F32.add(F32.load(get(t)), F32.load(at32(dy, get(o))))));
  });
  return fn.build();
}
