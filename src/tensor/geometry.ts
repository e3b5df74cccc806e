import { ConfigError, ShapeError } from '../errors.js';
import type { Shape } from './tensor.js';

/** A size per spatial axis: one number for both, or `[height, width]`. */
export type Size2 = number | readonly [number, number];

/** Kernel, stride and padding of a 2-D window operation (convolution or pooling). */
export interface WindowOptions {
  /** The window's size. */
  kernel: Size2;
  /** Default 1 for convolution, the kernel size for pooling. */
  stride?: Size2;
  /** Zero padding on each side (default 0). */
  padding?: Size2;
}

/**
 * Everything about where a 2-D window goes, computed once and shared by forward, backward and the
 * tests: input `[c, h, w]`, kernel `kh × kw`, stride, padding, and the output size
 * `oh = ⌊(h + 2·ph − kh) / sh⌋ + 1` (and likewise `ow`), as in PyTorch.
 */
export interface Geometry2d {
  /** Input channels. */
  readonly c: number;
  /** Input height. */
  readonly h: number;
  /** Input width. */
  readonly w: number;
  /** Kernel height. */
  readonly kh: number;
  /** Kernel width. */
  readonly kw: number;
  /** Vertical stride. */
  readonly sh: number;
  /** Horizontal stride. */
  readonly sw: number;
  /** Zero padding at the top and at the bottom. */
  readonly ph: number;
  /** Zero padding at the left and at the right. */
  readonly pw: number;
  /** Output height, `⌊(h + 2·ph − kh) / sh⌋ + 1`. */
  readonly oh: number;
  /** Output width, `⌊(w + 2·pw − kw) / sw⌋ + 1`. */
  readonly ow: number;
}

/**
 * Splits a {@link Size2} into `[height, width]`.
 *
 * @param option names the value in the error message.
 * @param min the smallest allowed size.
 * @throws {@link ConfigError} unless both sizes are integers ≥ `min`.
 */
export function pair(option: string, value: Size2, min: number): [number, number] {
  const [a, b] = typeof value === 'number' ? [value, value] : value;
  for (const v of [a, b]) {
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min) throw new ConfigError(option, value, `an integer ≥ ${min} or a pair of them`);
  }
  return [a!, b!];
}

/** One axis: `⌊(size + 2·padding − kernel) / stride⌋ + 1`. */
export function outputSize(size: number, kernel: number, stride: number, padding: number): number {
  return Math.floor((size + 2 * padding - kernel) / stride) + 1;
}

/**
 * The geometry of a window over a per-sample input `[c, h, w]`.
 *
 * @param layer names the layer in error messages.
 * @param defaultStride the stride when `options.stride` is not given (1 for convolution, the kernel
 * for pooling).
 * @throws {@link ShapeError} naming the layer when the input is not `[c, h, w]` or the (padded)
 * input is smaller than the kernel.
 * @throws {@link ConfigError} for a kernel, stride or padding that is not a valid size.
 *
 * @example
 * ```ts
 * import { geometry2d } from 'asymprop';
 *
 * const g = geometry2d('conv1', [1, 28, 28], { kernel: 5, padding: 2 }, 1);
 * console.log(g.oh, g.ow); // 28 28
 * ```
 */
export function geometry2d(layer: string, inputShape: Shape, options: WindowOptions, defaultStride: Size2): Geometry2d {
  if (inputShape.length !== 3) throw new ShapeError(layer, 'per-sample input [channels, height, width]', inputShape);
  const [c, h, w] = inputShape as [number, number, number];
  const [kh, kw] = pair(`${layer} kernel`, options.kernel, 1);
  const [sh, sw] = pair(`${layer} stride`, options.stride ?? defaultStride, 1);
  const [ph, pw] = pair(`${layer} padding`, options.padding ?? 0, 0);
  const oh = outputSize(h, kh, sh, ph);
  const ow = outputSize(w, kw, sw, pw);
  if (oh < 1 || ow < 1) {
    throw new ShapeError(layer, `an input of at least ${kh - 2 * ph}×${kw - 2 * pw} for a ${kh}×${kw} kernel with padding ${ph},${pw}`, inputShape);
  }
  return { c, h, w, kh, kw, sh, sw, ph, pw, oh, ow };
}
