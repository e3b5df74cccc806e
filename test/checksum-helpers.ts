/**
 * What the checksum tests share: SHA-256 prefixes of what a few training steps produced (the
 * weights, the gradients of the last step, the optimizer's buffers, each layer's feedback state and
 * the feedback statistics of an instrumented last step), and the fixture they are held to.
 *
 * `UPDATE_CHECKSUMS=1 npx vitest run <the test>` rewrites a fixture (only for a change that is
 * meant to alter these numbers, and say so in the commit).
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { expect, it } from 'vitest';
import type { Sequential } from 'asymprop';

/** The first 16 hex digits of the SHA-256 of the parts, in order. */
export const sha = (parts: readonly (ArrayBufferView | string)[]): string => {
  const h = createHash('sha256');
  for (const p of parts) h.update(typeof p === 'string' ? p : new Uint8Array(p.buffer, p.byteOffset, p.byteLength));
  return h.digest('hex').slice(0, 16);
};

/** The statistics of the 2016 protocol, keyed in a fixed order (NaN as null). */
const STAT_KEYS = ['angleVW', 'signConcordance', 'normRatio', 'errorAngle', 'localErrorAngle'] as const;

/** What an optimizer's `state()` gives (SGD, Adam and RMSprop alike). */
interface OptimizerState {
  readonly type: string;
  readonly lr: number;
  readonly steps: number;
  readonly buffers: Readonly<Record<string, unknown>>;
}

/** The checksums of a model after its steps (see the file's comment). */
export function checksums(model: Sequential, optimizer: { state(): OptimizerState }): Record<string, string> {
  const params = model.params().filter((p) => !p.name.includes('feedback'));
  const stats = model.feedbackStats();
  const statText = JSON.stringify(Object.keys(stats).sort().map((k) => [k, STAT_KEYS.map((s) => {
    const v = stats[k]?.[s];
    return v === undefined || Number.isNaN(v) ? null : v;
  })]));
  const opt = optimizer.state();
  return {
    weights: sha(params.flatMap((p) => [p.name, p.value.data])),
    gradients: sha(params.flatMap((p) => [p.name, p.grad.data])),
    optimizer: sha([JSON.stringify({ type: opt.type, lr: opt.lr, steps: opt.steps }), ...Object.keys(opt.buffers).sort().flatMap((k) => [k, JSON.stringify(opt.buffers[k])])]),
    feedbackState: sha([JSON.stringify(Object.entries(model.feedbackState()).sort(([a], [b]) => a.localeCompare(b)))]),
    stats: sha([statText]),
  };
}

/**
 * One test per case holding `run(case)` to the fixture, and one that every case has a recorded
 * entry; with UPDATE_CHECKSUMS set, the fixture is rewritten from the runs instead.
 */
export function holdToFixture<C extends { readonly name: string }>(fixture: URL, all: readonly C[], title: (c: C) => string, run: (c: C) => Record<string, string> | Promise<Record<string, string>>): void {
  const expected: Record<string, Record<string, string>> = existsSync(fixture) ? JSON.parse(readFileSync(fixture, 'utf8')) : {};
  const got: Record<string, Record<string, string>> = {};

  it(`has a recorded checksum for each of the ${all.length} configurations`, () => {
    if (process.env['UPDATE_CHECKSUMS']) return;
    expect(Object.keys(expected).sort()).toEqual(all.map((c) => c.name).sort());
  });

  for (const c of all) {
    it(title(c), async () => {
      got[c.name] = await run(c);
      if (process.env['UPDATE_CHECKSUMS']) {
        writeFileSync(fixture, `${JSON.stringify(Object.fromEntries(all.filter((k) => got[k.name]).map((k) => [k.name, got[k.name]])), null, 1)}\n`);
        return;
      }
      expect(got[c.name]).toEqual(expected[c.name]);
    });
  }
}
