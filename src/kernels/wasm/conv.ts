/**
 * The convolution's rearrangements, generated at run time: im2col and its adjoint col2im, the
 * changes of layout between NCHW and positions-as-rows, and the per-channel sums of the bias
 * gradient. They compute what the reference kernels (`../reference.ts`) compute, with the same
 * copies, and the same additions in the same order onto every value, so their results are the same
 * to the bit; each takes a range of samples (or channels) so that threads can share one call.
 *
 * The patch matrix is kept transposed, Pᵀ (`[c·kh·kw, n·oh·ow]`): a row per (channel, ky, kx),
 * along which consecutive output columns of a stride-1 convolution read consecutive input pixels,
 * so im2col copies and col2im adds four values at a time.
 *
 * The window geometry comes as a block of i32 at byte `geo` (see {@link GEO}), followed by the
 * range of output columns whose window column kx lands inside the image (`ox0`, then `ox1`, `kw`
 * values each).
 */
import type { WasmFunction } from './assembler.js';
import { F32, Fn, I32, V, get, i32, type Code, type Local } from './builder.js';

/** The geometry block's fields, in order (i32 each); `ox0` and `ox1` follow, `kw` values each. */
export const GEO = ['c', 'h', 'w', 'kh', 'kw', 'sh', 'sw', 'ph', 'pw', 'oh', 'ow'] as const;

/** Loads the geometry's fields into locals of `fn`. */
function geometry(fn: Fn, geo: Local): Record<(typeof GEO)[number], Local> {
  const g = {} as Record<(typeof GEO)[number], Local>;
  GEO.forEach((name, i) => {
    g[name] = fn.local('i32');
    fn.set(g[name], I32.load(get(geo), 4 * i));
  });
  return g;
}

const bytes = (x: Code): Code => I32.shl(x, i32(2));
/** `base + 4·index`: the address of a float32. */
const at = (base: Local, index: Code): Code => I32.add(get(base), bytes(index));

/**
 * For one row of the patch matrix (channel ch, window offset ky, kx) and one output row oy of a
 * sample: `pixel`, the address of the input pixel under output column 0 (were it inside), `row`,
 * the address of the patch value of output column 0, and `[lo, hi)`, the output columns whose
 * pixel is inside the image (empty when the input row is outside). Then `body` runs with them.
 */
function windowRow(fn: Fn, g: Record<(typeof GEO)[number], Local>, geo: Local, ky: Local, kx: Local, oy: Local, body: (lo: Local, hi: Local) => void): void {
  const [iy, lo, hi] = [fn.local('i32'), fn.local('i32'), fn.local('i32')];
  fn.set(iy, I32.add(I32.sub(I32.mul(get(oy), get(g.sh)), get(g.ph)), get(ky)));
  fn.set(lo, I32.load(at(geo, I32.add(i32(GEO.length), get(kx)))));
  fn.set(hi, I32.load(at(geo, I32.add(I32.add(i32(GEO.length), get(g.kw)), get(kx)))));
  fn.if(I32.or(I32.ltS(get(iy), i32(0)), I32.geS(get(iy), get(g.h))), () => fn.set(hi, get(lo)));
  body(lo, hi);
}

/**
 * `im2col(x, out, geo, rows, from, to)`: for samples `from` … `to − 1`, the columns of Pᵀ
 * (`[c·kh·kw, rows]`, rows = n·oh·ow) that hold their receptive fields: Pᵀ[(ch, ky, kx), (s, oy, ox)]
 * = x[s, ch, oy·sh − ph + ky, ox·sw − pw + kx], 0 in the padding. Copies are of the bits.
 */
export function im2col(): WasmFunction {
  const fn = new Fn('im2col', ['x', 'out', 'geo', 'rows', 'from', 'to']);
  const [x, out, geo, rows, from, to] = fn.ps('x', 'out', 'geo', 'rows', 'from', 'to');
  const g = geometry(fn, geo);
  const [s, ch, ky, kx, oy, ox, q, src, plane, p, run4] = Array.from({ length: 11 }, () => fn.local('i32'));
  fn.for(s, get(from), get(to), 1, () => {
    fn.set(p, i32(0));
    fn.for(ch, i32(0), get(g.c), 1, () => {
      fn.set(plane, at(x, I32.mul(I32.add(I32.mul(get(s), get(g.c)), get(ch)), I32.mul(get(g.h), get(g.w)))));
      fn.for(ky, i32(0), get(g.kh), 1, () => {
        fn.for(kx, i32(0), get(g.kw), 1, () => {
          // q: Pᵀ's value for (p, this sample's first output position)
          fn.set(q, at(out, I32.add(I32.mul(get(p), get(rows)), I32.mul(get(s), I32.mul(get(g.oh), get(g.ow))))));
          fn.for(oy, i32(0), get(g.oh), 1, () => {
            windowRow(fn, g, geo, ky, kx, oy, (lo, hi) => {
              // the pixel under output column ox is at plane + 4·(iy·w + ox·sw − pw + kx)
              fn.set(src, at(plane, I32.add(I32.mul(I32.add(I32.sub(I32.mul(get(oy), get(g.sh)), get(g.ph)), get(ky)), get(g.w)), I32.sub(get(kx), get(g.pw)))));
              fn.for(ox, i32(0), get(lo), 1, () => fn.emit(I32.store(at(q, get(ox)), i32(0))));
              fn.if(I32.eq(get(g.sw), i32(1)), () => {
                fn.set(run4, I32.add(get(lo), I32.and(I32.sub(get(hi), get(lo)), i32(-4))));
                fn.for(ox, get(lo), get(run4), 4, () => fn.emit(V.store(at(q, get(ox)), V.load(at(src, get(ox))))));
                fn.for(ox, get(run4), get(hi), 1, () => fn.emit(I32.store(at(q, get(ox)), I32.load(at(src, get(ox))))));
              }, () => {
                fn.for(ox, get(lo), get(hi), 1, () => fn.emit(I32.store(at(q, get(ox)), I32.load(at(src, I32.mul(get(ox), get(g.sw)))))));
              });
              fn.for(ox, get(hi), get(g.ow), 1, () => fn.emit(I32.store(at(q, get(ox)), i32(0))));
            });
            fn.inc(q, bytes(get(g.ow)));
          });
          fn.inc(p);
        });
      });
    });
  });
  return fn.build();
}

/**
 * `col2im(dp, ld, dx, geo, from, to)`: for samples `from` … `to − 1`, dx (`[n, c, h, w]`) set to
 * the sum, onto each pixel, of the entries of the transposed patch matrix copied from it (row p of
 * dPᵀ at `dp + p·ld`). Zeros first; then, per channel, the window offsets (ky, kx) from the last to
 * the first, each adding its row over the output positions: every pixel receives its terms in the
 * order of the output positions they come from (a later ky is an earlier output row), as the
 * reference kernel adds them.
 */
export function col2im(): WasmFunction {
  const fn = new Fn('col2im', ['dp', 'ld', 'dx', 'geo', 'from', 'to']);
  const [dp, ld, dx, geo, from, to] = fn.ps('dp', 'ld', 'dx', 'geo', 'from', 'to');
  const g = geometry(fn, geo);
  const [s, ch, ky, kx, oy, ox, q, t, plane, end, run4] = Array.from({ length: 11 }, () => fn.local('i32'));
  const add = (target: Code, source: Code): Code => F32.store(target, F32.add(F32.load(target), F32.load(source)));
  fn.for(s, get(from), get(to), 1, () => {
    fn.set(t, at(dx, I32.mul(get(s), I32.mul(get(g.c), I32.mul(get(g.h), get(g.w))))));
    fn.set(end, at(t, I32.mul(get(g.c), I32.mul(get(g.h), get(g.w)))));
    fn.while(I32.ltU(get(t), get(end)), () => fn.emit(I32.store(get(t), i32(0))).inc(t, 4));
    fn.for(ch, i32(0), get(g.c), 1, () => {
      fn.set(plane, at(dx, I32.mul(I32.add(I32.mul(get(s), get(g.c)), get(ch)), I32.mul(get(g.h), get(g.w)))));
      // ky and kx count down from kh and kw (the loops run over ky + 1 and kx + 1)
      fn.set(ky, get(g.kh));
      fn.while(get(ky), () => {
        fn.inc(ky, -1);
        fn.set(kx, get(g.kw));
        fn.while(get(kx), () => {
          fn.inc(kx, -1);
          // q: dPᵀ's row (ch, ky, kx) at this sample's first output position
          fn.set(q, I32.add(I32.add(get(dp), I32.mul(I32.add(I32.mul(I32.add(I32.mul(get(ch), get(g.kh)), get(ky)), get(g.kw)), get(kx)), get(ld))), bytes(I32.mul(get(s), I32.mul(get(g.oh), get(g.ow))))));
          fn.for(oy, i32(0), get(g.oh), 1, () => {
            windowRow(fn, g, geo, ky, kx, oy, (lo, hi) => {
              fn.set(t, at(plane, I32.add(I32.mul(I32.add(I32.sub(I32.mul(get(oy), get(g.sh)), get(g.ph)), get(ky)), get(g.w)), I32.sub(get(kx), get(g.pw)))));
              fn.if(I32.eq(get(g.sw), i32(1)), () => {
                fn.set(run4, I32.add(get(lo), I32.and(I32.sub(get(hi), get(lo)), i32(-4))));
                fn.for(ox, get(lo), get(run4), 4, () => fn.emit(V.store(at(t, get(ox)), V.f32x4Add(V.load(at(t, get(ox))), V.load(at(q, get(ox)))))));
                fn.for(ox, get(run4), get(hi), 1, () => fn.emit(add(at(t, get(ox)), at(q, get(ox)))));
              }, () => {
                fn.for(ox, get(lo), get(hi), 1, () => fn.emit(add(at(t, I32.mul(get(ox), get(g.sw))), at(q, get(ox)))));
              });
            });
            fn.inc(q, bytes(get(g.ow)));
          });
        });
      });
    });
  });
  return fn.build();
}

/**
 * `positionsToChannels(src, ld, dst, bias, ch, p, from, to)`: for samples `from` … `to − 1`,
 * `dst[s, o, q] = src[s·p + q, o] + b[o]` (rows of src `ld` bytes apart; b = 0 without a bias,
 * `bias` = 0): positions-as-rows to NCHW, adding the bias.
 */
export function positionsToChannels(): WasmFunction {
  const fn = new Fn('positionsToChannels', ['src', 'ld', 'dst', 'bias', 'ch', 'p', 'from', 'to']);
  const [src, ld, dst, bias, ch, p, from, to] = fn.ps('src', 'ld', 'dst', 'bias', 'ch', 'p', 'from', 'to');
  const [s, o, q, d, f] = Array.from({ length: 5 }, () => fn.local('i32'));
  const b = fn.local('f32');
  fn.for(s, get(from), get(to), 1, () => {
    fn.for(o, i32(0), get(ch), 1, () => {
      fn.set(b, F32.const(0));
      fn.if(get(bias), () => fn.set(b, F32.load(at(bias, get(o)))));
      fn.set(d, at(dst, I32.mul(I32.add(I32.mul(get(s), get(ch)), get(o)), get(p))));
      fn.set(f, I32.add(I32.add(get(src), I32.mul(I32.mul(get(s), get(p)), get(ld))), bytes(get(o))));
      fn.for(q, i32(0), get(p), 1, () => {
        fn.emit(F32.store(get(d), F32.add(F32.load(get(f)), get(b))));
        fn.inc(d, 4).inc(f, get(ld));
      });
    });
  });
  return fn.build();
}

/** `channelsToPositions(src, dst, ch, p, from, to)`: `dst[s·p + q, o] = src[s, o, q]` for samples `from` … `to − 1` (a copy of the bits). */
export function channelsToPositions(): WasmFunction {
  const fn = new Fn('channelsToPositions', ['src', 'dst', 'ch', 'p', 'from', 'to']);
  const [src, dst, ch, p, from, to] = fn.ps('src', 'dst', 'ch', 'p', 'from', 'to');
  const [s, o, q, d, f] = Array.from({ length: 5 }, () => fn.local('i32'));
  fn.for(s, get(from), get(to), 1, () => {
    fn.for(o, i32(0), get(ch), 1, () => {
      fn.set(f, at(src, I32.mul(I32.add(I32.mul(get(s), get(ch)), get(o)), get(p))));
      fn.set(d, at(dst, I32.add(I32.mul(I32.mul(get(s), get(p)), get(ch)), get(o))));
      fn.for(q, i32(0), get(p), 1, () => {
        fn.emit(I32.store(get(d), I32.load(get(f))));
        fn.inc(f, 4).inc(d, bytes(get(ch)));
      });
    });
  });
  return fn.build();
}

/**
 * `sumPlanes(src, out, n, ch, p, from, to)`: for channels `from` … `to − 1` of `[n, ch, p]`,
 * `out[o] += Σ src[s, o, q]`, one float32 addition at a time in the order (s, q). Two channels
 * side by side, each chain in its own order.
 */
export function sumPlanes(): WasmFunction {
  const fn = new Fn('sumPlanes', ['src', 'out', 'n', 'ch', 'p', 'from', 'to']);
  const [src, out, n, ch, p, from, to] = fn.ps('src', 'out', 'n', 'ch', 'p', 'from', 'to');
  const [o, s, f, end, plane] = Array.from({ length: 5 }, () => fn.local('i32'));
  const [a, b] = [fn.local('f32'), fn.local('f32')];
  fn.set(plane, bytes(get(p)));
  fn.set(o, get(from));
  fn.while(I32.ltU(I32.add(get(o), i32(1)), get(to)), () => {
    fn.set(a, F32.load(at(out, get(o)))).set(b, F32.load(at(out, get(o)), 4));
    fn.for(s, i32(0), get(n), 1, () => {
      fn.set(f, at(src, I32.mul(I32.add(I32.mul(get(s), get(ch)), get(o)), get(p))));
      fn.set(end, I32.add(get(f), get(plane)));
      fn.while(I32.ltU(get(f), get(end)), () => {
        fn.set(a, F32.add(get(a), F32.load(get(f))));
        fn.set(b, F32.add(get(b), F32.load(I32.add(get(f), get(plane)))));
        fn.inc(f, 4);
      });
    });
    fn.emit(F32.store(at(out, get(o)), get(a)), F32.store(at(out, get(o)), get(b), 4));
    fn.inc(o, 2);
  });
  fn.if(I32.ltU(get(o), get(to)), () => {
    fn.set(a, F32.load(at(out, get(o))));
    fn.for(s, i32(0), get(n), 1, () => {
      fn.set(f, at(src, I32.mul(I32.add(I32.mul(get(s), get(ch)), get(o)), get(p))));
      fn.set(end, I32.add(get(f), get(plane)));
      fn.while(I32.ltU(get(f), get(end)), () => fn.set(a, F32.add(get(a), F32.load(get(f)))).inc(f, 4));
    });
    fn.emit(F32.store(at(out, get(o)), get(a)));
  });
  return fn.build();
}
