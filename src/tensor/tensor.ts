import ndarray, { type NdArray } from 'ndarray';
import ops from 'ndarray-ops';
import { ConfigError, ShapeError, ValueError, formatShape } from '../errors.js';

/** Element type of a tensor: `float32` for training, `float64` for gradient checks. */
export type DType = 'float32' | 'float64';
/** The typed array behind a tensor. */
export type Storage = Float32Array | Float64Array;
/** A shape: one non-negative integer per axis. */
export type Shape = readonly number[];

/** Allocates zeroed storage of a dtype. */
export function allocate(dtype: DType, size: number): Storage {
  return dtype === 'float64' ? new Float64Array(size) : new Float32Array(size);
}

/** The dtype of a typed array. */
export function dtypeOf(data: Storage): DType {
  return data instanceof Float64Array ? 'float64' : 'float32';
}

/** Number of elements of a shape; throws a {@link ConfigError} for negative or fractional sizes. */
export function sizeOf(shape: Shape): number {
  let n = 1;
  for (const d of shape) {
    if (!Number.isInteger(d) || d < 0) throw new ConfigError('shape', formatShape(shape), 'non-negative integers');
    n *= d;
  }
  return n;
}

/**
 * A dense, contiguous, row-major n-dimensional array of float32 (or float64) values.
 *
 * The values live in `data`; `nd` gives the same memory as a scijs `ndarray` view, for users who
 * want ndarray's slicing and `ndarray-ops`. A Tensor is always contiguous, so kernels can loop over
 * `data` directly; non-contiguous ndarray views are copied in by {@link Tensor.fromNdarray}.
 *
 * @example
 * ```ts
 * import { Tensor } from 'asymprop';
 *
 * const x = Tensor.from([[1, 2], [3, 4]]);
 * console.log(x.shape, x.get(1, 0), x.dtype); // [2, 2] 3 float32
 * const row = x.reshape([4]);                 // shares x's memory
 * row.set(10, 0);
 * console.log(x.get(0, 0));                   // 10
 * ```
 */
export class Tensor {
  /** The values, row-major (the last axis varies fastest). Kernels read and write it directly. */
  readonly data: Storage;
  /** The size of each axis, outermost first (frozen). */
  readonly shape: Shape;
  /** The number of elements, the product of `shape` (`data.length`). */
  readonly size: number;
  private view?: NdArray<Storage>;

  /**
   * Wraps existing storage (no copy).
   *
   * @throws {@link ShapeError} when `data` does not hold exactly as many values as `shape` has.
   * @throws {@link ConfigError} when `shape` has a negative or fractional size.
   */
  constructor(data: Storage, shape: Shape) {
    const size = sizeOf(shape);
    if (data.length !== size) {
      throw new ShapeError('Tensor', `${size} values for shape ${formatShape(shape)}`, [data.length]);
    }
    this.data = data;
    this.shape = Object.freeze([...shape]);
    this.size = size;
  }

  /** A tensor of zeros. */
  static zeros(shape: Shape, dtype: DType = 'float32'): Tensor {
    return new Tensor(allocate(dtype, sizeOf(shape)), shape);
  }

  /** A tensor filled with one value. */
  static full(shape: Shape, value: number, dtype: DType = 'float32'): Tensor {
    const t = Tensor.zeros(shape, dtype);
    t.data.fill(value);
    return t;
  }

  /**
   * Builds a tensor from nested arrays (the shape is read off the nesting) or a flat array and a
   * shape. The values are copied.
   *
   * @throws {@link ShapeError} for ragged nesting, or a flat array whose length does not match `shape`.
   */
  static from(values: NestedNumbers | ArrayLike<number>, shape?: Shape, dtype: DType = 'float32'): Tensor {
    if (shape) {
      const flat = allocate(dtype, sizeOf(shape));
      if ((values as ArrayLike<number>).length !== flat.length) {
        throw new ShapeError('Tensor.from', `${flat.length} values for shape ${formatShape(shape)}`, [
          (values as ArrayLike<number>).length,
        ]);
      }
      flat.set(values as ArrayLike<number>);
      return new Tensor(flat, shape);
    }
    const inferred = inferShape(values as NestedNumbers);
    const flat = allocate(dtype, sizeOf(inferred));
    let k = 0;
    const walk = (v: NestedNumbers, depth: number): void => {
      if (typeof v === 'number') {
        flat[k++] = v;
        return;
      }
      if (v.length !== inferred[depth]) {
        throw new ShapeError('Tensor.from', `ragged nesting: length ${inferred[depth]} at depth ${depth}`, [v.length]);
      }
      for (const item of v) walk(item, depth + 1);
    };
    walk(values as NestedNumbers, 0);
    return new Tensor(flat, inferred);
  }

  /**
   * Copies an ndarray (any strides, offset or order, e.g. a transposed or sliced view) into a new
   * contiguous tensor.
   */
  static fromNdarray(array: NdArray, dtype: DType = 'float32'): Tensor {
    const out = Tensor.zeros(array.shape, dtype);
    if (out.size > 0) ops.assign(out.nd, array);
    return out;
  }

  /** The element type, read off `data`. */
  get dtype(): DType {
    return dtypeOf(this.data);
  }

  /** The number of axes. */
  get rank(): number {
    return this.shape.length;
  }

  /** The same memory as a scijs ndarray (row-major strides). */
  get nd(): NdArray<Storage> {
    return (this.view ??= ndarray(this.data, [...this.shape]));
  }

  /**
   * A tensor sharing this one's memory with another shape of the same size (one axis may be -1,
   * inferred from the others).
   *
   * @throws {@link ShapeError} when the sizes differ or more than one axis is -1.
   */
  reshape(shape: Shape): Tensor {
    const known = shape.filter((d) => d !== -1);
    const free = shape.length - known.length;
    if (free > 1) throw new ShapeError('Tensor.reshape', 'at most one -1 axis', shape);
    let resolved = [...shape];
    if (free === 1) {
      const rest = sizeOf(known);
      if (rest === 0 || this.size % rest !== 0) {
        throw new ShapeError('Tensor.reshape', `a shape whose size divides ${this.size}`, shape);
      }
      resolved = shape.map((d) => (d === -1 ? this.size / rest : d));
    }
    if (sizeOf(resolved) !== this.size) {
      throw new ShapeError('Tensor.reshape', `a shape of size ${this.size} (from ${formatShape(this.shape)})`, resolved);
    }
    return new Tensor(this.data, resolved);
  }

  /** A deep copy, optionally converted to another dtype. */
  clone(dtype: DType = this.dtype): Tensor {
    const data = allocate(dtype, this.size);
    data.set(this.data);
    return new Tensor(data, this.shape);
  }

  /** Copies another tensor's values into this one; throws a {@link ShapeError} unless the shapes match. */
  copyFrom(src: Tensor): this {
    assertSameShape('Tensor.copyFrom', this, src);
    this.data.set(src.data);
    return this;
  }

  /** Reads one element by its indices. */
  get(...index: number[]): number {
    return this.data[this.offsetOf(index)]!;
  }

  /** Writes one element by its indices. */
  set(value: number, ...index: number[]): void {
    this.data[this.offsetOf(index)] = value;
  }

  /** Flat offset of an index tuple; throws a {@link ShapeError} for a wrong count or an index out of range. */
  offsetOf(index: readonly number[]): number {
    if (index.length !== this.rank) throw new ShapeError('Tensor.get', `${this.rank} indices`, [index.length]);
    let off = 0;
    for (let a = 0; a < this.rank; a++) {
      const i = index[a]!;
      const d = this.shape[a]!;
      if (!Number.isInteger(i) || i < 0 || i >= d) {
        throw new ShapeError('Tensor.get', `index ${i} on axis ${a} within ${formatShape(this.shape)}`, index);
      }
      off = off * d + i;
    }
    return off;
  }

  /** The values as nested arrays (for printing and tests). */
  toArray(): NestedNumbers {
    const build = (axis: number, offset: number): NestedNumbers => {
      if (axis === this.rank) return this.data[offset]!;
      const stride = sizeOf(this.shape.slice(axis + 1));
      const out: NestedNumbers[] = [];
      for (let i = 0; i < this.shape[axis]!; i++) out.push(build(axis + 1, offset + i * stride));
      return out;
    };
    return build(0, 0);
  }

  /** A short description for messages, e.g. `Tensor(float32, [100, 784])` (not the values). */
  toString(): string {
    return `Tensor(${this.dtype}, ${formatShape(this.shape)})`;
  }
}

/** Numbers nested in arrays, e.g. `[[1, 2], [3, 4]]`. */
export type NestedNumbers = number | NestedNumbers[];

function inferShape(values: NestedNumbers): number[] {
  const shape: number[] = [];
  let v: NestedNumbers = values;
  while (Array.isArray(v)) {
    shape.push(v.length);
    if (v.length === 0) break;
    v = v[0]!;
  }
  return shape;
}

/** Throws a {@link ShapeError} naming both shapes unless `a` and `b` have the same shape. */
export function assertSameShape(where: string, a: Tensor, b: Tensor): void {
  if (!sameShape(a.shape, b.shape)) throw new ShapeError(where, formatShape(a.shape), b.shape);
}

/** Whether two shapes are equal. */
export function sameShape(a: Shape, b: Shape): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Throws a {@link ShapeError} unless `t` has rank `rank` (and, where given, the listed sizes; `-1` matches any). */
export function assertShape(where: string, t: Tensor, expected: readonly number[]): void {
  if (!(t instanceof Tensor)) throw new ConfigError(`${where} input`, t, `a Tensor of shape ${formatShape(expected).replaceAll('-1', 'N')} (e.g. new Tensor(data, shape))`);
  let ok = t.rank === expected.length;
  for (let i = 0; ok && i < expected.length; i++) if (expected[i] !== -1 && expected[i] !== t.shape[i]) ok = false;
  if (!ok) throw new ShapeError(where, formatShape(expected).replaceAll('-1', 'N'), t.shape);
}

/** Throws a {@link ValueError} naming the first non-finite element of `t`. */
export function assertFinite(where: string, t: Tensor): void {
  const d = t.data;
  for (let i = 0; i < d.length; i++) {
    const v = d[i]!;
    if (v - v !== 0) throw new ValueError(where, `non-finite value ${v} at flat index ${i} of ${formatShape(t.shape)}`);
  }
}
