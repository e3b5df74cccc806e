import { describe, expect, it } from 'vitest';
import { ConfigError, FLUSH_BELOW, Param, SGD, Tensor, constantLr, decodeArray, multiStepLr, protocolSchedule, stepLr } from '../src/index.js';

function param(values: number[], grad: number[], name = 'p'): Param {
  const p = new Param(name, Tensor.from(values, [values.length], 'float64'));
  p.grad.data.set(grad);
  return p;
}

// Two steps worked by hand for each rule (the gradient is held fixed between steps).
describe('SGD, two steps by hand', () => {
  it('plain SGD: w ← w − lr·g', () => {
    const p = param([1, -2], [0.5, 0.25]);
    const opt = new SGD([p], { lr: 0.1 });
    opt.step();
    opt.step();
    expect(p.value.data[0]).toBeCloseTo(1 - 2 * 0.05, 12);
    expect(p.value.data[1]).toBeCloseTo(-2 - 2 * 0.025, 12);
  });

  it('momentum 0.9 with weight decay 1e-4 (the protocol): buf₁ = g + λw₀, buf₂ = μ buf₁ + g + λw₁', () => {
    const p = param([1], [0.5]);
    const opt = new SGD([p], { lr: 0.1, momentum: 0.9, weightDecay: 1e-4 });
    opt.step();
    // g₁ = 0.5 + 1e-4·1 = 0.5001; buf = 0.5001; w₁ = 1 − 0.05001 = 0.94999
    expect(p.value.data[0]).toBeCloseTo(0.94999, 12);
    opt.step();
    // g₂ = 0.5 + 1e-4·0.94999 = 0.500094999; buf = 0.9·0.5001 + 0.500094999 = 0.950184999; w₂ = 0.94999 − 0.0950184999
    expect(p.value.data[0]).toBeCloseTo(0.94999 - 0.0950184999, 12);
    expect(opt.steps).toBe(2);
  });

  it('Nesterov: w ← w − lr·(g + μ·buf)', () => {
    const p = param([0], [1]);
    const opt = new SGD([p], { lr: 1, momentum: 0.5, nesterov: true });
    opt.step(); // buf = 1; step = 1 + 0.5 = 1.5
    expect(p.value.data[0]).toBeCloseTo(-1.5, 12);
    opt.step(); // buf = 0.5 + 1 = 1.5; step = 1 + 0.75 = 1.75
    expect(p.value.data[0]).toBeCloseTo(-3.25, 12);
  });

  it('dampening: the first step uses g undamped (PyTorch), later ones (1 − d)·g', () => {
    const p = param([0], [1]);
    const opt = new SGD([p], { lr: 1, momentum: 0.5, dampening: 0.5 });
    opt.step(); // buf = 1
    expect(p.value.data[0]).toBeCloseTo(-1, 12);
    opt.step(); // buf = 0.5 + 0.5 = 1
    expect(p.value.data[0]).toBeCloseTo(-2, 12);
  });

  it('flushes momentum below the smallest normal float32 to zero (no subnormal slowdown)', () => {
    const p = new Param('p', Tensor.from([0], [1]));
    const opt = new SGD([p], { lr: 0, momentum: 0.5 });
    p.grad.data[0] = FLUSH_BELOW * 4;
    opt.step();
    p.grad.data[0] = 0;
    opt.step(); // 2·FLUSH_BELOW: kept
    const kept = opt.state();
    opt.step(); // FLUSH_BELOW: kept (not below)
    opt.step(); // FLUSH_BELOW / 2: flushed
    const buf = new Float32Array(new Uint8Array(Buffer.from(opt.state().buffers['p']!.base64, 'base64')).buffer);
    expect(buf[0]).toBe(0);
    expect(kept.buffers['p']).toBeDefined();
  });

  it('validates its options', () => {
    const p = param([0], [0]);
    expect(() => new SGD([p], { lr: -0.1 })).toThrow(/invalid lr: -0.1/);
    expect(() => new SGD([p], { lr: NaN })).toThrow(ConfigError);
    expect(() => new SGD([p], { lr: 0.1, momentum: -1 })).toThrow(/momentum/);
    expect(() => new SGD([p], { lr: 0.1, nesterov: true })).toThrow(/nesterov/);
    expect(() => new SGD([p, param([0], [0])], { lr: 0.1 })).toThrow(/unique names/);
  });

  it('state round-trips: a restored optimizer continues identically', () => {
    const a = param([1, 2], [0.3, -0.2]);
    const opt = new SGD([a], { lr: 0.1, momentum: 0.9, weightDecay: 1e-4 });
    opt.step();
    const saved = JSON.parse(JSON.stringify(opt.state()));
    const b = param([...a.value.data], [0.3, -0.2]);
    const opt2 = new SGD([b], { lr: 0.5, momentum: 0.9, weightDecay: 1e-4 });
    opt2.loadState(saved);
    opt.step();
    opt2.step();
    expect([...b.value.data]).toEqual([...a.value.data]);
    expect(opt2.lr).toBe(0.1);
  });
});

// The float32 update, exactly: each step is computed in double precision from the stored float32
// values, buf is rounded to float32 when stored, and w moves by lr times the unrounded buffer value.
describe('SGD on float32, bit for bit', () => {
  type Options = ConstructorParameters<typeof SGD>[1];
  it.each<[string, Options]>([
    ['momentum and weight decay', { lr: 0.01, momentum: 0.9, weightDecay: 1e-4 }],
    ['dampening', { lr: 0.05, momentum: 0.5, dampening: 0.3, weightDecay: 1e-3 }],
    ['Nesterov', { lr: 0.01, momentum: 0.9, nesterov: true, weightDecay: 1e-4 }],
    ['plain SGD', { lr: 0.1, weightDecay: 1e-4 }],
  ])('%s', (_, options) => {
    const n = 101;
    // Weights at 0 where the gradient is tiny, so that weight decay adds nothing there.
    const w0 = Array.from({ length: n }, (_, i) => (i % 11 === 0 || i % 13 === 0 ? 0 : Math.sin(i * 1.7) * (i % 7 === 0 ? 1e-3 : 1)));
    const p = new Param('p', Tensor.from(w0, [n]));
    const opt = new SGD([p], options);
    const { lr, momentum: mu = 0, dampening: d = 0, weightDecay: wd = 0, nesterov = false } = options;
    const w = Float32Array.from(w0);
    const buf = new Float32Array(n);
    let flushed = 0;
    for (let step = 0; step < 4; step++) {
      // Zeros, momentum that decays below the smallest normal float32 (gradients of 1e-39 and
      // less: flushed), and one NaN that must reach its weight.
      const g = Float32Array.from({ length: n }, (_, i) =>
        i === 50 ? NaN : i % 5 === 0 ? 0 : i % 11 === 0 ? 1e-39 * (step + 1) : i % 13 === 0 ? 5e-40 : Math.cos(i * (step + 1.3)) * 0.1,
      );
      p.grad.data.set(g);
      opt.step();
      for (let i = 0; i < n; i++) {
        const gi = g[i]! + wd * w[i]!;
        if (mu === 0) {
          w[i] = w[i]! - lr * gi;
          continue;
        }
        let b = step === 0 ? gi : mu * buf[i]! + (1 - d) * gi;
        if (b !== 0 && Math.abs(b) < FLUSH_BELOW) {
          b = 0;
          flushed++;
        }
        buf[i] = b;
        w[i] = w[i]! - lr * (nesterov ? gi + mu * b : b);
      }
      for (let i = 0; i < n; i++) {
        if (!Object.is(p.value.data[i], w[i])) throw new Error(`step ${step + 1}, w[${i}]: ${p.value.data[i]} ≠ ${w[i]}`);
      }
      if (mu > 0) {
        const saved = decodeArray(opt.state().buffers['p']!);
        for (let i = 0; i < n; i++) {
          if (!Object.is(saved[i], buf[i])) throw new Error(`step ${step + 1}, buf[${i}]: ${saved[i]} ≠ ${buf[i]}`);
        }
      }
    }
    expect(Number.isNaN(p.value.data[50])).toBe(true); // a NaN gradient is never masked
    if (mu > 0) expect(flushed).toBeGreaterThan(10); // the flush was exercised
  });
});

describe('learning-rate schedules', () => {
  it('protocol: lr for epochs 1–7, lr/10 for 8–10', () => {
    const s = protocolSchedule(0.1, 10);
    expect([0, 6, 7, 9].map((e) => s.at(e))).toEqual([0.1, 0.1, 0.1 * 0.1, 0.1 * 0.1]);
    expect(protocolSchedule(1, 3).at(1)).toBe(1);
    expect(protocolSchedule(1, 3).at(2)).toBeCloseTo(0.1);
  });
  it('constant, step and multi-step', () => {
    expect(constantLr(0.5).at(100)).toBe(0.5);
    expect(stepLr(1, 2, 0.5).at(5)).toBe(0.25);
    expect(multiStepLr(1, [5, 2], 0.1).at(4)).toBeCloseTo(0.1);
    expect(multiStepLr(1, [5, 2], 0.1).at(5)).toBeCloseTo(0.01);
    expect(() => stepLr(1, 0)).toThrow(ConfigError);
    expect(() => protocolSchedule(0.1, 0)).toThrow(/epochs/);
  });
});
