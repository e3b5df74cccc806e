import { ConfigError, ShapeError, ValueError } from '../errors.js';
import { sizeOf, type Shape, type Storage } from '../tensor/tensor.js';

/**
 * A labelled classification dataset that writes mini-batches into caller-owned buffers, so the
 * training loop allocates nothing per step and large image sets stay compact in memory.
 */
export interface Dataset {
  /** Name for messages and reports, e.g. `mnist-embedded/train`. */
  readonly name: string;
  /** Number of samples. */
  readonly size: number;
  /** Shape of one sample, e.g. `[1, 28, 28]` or `[784]`. */
  readonly sampleShape: Shape;
  /** Number of classes; labels are in [0, numClasses). */
  readonly numClasses: number;
  /** All labels, in sample order. */
  readonly labels: ArrayLike<number>;
  /**
   * Writes samples `indices[start .. start+count)` into `x` (row-major, `count × sampleSize`) and
   * their labels into `y`.
   */
  fillBatch(indices: ArrayLike<number>, start: number, count: number, x: Storage, y: Int32Array): void;
}

/** Options of {@link ImageDataset}. */
export interface ImageDatasetOptions {
  /** Name for messages and reports, e.g. `fashion-mnist/train`. */
  name: string;
  /** Pixel bytes, `size × prod(sampleShape)`, sample after sample. */
  images: Uint8Array;
  /** One label per sample, each in [0, numClasses). */
  labels: Uint8Array;
  /** Shape of one sample, e.g. `[1, 28, 28]`. */
  sampleShape: Shape;
  /** Number of classes, 1 to 256. */
  numClasses: number;
  /** Normalisation applied per batch: `x = (byte/255 − mean) / std`. */
  mean: number;
  /** The divisor of that normalisation (finite, > 0). */
  std: number;
}

/**
 * Images kept as bytes (one byte per pixel) and normalised only when a batch is drawn:
 * 60,000 Fashion-MNIST images take 47 MB instead of 188 MB as float32.
 *
 * The constructor keeps `images` and `labels` as given (no copy) and throws a {@link ShapeError}
 * when their lengths disagree with `sampleShape`, a {@link ConfigError} for an invalid
 * `numClasses`, `mean` or `std`, and a {@link ValueError} for a label outside [0, numClasses).
 *
 * @example
 * ```ts
 * import { ImageDataset } from 'asymprop';
 *
 * // Two 2×2 grey images, classes 0 and 1.
 * const images = Uint8Array.of(0, 255, 255, 0, 128, 128, 128, 128);
 * const data = new ImageDataset({ name: 'tiny', images, labels: Uint8Array.of(0, 1), sampleShape: [1, 2, 2], numClasses: 2, mean: 0.5, std: 0.5 });
 * const x = new Float32Array(4), y = new Int32Array(1);
 * data.fillBatch([1, 0], 1, 1, x, y); // the second index of the order: sample 0
 * console.log(x, y); // Float32Array(4) [ -1, 1, 1, -1 ] Int32Array(1) [ 0 ]
 * ```
 */
export class ImageDataset implements Dataset {
  readonly name: string;
  readonly size: number;
  readonly sampleShape: Shape;
  readonly numClasses: number;
  readonly labels: Uint8Array;
  /** The pixel bytes, sample after sample (as given, not copied). */
  readonly images: Uint8Array;
  /** The mean of the normalisation `x = (byte/255 − mean) / std`. */
  readonly mean: number;
  /** The divisor of that normalisation. */
  readonly std: number;
  private readonly sampleSize: number;
  private readonly lut: Float64Array;

  constructor(options: ImageDatasetOptions) {
    const { name, images, labels, sampleShape, numClasses, mean, std } = options;
    this.sampleSize = sizeOf(sampleShape);
    if (this.sampleSize === 0) throw new ShapeError(`${name} sample shape`, 'a non-empty shape', sampleShape);
    if (images.length !== labels.length * this.sampleSize) {
      throw new ShapeError(`${name} images`, `${labels.length} × ${this.sampleSize} bytes for ${labels.length} labels`, [images.length]);
    }
    if (!Number.isInteger(numClasses) || numClasses < 1 || numClasses > 256) throw new ConfigError('numClasses', numClasses, 'an integer in [1, 256]');
    if (!Number.isFinite(mean)) throw new ConfigError('mean', mean, 'a finite number');
    if (!Number.isFinite(std) || std <= 0) throw new ConfigError('std', std, 'a finite number > 0');
    for (let i = 0; i < labels.length; i++) {
      if (labels[i]! >= numClasses) throw new ValueError(name, `label ${labels[i]} at index ${i} is outside [0, ${numClasses})`);
    }
    this.name = name;
    this.images = images;
    this.labels = labels;
    this.size = labels.length;
    this.sampleShape = [...sampleShape];
    this.numClasses = numClasses;
    this.mean = mean;
    this.std = std;
    this.lut = new Float64Array(256);
    for (let b = 0; b < 256; b++) this.lut[b] = (b / 255 - mean) / std;
  }

  fillBatch(indices: ArrayLike<number>, start: number, count: number, x: Storage, y: Int32Array): void {
    const s = this.sampleSize, img = this.images, lut = this.lut;
    for (let r = 0; r < count; r++) {
      const idx = indices[start + r]!;
      const src = idx * s, dst = r * s;
      for (let j = 0; j < s; j++) x[dst + j] = lut[img[src + j]!]!;
      y[r] = this.labels[idx]!;
    }
  }

  /**
   * A dataset of the samples at `indices` (copied), e.g. for a train/test split; throws a
   * {@link ValueError} for an index outside [0, size).
   */
  subset(name: string, indices: ArrayLike<number>): ImageDataset {
    const s = this.sampleSize;
    const images = new Uint8Array(indices.length * s);
    const labels = new Uint8Array(indices.length);
    for (let r = 0; r < indices.length; r++) {
      const i = indices[r]!;
      if (!Number.isInteger(i) || i < 0 || i >= this.size) throw new ValueError(`${this.name}.subset`, `index ${i} outside [0, ${this.size})`);
      images.set(this.images.subarray(i * s, (i + 1) * s), r * s);
      labels[r] = this.labels[i]!;
    }
    return new ImageDataset({ name, images, labels, sampleShape: this.sampleShape, numClasses: this.numClasses, mean: this.mean, std: this.std });
  }
}

/** A dataset's training and test sets. */
export interface Split {
  /** The training set. */
  readonly train: ImageDataset;
  /** The test set. */
  readonly test: ImageDataset;
}

/**
 * Float features in memory (toy problems, tests): `features` is `size × prod(sampleShape)`.
 *
 * The constructor keeps the arrays as given (no copy) and throws a {@link ConfigError} for arrays
 * of the wrong type or an invalid `numClasses`, a {@link ShapeError} when `features` does not hold
 * `size × prod(sampleShape)` values, and a {@link ValueError} for a label outside [0, numClasses).
 *
 * @example
 * ```ts
 * import { ArrayDataset, Rng, SGD, mlp, train } from 'asymprop';
 *
 * // XOR: four 2-D points in two classes, repeated so that an epoch has a few batches.
 * const points = [0, 0, 0, 1, 1, 0, 1, 1], classes = [0, 1, 1, 0];
 * const xor = new ArrayDataset('xor', Float32Array.from({ length: 400 }, (_, i) => points[i % 8]!), Int32Array.from({ length: 200 }, (_, i) => classes[i % 4]!), [2], 2);
 *
 * const rng = new Rng(1);
 * const model = mlp({ rng: rng.fork(), inputShape: [2], hidden: [16], classes: 2 });
 * const optimizer = new SGD(model.params(), { lr: 0.1, momentum: 0.9 });
 * const result = train(model, { train: xor, test: xor }, { optimizer, epochs: 30, batchSize: 20, rng: rng.fork() });
 * console.log(result.testAccuracy); // 1
 * ```
 */
export class ArrayDataset implements Dataset {
  readonly size: number;
  readonly sampleShape: Shape;
  private readonly sampleSize: number;

  constructor(
    readonly name: string,
    /** The features, sample after sample (as given, not copied). */
    readonly features: Float32Array | Float64Array,
    readonly labels: Int32Array | Uint8Array,
    sampleShape: Shape,
    readonly numClasses: number,
  ) {
    if (!(features instanceof Float32Array || features instanceof Float64Array)) throw new ConfigError(`${name} features`, typeof features, 'a Float32Array or Float64Array');
    if (!(labels instanceof Int32Array || labels instanceof Uint8Array)) throw new ConfigError(`${name} labels`, typeof labels, 'an Int32Array or Uint8Array');
    if (!Array.isArray(sampleShape)) throw new ConfigError(`${name} sampleShape`, sampleShape, 'an array of sizes, e.g. [2] or [1, 28, 28]');
    if (!Number.isInteger(numClasses) || numClasses < 1) throw new ConfigError(`${name} numClasses`, numClasses, 'a positive integer');
    this.sampleSize = sizeOf(sampleShape);
    if (features.length !== labels.length * this.sampleSize) {
      throw new ShapeError(`${name} features`, `${labels.length} × ${this.sampleSize} values`, [features.length]);
    }
    for (let i = 0; i < labels.length; i++) {
      const c = labels[i]!;
      if (c < 0 || c >= numClasses) throw new ValueError(name, `label ${c} at index ${i} is outside [0, ${numClasses})`);
    }
    this.size = labels.length;
    this.sampleShape = [...sampleShape];
  }

  fillBatch(indices: ArrayLike<number>, start: number, count: number, x: Storage, y: Int32Array): void {
    const s = this.sampleSize;
    for (let r = 0; r < count; r++) {
      const idx = indices[start + r]!;
      x.set(this.features.subarray(idx * s, (idx + 1) * s), r * s);
      y[r] = this.labels[idx]!;
    }
  }
}
