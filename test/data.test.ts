import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigError, DataFormatError } from '../src/errors.js';
import { ImageDataset } from '../src/data/dataset.js';
import { splitEmbeddedMnist } from '../src/data/embeddedMnist.js';
import { decodeSplit, encodeSplit } from '../src/data/splitFile.js';
import { parseCifar } from '../src/data/cifar.js';
import { idxImagesAndLabels, parseIdx } from '../src/data/idx.js';
import {
  loadCifar10,
  loadCifar100,
  loadFashionMnist,
  loadMnist,
  loadMnistFormat,
  readMaybeGzip,
} from '../src/data/files.js';
import { thrown } from './helpers.js';
import { idxFile as idx } from './idx.js';

const FASHION_DIR = '/usr/share/datasets/fashion-mnist';

const root = mkdtempSync(join(tmpdir(), 'asymprop-data-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let dirCount = 0;
/** A fresh empty directory under the test's temporary root. */
function freshDir(): string {
  const dir = join(root, `d${dirCount++}`);
  mkdirSync(dir);
  return dir;
}

/** `n` images of `rows × cols` whose pixel values encode (image, position). */
function imagesOf(n: number, rows: number, cols: number, salt = 0): Uint8Array {
  const px = new Uint8Array(n * rows * cols);
  for (let i = 0; i < px.length; i++) px[i] = (i * 37 + salt * 11 + 5) & 255;
  return px;
}

/** A CIFAR record stream; `pixel(i, c, y, x)` gives each pixel, `label(i)` the label bytes. */
function cifarBytes(n: number, label: (i: number) => number[], pixel: (i: number, c: number, y: number, x: number) => number): Uint8Array {
  const labelBytes = label(0).length;
  const size = labelBytes + 3072;
  const out = new Uint8Array(n * size);
  for (let i = 0; i < n; i++) {
    out.set(label(i), i * size);
    for (let c = 0; c < 3; c++) {
      for (let y = 0; y < 32; y++) {
        for (let x = 0; x < 32; x++) out[i * size + labelBytes + c * 1024 + y * 32 + x] = pixel(i, c, y, x);
      }
    }
  }
  return out;
}

const pix = (i: number, c: number, y: number, x: number): number => (i * 41 + c * 97 + y * 7 + x * 3) & 255;

/** Asserts `fn` throws a DataFormatError whose message contains every fragment. */
function expectDataError(fn: () => unknown, ...fragments: (string | RegExp)[]): DataFormatError {
  const e = thrown(fn);
  expect(e).toBeInstanceOf(DataFormatError);
  const message = (e as Error).message;
  for (const f of fragments) {
    if (typeof f === 'string') expect(message).toContain(f);
    else expect(message).toMatch(f);
  }
  return e as DataFormatError;
}

describe('the installed Fashion-MNIST', () => {
  it.runIf(existsSync(FASHION_DIR) || process.env.CI !== undefined)('has the official 60,000 / 10,000 split, balanced classes and the protocol mean', () => {
    const { train, test } = loadFashionMnist();
    expect(train.name).toBe('fashion-mnist/train');
    expect(test.name).toBe('fashion-mnist/test');
    expect(train.size).toBe(60_000);
    expect(test.size).toBe(10_000);
    expect(train.sampleShape).toEqual([1, 28, 28]);
    expect(test.sampleShape).toEqual([1, 28, 28]);
    expect(train.numClasses).toBe(10);
    expect(train.mean).toBe(0.286);
    expect(train.std).toBe(0.353);
    const counts = new Array<number>(10).fill(0);
    for (const l of train.labels) counts[l]!++;
    expect(counts).toEqual(new Array(10).fill(6_000));
    const testCounts = new Array<number>(10).fill(0);
    for (const l of test.labels) testCounts[l]!++;
    expect(testCounts).toEqual(new Array(10).fill(1_000));
    let sum = 0;
    for (const b of train.images) sum += b;
    expect(Math.abs(sum / train.images.length / 255 - 0.286)).toBeLessThan(0.001);
  });
});

describe('IDX files', () => {
  it('parseIdx reads the header and returns the data as a view', () => {
    const file = idx([2, 3], [1, 2, 3, 4, 5, 6]);
    const { dims, data } = parseIdx(file, 'x.idx');
    expect(dims).toEqual([2, 3]);
    expect(Array.from(data)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(data.buffer).toBe(file.buffer);
    expect(parseIdx(idx([70_000], new Uint8Array(70_000)), 'big').dims).toEqual([70_000]);
    expect(parseIdx(idx([1, 1, 1, 1], [9]), 'rank4').dims).toEqual([1, 1, 1, 1]);
  });

  it('idxImagesAndLabels pairs images [n, rows, cols] with labels [n]', () => {
    const px = imagesOf(3, 4, 5);
    const r = idxImagesAndLabels(idx([3, 4, 5], px), idx([3], [2, 0, 9]), { images: 'i', labels: 'l' });
    expect(r.count).toBe(3);
    expect(r.sampleShape).toEqual([1, 4, 5]);
    expect(Array.from(r.images)).toEqual(Array.from(px));
    expect(Array.from(r.labels)).toEqual([2, 0, 9]);
    const r3 = idxImagesAndLabels(idx([1, 1, 1], [0]), idx([1], [2]), { images: 'i', labels: 'l' }, { numClasses: 3 });
    expect(r3.labels[0]).toBe(2);
  });

  it('loads raw, gzipped and dot-named files in MNIST layout into ImageDatasets', () => {
    const dir = freshDir();
    const trainPx = imagesOf(5, 4, 3, 1), testPx = imagesOf(2, 4, 3, 2);
    writeFileSync(join(dir, 'train-images-idx3-ubyte'), idx([5, 4, 3], trainPx));
    writeFileSync(join(dir, 'train-labels-idx1-ubyte.gz'), gzipSync(idx([5], [0, 1, 2, 3, 4])));
    writeFileSync(join(dir, 't10k-images.idx3-ubyte.gz'), gzipSync(idx([2, 4, 3], testPx)));
    writeFileSync(join(dir, 't10k-labels.idx1-ubyte'), idx([2], [9, 8]));
    const { train, test } = loadMnistFormat(dir, { name: 'toy', mean: 0.5, std: 0.25 });
    expect(train.name).toBe('toy/train');
    expect(test.name).toBe('toy/test');
    expect([train.size, test.size]).toEqual([5, 2]);
    expect(train.sampleShape).toEqual([1, 4, 3]);
    expect(Array.from(train.images)).toEqual(Array.from(trainPx));
    expect(Array.from(test.images)).toEqual(Array.from(testPx));
    expect(Array.from(train.labels)).toEqual([0, 1, 2, 3, 4]);
    expect(Array.from(test.labels)).toEqual([9, 8]);
    // Batches are normalised as (byte/255 − mean) / std.
    const x = new Float64Array(12), y = new Int32Array(1);
    test.fillBatch([1], 0, 1, x, y);
    expect(y[0]).toBe(8);
    for (let j = 0; j < 12; j++) expect(x[j]).toBeCloseTo((testPx[12 + j]! / 255 - 0.5) / 0.25, 12);

    const mnist = loadMnist(dir);
    expect(mnist.train.name).toBe('mnist/train');
    expect([mnist.train.mean, mnist.train.std]).toEqual([0.1307, 0.3081]);
  });

  it('readMaybeGzip recognises gzip by name or by magic, and reads other files as they are', () => {
    const dir = freshDir();
    const content = new Uint8Array([0, 0, 8, 1, 0, 0, 0, 1, 7]);
    writeFileSync(join(dir, 'plain'), content);
    writeFileSync(join(dir, 'zipped.gz'), gzipSync(content));
    writeFileSync(join(dir, 'zipped-without-suffix'), gzipSync(content));
    for (const name of ['plain', 'zipped.gz', 'zipped-without-suffix']) {
      const bytes = readMaybeGzip(join(dir, name));
      expect(bytes).toBeInstanceOf(Uint8Array);
      expect(Array.from(bytes)).toEqual(Array.from(content));
    }
  });
});

describe('CIFAR files', () => {
  it('parseCifar (CIFAR-10) keeps each image channel-major: pixel (c, y, x) of image i at ((i·3 + c)·32 + y)·32 + x', () => {
    const bytes = cifarBytes(3, (i) => [[3, 0, 9][i]!], pix);
    const { images, labels, numClasses } = parseCifar(bytes, 'b.bin', { variant: 'cifar10' });
    expect(numClasses).toBe(10);
    expect(Array.from(labels)).toEqual([3, 0, 9]);
    expect(images.length).toBe(3 * 3072);
    for (let i = 0; i < 3; i++) {
      for (let c = 0; c < 3; c++) {
        for (let y = 0; y < 32; y++) {
          for (let x = 0; x < 32; x++) {
            const at = ((i * 3 + c) * 32 + y) * 32 + x;
            if (images[at] !== pix(i, c, y, x)) throw new Error(`pixel (${i}, ${c}, ${y}, ${x}) is ${images[at]}, expected ${pix(i, c, y, x)}`);
          }
        }
      }
    }
    // One recognisable pixel: green channel, row 5, column 17 of image 2.
    const marked = cifarBytes(3, () => [1], () => 0);
    marked[2 * 3073 + 1 + 1 * 1024 + 5 * 32 + 17] = 200;
    const m = parseCifar(marked, 'm.bin', { variant: 'cifar10' }).images;
    expect(m[((2 * 3 + 1) * 32 + 5) * 32 + 17]).toBe(200);
    expect(m.reduce((s, v) => s + v, 0)).toBe(200);
  });

  it('parseCifar (CIFAR-100) reads the fine label by default and the coarse one on request', () => {
    const bytes = cifarBytes(2, (i) => [[19, 4][i]!, [99, 42][i]!], pix);
    const fine = parseCifar(bytes, 't.bin', { variant: 'cifar100' });
    expect(Array.from(fine.labels)).toEqual([99, 42]);
    expect(fine.numClasses).toBe(100);
    expect(fine.images[((1 * 3 + 2) * 32 + 31) * 32 + 0]).toBe(pix(1, 2, 31, 0));
    const coarse = parseCifar(bytes, 't.bin', { variant: 'cifar100', labels: 'coarse' });
    expect(Array.from(coarse.labels)).toEqual([19, 4]);
    expect(coarse.numClasses).toBe(20);
    expect(Array.from(coarse.images)).toEqual(Array.from(fine.images));
  });

  it('loadCifar10 joins the five training batches (in a cifar-10-batches-bin subdirectory) in order', () => {
    const dir = freshDir();
    const sub = join(dir, 'cifar-10-batches-bin');
    mkdirSync(sub);
    for (let b = 1; b <= 5; b++) writeFileSync(join(sub, `data_batch_${b}.bin`), cifarBytes(2, (i) => [(2 * (b - 1) + i) % 10], (i, c, y, x) => pix(2 * (b - 1) + i, c, y, x)));
    writeFileSync(join(sub, 'test_batch.bin'), cifarBytes(3, (i) => [i], (i, c, y, x) => pix(100 + i, c, y, x)));
    const { train, test } = loadCifar10(dir);
    expect(train.name).toBe('cifar10/train');
    expect(test.name).toBe('cifar10/test');
    expect([train.size, test.size]).toEqual([10, 3]);
    expect(train.sampleShape).toEqual([3, 32, 32]);
    expect(train.numClasses).toBe(10);
    expect([train.mean, train.std]).toEqual([0.4734, 0.2516]);
    expect(Array.from(train.labels)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    for (const i of [0, 3, 9]) expect(train.images[((i * 3 + 1) * 32 + 4) * 32 + 30]).toBe(pix(i, 1, 4, 30));
    expect(test.images[((2 * 3 + 2) * 32 + 31) * 32 + 31]).toBe(pix(102, 2, 31, 31));
  });

  it('loadCifar100 reads train.bin and test.bin, with fine or coarse labels', () => {
    const dir = freshDir();
    writeFileSync(join(dir, 'train.bin'), cifarBytes(4, (i) => [i, 50 + i], pix));
    writeFileSync(join(dir, 'test.bin'), cifarBytes(1, () => [7, 77], pix));
    const fine = loadCifar100(dir);
    expect(fine.train.name).toBe('cifar100/train');
    expect([fine.train.size, fine.test.size]).toEqual([4, 1]);
    expect(fine.train.numClasses).toBe(100);
    expect(fine.train.sampleShape).toEqual([3, 32, 32]);
    expect([fine.train.mean, fine.train.std]).toEqual([0.4782, 0.2682]);
    expect(Array.from(fine.train.labels)).toEqual([50, 51, 52, 53]);
    const coarse = loadCifar100(dir, { labels: 'coarse' });
    expect(coarse.train.numClasses).toBe(20);
    expect(Array.from(coarse.train.labels)).toEqual([0, 1, 2, 3]);
    expect(Array.from(coarse.test.labels)).toEqual([7]);
  });
});

describe('malformed files are DataFormatErrors naming the file and what was wrong', () => {
  it('IDX: truncated header or data', () => {
    expectDataError(() => parseIdx(new Uint8Array([0, 0, 8]), 'tiny.idx'), 'tiny.idx', 'byte 0', '3 bytes', '4-byte');
    expectDataError(() => parseIdx(idx([2, 3], []).subarray(0, 9), 'short.idx'), 'short.idx', 'byte 9', '9 bytes', '12-byte header');
    const e = expectDataError(() => parseIdx(idx([2, 3], [1, 2, 3, 4]), 'cut.idx'), 'cut.idx', 'byte 12', '[2, 3]', 'need 6 bytes', 'file has 4');
    expect(e.offset).toBe(12);
    expect(e.file).toBe('cut.idx');
  });

  it('IDX: wrong magic, type byte or rank', () => {
    const bad = idx([1], [0]);
    bad[1] = 0x08;
    expectDataError(() => parseIdx(bad, 'm.idx'), 'm.idx', 'byte 0', 'magic', '0x08');
    expectDataError(() => parseIdx(new Uint8Array([0x1f, 0x8b, 8, 0, 0, 0]), 'z.idx'), 'magic', '0x1f 0x8b');
    expectDataError(() => parseIdx(idx([1], [0, 0, 0, 0], 0x0d), 't.idx'), 't.idx', 'byte 2', 'data type 0x0d (float32) is not supported');
    expectDataError(() => parseIdx(idx([1], [0], 0x42), 'u.idx'), 'u.idx', 'data type 0x42 is unknown');
    expectDataError(() => parseIdx(idx([], []), 'r0.idx'), 'r0.idx', 'byte 3', 'rank 0');
    expectDataError(() => parseIdx(idx([1, 1, 1, 1, 1], [0]), 'r5.idx'), 'r5.idx', 'byte 3', 'rank 5');
  });

  it('IDX: dimensions that are 0, absurd, or disagree with the length', () => {
    expectDataError(() => parseIdx(idx([3, 0], []), 'z.idx'), 'z.idx', 'byte 8', 'dimension 1 is 0');
    expectDataError(() => parseIdx(idx([0xffffffff, 0xffffffff, 28], []), 'huge.idx'), 'huge.idx', 'more than 2^31');
    expectDataError(() => parseIdx(idx([2, 2], [1, 2, 3, 4, 5, 6]), 'long.idx'), 'long.idx', 'byte 16', '2 trailing bytes', 'need 4 bytes', 'file has 6');
  });

  it('IDX pair: label out of range, count mismatch, wrong rank', () => {
    const images = idx([3, 2, 2], new Uint8Array(12));
    expectDataError(() => idxImagesAndLabels(images, idx([3], [1, 10, 2]), { images: 'i.idx', labels: 'l.idx' }), 'l.idx', 'byte 9', 'label 1 is 10', '[0, 10)');
    expectDataError(() => idxImagesAndLabels(images, idx([3], [1, 2, 3]), { images: 'i.idx', labels: 'l.idx' }, { numClasses: 3 }), 'label 2 is 3', '[0, 3)');
    expectDataError(() => idxImagesAndLabels(images, idx([4], [1, 2, 3, 4]), { images: 'i.idx', labels: 'l.idx' }), 'l.idx', '4 labels', 'i.idx holds 3 images');
    expectDataError(() => idxImagesAndLabels(idx([12], new Uint8Array(12)), idx([12], new Uint8Array(12)), { images: 'i.idx', labels: 'l.idx' }), 'i.idx', 'rank 3', 'found rank 1');
    expectDataError(() => idxImagesAndLabels(images, idx([3, 1], [1, 2, 3]), { images: 'i.idx', labels: 'l.idx' }), 'l.idx', 'rank 1', 'found rank 2');
    expect(thrown(() => idxImagesAndLabels(images, idx([3], [0, 0, 0]), { images: 'i', labels: 'l' }, { numClasses: 0 }))).toBeInstanceOf(ConfigError);
  });

  it('loaders name the path of the bad file', () => {
    const dir = freshDir();
    writeFileSync(join(dir, 'train-images-idx3-ubyte'), idx([2, 2, 2], new Uint8Array(8)));
    writeFileSync(join(dir, 'train-labels-idx1-ubyte'), idx([2], [0, 11]));
    writeFileSync(join(dir, 't10k-images-idx3-ubyte'), idx([1, 2, 2], new Uint8Array(4)));
    writeFileSync(join(dir, 't10k-labels-idx1-ubyte'), idx([1], [0]));
    expectDataError(() => loadMnist(dir), join(dir, 'train-labels-idx1-ubyte'), 'label 1 is 11');
    writeFileSync(join(dir, 'train-labels-idx1-ubyte'), idx([2], [0, 1]));
    writeFileSync(join(dir, 't10k-images-idx3-ubyte'), idx([1, 2, 3], new Uint8Array(6)));
    writeFileSync(join(dir, 't10k-labels-idx1-ubyte'), idx([1], [0]));
    expectDataError(() => loadMnist(dir), join(dir, 't10k-images-idx3-ubyte'), '2×3', '2×2');
  });

  it('missing files and directories: the message lists the names looked for and where', () => {
    const dir = freshDir();
    writeFileSync(join(dir, 'train-images-idx3-ubyte'), idx([1, 1, 1], [0]));
    writeFileSync(join(dir, 'train-labels-idx1-ubyte'), idx([1], [0]));
    writeFileSync(join(dir, 't10k-images-idx3-ubyte'), idx([1, 1, 1], [0]));
    expectDataError(
      () => loadMnist(dir),
      'no test labels file',
      't10k-labels-idx1-ubyte, t10k-labels-idx1-ubyte.gz, t10k-labels.idx1-ubyte, t10k-labels.idx1-ubyte.gz',
      `in ${dir}`,
    );
    expectDataError(() => loadFashionMnist(join(dir, 'nowhere')), join(dir, 'nowhere'), 'the data directory does not exist');
    expectDataError(() => readMaybeGzip(join(dir, 'absent.gz')), join(dir, 'absent.gz'), 'does not exist');
    expectDataError(() => loadCifar10(dir), 'data_batch_1.bin', dir, join(dir, 'cifar-10-batches-bin'));
    writeFileSync(join(dir, 'train.bin'), cifarBytes(1, () => [0, 0], pix));
    expectDataError(() => loadCifar100(dir), 'no test file', 'test.bin', dir);
  });

  it('gzip: corrupt, truncated, mislabelled, or inflating beyond the bound', () => {
    const dir = freshDir();
    const good = gzipSync(idx([4], [1, 2, 3, 4]));
    const corrupt = Uint8Array.from(good);
    corrupt[corrupt.length - 6]! ^= 0xff; // the CRC
    writeFileSync(join(dir, 'crc.gz'), corrupt);
    expectDataError(() => readMaybeGzip(join(dir, 'crc.gz')), join(dir, 'crc.gz'), 'corrupt gzip data');
    writeFileSync(join(dir, 'cut.gz'), good.subarray(0, good.length - 10));
    expectDataError(() => readMaybeGzip(join(dir, 'cut.gz')), join(dir, 'cut.gz'), 'corrupt gzip data');
    writeFileSync(join(dir, 'garbage'), new Uint8Array([0x1f, 0x8b, 1, 2, 3, 4, 5, 6, 7, 8]));
    expectDataError(() => readMaybeGzip(join(dir, 'garbage')), join(dir, 'garbage'), 'corrupt gzip data');
    writeFileSync(join(dir, 'plain.gz'), idx([1], [0]));
    expectDataError(() => readMaybeGzip(join(dir, 'plain.gz')), join(dir, 'plain.gz'), 'not gzip data', '00 00');
    writeFileSync(join(dir, 'bomb.gz'), gzipSync(new Uint8Array(4 << 20)));
    expectDataError(() => readMaybeGzip(join(dir, 'bomb.gz'), { maxBytes: 1 << 20 }), join(dir, 'bomb.gz'), 'more than the limit of 1048576');
    expect(readMaybeGzip(join(dir, 'bomb.gz'), { maxBytes: 4 << 20 }).length).toBe(4 << 20);
    writeFileSync(join(dir, 'big'), new Uint8Array(2000));
    expectDataError(() => readMaybeGzip(join(dir, 'big'), { maxBytes: 1000 }), 'file is 2000 bytes');
  });

  it('CIFAR: length not a multiple of the record size, labels out of range, bad options', () => {
    const ten = cifarBytes(2, () => [1], pix);
    expectDataError(() => parseCifar(ten.subarray(0, 5000), 'b.bin', { variant: 'cifar10' }), 'b.bin', 'length 5000', '3073-byte cifar10 record');
    expectDataError(() => parseCifar(ten, 'c.bin', { variant: 'cifar100' }), 'c.bin', 'length 6146', '3074-byte cifar100 record');
    expectDataError(() => parseCifar(new Uint8Array(0), 'e.bin', { variant: 'cifar10' }), 'e.bin', 'empty');
    expectDataError(() => parseCifar(cifarBytes(2, (i) => [i * 10], pix), 'l.bin', { variant: 'cifar10' }), 'l.bin', 'byte 3073', 'record 1', 'label 10', '[0, 10)');
    expectDataError(() => parseCifar(cifarBytes(1, () => [3, 100], pix), 'f.bin', { variant: 'cifar100' }), 'f.bin', 'byte 1', 'fine label 100', '[0, 100)');
    expectDataError(() => parseCifar(cifarBytes(1, () => [20, 5], pix), 'g.bin', { variant: 'cifar100', labels: 'fine' }), 'g.bin', 'byte 0', 'coarse label 20', '[0, 20)');
    expect(thrown(() => parseCifar(ten, 'x', { variant: 'cifar11' as never }))).toBeInstanceOf(ConfigError);
    expect(thrown(() => parseCifar(ten, 'x', { variant: 'cifar10', labels: 'coarse' }))).toBeInstanceOf(ConfigError);
    expect(thrown(() => parseCifar(ten, 'x', { variant: 'cifar100', labels: 'medium' as never }))).toBeInstanceOf(ConfigError);
  });
});

describe('split files: image data from bytes, for browsers', () => {
  const { train, test } = splitEmbeddedMnist();

  it('encodeSplit then decodeSplit gives back the embedded digits, every byte, name and setting', () => {
    const bytes = encodeSplit({ train, test });
    expect(bytes.length).toBeLessThan((train.size + test.size) * (28 * 28 + 1) + 400);
    // From an ArrayBuffer, as fetch gives it, and from a view into a larger buffer.
    const padded = new Uint8Array(bytes.length + 7);
    padded.set(bytes, 7);
    for (const input of [bytes.slice().buffer, padded.subarray(7)]) {
      const back = decodeSplit(input);
      for (const [original, copy] of [[train, back.train], [test, back.test]] as const) {
        expect([copy.name, copy.size, copy.sampleShape, copy.numClasses, copy.mean, copy.std]).toEqual([original.name, original.size, original.sampleShape, original.numClasses, original.mean, original.std]);
        expect(Buffer.from(copy.images).equals(Buffer.from(original.images))).toBe(true);
        expect(Buffer.from(copy.labels).equals(Buffer.from(original.labels))).toBe(true);
      }
    }
  });

  it('refuses what is not a split file of this version, or disagrees with its length, naming the file and the field', () => {
    const bytes = encodeSplit({ train: train.subset('t/train', [0, 1, 2]), test: test.subset('t/test', [0]) });
    const headerLength = new DataView(bytes.buffer).getUint32(8, true);
    const withHeader = (edit: (h: Record<string, unknown>) => void) => {
      const header = JSON.parse(new TextDecoder().decode(bytes.subarray(12, 12 + headerLength))) as Record<string, unknown>;
      edit(header);
      const json = new TextEncoder().encode(JSON.stringify(header));
      const out = new Uint8Array(12 + json.length + bytes.length - 12 - headerLength);
      out.set(bytes.subarray(0, 12));
      new DataView(out.buffer).setUint32(8, json.length, true);
      out.set(json, 12);
      out.set(bytes.subarray(12 + headerLength), 12 + json.length);
      return out;
    };
    const cases: [Uint8Array, RegExp][] = [
      [new TextEncoder().encode('ADIG\x01\x00\x00\x00 an older page file'), /^digits\.bin \(byte 0\): not an asymprop split file: it starts with "ADIG\\u0001\\u0000\\u0000\\u0000", expected "ASYMPSPL"$/],
      [bytes.subarray(0, 40), /^digits\.bin \(byte 8\): a \d+-byte header does not fit the 40-byte file$/],
      [bytes.subarray(0, bytes.length - 1), /^digits\.bin \(byte \d+\): \d+ bytes, expected \d+ for 3 \+ 1 samples of 784 bytes$/],
      [withHeader((h) => (h.version = 2)), /header field "version": expected 1, found 2/],
      [withHeader((h) => (h.sampleShape = [1, 0, 28])), /header field "sampleShape": expected a list of positive sizes, found \[1,0,28\]/],
      [withHeader((h) => ((h.test as { size: unknown }).size = -1)), /header field "test\.size": expected an integer ≥ 0, found -1/],
    ];
    for (const [input, message] of cases) {
      const e = thrown(() => decodeSplit(input, 'digits.bin'));
      expect(e).toBeInstanceOf(DataFormatError);
      expect((e as Error).message).toMatch(message);
    }
    const other = new ImageDataset({ name: 'other', images: new Uint8Array(4), labels: Uint8Array.of(0), sampleShape: [1, 2, 2], numClasses: 10, mean: 0, std: 1 });
    expect((thrown(() => encodeSplit({ train, test: other })) as Error).message).toMatch(/the sets differ in sampleShape: 1×28×28 and 1×2×2/);
  });
});
