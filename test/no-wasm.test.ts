import { afterAll, describe, expect, it, vi } from 'vitest';

// Where WebAssembly is missing (or refuses run-time compiled modules), the default kernels are the
// reference kernels' TypeScript loops. The two must agree to the
// bit: the same library is loaded twice, once as usual and once with WebAssembly removed, and
// both compute the same things on long arrays (where the kernels are used).
const withWasm = await import('../src/index.js');
// Compile the first copy's kernels now: they are created on first use, and WebAssembly is gone after.
const kernelsCompiled = withWasm.gemmKernel() === 'wasm-simd'; // creates the default kernels now
vi.resetModules();
vi.stubGlobal('WebAssembly', undefined);
const without = await import('../src/index.js');
afterAll(() => vi.unstubAllGlobals());

const bitsOf = (a: Float32Array): Int32Array => new Int32Array(a.buffer, a.byteOffset, a.length);
const expectSameBits = (a: Float32Array, b: Float32Array, what: string): void => {
  expect(a.length, what).toBe(b.length);
  const [x, y] = [bitsOf(a), bitsOf(b)];
  for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) throw new Error(`${what}[${i}]: ${a[i]} (kernel) ≠ ${b[i]} (TypeScript)`);
};

/** Long float32 values with zeros, ±0, NaN and ±∞ among them. */
function values(n: number, seed: number): Float32Array {
  const special = [0, -0, NaN, Infinity, -Infinity, 1e-45, -2.5];
  let s = seed;
  return Float32Array.from({ length: n }, (_, i) => (i % 41 < special.length ? special[i % 41]! : ((s = (s * 16807) % 2147483647) / 2147483647) * 2 - 1));
}

describe('without WebAssembly: the TypeScript fallbacks give the kernels’ results to the bit', () => {
  it('the kernels are in use in one copy and absent from the other', () => {
    expect(kernelsCompiled).toBe(true);
    expect(withWasm.defaultKernels().name).toBe('wasm-simd'); // still: compiled before WebAssembly went
    expect(without.defaultKernels().name).toBe('reference');
    expect(without.defaultKernels()).toBe(without.referenceKernels);
  });

  it('sign (Batch Manhattan)', () => {
    const x = values(70_001, 3);
    const [a, b] = [new Float32Array(x.length), new Float32Array(x.length)];
    withWasm.ops.signInto(a, x);
    without.ops.signInto(b, x);
    expectSameBits(a, b, 'sign');
  });

  it('ReLU forward and backward', () => {
    const x = values(70_003, 5), dy = values(70_003, 6);
    const [ra, rb] = [new withWasm.ReLU(), new without.ReLU()];
    expectSameBits(ra.forward(new withWasm.Tensor(x, [1, x.length]), true).data as Float32Array, rb.forward(new without.Tensor(x, [1, x.length]), true).data as Float32Array, 'relu');
    expectSameBits(ra.backward(new withWasm.Tensor(dy, [1, dy.length])).data as Float32Array, rb.backward(new without.Tensor(dy, [1, dy.length])).data as Float32Array, 'relu backward');
  });

  it('brSF: the magnitudes redrawn from xor128, and V = M ∘ sign(W)', () => {
    const [ra, rb] = [new withWasm.Rng(7), new without.Rng(7)];
    for (const n of [300, 5_000, 70_005, 2 ** 18 + 9]) {
      const [a, b] = [new Float32Array(n), new Float32Array(n)];
      ra.fillUniform24(a);
      rb.fillUniform24(b);
      expectSameBits(a, b, `fillUniform24(${n})`);
    }
    expect(ra.state()).toEqual(rb.state());
    const shape: [number, number] = [300, 233];
    const w = values(shape[0] * shape[1], 8);
    for (const [name, make] of [['brsf', 'brsf'], ['usf', 'usf'], ['frsf', 'frsf']] as const) {
      const fa = withWasm[make]().bind({ kind: 'dense', dtype: 'float32', shape, fanIn: shape[1], fanOut: shape[0], init: withWasm.heNormal(), rng: new withWasm.Rng(9), layer: 'a' });
      const fb = without[make]().bind({ kind: 'dense', dtype: 'float32', shape, fanIn: shape[1], fanOut: shape[0], init: without.heNormal(), rng: new without.Rng(9), layer: 'b' });
      for (let step = 0; step < 2; step++) {
        expectSameBits(fa.matrix(new withWasm.Tensor(w, shape))!.data as Float32Array, fb.matrix(new without.Tensor(w, shape))!.data as Float32Array, `${name} V, step ${step + 1}`);
        fa.afterUpdate(null as never); // layer-wise rules do not read the site
        fb.afterUpdate(null as never);
      }
    }
  });
});
