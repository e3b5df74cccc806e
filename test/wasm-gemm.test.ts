import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { ConfigError, gemm, gemmKernel, gemmModuleBytes, gemmReference, setGemmBackend, wasmGemm, wasmGemmAvailable } from '../src/index.js';
import { randn } from './helpers.js';

// The WebAssembly SIMD kernel against the slow reference loop, on random shapes (odd sizes,
// sizes that are not multiples of the 4×8 block, every transpose), in float32.
describe('WebAssembly SIMD gemm', () => {
  afterEach(() => setGemmBackend('auto'));

  it('is generated, valid and available on this platform (Node 20 has WebAssembly SIMD)', () => {
    expect(WebAssembly.validate(gemmModuleBytes())).toBe(true);
    expect(wasmGemmAvailable()).toBe(true);
    expect(gemmKernel()).toBe('wasm-simd');
  });

  it('property: matches the reference on random shapes, transposes and accumulation', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 37 }),
        fc.integer({ min: 1, max: 37 }),
        fc.integer({ min: 1, max: 70 }),
        fc.boolean(),
        fc.boolean(),
        fc.boolean(),
        (m, n, k, ta, tb, acc) => {
          const a = randn([m * k], `a${m},${k}`, 'float32').data as Float32Array;
          const b = randn([k * n], `b${k},${n}`, 'float32').data as Float32Array;
          const c1 = randn([m * n], 'c', 'float32').data as Float32Array;
          const c2 = Float32Array.from(c1);
          expect(wasmGemm(ta, tb, m, n, k, a, b, c1, acc)).toBe(true);
          gemmReference(ta, tb, m, n, k, a, b, c2, acc);
          for (let i = 0; i < m * n; i++) expect(Math.abs(c1[i]! - c2[i]!)).toBeLessThan(1e-4 * (1 + Math.sqrt(k)));
        },
      ),
      { numRuns: 200 },
    );
  });

  it('handles the layer-sized products (dense 100×784·784×256, conv im2col 7,840×25·25×6)', () => {
    for (const [m, n, k, ta, tb] of [[100, 256, 784, false, true], [256, 784, 100, true, false], [7840, 6, 25, false, true], [6, 25, 7840, true, false]] as const) {
      const a = randn([m * k], 1, 'float32').data as Float32Array;
      const b = randn([k * n], 2, 'float32').data as Float32Array;
      const c1 = new Float32Array(m * n), c2 = new Float32Array(m * n);
      gemm(ta, tb, m, n, k, a, b, c1);
      gemmReference(ta, tb, m, n, k, a, b, c2);
      let worst = 0;
      for (let i = 0; i < m * n; i++) worst = Math.max(worst, Math.abs(c1[i]! - c2[i]!) / (1 + Math.abs(c2[i]!)));
      expect(worst).toBeLessThan(1e-4);
    }
  });

  it("the 'js' backend forces the plain kernel, which agrees with the SIMD one", () => {
    const [m, n, k] = [33, 19, 65];
    const a = randn([m * k], 3, 'float32').data as Float32Array;
    const b = randn([k * n], 4, 'float32').data as Float32Array;
    const simd = new Float32Array(m * n), plain = new Float32Array(m * n);
    gemm(false, false, m, n, k, a, b, simd);
    expect(setGemmBackend('js')).toBe('auto');
    expect(gemmKernel()).toBe('js');
    gemm(false, false, m, n, k, a, b, plain);
    for (let i = 0; i < m * n; i++) expect(simd[i]).toBeCloseTo(plain[i]!, 3);
    expect(() => setGemmBackend('gpu' as never)).toThrow(ConfigError);
  });
});
