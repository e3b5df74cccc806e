import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  Adam,
  RMSprop,
  resnet,
  ArrayDataset,
  BatchNorm,
  CHECKPOINT_VERSION,
  Conv2d,
  DataFormatError,
  Dense,
  Dropout,
  Flatten,
  MaxPool2d,
  ReLU,
  Rng,
  SGD,
  Sequential,
  ShapeError,
  decodeCheckpoint,
  encodeCheckpoint,
  feedbackByName,
  protocolSchedule,
  restoreCheckpoint,
  train,
  type FeedbackStrategy,
  type TrainProgress,
} from '../src/index.js';
import { loadCheckpoint, saveCheckpoint } from '../src/node.js';

/** Ten 1×6×6 classes of noisy blobs: a small image task for a conv net. */
function blobs(n: number, seed: number): ArrayDataset {
  const rng = new Rng(seed);
  const x = new Float32Array(n * 36);
  const y = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const c = i % 4;
    y[i] = c;
    for (let p = 0; p < 36; p++) x[i * 36 + p] = rng.normal(0, 0.5) + (Math.floor(p / 9) === c ? 1 : 0);
  }
  return new ArrayDataset(`blobs-${seed}`, x, y, [1, 6, 6], 4);
}

/** A small network with every kind of state: conv, BN running statistics, dropout's generator, dense. */
function build(seed: number, strategy: FeedbackStrategy): Sequential {
  const rng = new Rng(seed);
  return new Sequential(
    [
      new Conv2d(1, 3, 3, { rng, padding: 1, feedback: strategy }),
      new BatchNorm(3, { rng }),
      new ReLU(),
      new MaxPool2d(2),
      new Flatten(),
      new Dropout(0.2, rng.fork()),
      new Dense(27, 8, { rng, feedback: strategy }),
      new ReLU(),
      new Dense(8, 4, { rng, feedback: strategy }),
    ],
    [1, 6, 6],
  );
}

const data = { train: blobs(60, 1), test: blobs(20, 2) };
const EPOCHS = 3;
const BATCH = 8; // 8 steps per epoch

type RunOptions = { stopAfterCheckpoint?: number; from?: Uint8Array; optimizer?: 'adam' | 'rmsprop'; resnet?: boolean };
function run(seed: number, strategy: FeedbackStrategy, opts: RunOptions = {}) {
  const model = opts.resnet ? resnet({ rng: new Rng(seed), depth: 8, bn: true, inputShape: [1, 6, 6], width: 2, feedback: strategy }) : build(seed, strategy);
  const lr = strategy.name.startsWith('bm+') ? 1e-3 : opts.optimizer ? 0.005 : 0.05;
  const optimizer =
    opts.optimizer === 'adam' ? new Adam(model.params(), { lr, weightDecay: 1e-4 })
    : opts.optimizer === 'rmsprop' ? new RMSprop(model.params(), { lr, weightDecay: 1e-4, momentum: 0.5, centered: true })
    : new SGD(model.params(), { lr, momentum: 0.9, weightDecay: 1e-4 });
  const dataRng = new Rng(seed + 100);
  let progress: TrainProgress | undefined;
  if (opts.from) progress = restoreCheckpoint(decodeCheckpoint(opts.from, 'memory'), { model, optimizer, rngs: { data: dataRng } });
  let saved: Uint8Array | undefined;
  let count = 0;
  class Stop extends Error {}
  try {
    const result = train(model, data, {
      optimizer,
      epochs: EPOCHS,
      batchSize: BATCH,
      rng: dataRng,
      schedule: protocolSchedule(lr, EPOCHS),
      ...(progress ? { resume: progress } : {}),
      checkpointEvery: 5,
      onCheckpoint: (p) => {
        count++;
        if (count === opts.stopAfterCheckpoint) {
          saved = encodeCheckpoint({ model, optimizer, progress: p, rngs: { data: dataRng } });
          throw new Stop();
        }
      },
    });
    return { model, result, saved };
  } catch (e) {
    if (e instanceof Stop) return { model, result: null, saved };
    throw e;
  }
}

// Every registered method (the learned rules kp and wm resume their B and, for wm, its noise generator; dfa its lazily drawn B).
const STRATEGIES = ['bp', 'usf', 'brsf', 'frsf', 'fa', 'dfa', 'kp', 'wm'].flatMap((name) => [false, true].map((bm) => feedbackByName(name, { bm })));
STRATEGIES.push(feedbackByName('brsf', { flip: 0.25, magnitude: 'lognormal' }));

describe('a run resumed from a checkpoint ends bit-identical to the uninterrupted run', () => {
  for (const strategy of STRATEGIES) {
    it(strategy.name, () => {
      const whole = run(7, strategy);
      // Stop mid-epoch (checkpoint 2 is at step 10: epoch 2, step 2) and at an epoch boundary (checkpoint 3).
      for (const stopAt of [2, 3]) {
        const first = run(7, strategy, { stopAfterCheckpoint: stopAt });
        expect(first.saved).toBeDefined();
        const resumed = run(99, strategy, { from: first.saved! }); // another seed: everything must come from the checkpoint
        expect(resumed.result!.history.map((h) => h.trainLoss)).toEqual(whole.result!.history.map((h) => h.trainLoss));
        expect(resumed.result!.testAccuracy).toBe(whole.result!.testAccuracy);
        resumed.model.params().forEach((p, i) => expect(p.value.data, p.name).toEqual(whole.model.params()[i]!.value.data));
        expect(resumed.model.buffers().arrays).toEqual(whole.model.buffers().arrays);
        expect(resumed.model.feedbackState()).toEqual(whole.model.feedbackState());
      }
    });
  }
});

describe('resumed bit-identically: Adam and RMSprop, and a resnet with learned feedback inside its blocks', () => {
  const cases: [string, FeedbackStrategy, RunOptions][] = [
    ['adam, kp', feedbackByName('kp'), { optimizer: 'adam' }],
    ['rmsprop (momentum, centred), bm+usf', feedbackByName('usf', { bm: true }), { optimizer: 'rmsprop' }],
    ['resnet-8 with BN, wm, SGD', feedbackByName('wm'), { resnet: true }],
    ['resnet-8 with BN, dfa, Adam', feedbackByName('dfa'), { resnet: true, optimizer: 'adam' }],
  ];
  for (const [name, strategy, options] of cases) {
    it(name, () => {
      const whole = run(7, strategy, options);
      const first = run(7, strategy, { ...options, stopAfterCheckpoint: 2 });
      const resumed = run(99, strategy, { ...options, from: first.saved! });
      expect(resumed.result!.history.map((h) => h.trainLoss)).toEqual(whole.result!.history.map((h) => h.trainLoss));
      resumed.model.params().forEach((p, i) => expect(p.value.data, p.name).toEqual(whole.model.params()[i]!.value.data));
      expect(resumed.model.buffers().arrays).toEqual(whole.model.buffers().arrays);
      expect(resumed.model.feedbackState()).toEqual(whole.model.feedbackState());
    });
  }
});

describe('checkpoint files', () => {
  const strategy = feedbackByName('brsf');
  const bytes = run(3, strategy, { stopAfterCheckpoint: 1 }).saved!;

  it('are written atomically (no temporary file left) and read back', () => {
    const dir = mkdtempSync(join(tmpdir(), 'asymprop-ckpt-'));
    const path = join(dir, 'run.ckpt');
    const model = build(3, strategy);
    const optimizer = new SGD(model.params(), { lr: 0.1 });
    const progress = decodeCheckpoint(bytes, 'memory').header.progress;
    saveCheckpoint(path, { model, optimizer, progress, meta: { note: 'test' } });
    saveCheckpoint(path, { model, optimizer, progress, meta: { note: 'second' } }); // replaces
    expect(readdirSync(dir)).toEqual(['run.ckpt']);
    expect(loadCheckpoint(path).header.meta).toEqual({ note: 'second' });
    expect(() => loadCheckpoint(join(dir, 'missing.ckpt'))).toThrow(/missing\.ckpt: cannot read the checkpoint: ENOENT/);
  });

  it('reject damaged, truncated, foreign and newer files with a DataFormatError naming the problem', () => {
    const damaged = bytes.slice();
    damaged[damaged.length - 3] ^= 0xff;
    expect(() => decodeCheckpoint(damaged, 'a.ckpt')).toThrow(/a\.ckpt.*checksum mismatch/);
    expect(() => decodeCheckpoint(bytes.subarray(0, bytes.length - 8), 'b.ckpt')).toThrow(/b\.ckpt.*payload .* disagrees/);
    expect(() => decodeCheckpoint(bytes.subarray(0, 10), 'c.ckpt')).toThrow(/shorter than a checkpoint header/);
    expect(() => decodeCheckpoint(new TextEncoder().encode('PK\u0003\u0004 not a checkpoint'), 'd.ckpt')).toThrow(/not an asymprop checkpoint/);
    const header = headerOf(bytes);
    const newer = reencode(bytes, { ...header, version: CHECKPOINT_VERSION + 1 });
    expect(() => decodeCheckpoint(newer, 'e.ckpt')).toThrow(/version 3 was written by a newer asymprop; this version reads versions 1 and 2/);
    const huge = bytes.slice();
    new DataView(huge.buffer).setUint32(8, 0xfffffff0, true);
    expect(() => decodeCheckpoint(huge, 'f.ckpt')).toThrow(DataFormatError);
  });

  it('check the header too: one changed character of a momentum buffer is refused', () => {
    const header = headerOf(bytes);
    expect(header['version']).toBe(2);
    const text = JSON.stringify(header);
    const optimizerAt = text.indexOf('"optimizer":');
    const base64 = /"([A-Za-z0-9+/]{40,})/g;
    base64.lastIndex = optimizerAt;
    const at = base64.exec(text)!.index + 20; // inside the first momentum buffer's base64
    const changed = new TextEncoder().encode(text.slice(0, at) + (text[at] === 'A' ? 'B' : 'A') + text.slice(at + 1));
    const damaged = bytes.slice();
    damaged.set(changed, 12); // same length: only the character differs
    expect(() => decodeCheckpoint(damaged, 'i.ckpt')).toThrow('i.ckpt (byte 12): header checksum mismatch: the file is damaged');
  });

  it('still read version 1 (no header checksum), and resume from it exactly as from version 2', () => {
    const v1 = reencode(bytes, { ...headerOf(bytes), version: 1 }, { checksum: false });
    const [a, b] = [v1, bytes].map((file) => {
      const model = build(99, strategy);
      const optimizer = new SGD(model.params(), { lr: 0.1, momentum: 0.9 });
      const progress = restoreCheckpoint(decodeCheckpoint(file, 'v.ckpt'), { model, optimizer }, 'v.ckpt');
      return { progress, weights: model.params().map((p) => Array.from(p.value.data)), optimizer: optimizer.state() };
    });
    expect(a).toEqual(b);
  });

  it('validate every header field, naming it: progress, optimizer, generators', () => {
    const header = headerOf(bytes);
    const bad = (change: (h: Record<string, any>) => void) => {
      const h = JSON.parse(JSON.stringify(header)) as Record<string, any>;
      change(h);
      return () => decodeCheckpoint(reencode(bytes, h), 'j.ckpt');
    };
    expect(bad((h) => (h.progress.epoch = 99))).toThrow('j.ckpt (byte 12): header field "progress.history": expected one record per finished epoch (98, as epoch is 99), found "0 records"');
    expect(bad((h) => (h.progress.step = -1))).toThrow(/header field "progress\.step": expected an integer ≥ 0, found -1/);
    expect(bad((h) => (h.progress.correct = h.progress.seen + 1))).toThrow(/"progress\.correct": expected at most the \d+ samples seen/);
    expect(bad((h) => (h.progress.lossSum = 'lots'))).toThrow(/"progress\.lossSum": expected a finite number ≥ 0, found "lots"/);
    expect(bad((h) => (h.progress.epochStartRng = { algorithm: 'alea', c: 0, s0: 2, s1: 0, s2: 0, spare: null }))).toThrow(/"progress\.epochStartRng": expected a generator state/);
    expect(bad((h) => (h.optimizer.lr = -0.1))).toThrow(/"optimizer\.lr": expected a finite number ≥ 0, found -0\.1/);
    expect(bad((h) => (h.optimizer.steps = 1.5))).toThrow(/"optimizer\.steps": expected an integer ≥ 0, found 1\.5/);
    expect(bad((h) => (h.rngs[Object.keys(h.rngs)[0]!] = { s: [1, 2] }))).toThrow(/header field "rngs\..*": expected a generator state/);
    expect(bad((h) => (h.feedback['0'] = 7))).toThrow(/header field "feedback\.0": expected an object, found 7/);
    for (const f of [bad((h) => (h.progress.epoch = 99)), bad((h) => (h.optimizer.lr = -0.1))]) expect(f).toThrow(DataFormatError);
  });

  it('refuse progress outside the run it resumes: an epoch past the last, or samples that steps cannot hold', () => {
    const progress = headerOf(bytes).progress;
    const data = { train: blobs(64, 1), test: blobs(32, 2) };
    const resumeWith = (p: TrainProgress) => {
      const model = build(3, strategy);
      return () => train(model, data, { optimizer: new SGD(model.params(), { lr: 0.1 }), epochs: 2, rng: new Rng(1), batchSize: 16, resume: p });
    };
    const record = { lr: 0.1, trainLoss: 1, trainAccuracy: 0.5, testLoss: 1, testAccuracy: 0.5, feedback: null, seconds: 1 };
    const finished = { ...progress, epoch: 4, step: 0, seen: 0, correct: 0, lossSum: 0, history: [1, 2, 3].map((epoch) => ({ ...record, epoch })) } as TrainProgress;
    expect(resumeWith(finished)).toThrow('invalid resume progress epoch: 4 (allowed: an epoch of this 2-epoch run (1 to 2, or 3 at step 0 once it has ended))');
    expect(resumeWith({ ...progress, seen: progress.seen + 1 })).toThrow(/invalid resume progress seen: \d+ \(allowed: \d+ steps × 16 samples = \d+\)/);
  });

  it('leave the model and optimizer untouched when the optimizer state is refused after the feedback state loaded', () => {
    const model = build(5, feedbackByName('frsf'));
    const optimizer = new SGD(model.params(), { lr: 0.1, momentum: 0.9 });
    const saved = build(6, feedbackByName('frsf'));
    const savedOptimizer = new SGD(saved.params(), { lr: 0.1, momentum: 0.9 });
    const file = encodeCheckpoint({ model: saved, optimizer: savedOptimizer, progress: headerOf(bytes).progress });
    const header = headerOf(file);
    const wrongKind = reencode(file, { ...header, optimizer: { ...(header['optimizer'] as object), type: 'adam' } });
    const before = { feedback: JSON.stringify(model.feedbackState()), optimizer: JSON.stringify(optimizer.state()) };
    expect(() => restoreCheckpoint(decodeCheckpoint(wrongKind, 'k.ckpt'), { model, optimizer }, 'k.ckpt')).toThrow(/expected an SGD state, received type "adam"/);
    expect(JSON.stringify(model.feedbackState())).toBe(before.feedback);
    expect(JSON.stringify(optimizer.state())).toBe(before.optimizer);
    // The same for Sequential.loadFeedbackState alone: a layer that refuses puts the earlier ones back.
    const state = saved.feedbackState() as Record<string, any>;
    const last = Object.keys(state).pop()!;
    const broken = { ...state, [last]: { ...state[last], spec: { type: 'random' } } };
    expect(() => model.loadFeedbackState(broken)).toThrow();
    expect(JSON.stringify(model.feedbackState())).toBe(before.feedback);
  });

  it('refuse a model of another shape before changing anything', () => {
    const other = new Sequential([new Flatten(), new Dense(36, 4, { rng: new Rng(1) })], [1, 6, 6]);
    const before = Float32Array.from(other.params()[0]!.value.data);
    const optimizer = new SGD(other.params(), { lr: 0.1 });
    expect(() => restoreCheckpoint(decodeCheckpoint(bytes, 'g.ckpt'), { model: other, optimizer }, 'g.ckpt')).toThrow(/no parameter "1\.weight"|parameter/);
    expect(other.params()[0]!.value.data).toEqual(before);
    const wide = build(3, strategy);
    const conv = wide.layers[0] as Conv2d;
    expect(conv).toBeInstanceOf(Conv2d);
    const narrow = new Sequential([new Conv2d(1, 3, 1, { rng: new Rng(1) }), new Flatten(), new Dense(108, 4, { rng: new Rng(1) })], [1, 6, 6]);
    expect(() => restoreCheckpoint(decodeCheckpoint(bytes, 'h.ckpt'), { model: narrow, optimizer: new SGD(narrow.params(), { lr: 0.1 }) }, 'h.ckpt')).toThrow(ShapeError);
  });

  it('survive a round trip through a file byte for byte', () => {
    const dir = mkdtempSync(join(tmpdir(), 'asymprop-ckpt-'));
    writeFileSync(join(dir, 'x.ckpt'), bytes);
    expect(new Uint8Array(readFileSync(join(dir, 'x.ckpt')))).toEqual(bytes);
    expect(loadCheckpoint(join(dir, 'x.ckpt')).params.size).toBe(decodeCheckpoint(bytes, 'x').params.size);
  });
});

/** The header of checkpoint bytes (any version), parsed. */
function headerOf(bytes: Uint8Array): Record<string, unknown> & { progress: TrainProgress } {
  const length = new DataView(bytes.buffer, bytes.byteOffset).getUint32(8, true);
  return JSON.parse(new TextDecoder().decode(bytes.subarray(12, 12 + length))) as Record<string, unknown> & { progress: TrainProgress };
}

/** FNV-1a, 32 bits, written out as the format defines it. */
function fnv1a(bytes: Uint8Array): number {
  let h = 0x811c9dc5;
  for (const b of bytes) h = Math.imul(h ^ b, 0x01000193) >>> 0;
  return h;
}

/**
 * Rewrites a version-2 checkpoint's header (payload unchanged), with a correct header checksum
 * (`checksum: false`: none, the version-1 layout).
 */
function reencode(bytes: Uint8Array, header: object, { checksum = true } = {}): Uint8Array {
  const old = new DataView(bytes.buffer, bytes.byteOffset).getUint32(8, true);
  const payload = bytes.subarray(Math.ceil((12 + old + 4) / 8) * 8);
  const h = new TextEncoder().encode(JSON.stringify(header));
  const start = Math.ceil((12 + h.length + (checksum ? 4 : 0)) / 8) * 8;
  const out = new Uint8Array(start + payload.length);
  out.set(bytes.subarray(0, 8));
  const view = new DataView(out.buffer);
  view.setUint32(8, h.length, true);
  out.set(h, 12);
  if (checksum) view.setUint32(12 + h.length, fnv1a(h), true);
  out.set(payload, start);
  return out;
}
