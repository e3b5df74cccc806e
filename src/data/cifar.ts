import { ConfigError, DataFormatError } from '../errors.js';

/**
 * Parser for the binary versions of CIFAR-10 and CIFAR-100. Pure: it takes the file's bytes, so it
 * runs the same in Node and in browsers.
 *
 * A file is a sequence of records, each the label byte(s) followed by a 32×32 colour image as three
 * 1024-byte planes (red, green, blue), each plane row-major:
 *
 * - CIFAR-10: 1 label byte (0–9) + 3072 pixel bytes = 3073 bytes;
 * - CIFAR-100: a coarse label byte (0–19), a fine label byte (0–99), then 3072 pixel bytes = 3074 bytes.
 */

/** Which CIFAR dataset a file belongs to. */
export type CifarVariant = 'cifar10' | 'cifar100';

/** Options of {@link parseCifar}. */
export interface CifarOptions {
  /** The dataset the file belongs to, which fixes the record layout. */
  variant: CifarVariant;
  /** CIFAR-100 only: the 100 fine classes (default) or the 20 coarse superclasses. */
  labels?: 'fine' | 'coarse';
}

/** Images and labels read from a CIFAR binary file. */
export interface CifarData {
  /** `n × 3 × 32 × 32` pixel bytes, channel-major per image (CHW), as in the file. */
  readonly images: Uint8Array;
  /** `n` labels. */
  readonly labels: Uint8Array;
  /** 10, 100 (fine) or 20 (coarse). */
  readonly numClasses: number;
}

/** Bytes of one CIFAR image: 3 channels × 32 × 32. */
export const CIFAR_PIXELS = 3 * 32 * 32;

/** The shape of one CIFAR image. */
export const CIFAR_SAMPLE_SHAPE: readonly [number, number, number] = [3, 32, 32];

interface Layout {
  recordSize: number;
  labelOffset: number;
  numClasses: number;
}

function layout(options: CifarOptions): Layout {
  const { variant } = options;
  if (variant === 'cifar10') {
    if (options.labels !== undefined && options.labels !== 'fine') {
      throw new ConfigError('labels', options.labels, "'fine' or undefined for cifar10, which has one label per image");
    }
    return { recordSize: 1 + CIFAR_PIXELS, labelOffset: 0, numClasses: 10 };
  }
  if (variant === 'cifar100') {
    const kind = options.labels ?? 'fine';
    if (kind === 'fine') return { recordSize: 2 + CIFAR_PIXELS, labelOffset: 1, numClasses: 100 };
    if (kind === 'coarse') return { recordSize: 2 + CIFAR_PIXELS, labelOffset: 0, numClasses: 20 };
    throw new ConfigError('labels', kind, "'fine' or 'coarse'");
  }
  throw new ConfigError('variant', variant, "'cifar10' or 'cifar100'");
}

/**
 * Parses a CIFAR-10 or CIFAR-100 binary file (e.g. `data_batch_1.bin`, `test_batch.bin`,
 * `train.bin`).
 *
 * The file's length must be a positive multiple of the record size (3073 or 3074 bytes) and every
 * label in range — both checked before the output is allocated. For CIFAR-100 both label bytes are
 * checked (coarse < 20, fine < 100), whichever is returned.
 *
 * @param bytes The file's contents.
 * @param file The file's name or path, for error messages.
 * @throws {@link DataFormatError} naming the file and what was wrong (the length and the record
 * size, or the record index, the byte offset and the label value).
 * @throws {@link ConfigError} for an unknown variant or label kind.
 *
 * @example
 * ```ts
 * import { CIFAR_PIXELS, parseCifar } from 'asymprop';
 *
 * // One CIFAR-10 record: label 3, then 3072 pixel bytes.
 * const bytes = new Uint8Array(1 + CIFAR_PIXELS);
 * bytes[0] = 3;
 * bytes[1 + 2 * 1024] = 200; // blue plane, row 0, column 0
 * const { images, labels, numClasses } = parseCifar(bytes, 'test_batch.bin', { variant: 'cifar10' });
 * // pixel (channel c, row y, column x) of image i: images[((i * 3 + c) * 32 + y) * 32 + x]
 * console.log(labels, numClasses, images[((0 * 3 + 2) * 32 + 0) * 32 + 0]); // Uint8Array(1) [ 3 ] 10 200
 * ```
 */
export function parseCifar(bytes: Uint8Array, file: string, options: CifarOptions): CifarData {
  const { recordSize, labelOffset, numClasses } = layout(options);
  if (!(bytes instanceof Uint8Array)) throw new DataFormatError(file, `expected the file's bytes as a Uint8Array, received ${typeof bytes}`);
  const length = bytes.length;
  if (length === 0) throw new DataFormatError(file, `file is empty; expected records of ${recordSize} bytes (${options.variant})`, 0);
  if (length % recordSize !== 0) {
    throw new DataFormatError(
      file,
      `length ${length} is not a multiple of the ${recordSize}-byte ${options.variant} record (${Math.floor(length / recordSize)} whole record${Math.floor(length / recordSize) === 1 ? '' : 's'} and ${length % recordSize} bytes left over)`,
      length - (length % recordSize),
    );
  }
  const count = length / recordSize;
  const labelBytes = recordSize - CIFAR_PIXELS;
  for (let r = 0; r < count; r++) {
    const at = r * recordSize;
    if (labelBytes === 2 && bytes[at]! >= 20) throw new DataFormatError(file, `record ${r}: coarse label ${bytes[at]} is outside [0, 20)`, at);
    const fineLimit = labelBytes === 2 ? 100 : 10;
    const v = bytes[at + labelBytes - 1]!;
    if (v >= fineLimit) {
      throw new DataFormatError(file, `record ${r}: ${labelBytes === 2 ? 'fine label' : 'label'} ${v} is outside [0, ${fineLimit})`, at + labelBytes - 1);
    }
  }
  const images = new Uint8Array(count * CIFAR_PIXELS);
  const labels = new Uint8Array(count);
  for (let r = 0; r < count; r++) {
    const at = r * recordSize;
    labels[r] = bytes[at + labelOffset]!;
    images.set(bytes.subarray(at + labelBytes, at + recordSize), r * CIFAR_PIXELS);
  }
  return { images, labels, numClasses };
}
