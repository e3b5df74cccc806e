import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { defaultKernels, gemm, gemmKernel, gemmReference, referenceKernels } from '../src/index.js';
import { kernelModuleBytes } from '../src/kernels/wasm/module.js';
import { randn } from './helpers.js';

// The WebAssembly SIMD product against the slow reference loop, on random shapes (odd sizes,
// sizes that are not multiples of the 4×8 block, every transpose), in float32.
describe('WebAssembly SIMD gemm', () => {
  const fast = defaultKernels();

  it('is generated, valid and the default on this platform (Node 20 has WebAssembly SIMD)', () => {
    expect(WebAssembly.validate(kernelModuleBytes())).toBe(true);
    expect(fast.name).toBe('wasm-simd');
    expect(gemmKernel()).toBe('wasm-simd');
  });

  it('property: matches the reference on random shapes, transposes and accumulation, with operands in and out of the kernels’ memory', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 37 }),
        fc.integer({ min: 1, max: 37 }),
        fc.integer({ min: 1, max: 70 }),
        fc.boolean(),
        fc.boolean(),
        fc.boolean(),
        fc.boolean(),
        (m, n, k, ta, tb, acc, inMemory) => {
          const place = (x: Float32Array): Float32Array => {
            if (!inMemory || x.length < 512) return x;
            const y = fast.allocate('float32', x.length) as Float32Array;
            y.set(x);
            return y;
          };
          const a = place(randn([m * k], `a${m},${k}`, 'float32').data as Float32Array);
          const b = place(randn([k * n], `b${k},${n}`, 'float32').data as Float32Array);
          const c1 = place(randn([m * n], 'c', 'float32').data as Float32Array);
          const c2 = Float32Array.from(c1);
          fast.gemm(ta, tb, m, n, k, a, b, c1, acc);
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

  it('the reference kernels’ plain product (float64 accumulation) agrees with the SIMD one', () => {
    const [m, n, k] = [33, 19, 65];
    const a = randn([m * k], 3, 'float32').data as Float32Array;
    const b = randn([k * n], 4, 'float32').data as Float32Array;
    const simd = new Float32Array(m * n), plain = new Float32Array(m * n);
    fast.gemm(false, false, m, n, k, a, b, simd);
    referenceKernels.gemm(false, false, m, n, k, a, b, plain);
    expect(referenceKernels.name).toBe('reference');
    for (let i = 0; i < m * n; i++) expect(simd[i]).toBeCloseTo(plain[i]!, 3);
  });
});
