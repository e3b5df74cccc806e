/**
 * The page's MNIST asset, `mnist-digits.bin`: a subset of real MNIST digits in a compact binary
 * form, written at build time by the plugin in `site/vite.config.ts` and read by the worker.
 *
 * Layout (little-endian): the 4 bytes `ADIG`; uint32 version (1); uint32 number of training
 * digits; uint32 number of test digits; float64 mean and float64 std of the normalisation
 * `x = (byte/255 − mean) / std` (applied per batch, as the library's `ImageDataset` does); then
 * the training images (784 bytes each, row-major 28×28), the test images, the training labels and
 * the test labels (one byte each).
 *
 * This file has no dependencies, so the build (Node) and the worker (browser) share it.
 */

/** The file name, relative to the page. */
export const DIGITS_FILE = 'mnist-digits.bin';

/** Pixels of one 28×28 digit. */
export const PIXELS = 28 * 28;

const MAGIC = 'ADIG';
const VERSION = 1;
const HEADER_BYTES = 32;

/** Training and test digits as bytes, with the normalisation constants. */
export interface Digits {
  readonly trainImages: Uint8Array;
  readonly trainLabels: Uint8Array;
  readonly testImages: Uint8Array;
  readonly testLabels: Uint8Array;
  readonly mean: number;
  readonly std: number;
}

/** Writes {@link Digits} in the layout above. */
export function encodeDigits(digits: Digits): Uint8Array {
  const { trainImages, trainLabels, testImages, testLabels } = digits;
  if (trainImages.length !== trainLabels.length * PIXELS || testImages.length !== testLabels.length * PIXELS) {
    throw new Error(`encodeDigits: expected ${PIXELS} image bytes per label`);
  }
  const out = new Uint8Array(HEADER_BYTES + trainImages.length + testImages.length + trainLabels.length + testLabels.length);
  const view = new DataView(out.buffer);
  for (let i = 0; i < 4; i++) out[i] = MAGIC.charCodeAt(i);
  view.setUint32(4, VERSION, true);
  view.setUint32(8, trainLabels.length, true);
  view.setUint32(12, testLabels.length, true);
  view.setFloat64(16, digits.mean, true);
  view.setFloat64(24, digits.std, true);
  let offset = HEADER_BYTES;
  for (const part of [trainImages, testImages, trainLabels, testLabels]) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

/** Reads {@link encodeDigits}'s layout back (views into `buffer`, no copy). */
export function decodeDigits(buffer: ArrayBuffer): Digits {
  const bytes = new Uint8Array(buffer);
  const view = new DataView(buffer);
  const magic = String.fromCharCode(...bytes.subarray(0, 4));
  if (bytes.length < HEADER_BYTES || magic !== MAGIC || view.getUint32(4, true) !== VERSION) {
    throw new Error(`${DIGITS_FILE}: not a version ${VERSION} digits file (starts with ${JSON.stringify(magic)})`);
  }
  const nTrain = view.getUint32(8, true);
  const nTest = view.getUint32(12, true);
  const expected = HEADER_BYTES + (nTrain + nTest) * (PIXELS + 1);
  if (bytes.length !== expected) throw new Error(`${DIGITS_FILE}: ${bytes.length} bytes, expected ${expected} for ${nTrain} + ${nTest} digits`);
  let offset = HEADER_BYTES;
  const take = (n: number) => bytes.subarray(offset, (offset += n));
  const trainImages = take(nTrain * PIXELS);
  const testImages = take(nTest * PIXELS);
  const trainLabels = take(nTrain);
  const testLabels = take(nTest);
  return { trainImages, trainLabels, testImages, testLabels, mean: view.getFloat64(16, true), std: view.getFloat64(24, true) };
}
