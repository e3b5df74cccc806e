import { ConfigError, ShapeError, StateError } from '../errors.js';
import type { Param } from '../tensor/param.js';
import { Tensor, type Shape } from '../tensor/tensor.js';
import { geometry2d, pair, type Geometry2d, type Size2, type WindowOptions } from './geometry.js';
import type { Layer } from './layer.js';

/** Options of {@link MaxPool2d} and {@link AvgPool2d}. */
export interface PoolOptions {
  /** Stride (default: the kernel size). */
  stride?: Size2;
  /** Implicit padding on each side (default 0; at most half the kernel, as in PyTorch). */
  padding?: Size2;
}

/** What both pooling layers share: options, geometry, shape checks and the cache. */
abstract class Pool2d<C> implements Layer {
  protected readonly window: WindowOptions;
  protected cache: (C & { g: Geometry2d; shape: Shape }) | null = null;

  constructor(name: string, kernel: Size2, options: PoolOptions) {
    const [kh, kw] = pair(`${name} kernel`, kernel, 1);
    const [ph, pw] = pair(`${name} padding`, options.padding ?? 0, 0);
    if (2 * ph > kh || 2 * pw > kw) throw new ConfigError(`${name} padding`, options.padding, `at most half the kernel (${kh}×${kw})`);
    this.window = { kernel: [kh, kw], stride: pair(`${name} stride`, options.stride ?? [kh, kw], 1), padding: [ph, pw] };
  }

  abstract describe(): string;
  abstract forward(x: Tensor, training: boolean): Tensor;
  abstract backward(dy: Tensor): Tensor;

  protected label(kind: string): string {
    const [kh, kw] = this.window.kernel as [number, number];
    const [sh, sw] = this.window.stride as [number, number];
    const [ph, pw] = this.window.padding as [number, number];
    return `${kind}(${kh}×${kw}, stride ${sh},${sw}${ph || pw ? `, padding ${ph},${pw}` : ''})`;
  }

  geometry(inputShape: Shape): Geometry2d {
    return geometry2d(this.describe(), inputShape, this.window, this.window.kernel);
  }

  outputShape(inputShape: Shape): number[] {
    const g = this.geometry(inputShape);
    return [g.c, g.oh, g.ow];
  }

  protected geometryOf(x: Tensor): Geometry2d {
    if (x.rank !== 4) throw new ShapeError(`${this.describe()}.forward`, '[N, C, H, W]', x.shape);
    return this.geometry(x.shape.slice(1));
  }

  protected requireCache(dy: Tensor): NonNullable<Pool2d<C>['cache']> {
    if (!this.cache) throw new StateError(`${this.describe()}.backward called before forward`);
    const { g, shape } = this.cache;
    const expected = [shape[0]!, g.c, g.oh, g.ow];
    if (dy.rank !== 4 || expected.some((d, i) => dy.shape[i] !== d)) throw new ShapeError(`${this.describe()}.backward`, `[${expected.join(', ')}]`, dy.shape);
    return this.cache;
  }

  trueInputGradient(dy: Tensor): Tensor {
    return this.backward(dy);
  }

  params(): Param[] {
    return [];
  }

  zeroGrad(): void {}
}

/**
 * 2-D max pooling over NCHW batches. Padding counts as −∞. Backward sends each output's gradient
 * to the input position that won the max (the first one, on ties), remembered in the cache.
 */
export class MaxPool2d extends Pool2d<{ argmax: Int32Array }> {
  constructor(kernel: Size2, options: PoolOptions = {}) {
    super('MaxPool2d', kernel, options);
  }

  describe(): string {
    return this.label('MaxPool2d');
  }

  forward(x: Tensor, _training: boolean): Tensor {
    const g = this.geometryOf(x);
    const n = x.shape[0]!;
    const { c, h, w, kh, kw, sh, sw, ph, pw, oh, ow } = g;
    const y = Tensor.zeros([n, c, oh, ow], x.dtype);
    const argmax = new Int32Array(y.size);
    const xd = x.data, yd = y.data;
    let o = 0;
    for (let plane = 0; plane < n * c; plane++) {
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
              const v = xd[base + iy * w + ix]!;
              if (v > best || at < 0) { best = v; at = base + iy * w + ix; }
            }
          }
          yd[o] = best;
          argmax[o] = at;
        }
      }
    }
    this.cache = { g, shape: x.shape, argmax };
    return y;
  }

  backward(dy: Tensor): Tensor {
    const { shape, argmax } = this.requireCache(dy);
    const dx = Tensor.zeros(shape, dy.dtype);
    const g = dy.data, d = dx.data;
    for (let o = 0; o < g.length; o++) d[argmax[o]!] += g[o]!; // the winner takes the gradient
    return dx;
  }
}

/** Options of {@link AvgPool2d}. */
export interface AvgPoolOptions extends PoolOptions {
  /** Divide by the full kernel area even where it overlaps the padding (PyTorch's default, true). */
  countIncludePad?: boolean;
}

/** 2-D average pooling over NCHW batches; backward spreads each output's gradient evenly over its window. */
export class AvgPool2d extends Pool2d<Record<never, never>> {
  private readonly countIncludePad: boolean;

  constructor(kernel: Size2, options: AvgPoolOptions = {}) {
    super('AvgPool2d', kernel, options);
    this.countIncludePad = options.countIncludePad ?? true;
  }

  describe(): string {
    return this.label('AvgPool2d');
  }

  forward(x: Tensor, _training: boolean): Tensor {
    const g = this.geometryOf(x);
    const n = x.shape[0]!;
    const y = Tensor.zeros([n, g.c, g.oh, g.ow], x.dtype);
    this.sweep(g, n, (inIndex, outIndex, scale) => (y.data[outIndex] += x.data[inIndex]! * scale));
    this.cache = { g, shape: x.shape };
    return y;
  }

  backward(dy: Tensor): Tensor {
    const { g, shape } = this.requireCache(dy);
    const dx = Tensor.zeros(shape, dy.dtype);
    this.sweep(g, shape[0]!, (inIndex, outIndex, scale) => (dx.data[inIndex] += dy.data[outIndex]! * scale));
    return dx;
  }

  /** Visits every (input, output) pair of every window with the averaging weight 1/count. */
  private sweep(g: Geometry2d, n: number, visit: (inIndex: number, outIndex: number, scale: number) => void): void {
    const { c, h, w, kh, kw, sh, sw, ph, pw, oh, ow } = g;
    let o = 0;
    for (let plane = 0; plane < n * c; plane++) {
      const base = plane * h * w;
      for (let oy = 0; oy < oh; oy++) {
        for (let ox = 0; ox < ow; ox++, o++) {
          const y0 = oy * sh - ph, x0 = ox * sw - pw;
          const y1 = Math.min(y0 + kh, h + ph), x1 = Math.min(x0 + kw, w + pw);
          const inside = (Math.min(y1, h) - Math.max(y0, 0)) * (Math.min(x1, w) - Math.max(x0, 0));
          const scale = 1 / (this.countIncludePad ? (y1 - y0) * (x1 - x0) : inside);
          for (let iy = Math.max(y0, 0); iy < Math.min(y1, h); iy++) {
            for (let ix = Math.max(x0, 0); ix < Math.min(x1, w); ix++) visit(base + iy * w + ix, o, scale);
          }
        }
      }
    }
  }
}
