import { existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { DataFormatError } from '../errors.js';
import { CIFAR_PIXELS, CIFAR_SAMPLE_SHAPE, parseCifar, type CifarVariant } from './cifar.js';
import { ImageDataset } from './dataset.js';
import { MNIST_MEAN, MNIST_STD } from './embeddedMnist.js';
import type { Split } from './dataset.js';
import { idxImagesAndLabels, type IdxImagesAndLabels } from './idx.js';

/**
 * Node-only loaders for datasets stored as files: MNIST and Fashion-MNIST (IDX, raw or gzipped),
 * CIFAR-10 and CIFAR-100 (binary versions). Each returns the official training and test sets as
 * {@link ImageDataset}s, which keep the pixels as bytes and normalise them per batch.
 */

/** Fashion-MNIST's normalisation constants (mean and std of the training pixels after /255). */
export const FASHION_MNIST_MEAN = 0.286;
/** The std of Fashion-MNIST's training pixels after /255 (see {@link FASHION_MNIST_MEAN}). */
export const FASHION_MNIST_STD = 0.353;

/** CIFAR-10's mean and std of the training pixels after /255, over all three channels together. */
export const CIFAR10_MEAN = 0.4734;
/** The std of CIFAR-10's training pixels after /255, over all three channels (see {@link CIFAR10_MEAN}). */
export const CIFAR10_STD = 0.2516;

/** CIFAR-100's mean and std of the training pixels after /255, over all three channels together. */
export const CIFAR100_MEAN = 0.4782;
/** The std of CIFAR-100's training pixels after /255, over all three channels (see {@link CIFAR100_MEAN}). */
export const CIFAR100_STD = 0.2682;

/** Where {@link loadFashionMnist} looks by default (where Debian's `dataset-fashion-mnist` installs it). */
export const FASHION_MNIST_DIR = '/usr/share/datasets/fashion-mnist';

/** The default bound on a file's (decompressed) size: 1 GiB. */
export const MAX_FILE_BYTES = 2 ** 30;

/** Options of {@link readMaybeGzip}. */
export interface ReadOptions {
  /** Largest accepted size, in bytes, of the file or of its decompressed contents; default 1 GiB. */
  maxBytes?: number;
}

/**
 * Reads a file, decompressing it when its name ends in `.gz` or its contents start with the gzip
 * magic bytes `1f 8b`. The decompressed size is bounded (`maxBytes`, 1 GiB by default), so a
 * small file that would inflate to gigabytes fails cleanly instead of exhausting memory.
 *
 * @throws {@link asymprop!DataFormatError} naming the path when the file does not exist or cannot be read,
 * is larger than the bound, or is not valid gzip data.
 */
export function readMaybeGzip(path: string, options: ReadOptions = {}): Uint8Array {
  const maxBytes = options.maxBytes ?? MAX_FILE_BYTES;
  let raw: Buffer;
  try {
    const stats = statSync(path);
    if (!stats.isFile()) throw new DataFormatError(path, 'is not a file');
    const size = stats.size;
    if (size > maxBytes) throw new DataFormatError(path, `file is ${size} bytes, more than the limit of ${maxBytes}`);
    raw = readFileSync(path);
  } catch (e) {
    if (e instanceof DataFormatError) throw e;
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new DataFormatError(path, 'file does not exist');
    throw new DataFormatError(path, `cannot be read: ${(e as Error).message}`);
  }
  const gzipMagic = raw.length >= 2 && raw[0] === 0x1f && raw[1] === 0x8b;
  if (!gzipMagic && !path.endsWith('.gz')) return asBytes(raw);
  if (!gzipMagic) {
    const found = Array.from(raw.subarray(0, 2), (b) => b.toString(16).padStart(2, '0')).join(' ');
    throw new DataFormatError(
      path,
      `named .gz but not gzip data: starts with ${found || '(nothing)'}, not 1f 8b (if it was already decompressed, drop the .gz from its name)`,
      0,
    );
  }
  try {
    return asBytes(gunzipSync(raw, { maxOutputLength: maxBytes }));
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    if (err.code === 'ERR_BUFFER_TOO_LARGE') {
      throw new DataFormatError(path, `gzip data decompresses to more than the limit of ${maxBytes} bytes`);
    }
    throw new DataFormatError(path, `corrupt gzip data: ${err.message}`);
  }
}

/** A plain Uint8Array view on a Buffer's bytes (no copy). */
function asBytes(b: Buffer): Uint8Array {
  return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
}

/** Options of {@link loadMnistFormat}. */
export interface MnistFormatOptions {
  /** Dataset name; the sets are named `<name>/train` and `<name>/test`. */
  name: string;
  /** Normalisation applied per batch: `x = (byte/255 − mean) / std`. */
  mean: number;
  /** The divisor of that normalisation. */
  std: number;
  /** Labels must be in [0, numClasses); default 10. */
  numClasses?: number;
}

/** The names an IDX file may have, e.g. `train-images-idx3-ubyte[.gz]` or `train-images.idx3-ubyte[.gz]`. */
function idxCandidates(stem: string, kind: 'idx3' | 'idx1'): string[] {
  return [`${stem}-${kind}-ubyte`, `${stem}-${kind}-ubyte.gz`, `${stem}.${kind}-ubyte`, `${stem}.${kind}-ubyte.gz`];
}

function requireDirectory(dir: string): void {
  let ok = false;
  try {
    ok = statSync(dir).isDirectory();
  } catch {
    throw new DataFormatError(dir, 'the data directory does not exist');
  }
  if (!ok) throw new DataFormatError(dir, 'is not a directory (expected the data directory)');
}

/** The first of `names` present in one of `dirs`, or an error listing everything looked for. */
function findFile(dirs: string[], names: string[], what: string): string {
  for (const dir of dirs) {
    for (const name of names) {
      const path = join(dir, name);
      if (existsSync(path)) return path;
    }
  }
  const where = dirs.length === 1 ? `in ${dirs[0]}` : `in ${dirs.join(' or ')}`;
  throw new DataFormatError(dirs[0]!, `no ${what} file: looked for ${names.join(', ')} ${where}`);
}

/**
 * Loads a dataset in MNIST's layout: four IDX files (raw or gzipped) in one directory,
 * `train-images-idx3-ubyte`, `train-labels-idx1-ubyte`, `t10k-images-idx3-ubyte` and
 * `t10k-labels-idx1-ubyte`, each optionally ending in `.gz`, and also accepted with a dot before
 * `idx` (`train-images.idx3-ubyte`), as some mirrors ship them.
 *
 * Images have shape `[1, rows, cols]` (`[1, 28, 28]` for MNIST); training and test images must
 * have the same size.
 *
 * @throws {@link asymprop!DataFormatError} naming the file and what was wrong; for a missing file, the names
 * looked for and the directory.
 */
export function loadMnistFormat(dir: string, options: MnistFormatOptions): Split {
  const { name, mean, std } = options;
  const numClasses = options.numClasses ?? 10;
  requireDirectory(dir);
  const part = (stem: 'train' | 't10k'): IdxImagesAndLabels & { file: string } => {
    const what = stem === 'train' ? 'training' : 'test';
    const imagesPath = findFile([dir], idxCandidates(`${stem}-images`, 'idx3'), `${what} images`);
    const labelsPath = findFile([dir], idxCandidates(`${stem}-labels`, 'idx1'), `${what} labels`);
    const parsed = idxImagesAndLabels(readMaybeGzip(imagesPath), readMaybeGzip(labelsPath), { images: imagesPath, labels: labelsPath }, { numClasses });
    return { ...parsed, file: imagesPath };
  };
  const train = part('train');
  const test = part('t10k');
  if (test.rows !== train.rows || test.cols !== train.cols) {
    throw new DataFormatError(test.file, `images are ${test.rows}×${test.cols}, but the training images (${train.file}) are ${train.rows}×${train.cols}`, 8);
  }
  const make = (set: IdxImagesAndLabels, suffix: string): ImageDataset =>
    new ImageDataset({ name: `${name}/${suffix}`, images: set.images, labels: set.labels, sampleShape: set.sampleShape, numClasses, mean, std });
  return { train: make(train, 'train'), test: make(test, 'test') };
}

/**
 * Loads Fashion-MNIST's official split (60,000 training and 10,000 test images, 28×28, 10 classes)
 * from its IDX files, normalised as `(x/255 − 0.2860) / 0.3530`. The sets are named
 * `fashion-mnist/train` and `fashion-mnist/test`.
 *
 * @param dir The directory holding the four IDX files (raw or gzipped); by default
 * `/usr/share/datasets/fashion-mnist`.
 *
 * @throws {@link asymprop!DataFormatError} naming the directory or file when one is missing or malformed.
 *
 * @example
 * ```ts
 * import { loadFashionMnist } from 'asymprop/node';
 *
 * const { train, test } = loadFashionMnist(); // needs Debian's dataset-fashion-mnist, or pass its directory
 * console.log(train.size, test.size, train.numClasses); // 60000 10000 10
 * ```
 */
export function loadFashionMnist(dir: string = FASHION_MNIST_DIR): Split {
  return loadMnistFormat(dir, { name: 'fashion-mnist', mean: FASHION_MNIST_MEAN, std: FASHION_MNIST_STD });
}

/**
 * Loads MNIST's official split (60,000 training and 10,000 test digits) from its IDX files,
 * normalised as `(x/255 − 0.1307) / 0.3081`. The sets are named `mnist/train` and `mnist/test`.
 *
 * @param dir The directory holding the four IDX files (raw or gzipped), as in {@link loadMnistFormat}.
 * @throws {@link asymprop!DataFormatError} naming the directory or file when one is missing or malformed.
 */
export function loadMnist(dir: string): Split {
  return loadMnistFormat(dir, { name: 'mnist', mean: MNIST_MEAN, std: MNIST_STD });
}

/** Parses several CIFAR files and joins them into one set. */
function loadCifarFiles(paths: string[], variant: CifarVariant, labels: 'fine' | 'coarse'): { images: Uint8Array; labels: Uint8Array; numClasses: number } {
  const parts = paths.map((p) => parseCifar(readMaybeGzip(p), p, { variant, labels }));
  if (parts.length === 1) return parts[0]!;
  const count = parts.reduce((n, p) => n + p.labels.length, 0);
  const images = new Uint8Array(count * CIFAR_PIXELS);
  const allLabels = new Uint8Array(count);
  let i = 0, o = 0;
  for (const p of parts) {
    images.set(p.images, o);
    allLabels.set(p.labels, i);
    o += p.images.length;
    i += p.labels.length;
  }
  return { images, labels: allLabels, numClasses: parts[0]!.numClasses };
}

function cifarSplit(
  dir: string,
  sub: string,
  trainNames: string[],
  testName: string,
  variant: CifarVariant,
  labels: 'fine' | 'coarse',
  name: string,
  mean: number,
  std: number,
): Split {
  requireDirectory(dir);
  // The files are in `dir` itself or in the subdirectory the archive unpacks to.
  const dirs = [dir, join(dir, sub)];
  const base = dirname(findFile(dirs, [trainNames[0]!], 'training'));
  const trainPaths = trainNames.map((n) => findFile([base], [n], 'training'));
  const testPath = findFile([base], [testName], 'test');
  const make = (paths: string[], suffix: string): ImageDataset => {
    const d = loadCifarFiles(paths, variant, labels);
    return new ImageDataset({ name: `${name}/${suffix}`, images: d.images, labels: d.labels, sampleShape: [...CIFAR_SAMPLE_SHAPE], numClasses: d.numClasses, mean, std });
  };
  return { train: make(trainPaths, 'train'), test: make([testPath], 'test') };
}

/**
 * Loads CIFAR-10's official split (50,000 training images from `data_batch_1.bin` …
 * `data_batch_5.bin`, 10,000 test images from `test_batch.bin`; the binary version), each image
 * `[3, 32, 32]`. The files may be in `dir` itself or in its `cifar-10-batches-bin` subdirectory (as
 * the archive unpacks). The sets are named `cifar10/train` and `cifar10/test`.
 *
 * Normalisation: {@link ImageDataset} applies one mean and std to every pixel, so per-channel
 * normalisation is not available; this uses the mean and std over all three channels of the
 * training pixels after /255, 0.4734 and 0.2516 (the per-channel values are about
 * (0.4914, 0.4822, 0.4465) and (0.2470, 0.2435, 0.2616)).
 *
 * @throws {@link asymprop!DataFormatError} naming the directory or file when one is missing or malformed.
 */
export function loadCifar10(dir: string): Split {
  const trainNames = [1, 2, 3, 4, 5].map((i) => `data_batch_${i}.bin`);
  return cifarSplit(dir, 'cifar-10-batches-bin', trainNames, 'test_batch.bin', 'cifar10', 'fine', 'cifar10', CIFAR10_MEAN, CIFAR10_STD);
}

/** Options of {@link loadCifar100}. */
export interface Cifar100Options {
  /** The 100 fine classes (default) or the 20 coarse superclasses. */
  labels?: 'fine' | 'coarse';
}

/**
 * Loads CIFAR-100's official split (50,000 training images from `train.bin`, 10,000 test images
 * from `test.bin`; the binary version), each image `[3, 32, 32]`, labelled with the 100 fine
 * classes (default) or the 20 coarse superclasses. The files may be in `dir` itself or in its
 * `cifar-100-binary` subdirectory. The sets are named `cifar100/train` and `cifar100/test`.
 *
 * Normalisation: as for {@link loadCifar10}, one mean and std over all three channels, 0.4782 and
 * 0.2682.
 *
 * @throws {@link asymprop!DataFormatError} naming the directory or file when one is missing or malformed.
 */
export function loadCifar100(dir: string, options: Cifar100Options = {}): Split {
  const labels = options.labels ?? 'fine';
  return cifarSplit(dir, 'cifar-100-binary', ['train.bin'], 'test.bin', 'cifar100', labels, 'cifar100', CIFAR100_MEAN, CIFAR100_STD);
}
