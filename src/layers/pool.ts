import { ConfigError, ShapeError, StateError } from '../errors.js';
import type { Param } from '../tensor/param.js';
import type { Shape, Tensor } from '../tensor/tensor.js';
import { geometry2d, pair, type Geometry2d, type Size2, type WindowOptions } from '../tensor/geometry.js';
import type { Layer } from './layer.js';
import { defaultKernels } from '../kernels/fast.js';
import type { Kernels } from '../kernels/kernels.js';
import { Workspace } from './workspace.js';

/** Options of {@link MaxPool2d} and {@link AvgPool2d}. */
export interface PoolOptions {
  /** Stride (default: the kernel size). */
  stride?: Size2;
  /** Implicit padding on each side (default 0; at most half the kernel, as in PyTorch). */
  padding?: Size2;
}

/**
 * What both pooling layers share: the window (kernel, stride, padding), its geometry, the shape
 * checks and the backward cache. `C` is what a subclass's forward pass adds to the cache.
 */
abstract class Pool2d<C> implements Layer {
  /** Kernel, stride and padding, each as `[height, width]`, checked once by the constructor. */
  private readonly window: WindowOptions;
  /**
   * Backward cache: the geometry and the input shape of the last forward pass, and the subclass's
   * own part `C`; null until the first forward pass.
   *
   * @internal
   */
  protected cache: (C & { g: Geometry2d; shape: Shape }) | null = null;
  /**
   * The output and input-gradient arrays, reused from step to step inside a training step.
   *
   * @internal
   */
  protected readonly workspace = new Workspace(() => this.kernels);
  /** The kernels this layer computes with (default {@link defaultKernels}). */
  kernels: Kernels = defaultKernels();

  /** Computes with `kernels` from now on. */
  useKernels(kernels: Kernels): void {
    this.kernels = kernels;
  }

  /**
   * @param name the layer's class name, for error messages.
   * @throws {@link ConfigError} for a kernel, stride or padding that is not a valid size, or a
   * padding larger than half the kernel.
   */
  constructor(name: string, kernel: Size2, options: PoolOptions) {
    const [kh, kw] = pair(`${name} kernel`, kernel, 1);
    const [ph, pw] = pair(`${name} padding`, options.padding ?? 0, 0);
    if (2 * ph > kh || 2 * pw > kw) throw new ConfigError(`${name} padding`, options.padding, `at most half the kernel (${kh}×${kw})`);
    this.window = { kernel: [kh, kw], stride: pair(`${name} stride`, options.stride ?? [kh, kw], 1), padding: [ph, pw] };
  }

  abstract describe(): string;
  abstract forward(x: Tensor, training: boolean): Tensor;
  abstract backward(dy: Tensor): Tensor;

  /**
   * The description `kind(kh×kw, stride sh,sw)`, with `, padding ph,pw` when there is padding.
   *
   * @internal
   */
  protected label(kind: string): string {
    const [kh, kw] = this.window.kernel as [number, number];
    const [sh, sw] = this.window.stride as [number, number];
    const [ph, pw] = this.window.padding as [number, number];
    return `${kind}(${kh}×${kw}, stride ${sh},${sw}${ph || pw ? `, padding ${ph},${pw}` : ''})`;
  }

  /**
   * Where the window goes over a per-sample input `[c, h, w]`: kernel, stride, padding and the
   * output size `oh × ow` (the channels pass through unchanged).
   *
   * @throws {@link ShapeError} when the input is not `[c, h, w]` or, padded, is smaller than the kernel.
   */
  geometry(inputShape: Shape): Geometry2d {
    return geometry2d(this.describe(), inputShape, this.window, this.window.kernel);
  }

  outputShape(inputShape: Shape): number[] {
    const g = this.geometry(inputShape);
    return [g.c, g.oh, g.ow];
  }

  /**
   * The geometry of a batch `x` (`[N, C, H, W]`), for the forward pass.
   *
   * @internal
   */
  protected geometryOf(x: Tensor): Geometry2d {
    if (x.rank !== 4) throw new ShapeError(`${this.describe()}.forward`, '[N, C, H, W]', x.shape);
    return this.geometry(x.shape.slice(1));
  }

  /**
   * The cache of the last forward pass, once `dy` is checked to have that pass's output shape.
   *
   * @internal
   */
  protected requireCache(dy: Tensor): NonNullable<Pool2d<C>['cache']> {
    if (!this.cache) throw new StateError(`${this.describe()}.backward called before forward`);
    const { g, shape } = this.cache;
    const expected = [shape[0]!, g.c, g.oh, g.ow];
    if (dy.rank !== 4 || expected.some((d, i) => dy.shape[i] !== d)) throw new ShapeError(`${this.describe()}.backward`, `[${expected.join(', ')}]`, dy.shape);
    return this.cache;
  }

  /** With `on`, passes write into the arrays of the previous pass (see {@link Layer.reuseBuffers}). */
  reuseBuffers(on: boolean): void {
    this.workspace.reuse = on;
  }

  params(): Param[] {
    return [];
  }

  zeroGrad(): void {}
}

/** What {@link MaxPool2d}'s forward pass adds to the backward cache. */
interface MaxPoolCache {
  /** For each output value, the flat index into the input of its window's maximum. */
  readonly argmax: Int32Array;
}

/**
 * 2-D max pooling over NCHW batches. Padding counts as −∞. Backward sends each output's gradient
 * to the input position that won the max (the first one, on ties), remembered in the cache.
 */
export class MaxPool2d extends Pool2d<MaxPoolCache> {
  /**
   * @param kernel the window's size, `k` or `[kh, kw]`.
   * @param options stride (default: the kernel) and padding (default 0, at most half the kernel).
   * @throws {@link ConfigError} for an invalid kernel, stride or padding.
   */
  constructor(kernel: Size2, options: PoolOptions = {}) {
    super('MaxPool2d', kernel, options);
  }

  /** `MaxPool2d(kh×kw, stride sh,sw)`, with `, padding ph,pw` when there is padding: e.g. `MaxPool2d(2×2, stride 2,2)`. */
  describe(): string {
    return this.label('MaxPool2d');
  }

  /**
   * `[N, C, H, W]` → `[N, C, oh, ow]`: each output is the maximum of its window in its own channel.
   * Remembers which input won each window, for backward. `training` changes nothing.
   *
   * @throws {@link ShapeError} when `x` is not `[N, C, H, W]` or, padded, is smaller than the kernel.
   */
  forward(x: Tensor, _training: boolean): Tensor {
    const g = this.geometryOf(x);
    const n = x.shape[0]!;
    const y = this.workspace.tensor('y', [n, g.c, g.oh, g.ow], x.dtype, false); // every value is written
    const argmax = this.workspace.indices('argmax', y.size);
    this.kernels.maxPool(x.data, n * g.c, g, y.data, argmax); // y: each window's largest value; argmax: where it was
    this.cache = { g, shape: x.shape, argmax };
    return y;
  }

  /**
   * The input gradient: each output's gradient goes to the input that won its window, and the
   * other inputs get 0 (an input that wins several overlapping windows gets the sum). No parameters.
   *
   * @throws {@link StateError} before any forward pass; {@link ShapeError} when `dy` does not have
   * the last output's shape.
   */
  backward(dy: Tensor): Tensor {
    const { g, shape, argmax } = this.requireCache(dy);
    const dx = this.workspace.tensor('dx', shape, dy.dtype, false); // every value is written
    this.kernels.maxPoolBackward(dy.data, argmax, shape[0]! * g.c, g, dx.data); // the winner takes the gradient
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

  /**
   * @param kernel the window's size, `k` or `[kh, kw]`.
   * @param options stride (default: the kernel), padding (default 0, at most half the kernel) and
   * `countIncludePad` (default true).
   * @throws {@link ConfigError} for an invalid kernel, stride or padding.
   */
  constructor(kernel: Size2, options: AvgPoolOptions = {}) {
    super('AvgPool2d', kernel, options);
    this.countIncludePad = options.countIncludePad ?? true;
  }

  /** `AvgPool2d(kh×kw, stride sh,sw)`, with `, padding ph,pw` when there is padding: e.g. `AvgPool2d(2×2, stride 2,2)`. */
  describe(): string {
    return this.label('AvgPool2d');
  }

  /**
   * `[N, C, H, W]` → `[N, C, oh, ow]`: each output is the mean of its window in its own channel,
   * the padding counting as zeros. The divisor is `kh·kw`, or with `countIncludePad: false` the
   * number of the window's positions inside the input. `training` changes nothing.
   *
   * @throws {@link ShapeError} when `x` is not `[N, C, H, W]` or, padded, is smaller than the kernel.
   */
  forward(x: Tensor, _training: boolean): Tensor {
    const g = this.geometryOf(x);
    const n = x.shape[0]!;
    const y = this.workspace.tensor('y', [n, g.c, g.oh, g.ow], x.dtype, true);
    this.sweep(g, n, (inIndex, outIndex, scale) => (y.data[outIndex] += x.data[inIndex]! * scale));
    this.cache = { g, shape: x.shape };
    return y;
  }

  /**
   * The input gradient: each output's gradient, divided by its window's divisor, goes to every
   * input of its window (overlapping windows add up). No parameters.
   *
   * @throws {@link StateError} before any forward pass; {@link ShapeError} when `dy` does not have
   * the last output's shape.
   */
  backward(dy: Tensor): Tensor {
    const { g, shape } = this.requireCache(dy);
    const dx = this.workspace.tensor('dx', shape, dy.dtype, true);
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

/**
 * Global average pooling: `[N, C, H, W]` → `[N, C]`, each channel's mean over its H·W positions,
 * the head of a residual network. Backward gives every position of a plane `dY[n, c] / (H·W)`.
 *
 * @example
 * ```ts
 * import { GlobalAvgPool2d, Tensor } from 'asymprop';
 *
 * const pool = new GlobalAvgPool2d();
 * console.log(pool.forward(Tensor.from([[[[1, 2], [3, 6]]]]), false).toArray()); // [ [ 3 ] ]
 * ```
 */
export class GlobalAvgPool2d implements Layer {
  private cache: { shape: Shape } | null = null;
  private readonly workspace = new Workspace();

  describe(): string {
    return 'GlobalAvgPool2d';
  }

  /** @throws {@link ShapeError} unless the per-sample input is `[C, H, W]`. */
  outputShape(inputShape: Shape): number[] {
    if (inputShape.length !== 3) throw new ShapeError(this.describe(), 'per-sample input [C, H, W]', inputShape);
    return [inputShape[0]!];
  }

  forward(x: Tensor, _training: boolean): Tensor {
    if (x.rank !== 4) throw new ShapeError(`${this.describe()}.forward`, '[N, C, H, W]', x.shape);
    const [n, c, h, w] = x.shape as [number, number, number, number];
    const p = h * w;
    const y = this.workspace.tensor('y', [n, c], x.dtype, false);
    const xd = x.data, yd = y.data;
    for (let plane = 0; plane < n * c; plane++) {
      let s = 0;
      for (let i = plane * p, end = i + p; i < end; i++) s += xd[i]!;
      yd[plane] = s / p; // Y[n, c] = mean over positions of X[n, c, ·, ·]
    }
    this.cache = { shape: x.shape };
    return y;
  }

  backward(dy: Tensor): Tensor {
    if (!this.cache) throw new StateError(`${this.describe()}.backward called before forward`);
    const { shape } = this.cache;
    const [n, c, h, w] = shape as [number, number, number, number];
    if (dy.rank !== 2 || dy.shape[0] !== n || dy.shape[1] !== c) throw new ShapeError(`${this.describe()}.backward`, `[${n}, ${c}]`, dy.shape);
    const p = h * w;
    const dx = this.workspace.tensor('dx', shape, dy.dtype, false);
    const dd = dy.data, xd = dx.data;
    for (let plane = 0; plane < n * c; plane++) {
      const g = dd[plane]! / p; // dX[n, c, ·, ·] = dY[n, c] / (H·W)
      xd.fill(g, plane * p, (plane + 1) * p);
    }
    return dx;
  }

  reuseBuffers(on: boolean): void {
    this.workspace.reuse = on;
  }

  params(): Param[] {
    return [];
  }

  zeroGrad(): void {}
}
