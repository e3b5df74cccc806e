import { describe, expect, it } from 'vitest';
import {
  ConfigError,
  Dropout,
  Rng,
  ShapeError,
  StateError,
  Tensor,
  assertGradCheck,
  gradCheck,
  type Layer,
  type Param,
  type RngState,
  type Shape,
} from '../src/index.js';
import { randn, thrown } from './helpers.js';

/**
 * Dropout with a fixed mask: restores the generator to the state it had when the wrapper was
 * built before every forward, so every forward draws the same mask (what a gradient check needs).
 */
class FixedMaskDropout implements Layer {
  private readonly state: RngState;

  constructor(readonly inner: Dropout) {
    this.state = inner.rng.state();
  }

  describe(): string {
    return `FixedMask(${this.inner.describe()})`;
  }

  outputShape(inputShape: Shape): number[] {
    return this.inner.outputShape(inputShape);
  }

  forward(x: Tensor, training: boolean): Tensor {
    this.inner.rng.setState(this.state);
    return this.inner.forward(x, training);
  }

  backward(dy: Tensor): Tensor {
    return this.inner.backward(dy);
  }

  params(): Param[] {
    return [];
  }

  zeroGrad(): void {}
}

describe('Dropout', () => {
  it('eval mode is the identity: the same tensor, forward and backward', () => {
    const d = new Dropout(0.5, new Rng(1));
    const x = randn([3, 4], 1, 'float32');
    const before = d.rng.state();
    expect(d.forward(x, false)).toBe(x);
    expect(d.rng.state()).toEqual(before); // nothing drawn
    const dy = randn([3, 4], 2, 'float32');
    expect(d.backward(dy)).toBe(dy);
  });

  it('p = 0 is the identity in train mode too', () => {
    const d = new Dropout(0, new Rng(1));
    const x = randn([3, 4], 1, 'float32');
    expect(d.forward(x, true)).toBe(x);
  });

  it.each([0.1, 0.3, 0.5, 0.8])('train mode, p = %s: about p of the elements are zeroed, survivors scaled by 1/(1 − p)', (p) => {
    const n = 200_000;
    const d = new Dropout(p, new Rng(`p${p}`));
    const x = randn([100, n / 100], `x${p}`, 'float32');
    const y = d.forward(x, true);
    expect(y).not.toBe(x);
    expect(y.shape).toEqual(x.shape);
    expect(y.dtype).toBe('float32');
    let zeros = 0;
    for (let i = 0; i < n; i++) {
      if (y.data[i] === 0) {
        zeros++;
        continue;
      }
      const expected = Math.fround(x.data[i]! / (1 - p));
      if (!(Math.abs(y.data[i]! - expected) <= 1e-6 * Math.abs(expected))) expect.fail(`y[${i}] = ${y.data[i]}, expected ${expected}`);
    }
    const sd = Math.sqrt((p * (1 - p)) / n); // binomial standard error, ≈ 0.001
    expect(Math.abs(zeros / n - p)).toBeLessThan(5 * sd);
    // The scaling keeps the mean: E[y] = x.
    let sx = 0, sy = 0;
    for (let i = 0; i < n; i++) { sx += Math.abs(x.data[i]!); sy += Math.abs(y.data[i]!); }
    expect(Math.abs(sy / sx - 1)).toBeLessThan(0.02);
  });

  // Regression: the mask used to be float32 whatever the input, so float64 survivors were scaled
  // by fround(1/(1 − p)) (relative error up to 2⁻²⁴). PyTorch scales in the input's dtype; so do we.
  it('float64 input: survivors are x/(1 − p) to float64 precision (p = 0.3 and 0.1)', () => {
    for (const p of [0.3, 0.1]) {
      const d = new Dropout(p, new Rng(3));
      const x = randn([50, 40], 'x64');
      const y = d.forward(x, true);
      expect(y.dtype).toBe('float64');
      let survivors = 0;
      for (let i = 0; i < x.size; i++) {
        if (y.data[i] === 0) continue;
        survivors++;
        const expected = x.data[i]! / (1 - p);
        if (!(Math.abs(y.data[i]! - expected) <= 1e-14 * Math.abs(expected))) {
          expect.fail(`p = ${p}: y[${i}] = ${y.data[i]}, expected x/(1 − p) = ${expected} (relative error ${Math.abs(y.data[i]! / expected - 1)})`);
        }
      }
      expect(survivors).toBeGreaterThan(0);
    }
  });

  it('backward uses the same mask: dx = dy where kept (times 1/(1 − p)), 0 where dropped', () => {
    const p = 0.4;
    const d = new Dropout(p, new Rng(4));
    const x = randn([20, 30], 'bx', 'float32');
    const y = d.forward(x, true);
    const dy = randn([20, 30], 'bdy', 'float32');
    const dx = d.backward(dy);
    expect(dx.shape).toEqual(dy.shape);
    let dropped = 0;
    for (let i = 0; i < x.size; i++) {
      if (y.data[i] === 0) {
        dropped++;
        expect(dx.data[i] === 0, `dx[${i}]`).toBe(true); // ±0
      } else {
        expect(dx.data[i]! / dy.data[i]!).toBeCloseTo(y.data[i]! / x.data[i]!, 5);
        expect(dx.data[i]).toBeCloseTo(dy.data[i]! / (1 - p), 5);
      }
    }
    expect(dropped).toBeGreaterThan(0);
    expect(dropped).toBeLessThan(x.size);
    // A second backward reuses the mask of the last forward, drawing nothing.
    const state = d.rng.state();
    expect(Array.from(d.backward(dy).data)).toEqual(Array.from(dx.data));
    expect(d.rng.state()).toEqual(state);
  });

  it('the same seed gives the same mask; another seed or the next forward gives another', () => {
    const x = Tensor.full([40, 25], 1);
    const zeros = (t: Tensor) => Array.from(t.data, (v) => (v === 0 ? 1 : 0)).join('');
    const a = new Dropout(0.5, new Rng(7));
    const b = new Dropout(0.5, new Rng(7));
    const c = new Dropout(0.5, new Rng(8));
    const ma = zeros(a.forward(x, true));
    expect(zeros(b.forward(x, true))).toBe(ma);
    expect(zeros(c.forward(x, true))).not.toBe(ma);
    expect(zeros(a.forward(x, true))).not.toBe(ma); // the generator moved on
    // Restoring the generator's state replays the mask.
    const saved = b.rng.state();
    const next = zeros(b.forward(x, true));
    b.rng.setState(saved);
    expect(zeros(b.forward(x, true))).toBe(next);
  });

  it.each([
    ['p = 0.5, [4, 6]', 0.5, [4, 6]],
    ['p = 0.2, [2, 3, 4, 5]', 0.2, [2, 3, 4, 5]],
    ['p = 0.9, [3, 7]', 0.9, [3, 7]],
  ] as const)('gradCheck passes through a fixed-mask wrapper (%s)', (_name, p, shape) => {
    const layer = new FixedMaskDropout(new Dropout(p, new Rng(`gc${p}`)));
    const result = assertGradCheck(layer, randn([...shape], `gcx${p}`));
    expect(result.checked).toBe(shape.reduce((a, b) => a * b, 1));
    // Negative control: without restoring the generator every forward draws a new mask, and the check fails.
    expect(gradCheck(new Dropout(p, new Rng(`gc${p}`)), randn([...shape], `gcx${p}`)).ok).toBe(false);
  });

  it('p outside [0, 1) is a ConfigError naming p', () => {
    for (const [p, text] of [[-0.1, '-0.1'], [1, '1'], [1.5, '1.5'], [NaN, 'NaN'], ['0.5', '"0.5"']] as const) {
      const e = thrown(() => new Dropout(p as number, new Rng(1))) as ConfigError;
      expect(e, `p = ${text}`).toBeInstanceOf(ConfigError);
      expect(e.option).toBe('Dropout p');
      expect(e.message).toContain(text);
    }
    expect(() => new Dropout(0.5, undefined as never)).toThrow(/Dropout rng/);
  });

  it('backward before forward is a StateError; a gradient of the wrong shape is a ShapeError', () => {
    const d = new Dropout(0.5, new Rng(1));
    expect(thrown(() => d.backward(Tensor.zeros([2, 3])))).toBeInstanceOf(StateError);
    d.forward(Tensor.zeros([2, 3]), true);
    const e = thrown(() => d.backward(Tensor.zeros([3, 2])));
    expect(e).toBeInstanceOf(ShapeError);
    expect((e as ShapeError).message).toBe('Dropout(0.5).backward: expected [2, 3], received [3, 2]');
    expect(d.outputShape([4, 5])).toEqual([4, 5]);
    expect(d.params()).toEqual([]);
  });
});
