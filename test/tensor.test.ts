import fc from 'fast-check';
import ndarray from 'ndarray';
import { describe, expect, it } from 'vitest';
import {
  ConfigError,
  Rng,
  ShapeError,
  Tensor,
  ValueError,
  assertFinite,
  decodeArray,
  encodeArray,
  gemm,
  gemmReference,
  matmul,
  ops,
  DataFormatError,
} from '../src/index.js';
import { defaultKernels } from '../src/kernels/fast.js';
import { kernelModuleBytes } from '../src/kernels/wasm/module.js';
import { jumpState } from '../src/kernels/wasm/xor128Jump.js';

/** Whether the fast WebAssembly kernels are the default here (Node has SIMD). */
const wasmVectorAvailable = (): boolean => defaultKernels().name === 'wasm-simd';
import xor128 from 'seedrandom/lib/xor128.js';
import { randn } from './helpers.js';

describe('Tensor', () => {
  it('builds from nested arrays and reads elements by index', () => {
    const t = Tensor.from([[1, 2, 3], [4, 5, 6]]);
    expect(t.shape).toEqual([2, 3]);
    expect(t.dtype).toBe('float32');
    expect(t.get(1, 2)).toBe(6);
    t.set(9, 0, 1);
    expect(t.toArray()).toEqual([[1, 9, 3], [4, 5, 6]]);
  });

  it('rejects ragged nesting, wrong lengths and out-of-range indices with ShapeError naming both shapes', () => {
    expect(() => Tensor.from([[1, 2], [3]])).toThrow(ShapeError);
    expect(() => Tensor.from([1, 2, 3], [2, 2])).toThrow(/4 values for shape \[2, 2\].*received \[3\]/);
    expect(() => Tensor.from([[1, 2]]).get(1, 0)).toThrow(ShapeError);
    expect(() => Tensor.zeros([2, -1])).toThrow(ConfigError);
  });

  it('reshapes sharing memory, with one inferred axis', () => {
    const t = Tensor.from([1, 2, 3, 4, 5, 6], [6]);
    const r = t.reshape([2, -1]);
    expect(r.shape).toEqual([2, 3]);
    r.set(42, 1, 0);
    expect(t.get(3)).toBe(42);
    expect(() => t.reshape([4, -1])).toThrow(/divides 6/);
    expect(() => t.reshape([5])).toThrow(ShapeError);
  });

  it('copies non-contiguous ndarray views (transposed, strided, offset) into contiguous tensors', () => {
    const base = ndarray(new Float64Array([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]), [3, 4]);
    const transposed = Tensor.fromNdarray(base.transpose(1, 0));
    expect(transposed.shape).toEqual([4, 3]);
    expect(transposed.toArray()).toEqual([[0, 4, 8], [1, 5, 9], [2, 6, 10], [3, 7, 11]]);
    const strided = Tensor.fromNdarray(base.hi(3, 4).lo(1, 1).step(1, 2));
    expect(strided.toArray()).toEqual([[5, 7], [9, 11]]);
  });

  it('property: fromNdarray of any slice equals element-wise reads of the view', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 7 }), fc.integer({ min: 1, max: 7 }), fc.integer({ min: 0, max: 3 }), fc.boolean(), (r, c, lo, flip) => {
        const base = ndarray(Float32Array.from({ length: r * c }, (_, i) => i), [r, c]);
        let view = base.lo(Math.min(lo, r - 1), 0);
        if (flip) view = view.step(-1, 1);
        const t = Tensor.fromNdarray(view);
        for (let i = 0; i < view.shape[0]!; i++) for (let j = 0; j < view.shape[1]!; j++) expect(t.get(i, j)).toBe(view.get(i, j));
      }),
    );
  });

  it('exposes its memory as an ndarray view', () => {
    const t = Tensor.from([[1, 2], [3, 4]]);
    expect(t.nd.get(1, 0)).toBe(3);
    t.nd.set(0, 1, 7);
    expect(t.get(0, 1)).toBe(7);
  });

  it('assertFinite names the first NaN', () => {
    const t = Tensor.from([1, NaN, Infinity], [3]);
    expect(() => assertFinite('input', t)).toThrow(ValueError);
    expect(() => assertFinite('input', t)).toThrow(/NaN at flat index 1/);
  });
});

describe('matmul', () => {
  const cases: [boolean, boolean][] = [[false, false], [false, true], [true, false], [true, true]];
  for (const [ta, tb] of cases) {
    it(`gemm transA=${ta} transB=${tb} matches the reference loop on odd sizes`, () => {
      for (const [m, n, k] of [[1, 1, 1], [5, 3, 7], [4, 2, 8], [9, 11, 13], [17, 1, 5], [1, 19, 3], [33, 34, 35]] as const) {
        const a = randn([m * k], `a${m}${n}${k}`, 'float32').data;
        const b = randn([k * n], `b${m}${n}${k}`, 'float32').data;
        const c1 = new Float32Array(m * n);
        const c2 = new Float32Array(m * n);
        gemm(ta, tb, m, n, k, a, b, c1);
        gemmReference(ta, tb, m, n, k, a, b, c2);
        for (let i = 0; i < m * n; i++) expect(c1[i]).toBeCloseTo(c2[i]!, 4);
      }
    });
  }

  it('property: accumulate adds to C, random shapes', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 12 }), fc.integer({ min: 1, max: 12 }), fc.integer({ min: 0, max: 12 }), fc.boolean(), fc.boolean(), (m, n, k, ta, tb) => {
        const a = randn([m * k], 1).data;
        const b = randn([k * n], 2).data;
        const c1 = randn([m * n], 3).data;
        const c2 = Float64Array.from(c1);
        gemm(ta, tb, m, n, k, a, b, c1, true);
        gemmReference(ta, tb, m, n, k, a, b, c2, true);
        for (let i = 0; i < m * n; i++) expect(Math.abs(c1[i]! - c2[i]!)).toBeLessThan(1e-10);
      }),
    );
  });

  it('checks shapes and names both', () => {
    const a = Tensor.zeros([2, 3]);
    const b = Tensor.zeros([4, 5]);
    expect(() => matmul(a, b)).toThrow(ShapeError);
    expect(() => matmul(a, b)).toThrow(/\[2, 3\].*inner size 3.*received \[4, 5\]/);
    expect(matmul(a, Tensor.zeros([5, 3]), { transB: true }).shape).toEqual([2, 5]);
  });
});

describe('ops', () => {
  it('sign keeps 0 as 0', () => {
    expect(ops.sign(Tensor.from([-2, 0, 3], [3])).toArray()).toEqual([-1, 0, 1]);
    // float32 takes a bit-level path: the same answers as float64 on every kind of value.
    const special = [-2, -0, 0, 3, NaN, Infinity, -Infinity, 1e-45, -1e-40, 0.5, -7e30];
    const expected = [-1, -0, 0, 1, NaN, 1, -1, 1, -1, 1, -1];
    for (const Ctor of [Float32Array, Float64Array]) {
      const x = Ctor.from(special), out = new Ctor(x.length);
      ops.signInto(out, x);
      expect(Array.from(out)).toEqual(expected);
      ops.signInto(x, x); // in place, as Batch Manhattan uses it
      expect(Array.from(x)).toEqual(expected);
    }
  });
  it('sign of long float32 arrays (the WebAssembly SIMD kernel) is bit for bit the definition', () => {
    expect(wasmVectorAvailable()).toBe(true); // Node has SIMD: the long arrays below go through the kernel
    expect(WebAssembly.validate(kernelModuleBytes())).toBe(true);
    const special = [-2, -0, 0, 3, NaN, Infinity, -Infinity, 1e-45, -1e-40, 0.5, -7e30, -NaN];
    const sgn = (v: number): number => (Number.isNaN(v) || v === 0 ? v : v > 0 ? 1 : -1);
    let seed = 7;
    const next = (): number => ((seed = (seed * 16807) % 2147483647) / 2147483647) * 2 - 1;
    // Odd lengths (a partial last vector), just past a chunk of 65,536, and the mlp's first weight.
    for (const n of [511, 512, 513, 515, 4099, 65536 + 3, 200704]) {
      const values = Float32Array.from({ length: n + 5 }, (_, i) => (i % 97 < special.length ? special[i % 97]! : next() < -0.6 ? 0 : next()));
      // The smallest NaNs (mantissa 1), positive and negative, and one with another payload, set on the bits.
      new Int32Array(values.buffer).set([0x7f800001, 0xff800001 | 0, 0x7fa12345], 5 + 40);
      const x = values.subarray(5); // a view at an offset, as gradients can be
      const before = Array.from(values.subarray(0, 5));
      // Compared on the bits: NaN keeps its payload and sign, ±0 its sign.
      const inBits = Int32Array.from(new Int32Array(x.buffer, x.byteOffset, n));
      const expected = Array.from(x, (v, i) => (Number.isNaN(v) ? inBits[i]! : new Int32Array(Float32Array.of(sgn(v)).buffer)[0]!));
      const check = (got: Float32Array, what: string): void => {
        const bits = new Int32Array(got.buffer, got.byteOffset, n);
        for (let i = 0; i < n; i++) {
          if (bits[i] !== expected[i]) throw new Error(`${what}, n = ${n}, [${i}]: sign(${x[i]}) gave bits ${bits[i]}, expected ${expected[i]}`);
        }
      };
      const out = new Float32Array(n);
      ops.signInto(out, x);
      check(out, 'into another array');
      ops.signInto(x, x);
      check(x, 'in place');
      expect(Array.from(values.subarray(0, 5))).toEqual(before); // the values before the view untouched
    }
  });
  it('angle is 0 for parallel, 90 for orthogonal, 180 for opposite, NaN for zero vectors', () => {
    const a = Tensor.from([1, 0], [2]);
    expect(ops.angleDegrees(a, Tensor.from([3, 0], [2]))).toBeCloseTo(0);
    expect(ops.angleDegrees(a, Tensor.from([0, 2], [2]))).toBeCloseTo(90);
    expect(ops.angleDegrees(a, Tensor.from([-1, 0], [2]))).toBeCloseTo(180);
    expect(ops.angleDegrees(a, Tensor.from([0, 0], [2]))).toBeNaN();
  });
  it('sumRowsInto accumulates column sums; addRowVector broadcasts', () => {
    const out = Tensor.from([10, 20], [2]);
    ops.sumRowsInto(Tensor.from([[1, 2], [3, 4]]), out);
    expect(out.toArray()).toEqual([14, 26]);
    expect(ops.addRowVector(Tensor.from([[1, 2], [3, 4]]), Tensor.from([1, -1], [2])).toArray()).toEqual([[2, 1], [4, 3]]);
    expect(() => ops.addRowVector(Tensor.zeros([2, 2]), Tensor.zeros([3]))).toThrow(ShapeError);
  });
});

describe('Rng.fillUniform24 (the bulk stream behind brSF and frSF magnitudes)', () => {
  it("gives exactly seedrandom's xor128 values on the 2⁻²⁴ grid, seeded from the generator's own stream", () => {
    const a = new Rng(9), b = new Rng(9);
    const out = new Float32Array(5000);
    a.fillUniform24(out);
    const ref = xor128(`bulk:${b.uint32()}:${b.uint32()}`, { state: true });
    for (let i = 0; i < out.length; i++) {
      const expected = Math.floor(ref() * 2 ** 24) / 2 ** 24;
      if (out[i] !== expected) expect.fail(`value ${i}: ${out[i]} ≠ ${expected}`);
    }
    // A later fill continues the same stream; the main (Alea) stream moved by the two seed draws only.
    const more = new Float32Array(3);
    a.fillUniform24(more);
    expect(Array.from(more)).toEqual([0, 1, 2].map(() => Math.floor(ref() * 2 ** 24) / 2 ** 24));
    expect(a.uniform()).toBe(b.uniform());
  });

  it('continues the one stream across fills of every length, in the TypeScript loop and the WebAssembly kernel alike', () => {
    expect(wasmVectorAvailable()).toBe(true); // fills of 256 values or more go through the kernel here
    const a = new Rng('lengths'), b = new Rng('lengths');
    const ref = xor128(`bulk:${b.uint32()}:${b.uint32()}`, { state: true });
    // Short fills (TypeScript), one-lane kernel fills of each remainder mod 4, float64 too.
    // Four lanes from 1,024 on, each remainder mod 4 after them, and more than one chunk of 2¹⁸.
    const lengths = [3, 255, 256, 257, 1, 258, 259, 1023, 1024, 1025, 1026, 1027, 65536 + 5, 2, 130_001, 2 ** 18 + 1029];
    lengths.forEach((n, k) => {
      const out = k % 3 === 2 ? new Float64Array(n) : new Float32Array(n);
      a.fillUniform24(out);
      for (let i = 0; i < n; i++) {
        const expected = Math.floor(ref() * 2 ** 24) / 2 ** 24;
        if (out[i] !== expected) expect.fail(`fill ${k + 1} (${n} values), value ${i}: ${out[i]} ≠ ${expected}`);
      }
    });
    expect(a.state().bulk).toEqual(Array.from(Int32Array.from(Object.values(ref.state()))));
  });

  it('jumps ahead in the xor128 stream: the state d numbers on, as if stepped d times', () => {
    const stepped = (s: Int32Array): Int32Array => {
      let [x, y, z, w] = s as unknown as [number, number, number, number];
      const t = x ^ (x << 11);
      [x, y, z] = [y, z, w];
      w ^= (w >>> 19) ^ t ^ (t >>> 8);
      return Int32Array.of(x, y, z, w);
    };
    const start = Int32Array.of(123456789, -362436069, 521288629, 88675123);
    let s: Int32Array = start;
    for (let d = 0; d <= 5000; d++) {
      if ([0, 1, 2, 31, 32, 33, 1000, 4999, 5000].includes(d)) expect(Array.from(jumpState(start, d)), `d = ${d}`).toEqual(Array.from(s));
      s = stepped(s);
    }
    expect(() => jumpState(start, -1)).toThrow(RangeError);
  });

  it('is i.i.d. uniform on [0, 1): never 1, mean and variance of U[0, 1)', () => {
    const out = new Float32Array(200_000);
    new Rng('moments').fillUniform24(out);
    let sum = 0, sq = 0, max = 0;
    for (const v of out) { sum += v; sq += v * v; max = Math.max(max, v); }
    const mean = sum / out.length, variance = sq / out.length - mean * mean;
    expect(max).toBeLessThan(1);
    expect(Math.abs(mean - 0.5)).toBeLessThan(0.005);
    expect(Math.abs(variance - 1 / 12)).toBeLessThan(0.002);
  });

  it('saves and restores its state with the generator (a restored generator continues identically)', () => {
    const a = new Rng(3);
    a.fillUniform24(new Float32Array(10));
    const state = a.state();
    expect(state.bulk).toHaveLength(4);
    const b = Rng.fromState(JSON.parse(JSON.stringify(state)));
    const [x, y] = [new Float32Array(100), new Float32Array(100)];
    a.fillUniform24(x);
    b.fillUniform24(y);
    expect(Array.from(y)).toEqual(Array.from(x));
    expect(() => b.setState({ ...state, bulk: [0, 0, 0, 0] })).toThrow(ConfigError);
    expect(() => b.setState({ ...state, bulk: [1, 2, 3, 1.5] })).toThrow(ConfigError);
    expect(() => b.setState({ ...state, bulk: [1, 2, 3, 2 ** 31] })).toThrow(ConfigError);
  });
});

describe('Rng', () => {
  it('same seed, same stream; different seed, different stream', () => {
    const a = new Rng(5), b = new Rng(5), c = new Rng(6);
    const xa = Array.from({ length: 5 }, () => a.uniform());
    expect(Array.from({ length: 5 }, () => b.uniform())).toEqual(xa);
    expect(Array.from({ length: 5 }, () => c.uniform())).not.toEqual(xa);
  });

  it('state round-trips through JSON, including the spare normal deviate', () => {
    const r = new Rng('x');
    r.normal(); // leaves a spare
    const saved = JSON.parse(JSON.stringify(r.state()));
    const next = [r.normal(), r.normal(), r.uniform()];
    expect([Rng.fromState(saved).normal(), Rng.fromState(saved).normal()][0]).toBe(next[0]);
    const restored = Rng.fromState(saved);
    expect([restored.normal(), restored.normal(), restored.uniform()]).toEqual(next);
    expect(() => Rng.fromState({ algorithm: 'alea', c: NaN } as never)).toThrow(ConfigError);
  });

  it('uniform in [0,1), normal has mean 0 and std 1, shuffle is a permutation', () => {
    const r = new Rng(1);
    const n = 20000;
    let s = 0, s2 = 0, lo = 1, hi = 0;
    for (let i = 0; i < n; i++) {
      const u = r.uniform();
      lo = Math.min(lo, u);
      hi = Math.max(hi, u);
      const z = r.normal();
      s += z;
      s2 += z * z;
    }
    expect(lo).toBeGreaterThanOrEqual(0);
    expect(hi).toBeLessThan(1);
    expect(Math.abs(s / n)).toBeLessThan(0.03);
    expect(Math.abs(Math.sqrt(s2 / n) - 1)).toBeLessThan(0.03);
    const p = r.permutation(100);
    expect([...p].sort((a, b) => a - b)).toEqual(Array.from({ length: 100 }, (_, i) => i));
    expect([...p]).not.toEqual(Array.from({ length: 100 }, (_, i) => i));
  });

  it('forks are reproducible and independent of later parent use', () => {
    const a = new Rng(3).fork(), b = new Rng(3).fork();
    expect(a.uniform()).toBe(b.uniform());
    expect(() => new Rng(NaN)).toThrow(ConfigError);
  });
});

describe('encodeArray', () => {
  it('round-trips float32, float64 and int8 arrays of any length', () => {
    for (const len of [0, 1, 2, 3, 4, 5, 1001]) {
      const f32 = randn([len], len, 'float32').data as Float32Array;
      expect(decodeArray(encodeArray(f32))).toEqual(f32);
      const f64 = randn([len], len + 1).data as Float64Array;
      expect(decodeArray(JSON.parse(JSON.stringify(encodeArray(f64))))).toEqual(f64);
      const i8 = Int8Array.from({ length: len }, (_, i) => (i % 3) - 1);
      expect(decodeArray(encodeArray(i8))).toEqual(i8);
    }
  });
  it('rejects corrupt encodings with DataFormatError', () => {
    const e = encodeArray(new Float32Array([1, 2, 3]));
    expect(() => decodeArray({ ...e, length: 4 })).toThrow(DataFormatError);
    expect(() => decodeArray({ ...e, dtype: 'int32' as never })).toThrow(/unknown dtype/);
    expect(() => decodeArray({ ...e, base64: `${e.base64.slice(0, -4)}!!!!` })).toThrow(/invalid base64/);
  });
});
