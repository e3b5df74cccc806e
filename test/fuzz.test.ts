import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DataFormatError } from '../src/errors.js';
import { parseCifar, type CifarOptions } from '../src/data/cifar.js';
import { idxImagesAndLabels, parseIdx } from '../src/data/idx.js';
import { decodeArray, encodeArray, type EncodedArray } from '../src/tensor/encode.js';
import { thrown } from './helpers.js';
import { idxFile } from './idx.js';

// Every parser, fed any bytes, either returns a consistent result or throws a DataFormatError:
// never another exception, never a hang, never a large allocation driven by a header's claims.

/** Generous bound on one call; the inputs are at most a few kilobytes. */
const MAX_MS_PER_CALL = 250;

/** Runs `parse`; a DataFormatError is an accepted outcome, anything else thrown fails the property. */
function validOrDataError<T>(parse: () => T, check: (result: T) => void): void {
  const t0 = performance.now();
  let result: T;
  try {
    result = parse();
  } catch (e) {
    if (!(e instanceof DataFormatError)) throw e;
    expect(e.message.length).toBeGreaterThan(0);
    return;
  } finally {
    expect(performance.now() - t0).toBeLessThan(MAX_MS_PER_CALL);
  }
  check(result);
}

/** Deterministic pseudo-random bytes (cheaper than generating thousands of bytes one by one). */
function noise(length: number, seed: number): Uint8Array {
  const out = new Uint8Array(length);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < length; i++) {
    s ^= s << 13; s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5; s >>>= 0;
    out[i] = s & 255;
  }
  return out;
}


const HUGE = [0xffffffff, 0x80000000, 0x7fffffff, 0x10000, 0x8000, 0x01000000];

/** One edit of a file: flip a byte (often in the header), truncate, append, or overwrite a dimension. */
type Mutation =
  | { kind: 'flip'; at: number; xor: number; header: boolean }
  | { kind: 'truncate'; at: number }
  | { kind: 'append'; bytes: Uint8Array }
  | { kind: 'dim'; index: number; value: number };

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), xor: fc.integer({ min: 1, max: 255 }), header: fc.boolean() }),
  fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
  fc.record({ kind: fc.constant('append' as const), bytes: fc.uint8Array({ minLength: 1, maxLength: 16 }) }),
  fc.record({ kind: fc.constant('dim' as const), index: fc.nat(3), value: fc.oneof(fc.constantFrom(0, ...HUGE), fc.nat({ max: 0xffffffff }), fc.integer({ min: 1, max: 40 })) }),
);

function mutate(bytes: Uint8Array, m: Mutation): Uint8Array {
  switch (m.kind) {
    case 'flip': {
      if (bytes.length === 0) return bytes;
      const out = Uint8Array.from(bytes);
      const span = m.header ? Math.min(bytes.length, 20) : bytes.length;
      out[m.at % span]! ^= m.xor;
      return out;
    }
    case 'truncate':
      return bytes.subarray(0, m.at % (bytes.length + 1));
    case 'append': {
      const out = new Uint8Array(bytes.length + m.bytes.length);
      out.set(bytes);
      out.set(m.bytes, bytes.length);
      return out;
    }
    case 'dim': {
      const at = 4 + 4 * m.index;
      if (bytes.length < at + 4) return bytes;
      const out = Uint8Array.from(bytes);
      new DataView(out.buffer).setUint32(at, m.value >>> 0, false);
      return out;
    }
  }
}

const mutations = fc.array(mutation, { minLength: 1, maxLength: 3 });
const applyAll = (bytes: Uint8Array, ms: Mutation[]): Uint8Array => ms.reduce(mutate, bytes);

/** A valid IDX file of small random dimensions. */
const validIdx = fc
  .record({ dims: fc.array(fc.integer({ min: 1, max: 6 }), { minLength: 1, maxLength: 4 }), seed: fc.nat() })
  .map(({ dims, seed }) => idxFile(dims, noise(dims.reduce((a, b) => a * b, 1), seed)));

/** Any IDX-like header: random type, rank and dimensions (often 0 or huge) and a data length near the claim. */
const idxLike = fc
  .record({
    type: fc.oneof(fc.constant(0x08), fc.integer({ min: 0, max: 255 })),
    dims: fc.array(fc.oneof(fc.integer({ min: 0, max: 8 }), fc.constantFrom(...HUGE), fc.nat({ max: 0xffffffff })), { maxLength: 6 }),
    slack: fc.integer({ min: -4, max: 4 }),
    seed: fc.nat(),
  })
  .map(({ type, dims, slack, seed }) => {
    const claimed = dims.reduce((a, b) => a * b, 1);
    const length = claimed <= 4096 ? Math.max(0, claimed + slack) : seed % 64;
    return idxFile(dims, noise(length, seed), type);
  });

function checkIdx(bytes: Uint8Array, r: { dims: number[]; data: Uint8Array }): void {
  expect(r.dims.length).toBeGreaterThanOrEqual(1);
  expect(r.dims.length).toBeLessThanOrEqual(4);
  for (const d of r.dims) expect(Number.isInteger(d) && d >= 1).toBe(true);
  const header = 4 + 4 * r.dims.length;
  expect(r.data.length).toBe(r.dims.reduce((a, b) => a * b, 1));
  expect(r.data.length).toBe(bytes.length - header);
  expect(r.data[0]).toBe(bytes[header]);
  expect(r.data[r.data.length - 1]).toBe(bytes[bytes.length - 1]);
}

describe('parseIdx on arbitrary input', () => {
  it('random bytes', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 96 }), (bytes) => validOrDataError(() => parseIdx(bytes, 'fuzz.idx'), (r) => checkIdx(bytes, r))), { numRuns: 1000 });
  });

  it('random headers (any type, rank and dimensions) with data near the claimed length', () => {
    fc.assert(fc.property(idxLike, (bytes) => validOrDataError(() => parseIdx(bytes, 'fuzz.idx'), (r) => checkIdx(bytes, r))), { numRuns: 1000 });
  });

  it('valid files, mutated (bytes flipped, truncated, extended, dimensions overwritten)', () => {
    fc.assert(
      fc.property(validIdx, mutations, (file, ms) => {
        const bytes = applyAll(file, ms);
        validOrDataError(() => parseIdx(bytes, 'fuzz.idx'), (r) => checkIdx(bytes, r));
      }),
      { numRuns: 1000 },
    );
  });

  it('valid files parse', () => {
    fc.assert(fc.property(validIdx, (bytes) => checkIdx(bytes, parseIdx(bytes, 'ok.idx'))), { numRuns: 300 });
  });

  it('headers claiming absurd sizes throw at once, without allocating what they claim', () => {
    const claims = [
      [0xffffffff],
      [0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff],
      [0x80000000, 2],
      [0x80000000], // exactly 2^31: allowed by the bound, but the file is short
      [65536, 32768],
      [60000, 28, 28],
      [1, 1, 1, 0xffffffff],
    ];
    for (const dims of claims) {
      for (const bytes of [idxFile(dims, new Uint8Array(0)), idxFile(dims, new Uint8Array(100))]) {
        const before = process.memoryUsage().arrayBuffers;
        const t0 = performance.now();
        const e = (() => {
          try {
            parseIdx(bytes, 'absurd.idx');
          } catch (err) {
            return err;
          }
          return undefined;
        })();
        expect(e, `dims [${dims.join(', ')}]`).toBeInstanceOf(DataFormatError);
        expect(performance.now() - t0).toBeLessThan(50);
        expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(16 << 20);
      }
    }
  });
});

describe('idxImagesAndLabels on arbitrary input', () => {
  const pair = fc
    .record({
      n: fc.integer({ min: 1, max: 6 }),
      rows: fc.integer({ min: 1, max: 5 }),
      cols: fc.integer({ min: 1, max: 5 }),
      labelSeed: fc.nat(),
      labelMax: fc.integer({ min: 1, max: 256 }),
      seed: fc.nat(),
      numClasses: fc.integer({ min: 1, max: 12 }),
    })
    .map(({ n, rows, cols, labelSeed, labelMax, seed, numClasses }) => ({
      images: idxFile([n, rows, cols], noise(n * rows * cols, seed)),
      labels: idxFile([n], noise(n, labelSeed).map((b) => b % labelMax)),
      numClasses,
    }));

  const check = (numClasses: number) => (r: ReturnType<typeof idxImagesAndLabels>): void => {
    expect(r.images.length).toBe(r.count * r.rows * r.cols);
    expect(r.labels.length).toBe(r.count);
    expect(r.sampleShape).toEqual([1, r.rows, r.cols]);
    for (const l of r.labels) expect(l).toBeLessThan(numClasses);
  };

  it('pairs of valid files with random labels, either file mutated', () => {
    fc.assert(
      fc.property(pair, fc.option(mutations), fc.option(mutations), ({ images, labels, numClasses }, mi, ml) => {
        const i = mi ? applyAll(images, mi) : images;
        const l = ml ? applyAll(labels, ml) : labels;
        validOrDataError(() => idxImagesAndLabels(i, l, { images: 'i.idx', labels: 'l.idx' }, { numClasses }), check(numClasses));
      }),
      { numRuns: 1000 },
    );
  });

  it('random bytes for either file', () => {
    fc.assert(
      fc.property(fc.oneof(idxLike, fc.uint8Array({ maxLength: 64 })), fc.oneof(idxLike, fc.uint8Array({ maxLength: 64 })), (i, l) =>
        validOrDataError(() => idxImagesAndLabels(i, l, { images: 'i.idx', labels: 'l.idx' }), check(10))),
      { numRuns: 500 },
    );
  });
});

describe('parseCifar on arbitrary input', () => {
  const options: fc.Arbitrary<CifarOptions> = fc.constantFrom<CifarOptions>(
    { variant: 'cifar10' },
    { variant: 'cifar100' },
    { variant: 'cifar100', labels: 'fine' },
    { variant: 'cifar100', labels: 'coarse' },
  );
  const recordSize = (o: CifarOptions): number => (o.variant === 'cifar10' ? 3073 : 3074);
  const numClasses = (o: CifarOptions): number => (o.variant === 'cifar10' ? 10 : o.labels === 'coarse' ? 20 : 100);

  /** Records of either size (not necessarily the variant's), labels random but often in range, a length near a multiple. */
  const cifarLike = fc
    .record({
      records: fc.integer({ min: 0, max: 3 }),
      size: fc.constantFrom(3073, 3074),
      slack: fc.oneof(fc.constant(0), fc.integer({ min: -3, max: 3 })),
      labelMax: fc.constantFrom(10, 20, 100, 256),
      seed: fc.nat(),
    })
    .map(({ records, size, slack, labelMax, seed }) => {
      const bytes = noise(Math.max(0, records * size + slack), seed);
      for (let r = 0; r < records; r++) {
        for (let k = 0; k < size - 3072; k++) if (r * size + k < bytes.length) bytes[r * size + k]! %= labelMax;
      }
      return bytes;
    });

  const check = (bytes: Uint8Array, o: CifarOptions) => (r: ReturnType<typeof parseCifar>): void => {
    const size = recordSize(o), labelBytes = size - 3072;
    expect(bytes.length % size).toBe(0);
    expect(r.labels.length).toBe(bytes.length / size);
    expect(r.images.length).toBe(r.labels.length * 3072);
    expect(r.numClasses).toBe(numClasses(o));
    for (let i = 0; i < r.labels.length; i++) {
      expect(r.labels[i]).toBeLessThan(r.numClasses);
      expect(r.labels[i]).toBe(bytes[i * size + (o.labels === 'coarse' ? 0 : labelBytes - 1)]);
      for (const k of [0, 1, 1023, 1024, 2047, 3071]) expect(r.images[i * 3072 + k]).toBe(bytes[i * size + labelBytes + k]);
    }
  };

  it('random bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), options, (bytes, o) => validOrDataError(() => parseCifar(bytes, 'fuzz.bin', o), check(bytes, o))),
      { numRuns: 500 },
    );
  });

  it('record streams of either record size with random labels, mutated', () => {
    fc.assert(
      fc.property(cifarLike, options, fc.option(mutations), (file, o, ms) => {
        const bytes = ms ? applyAll(file, ms) : file;
        validOrDataError(() => parseCifar(bytes, 'fuzz.bin', o), check(bytes, o));
      }),
      { numRuns: 500 },
    );
  });
});

describe('decodeArray on arbitrary input', () => {
  const typed = fc.oneof(
    fc.float32Array({ maxLength: 24 }),
    fc.float64Array({ maxLength: 24 }),
    fc.int8Array({ maxLength: 24 }),
  );
  const isValid = (encoded: EncodedArray, r: Float32Array | Float64Array | Int8Array): void => {
    const expected = encoded.dtype === 'float64' ? Float64Array : encoded.dtype === 'int8' ? Int8Array : Float32Array;
    expect(r).toBeInstanceOf(expected);
    expect(r.length === encoded.length).toBe(true); // == rather than Object.is: a length of -0 is 0
  };

  it('round-trips what encodeArray wrote', () => {
    fc.assert(
      fc.property(typed, (a) => {
        const r = decodeArray(encodeArray(a));
        expect(r.constructor).toBe(a.constructor);
        expect(Array.from(new Uint8Array(r.buffer, r.byteOffset, r.byteLength))).toEqual(Array.from(new Uint8Array(a.buffer, a.byteOffset, a.byteLength)));
      }),
      { numRuns: 300 },
    );
  });

  type Edit =
    | { kind: 'char'; at: number; ch: string }
    | { kind: 'cut'; at: number }
    | { kind: 'append'; s: string }
    | { kind: 'dtype'; dtype: unknown }
    | { kind: 'length'; length: unknown };
  const edit: fc.Arbitrary<Edit> = fc.oneof(
    fc.record({ kind: fc.constant('char' as const), at: fc.nat(), ch: fc.oneof(fc.constantFrom('=', 'A', '/', '+', '-', '_', ' ', '\u00e9', '\ud83d'), fc.string({ minLength: 1, maxLength: 1 })) }),
    fc.record({ kind: fc.constant('cut' as const), at: fc.nat() }),
    fc.record({ kind: fc.constant('append' as const), s: fc.oneof(fc.constantFrom('=', '==', 'AAAA', 'AA=='), fc.string({ maxLength: 5 })) }),
    fc.record({ kind: fc.constant('dtype' as const), dtype: fc.oneof(fc.constantFrom('float32', 'float64', 'int8', 'uint8', 'Float32', ''), fc.jsonValue()) }),
    fc.record({
      kind: fc.constant('length' as const),
      length: fc.oneof(fc.integer({ min: -5, max: 200 }), fc.double(), fc.constantFrom(2 ** 53, 1e300, -0, 0.5), fc.jsonValue()),
    }),
  );
  const applyEdit = (e: EncodedArray, x: Edit): EncodedArray => {
    const s = e.base64;
    switch (x.kind) {
      case 'char': {
        if (s.length === 0) return { ...e, base64: x.ch };
        const at = x.at % s.length;
        return { ...e, base64: s.slice(0, at) + x.ch + s.slice(at + 1) };
      }
      case 'cut':
        return { ...e, base64: s.slice(0, x.at % (s.length + 1)) };
      case 'append':
        return { ...e, base64: s + x.s };
      case 'dtype':
        return { ...e, dtype: x.dtype as EncodedArray['dtype'] };
      case 'length':
        return { ...e, length: x.length as number };
    }
  };

  it('valid encodings, mutated (characters, padding, length, dtype)', () => {
    fc.assert(
      fc.property(typed, fc.array(edit, { minLength: 1, maxLength: 3 }), (a, edits) => {
        const encoded = edits.reduce(applyEdit, encodeArray(a));
        validOrDataError(() => decodeArray(encoded, 'fuzz'), (r) => isValid(encoded, r));
      }),
      { numRuns: 1000 },
    );
  });

  // Regression: a JSON `length` such as [{"toString": null}] used to be interpolated into the error
  // message before validation, so building the message threw a TypeError.
  it('a length whose string conversion throws is a DataFormatError', () => {
    const value = JSON.parse('{"dtype":"float32","length":[{"toString":null}],"base64":""}') as EncodedArray;
    expect(thrown(() => decodeArray(value, 'fuzz'))).toBeInstanceOf(DataFormatError);
  });

  it('arbitrary JSON values and records', () => {
    // decodeArray reads what JSON.parse produced, so its inputs are JSON values, including
    // objects with own toString/valueOf keys.
    const record = fc.record({
      dtype: fc.oneof(fc.constantFrom('float32', 'float64', 'int8'), fc.jsonValue()),
      length: fc.oneof(fc.integer({ min: -2, max: 40 }), fc.jsonValue()),
      base64: fc.oneof(fc.base64String({ maxLength: 64 }), fc.string({ maxLength: 64 }), fc.jsonValue()),
    });
    fc.assert(
      fc.property(fc.oneof(fc.jsonValue(), record), (value) => {
        const encoded = value as unknown as EncodedArray;
        validOrDataError(() => decodeArray(encoded, 'fuzz'), (r) => isValid(encoded, r));
      }),
      { numRuns: 1000 },
    );
  });
});
