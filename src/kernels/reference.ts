import { ShapeError } from '../errors.js';
import type { Geometry2d } from '../tensor/geometry.js';
import { allocate, dtypeOf, type DType, type Storage } from '../tensor/tensor.js';
import { FLUSH_BELOW, type ChannelGradSums, type Kernels, type MomentumStep, type StridedMatrix } from './kernels.js';

/**
 * The reference kernels: every operation of the {@link Kernels} protocol as a plain TypeScript
 * loop over the definition. They run everywhere, in float32 and float64, and are the oracle the
 * fast kernels are tested against; the fast kernels fall back to them for what they do not take
 * (float64, short arrays).
 *
 * @example
 * ```ts
 * import { referenceKernels } from 'asymprop';
 *
 * const c = new Float32Array(4);
 * referenceKernels.gemm(false, false, 2, 2, 2, Float32Array.of(1, 2, 3, 4), Float32Array.of(1, 0, 0, 1), c);
 * console.log(Array.from(c)); // [1, 2, 3, 4]: A · I
 * ```
 */
export class ReferenceKernels implements Kernels {
  readonly name: Kernels['name'] = 'reference';

  threads(): number {
    return 1;
  }

  allocate(dtype: DType, size: number): Storage {
    return allocate(dtype, size);
  }

  allocateIndices(size: number): Int32Array {
    return new Int32Array(size);
  }

  release(_array: Storage | Int32Array): void {}

  scratch(dtype: DType, size: number): Storage {
    return this.scratchArray(3, dtype, size).subarray(0, size);
  }

  /**
   * The plain kernel packs both operands so that the inner loop runs over `k` in contiguous
   * memory for both, then computes 4×2 blocks of C in registers, accumulating in float64.
   */
  gemm(transA: boolean, transB: boolean, m: number, n: number, k: number, a: Storage, b: Storage, c: Storage, accumulate = false): void {
    if (a.length < m * k || b.length < k * n || c.length < m * n) {
      throw new ShapeError('gemm', `A ≥ ${m * k}, B ≥ ${k * n}, C ≥ ${m * n} elements`, [a.length, b.length, c.length]);
    }
    if (m === 0 || n === 0) return;
    if (k === 0) {
      if (!accumulate) c.fill(0, 0, m * n);
      return;
    }
    // Bring A to m×k and B to n×k (both with k contiguous) unless they already are.
    const ap = transA ? transposeInto(this.scratchArray(0, dtypeOf(a), m * k), a, k, m) : a;
    const bp = transB ? b : transposeInto(this.scratchArray(1, dtypeOf(b), n * k), b, k, n);
    kernelNT(m, n, k, ap, bp, c, accumulate);
  }

  gemmProduct(transA: boolean, transB: boolean, m: number, n: number, k: number, a: Storage, b: Storage): StridedMatrix {
    if (a.length < m * k || b.length < k * n) {
      throw new ShapeError('gemmProduct', `A ≥ ${m * k}, B ≥ ${k * n} elements`, [a.length, b.length]);
    }
    const c = this.scratchArray(2, dtypeOf(a), m * n);
    this.gemm(transA, transB, m, n, k, a, b, c);
    return { data: c, offset: 0, ld: n };
  }

  // Grow-only work buffers, four per dtype: the packed operands and the product of gemm, and
  // scratch(). The kernels are synchronous, so no two calls ever share them at once.
  private readonly buffers: Record<DType, Storage[]> = { float32: [], float64: [] };
  private scratchArray(slot: number, dtype: DType, size: number): Storage {
    const list = this.buffers[dtype];
    let buf = list[slot];
    if (!buf || buf.length < size) {
      buf = allocate(dtype, Math.max(size, (buf?.length ?? 0) * 2));
      list[slot] = buf;
    }
    return buf;
  }

  /** Row by row of P: for each output position (s, oy, ox), its window's values, zeros in the padding. */
  im2col(x: Storage, n: number, g: Geometry2d, out: Storage): void {
    const rows = n * g.oh * g.ow;
    forEachWindowValue(n, g, (r, p, pixel) => (out[p * rows + r] = pixel < 0 ? 0 : x[pixel]!));
  }

  /** In the order of the output positions r (and, within one, of p): each pixel's terms arrive in increasing r. */
  col2im(patches: StridedMatrix, n: number, g: Geometry2d, dx: Storage): void {
    const { data, offset, ld } = patches;
    dx.fill(0, 0, n * g.c * g.h * g.w);
    forEachWindowValue(n, g, (r, p, pixel) => {
      if (pixel >= 0) dx[pixel] += data[offset + p * ld + r]!;
    });
  }

  positionsToChannels(src: StridedMatrix, n: number, ch: number, p: number, dst: Storage, bias: Storage | null): void {
    const { data, offset, ld } = src;
    for (let s = 0; s < n; s++) {
      for (let o = 0; o < ch; o++) {
        const b = bias ? bias[o]! : 0;
        const to = (s * ch + o) * p;
        let from = offset + s * p * ld + o;
        for (let q = 0; q < p; q++, from += ld) dst[to + q] = data[from]! + b;
      }
    }
  }

  channelsToPositions(src: Storage, n: number, ch: number, p: number, dst: Storage): void {
    for (let s = 0; s < n; s++) {
      for (let o = 0; o < ch; o++) {
        const from = (s * ch + o) * p;
        for (let q = 0; q < p; q++) dst[(s * p + q) * ch + o] = src[from + q]!;
      }
    }
  }

  addTransposed(m: StridedMatrix, rows: number, cols: number, out: Storage): void {
    const { data, offset, ld } = m;
    for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) out[j * rows + i] += data[offset + i * ld + j]!;
  }

  /**
   * Each sum is a chain of dependent additions, so channels go in pairs: two chains interleaved
   * run in about the time of one, each in its one-channel order.
   */
  sumPlanes(src: Storage, n: number, ch: number, p: number, out: Storage): void {
    const single = out instanceof Float32Array;
    let o = 0;
    for (; o + 1 < ch; o += 2) {
      let a = out[o]!, b = out[o + 1]!;
      for (let s = 0; s < n; s++) {
        const from = (s * ch + o) * p, end = from + p;
        if (single) for (let q = from; q < end; q++) { a = Math.fround(a + src[q]!); b = Math.fround(b + src[q + p]!); }
        else for (let q = from; q < end; q++) { a += src[q]!; b += src[q + p]!; }
      }
      out[o] = a;
      out[o + 1] = b;
    }
    for (; o < ch; o++) {
      let a = out[o]!;
      for (let s = 0; s < n; s++) {
        const from = (s * ch + o) * p, end = from + p;
        if (single) for (let q = from; q < end; q++) a = Math.fround(a + src[q]!);
        else for (let q = from; q < end; q++) a += src[q]!;
      }
      out[o] = a;
    }
  }

  /**
   * Written branch-free: about half the units are off, so a branch per element would be
   * mispredicted half the time.
   */
  relu(out: Storage, x: Storage): void {
    for (let i = 0; i < out.length; i++) {
      const v = x[i]!;
      out[i] = v * +(v > 0) + 0; // max(0, v); `+ 0` turns −0 into 0; NaN stays NaN, so divergence is still seen
    }
  }

  reluBackward(out: Storage, dy: Storage, y: Storage): void {
    for (let i = 0; i < out.length; i++) out[i] = dy[i]! * +(y[i]! > 0) + 0; // dx = dy ∘ [y > 0]
  }

  add(out: Storage, a: Storage, b: Storage): void {
    for (let i = 0; i < out.length; i++) out[i] = a[i]! + b[i]!;
  }

  addRows(out: Storage, row: Storage, rows: number, cols: number): void {
    for (let i = 0; i < rows * cols; i += cols) for (let j = 0; j < cols; j++) out[i + j] += row[j]!;
  }

  sumRows(a: Storage, rows: number, cols: number, out: Storage): void {
    for (let i = 0; i < rows * cols; i += cols) for (let j = 0; j < cols; j++) out[j] += a[i + j]!;
  }

  allFinite(x: Storage): boolean {
    for (let i = 0; i < x.length; i++) {
      const v = x[i]!;
      if (v - v !== 0) return false; // NaN − NaN and ∞ − ∞ are NaN
    }
    return true;
  }

  axpy(alpha: number, x: Storage, y: Storage): void {
    for (let i = 0; i < y.length; i++) y[i] += alpha * x[i]!;
  }

  scale(out: Storage, alpha: number, x: Storage): void {
    for (let i = 0; i < out.length; i++) out[i] = alpha * x[i]!;
  }

  /**
   * For float32, on the bits: ±1 is x's sign bit with 1.0f's exponent, ±0 stays ±0 and NaN stays
   * NaN, with no branch but the NaN test (zeros and signs of gradients come in no predictable order).
   */
  sign(out: Storage, x: Storage): void {
    if (out instanceof Float32Array && x instanceof Float32Array) {
      const src = new Int32Array(x.buffer, x.byteOffset, x.length);
      const dst = new Int32Array(out.buffer, out.byteOffset, out.length);
      for (let i = 0; i < dst.length; i++) {
        const bits = src[i]!;
        const magnitude = bits & 0x7fffffff;
        dst[i] = magnitude > 0x7f800000 ? bits : (bits & -0x80000000) | (0x3f800000 & -+(magnitude !== 0));
      }
      return;
    }
    for (let i = 0; i < out.length; i++) {
      const v = x[i]!;
      out[i] = +(v > 0) - +(v < 0) || v; // `|| v` keeps 0 as 0 and NaN as NaN
    }
  }

  /**
   * The sign is `(w > 0) − (w < 0)`, which compiles to branch-free code: W's signs are a coin toss,
   * so a branch on them (or `Math.sign`, which V8 does not inline as well) is mispredicted half
   * the time.
   */
  signScale(v: Storage, w: Storage, m: Storage | number): void {
    if (typeof m === 'number') {
      for (let i = 0; i < v.length; i++) {
        const wi = w[i]!;
        v[i] = m * (+(wi > 0) - +(wi < 0));
      }
      return;
    }
    for (let i = 0; i < v.length; i++) {
      const wi = w[i]!;
      v[i] = m[i]! * (+(wi > 0) - +(wi < 0));
    }
  }

  /** The recurrence of seedrandom's xor128, written out: three shifts and xors a number. */
  uniform24(out: Storage, state: Int32Array): void {
    let x = state[0]!, y = state[1]!, z = state[2]!, w = state[3]!;
    for (let i = 0; i < out.length; i++) {
      const t = x ^ (x << 11);
      x = y;
      y = z;
      z = w;
      w ^= (w >>> 19) ^ t ^ (t >>> 8);
      out[i] = (w >>> 8) * 5.960464477539063e-8; // top 24 bits · 2⁻²⁴
    }
    state[0] = x;
    state[1] = y;
    state[2] = z;
    state[3] = w;
  }

  /**
   * Two channels side by side, so two chains run at once: each addition waits for the one
   * before in its own chain only, and the order inside each chain is that of one channel at a time.
   */
  channelSums(x: Storage, n: number, c: number, s: number, mean: Float64Array | null): Float64Array {
    const out = new Float64Array(c);
    let ch = 0;
    for (; ch + 1 < c; ch += 2) {
      const mu0 = mean ? mean[ch]! : 0, mu1 = mean ? mean[ch + 1]! : 0;
      let t0 = 0, t1 = 0;
      for (let i = 0; i < n; i++) {
        const q0 = (i * c + ch) * s;
        if (mean) {
          for (let q = q0, e = q0 + s; q < e; q++) {
            t0 += (x[q]! - mu0) ** 2;
            t1 += (x[q + s]! - mu1) ** 2;
          }
        } else {
          for (let q = q0, e = q0 + s; q < e; q++) {
            t0 += x[q]!;
            t1 += x[q + s]!;
          }
        }
      }
      out[ch] = t0;
      out[ch + 1] = t1;
    }
    for (; ch < c; ch++) {
      const mu = mean ? mean[ch]! : 0;
      let t = 0;
      for (let i = 0; i < n; i++) {
        for (let q = (i * c + ch) * s, e = q + s; q < e; q++) t += mean ? (x[q]! - mu) ** 2 : x[q]!;
      }
      out[ch] = t;
    }
    return out;
  }

  batchNormNormalize(x: Storage, n: number, c: number, s: number, mean: Float64Array, invStd: Float64Array, gamma: Storage, beta: Storage, xhat: Storage, y: Storage): void {
    for (let i = 0; i < n; i++) {
      for (let ch = 0; ch < c; ch++) {
        const mu = mean[ch]!, is = invStd[ch]!, gm = gamma[ch]!, bt = beta[ch]!;
        for (let q = (i * c + ch) * s, e = q + s; q < e; q++) {
          const h = (x[q]! - mu) * is; // x̂
          xhat[q] = h;
          y[q] = gm * h + bt; //          y = γ x̂ + β
        }
      }
    }
  }

  /** Two channels side by side: four independent chains, each in the order of the one-channel loop. */
  batchNormGradSums(dy: Storage, xhat: Storage, n: number, c: number, s: number): ChannelGradSums {
    const g = dy;
    const sumDy = new Float64Array(c), sumDyXhat = new Float64Array(c);
    let ch = 0;
    for (; ch + 1 < c; ch += 2) {
      let a0 = 0, b0 = 0, a1 = 0, b1 = 0;
      for (let i = 0; i < n; i++) {
        for (let q = (i * c + ch) * s, e = q + s; q < e; q++) {
          const g0 = g[q]!, g1 = g[q + s]!;
          a0 += g0;
          b0 += g0 * xhat[q]!;
          a1 += g1;
          b1 += g1 * xhat[q + s]!;
        }
      }
      sumDy[ch] = a0;
      sumDyXhat[ch] = b0;
      sumDy[ch + 1] = a1;
      sumDyXhat[ch + 1] = b1;
    }
    for (; ch < c; ch++) {
      let a = 0, b = 0;
      for (let i = 0; i < n; i++) for (let q = (i * c + ch) * s, e = q + s; q < e; q++) { a += g[q]!; b += g[q]! * xhat[q]!; }
      sumDy[ch] = a;
      sumDyXhat[ch] = b;
    }
    return { sumDy, sumDyXhat };
  }

  batchNormInputGrad(dy: Storage, xhat: Storage, n: number, c: number, s: number, v: Storage, invStd: Float64Array, meanG: Float64Array, meanGXhat: Float64Array, dx: Storage): void {
    for (let ch = 0; ch < c; ch++) {
      const vc = v[ch]!, is = invStd[ch]!, mg = meanG[ch]!, mgx = meanGXhat[ch]!;
      for (let i = 0; i < n; i++) {
        for (let q = (i * c + ch) * s, e = q + s; q < e; q++) dx[q] = (dy[q]! * vc - mg - xhat[q]! * mgx) * is;
      }
    }
  }

  maxPool(x: Storage, planes: number, g: Geometry2d, y: Storage, argmax: Int32Array): void {
    const { h, w, kh, kw, sh, sw, ph, pw, oh, ow } = g;
    let o = 0;
    for (let plane = 0; plane < planes; plane++) {
      const base = plane * h * w;
      for (let oy = 0; oy < oh; oy++) {
        for (let ox = 0; ox < ow; ox++, o++) {
          let best = -Infinity, at = -1;
          for (let ky = 0; ky < kh; ky++) {
            const iy = oy * sh - ph + ky;
            if (iy < 0 || iy >= h) continue;
            for (let kx = 0; kx < kw; kx++) {
              const ix = ox * sw - pw + kx;
              if (ix < 0 || ix >= w) continue;
              const v = x[base + iy * w + ix]!;
              if (v > best || at < 0) {
                best = v;
                at = base + iy * w + ix;
              }
            }
          }
          y[o] = best;
          argmax[o] = at;
        }
      }
    }
  }

  maxPoolBackward(dy: Storage, argmax: Int32Array, planes: number, g: Geometry2d, dx: Storage): void {
    dx.fill(0, 0, planes * g.h * g.w);
    const outputs = planes * g.oh * g.ow;
    for (let o = 0; o < outputs; o++) dx[argmax[o]!] += dy[o]!; // the winner takes the gradient
  }

  /**
   * Two loops, heavy-ball and Nesterov, so that the loop every protocol run uses carries no
   * per-value select. The flush is a multiplication, without a branch: whether b is tiny (or zero:
   * a dead unit's gradient) is as good as random from one weight to the next, and a branch on it
   * was mispredicted so often that it made this loop a third of an mlp's step.
   */
  sgdMomentum(w: Storage, g: Storage, buf: Storage, step: MomentumStep): void {
    const { lr, keep, gain, weightDecay: wd, momentum: mu } = step;
    const n = w.length;
    if (!step.nesterov) {
      for (let i = 0; i < n; i++) {
        const wi = w[i]!;
        const gi = g[i]! + wd * wi;
        let b = keep * buf[i]! + gain * gi;
        b *= +(Math.abs(b) >= FLUSH_BELOW); // NaN stays NaN: NaN · 0 is NaN
        buf[i] = b;
        w[i] = wi - lr * b;
      }
      return;
    }
    for (let i = 0; i < n; i++) {
      const wi = w[i]!;
      const gi = g[i]! + wd * wi;
      let b = keep * buf[i]! + gain * gi;
      b *= +(Math.abs(b) >= FLUSH_BELOW);
      buf[i] = b;
      w[i] = wi - lr * (gi + mu * b);
    }
  }
}

/** The reference kernels (see {@link ReferenceKernels}). */
export const referenceKernels: Kernels = new ReferenceKernels();

/** C (+)= Ap · Bpᵀ with Ap m×k and Bp n×k, in 4×2 register blocks. */
function kernelNT(m: number, n: number, k: number, a: Storage, b: Storage, c: Storage, acc: boolean): void {
  const m4 = m - (m % 4);
  const n2 = n - (n % 2);
  for (let i = 0; i < m4; i += 4) {
    const a0 = i * k;
    const a1 = a0 + k;
    const a2 = a1 + k;
    const a3 = a2 + k;
    for (let j = 0; j < n2; j += 2) {
      const b0 = j * k;
      const b1 = b0 + k;
      let s00 = 0, s01 = 0, s10 = 0, s11 = 0, s20 = 0, s21 = 0, s30 = 0, s31 = 0;
      for (let p = 0; p < k; p++) {
        const x0 = b[b0 + p]!;
        const x1 = b[b1 + p]!;
        const y0 = a[a0 + p]!;
        const y1 = a[a1 + p]!;
        const y2 = a[a2 + p]!;
        const y3 = a[a3 + p]!;
        s00 += y0 * x0; s01 += y0 * x1;
        s10 += y1 * x0; s11 += y1 * x1;
        s20 += y2 * x0; s21 += y2 * x1;
        s30 += y3 * x0; s31 += y3 * x1;
      }
      const c0 = i * n + j;
      if (acc) {
        c[c0] += s00; c[c0 + 1] += s01;
        c[c0 + n] += s10; c[c0 + n + 1] += s11;
        c[c0 + 2 * n] += s20; c[c0 + 2 * n + 1] += s21;
        c[c0 + 3 * n] += s30; c[c0 + 3 * n + 1] += s31;
      } else {
        c[c0] = s00; c[c0 + 1] = s01;
        c[c0 + n] = s10; c[c0 + n + 1] = s11;
        c[c0 + 2 * n] = s20; c[c0 + 2 * n + 1] = s21;
        c[c0 + 3 * n] = s30; c[c0 + 3 * n + 1] = s31;
      }
    }
    for (let j = n2; j < n; j++) for (let r = i; r < i + 4; r++) dotInto(a, r * k, b, j * k, k, c, r * n + j, acc);
  }
  for (let i = m4; i < m; i++) for (let j = 0; j < n; j++) dotInto(a, i * k, b, j * k, k, c, i * n + j, acc);
}

function dotInto(a: Storage, ao: number, b: Storage, bo: number, k: number, c: Storage, co: number, acc: boolean): void {
  let s = 0;
  for (let p = 0; p < k; p++) s += a[ao + p]! * b[bo + p]!;
  c[co] = acc ? c[co]! + s : s;
}

/** Writes the transpose of `src` (rows×cols, row-major) into `dst` (cols×rows). */
export function transposeInto(dst: Storage, src: Storage, rows: number, cols: number): Storage {
  const B = 32;
  for (let i0 = 0; i0 < rows; i0 += B) {
    const i1 = Math.min(i0 + B, rows);
    for (let j0 = 0; j0 < cols; j0 += B) {
      const j1 = Math.min(j0 + B, cols);
      for (let i = i0; i < i1; i++) for (let j = j0; j < j1; j++) dst[j * rows + i] = src[i * cols + j]!;
    }
  }
  return dst;
}

/**
 * Visits every entry of the patch matrix in order: output positions r = (s, oy, ox), then window
 * offsets p = (c, ky, kx), with the index of the input pixel it copies (−1 in the padding).
 */
function forEachWindowValue(n: number, g: Geometry2d, visit: (r: number, p: number, pixel: number) => void): void {
  const { c, h, w, kh, kw, sh, sw, ph, pw, oh, ow } = g;
  for (let s = 0, r = 0; s < n; s++) {
    for (let oy = 0; oy < oh; oy++) {
      for (let ox = 0; ox < ow; ox++, r++) {
        for (let ch = 0, p = 0; ch < c; ch++) {
          for (let ky = 0; ky < kh; ky++) {
            const iy = oy * sh - ph + ky;
            for (let kx = 0; kx < kw; kx++, p++) {
              const ix = ox * sw - pw + kx;
              visit(r, p, iy >= 0 && iy < h && ix >= 0 && ix < w ? ((s * c + ch) * h + iy) * w + ix : -1);
            }
          }
        }
      }
    }
  }
}

/**
 * For each window column kx, the range [ox0, ox1) of output columns whose pixel `ox·sw − pw + kx`
 * lands inside the image.
 */
export function outputColumns(g: Geometry2d): [Int32Array, Int32Array] {
  const lo = new Int32Array(g.kw), hi = new Int32Array(g.kw);
  for (let kx = 0; kx < g.kw; kx++) {
    // ox·sw − pw + kx ≥ 0  ⇔  ox ≥ ⌈(pw − kx) / sw⌉;   ox·sw − pw + kx < w  ⇔  ox < ⌈(w + pw − kx) / sw⌉
    lo[kx] = Math.min(g.ow, Math.max(0, Math.ceil((g.pw - kx) / g.sw)));
    hi[kx] = Math.max(lo[kx]!, Math.min(g.ow, Math.ceil((g.w + g.pw - kx) / g.sw)));
  }
  return [lo, hi];
}
