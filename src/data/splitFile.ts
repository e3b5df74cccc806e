import { DataFormatError, describeValue } from '../errors.js';
import { sizeOf } from '../tensor/tensor.js';
import { ImageDataset, type Split } from './dataset.js';

/**
 * A split file: a training and a test {@link ImageDataset} in one compact binary file, so that a
 * browser (or any code without Node's file system) can load image data from bytes it fetched or
 * bundled, with no Node module involved. This is how the embedded MNIST digits reach a web page:
 * Node writes them once with {@link encodeSplit}; the page reads the bytes back with
 * {@link decodeSplit}.
 *
 * Format, version 1 (integers little-endian):
 *
 * ```
 * bytes 0–7     magic "ASYMPSPL"
 * bytes 8–11    uint32 header length H
 * bytes 12–…    header: H bytes of UTF-8 JSON (see SplitHeader)
 * then          the training images, then the test images (one byte per pixel, sample after sample)
 * then          the training labels, then the test labels (one byte each)
 * ```
 */
export const SPLIT_MAGIC = 'ASYMPSPL';
/** The format version {@link encodeSplit} writes and {@link decodeSplit} reads (see {@link SPLIT_MAGIC}). */
export const SPLIT_VERSION = 1;

/** The JSON header of a split file: what the two datasets share, and each one's name and size. */
export interface SplitHeader {
  /** Always `asymprop-split`. */
  readonly format: 'asymprop-split';
  /** {@link SPLIT_VERSION} when written. */
  readonly version: number;
  /** Shape of one sample, e.g. `[1, 28, 28]`. */
  readonly sampleShape: readonly number[];
  /** Number of classes. */
  readonly numClasses: number;
  /** The normalisation `x = (byte/255 − mean) / std` of both sets. */
  readonly mean: number;
  /** The divisor of that normalisation. */
  readonly std: number;
  /** The training set's name and number of samples. */
  readonly train: SplitSet;
  /** The test set's name and number of samples. */
  readonly test: SplitSet;
}

/** One set of a split file, as its header describes it. */
export interface SplitSet {
  /** The dataset's name, e.g. `mnist-embedded/train`. */
  readonly name: string;
  /** Its number of samples. */
  readonly size: number;
}

const PREFIX_BYTES = 12;

/**
 * Writes a split as one split file (see {@link SPLIT_MAGIC} for the layout). Both sets must share
 * their sample shape, classes and normalisation, as the splits of the library's loaders do.
 *
 * @throws {@link DataFormatError} when the two sets differ in sample shape, classes or normalisation.
 *
 * @example
 * ```ts
 * import { ImageDataset, decodeSplit, encodeSplit } from 'asymprop';
 *
 * const set = (name: string, labels: number[]) => new ImageDataset({
 *   name, images: new Uint8Array(labels.length * 4).fill(200), labels: Uint8Array.from(labels),
 *   sampleShape: [1, 2, 2], numClasses: 2, mean: 0.5, std: 0.5,
 * });
 * const bytes = encodeSplit({ train: set('toy/train', [0, 1, 1]), test: set('toy/test', [1]) });
 * const { train, test } = decodeSplit(bytes);
 * console.log(train.name, train.size, test.size, train.sampleShape); // toy/train 3 1 [ 1, 2, 2 ]
 * ```
 */
export function encodeSplit({ train, test }: Split): Uint8Array {
  for (const [field, a, b] of [['sampleShape', train.sampleShape.join('×'), test.sampleShape.join('×')], ['numClasses', train.numClasses, test.numClasses], ['mean', train.mean, test.mean], ['std', train.std, test.std]] as const) {
    if (a !== b) throw new DataFormatError(`split ${train.name} + ${test.name}`, `the sets differ in ${field}: ${a} and ${b}`);
  }
  const header: SplitHeader = {
    format: 'asymprop-split',
    version: SPLIT_VERSION,
    sampleShape: train.sampleShape,
    numClasses: train.numClasses,
    mean: train.mean,
    std: train.std,
    train: { name: train.name, size: train.size },
    test: { name: test.name, size: test.size },
  };
  const json = new TextEncoder().encode(JSON.stringify(header));
  const parts = [train.images, test.images, train.labels, test.labels];
  const out = new Uint8Array(PREFIX_BYTES + json.length + parts.reduce((n, p) => n + p.length, 0));
  out.set(new TextEncoder().encode(SPLIT_MAGIC), 0);
  new DataView(out.buffer).setUint32(8, json.length, true);
  out.set(json, PREFIX_BYTES);
  let offset = PREFIX_BYTES + json.length;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

/**
 * Reads a split file written by {@link encodeSplit} back into its two datasets. The datasets'
 * pixels and labels are views into `bytes` (nothing is copied). It uses no Node module, so it runs
 * in browsers and Web Workers: fetch the file, or import it through your bundler, and pass the bytes.
 *
 * @param bytes the file's contents.
 * @param file the file's name, for error messages.
 * @throws {@link DataFormatError} naming the file and the field when the bytes are not a split
 * file of this version, or its header disagrees with its length.
 *
 * @example
 * ```ts
 * import { decodeSplit } from 'asymprop';
 *
 * // In a page: the file written in Node by encodeSplit(splitEmbeddedMnist()), served beside it.
 * async function loadDigits(url: string) {
 *   const response = await fetch(url);
 *   return decodeSplit(new Uint8Array(await response.arrayBuffer()), url);
 * }
 * console.log(typeof loadDigits); // function
 * ```
 */
export function decodeSplit(bytes: Uint8Array | ArrayBuffer, file = 'split file'): Split {
  const data = bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes);
  const magic = new TextDecoder().decode(data.subarray(0, SPLIT_MAGIC.length));
  if (data.length < PREFIX_BYTES || magic !== SPLIT_MAGIC) {
    throw new DataFormatError(file, `not an asymprop split file: it starts with ${describeValue(magic)}, expected "${SPLIT_MAGIC}"`, 0);
  }
  const headerLength = new DataView(data.buffer, data.byteOffset, data.byteLength).getUint32(8, true);
  if (PREFIX_BYTES + headerLength > data.length) throw new DataFormatError(file, `a ${headerLength}-byte header does not fit the ${data.length}-byte file`, 8);
  let header: SplitHeader;
  try {
    header = JSON.parse(new TextDecoder().decode(data.subarray(PREFIX_BYTES, PREFIX_BYTES + headerLength))) as SplitHeader;
  } catch (e) {
    throw new DataFormatError(file, `the header is not JSON: ${(e as Error).message}`, PREFIX_BYTES);
  }
  checkHeader(header, file);
  const sampleSize = sizeOf(header.sampleShape);
  const { train, test } = header;
  const expected = PREFIX_BYTES + headerLength + (train.size + test.size) * (sampleSize + 1);
  if (data.length !== expected) {
    throw new DataFormatError(file, `${data.length} bytes, expected ${expected} for ${train.size} + ${test.size} samples of ${sampleSize} bytes`, PREFIX_BYTES + headerLength);
  }
  let offset = PREFIX_BYTES + headerLength;
  const take = (n: number) => data.subarray(offset, (offset += n));
  const trainImages = take(train.size * sampleSize);
  const testImages = take(test.size * sampleSize);
  const common = { sampleShape: header.sampleShape, numClasses: header.numClasses, mean: header.mean, std: header.std };
  return {
    train: new ImageDataset({ name: train.name, images: trainImages, labels: take(train.size), ...common }),
    test: new ImageDataset({ name: test.name, images: testImages, labels: take(test.size), ...common }),
  };
}

/** Checks the header's fields for their types and ranges; a {@link DataFormatError} names the field. */
function checkHeader(header: SplitHeader, file: string): void {
  const bad = (field: string, expected: string, value: unknown) => new DataFormatError(file, `header field "${field}": expected ${expected}, found ${describeValue(value)}`, PREFIX_BYTES);
  const count = (v: unknown) => Number.isInteger(v) && (v as number) >= 0;
  if (typeof header !== 'object' || header === null || header.format !== 'asymprop-split') throw bad('format', '"asymprop-split"', header?.format);
  if (header.version !== SPLIT_VERSION) throw bad('version', String(SPLIT_VERSION), header.version);
  if (!Array.isArray(header.sampleShape) || header.sampleShape.length === 0 || !header.sampleShape.every((d) => count(d) && d > 0)) {
    throw bad('sampleShape', 'a list of positive sizes', header.sampleShape);
  }
  for (const field of ['mean', 'std'] as const) if (typeof header[field] !== 'number') throw bad(field, 'a number', header[field]);
  if (!count(header.numClasses)) throw bad('numClasses', 'an integer', header.numClasses);
  for (const set of ['train', 'test'] as const) {
    const s = header[set];
    if (typeof s?.name !== 'string') throw bad(`${set}.name`, 'a string', s?.name);
    if (!count(s.size)) throw bad(`${set}.size`, 'an integer ≥ 0', s.size);
  }
}
