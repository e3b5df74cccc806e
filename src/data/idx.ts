import { ConfigError, DataFormatError, formatShape } from '../errors.js';

/**
 * Parsers for the IDX format of MNIST and Fashion-MNIST. Pure: they take the file's bytes (already
 * decompressed), so they run the same in Node and in browsers.
 *
 * An IDX file is a header followed by the data:
 *
 * | offset | size | field |
 * |---|---|---|
 * | 0 | 2 | magic, two zero bytes |
 * | 2 | 1 | data type (`0x08` = unsigned byte) |
 * | 3 | 1 | rank r |
 * | 4 | 4·r | the r dimensions, big-endian uint32 |
 * | 4 + 4·r | ∏ dims | the data, row-major |
 */

/** A parsed IDX file of unsigned bytes. */
export interface IdxArray {
  /** The dimensions, outermost first, e.g. `[60000, 28, 28]`. */
  readonly dims: number[];
  /** The data, `∏ dims` bytes: a view on the input bytes, not a copy. */
  readonly data: Uint8Array;
}

/** The largest data size, in bytes, a header may claim (2^31). */
export const IDX_MAX_BYTES = 2 ** 31;

/** The largest rank accepted. */
export const IDX_MAX_RANK = 4;

const TYPE_NAMES: Readonly<Record<number, string>> = {
  0x08: 'unsigned byte',
  0x09: 'signed byte',
  0x0b: 'int16',
  0x0c: 'int32',
  0x0d: 'float32',
  0x0e: 'float64',
};

const hex = (b: number): string => `0x${b.toString(16).padStart(2, '0')}`;

/**
 * Parses an IDX file of unsigned bytes (type `0x08`).
 *
 * Everything in the header is checked before any use: the magic, the data type, the rank (1 to 4),
 * every dimension (non-zero), their product (at most 2^31 bytes) and that the data after the header
 * is exactly that long (neither truncated nor followed by trailing bytes). Nothing is allocated from
 * the header's claims: the returned data is a view on `bytes`.
 *
 * @param bytes The file's contents (decompressed).
 * @param file The file's name or path, for error messages.
 * @throws {@link DataFormatError} naming the file, the byte offset and the field that was wrong.
 *
 * @example
 * ```ts
 * import { parseIdx } from 'asymprop';
 *
 * // A rank-1 file of three labels: magic 0 0, type 0x08, rank 1, dimension 3 (big-endian), data.
 * const bytes = Uint8Array.of(0, 0, 0x08, 1, 0, 0, 0, 3, 7, 2, 1);
 * const { dims, data } = parseIdx(bytes, 'labels-idx1-ubyte');
 * console.log(dims, data); // [ 3 ] Uint8Array(3) [ 7, 2, 1 ]
 * ```
 */
export function parseIdx(bytes: Uint8Array, file: string): IdxArray {
  if (!(bytes instanceof Uint8Array)) throw new DataFormatError(file, `expected the file's bytes as a Uint8Array, received ${typeof bytes}`);
  const length = bytes.length;
  if (length < 4) throw new DataFormatError(file, `file is ${length} bytes, shorter than the 4-byte IDX header (magic, type, rank)`, 0);
  if (bytes[0] !== 0 || bytes[1] !== 0) {
    throw new DataFormatError(file, `magic: expected 0x00 0x00, found ${hex(bytes[0]!)} ${hex(bytes[1]!)} (not an IDX file, or still compressed?)`, 0);
  }
  const type = bytes[2]!;
  if (type !== 0x08) {
    const known = TYPE_NAMES[type];
    throw new DataFormatError(
      file,
      `data type ${hex(type)}${known === undefined ? ' is unknown' : ` (${known}) is not supported`} (supported: 0x08, unsigned byte)`,
      2,
    );
  }
  const rank = bytes[3]!;
  if (rank === 0 || rank > IDX_MAX_RANK) throw new DataFormatError(file, `rank ${rank} is outside [1, ${IDX_MAX_RANK}]`, 3);
  const headerLength = 4 + 4 * rank;
  if (length < headerLength) {
    throw new DataFormatError(file, `file is ${length} bytes, shorter than the ${headerLength}-byte header of a rank-${rank} IDX file`, length);
  }
  const dims: number[] = [];
  let total = 1;
  for (let i = 0; i < rank; i++) {
    const at = 4 + 4 * i;
    const d = bytes[at]! * 0x1000000 + ((bytes[at + 1]! << 16) | (bytes[at + 2]! << 8) | bytes[at + 3]!);
    if (d === 0) throw new DataFormatError(file, `dimension ${i} is 0`, at);
    dims.push(d);
    total *= d;
    if (total > IDX_MAX_BYTES) {
      throw new DataFormatError(file, `dimensions ${formatShape(dims)}${i + 1 < rank ? '…' : ''} claim more than 2^31 bytes of data (file has ${length - headerLength})`, at);
    }
  }
  const available = length - headerLength;
  if (available < total) {
    throw new DataFormatError(
      file,
      `data: dimensions ${formatShape(dims)} need ${total} bytes after the ${headerLength}-byte header, file has ${available} (truncated by ${total - available})`,
      headerLength,
    );
  }
  if (available > total) {
    throw new DataFormatError(
      file,
      `data: ${available - total} trailing byte${available - total === 1 ? '' : 's'}: dimensions ${formatShape(dims)} need ${total} bytes after the ${headerLength}-byte header, file has ${available}`,
      headerLength + total,
    );
  }
  return { dims, data: bytes.subarray(headerLength, headerLength + total) };
}

/** The file names used in {@link idxImagesAndLabels}'s messages. */
export interface IdxFileNames {
  /** The images file's name or path. */
  readonly images: string;
  /** The labels file's name or path. */
  readonly labels: string;
}

/** Options of {@link idxImagesAndLabels}. */
export interface IdxImagesAndLabelsOptions {
  /** Labels must be in [0, numClasses); default 10. */
  numClasses?: number;
}

/** Images and labels read from a pair of IDX files. */
export interface IdxImagesAndLabels {
  /** `n × rows × cols` pixel bytes (a view on the images file's bytes). */
  readonly images: Uint8Array;
  /** `n` labels (a view on the labels file's bytes). */
  readonly labels: Uint8Array;
  /** The number of images, n. */
  readonly count: number;
  /** Image height. */
  readonly rows: number;
  /** Image width. */
  readonly cols: number;
  /** `[1, rows, cols]`: one channel. */
  readonly sampleShape: [number, number, number];
}

/**
 * Reads a pair of IDX files, images `[n, rows, cols]` and labels `[n]`, checking that they agree
 * on `n` and that every label is in [0, numClasses).
 *
 * @param images The images file's bytes (decompressed).
 * @param labels The labels file's bytes (decompressed).
 * @param names The two files' names, for error messages.
 * @throws {@link DataFormatError} naming the file and what was wrong (for a label: its index and value).
 * @throws {@link ConfigError} when `numClasses` is not an integer in [1, 256].
 */
export function idxImagesAndLabels(
  images: Uint8Array,
  labels: Uint8Array,
  names: IdxFileNames,
  options: IdxImagesAndLabelsOptions = {},
): IdxImagesAndLabels {
  const numClasses = options.numClasses ?? 10;
  if (!Number.isInteger(numClasses) || numClasses < 1 || numClasses > 256) {
    throw new ConfigError('numClasses', numClasses, 'an integer in [1, 256]');
  }
  const img = parseIdx(images, names.images);
  if (img.dims.length !== 3) {
    throw new DataFormatError(names.images, `rank: expected an images file of rank 3 [n, rows, cols], found rank ${img.dims.length} ${formatShape(img.dims)}`, 3);
  }
  const lab = parseIdx(labels, names.labels);
  if (lab.dims.length !== 1) {
    throw new DataFormatError(names.labels, `rank: expected a labels file of rank 1 [n], found rank ${lab.dims.length} ${formatShape(lab.dims)}`, 3);
  }
  const [count, rows, cols] = img.dims as [number, number, number];
  if (lab.dims[0] !== count) {
    throw new DataFormatError(names.labels, `dimension 0: ${lab.dims[0]} labels, but ${names.images} holds ${count} images`, 4);
  }
  const data = lab.data;
  for (let i = 0; i < data.length; i++) {
    if (data[i]! >= numClasses) {
      throw new DataFormatError(names.labels, `label ${i} is ${data[i]}, outside [0, ${numClasses})`, 8 + i);
    }
  }
  return { images: img.data, labels: data, count, rows, cols, sampleShape: [1, rows, cols] };
}
