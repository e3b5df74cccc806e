/**
 * The paper's rules, bit for bit: a few training steps of every 2016 strategy (bp, uSF, brSF,
 * frSF, FA; without and with BN and Batch Manhattan, flips, magnitude laws, a strategy on BN's γ,
 * per-layer choices, on the mlp and lenet), then SHA-256 checksums of what the steps produced:
 * the weights, the gradients of the last step, the optimizer's momentum buffers, each layer's
 * feedback state (generators, drawn matrices, masks) and the feedback statistics of an
 * instrumented last step. The expected checksums were recorded before the backward protocol was
 * redesigned for direct and learned feedback (DFA, Kolen-Pollack, weight mirrors); any change to
 * the arithmetic of these rules fails here.
 *
 * `UPDATE_CHECKSUMS=1 npx vitest run test/checksums.test.ts` rewrites the fixture (only do that
 * for a change that is meant to alter these numbers, and say so in the commit).
 */
import { describe } from 'vitest';
import { Rng, SGD, Tensor, batchManhattan, feedbackByName, lenet, mlp, symmetric, trainStep, usf, type FeedbackStrategy } from 'asymprop';
import { splitEmbeddedMnist } from 'asymprop/node';
import { checksums, holdToFixture } from './checksum-helpers.js';

const FIXTURE = new URL('./fixtures/checksums-2016.json', import.meta.url);
const STEPS = 5;
const BATCH = 50;

interface Case {
  readonly name: string;
  readonly arch: 'mlp' | 'lenet';
  readonly bn: boolean;
  readonly feedback: FeedbackStrategy | ((i: number) => FeedbackStrategy);
  readonly bnFeedback?: FeedbackStrategy;
  readonly lr: number;
}

function cases(): Case[] {
  const out: Case[] = [];
  for (const arch of ['mlp', 'lenet'] as const) {
    for (const bn of [false, true]) {
      for (const bm of [false, true]) {
        for (const method of ['bp', 'usf', 'brsf', 'frsf', 'fa']) {
          out.push({ name: `${arch}${bn ? '+bn' : ''} ${bm ? 'bm+' : ''}${method}`, arch, bn, feedback: feedbackByName(method, { bm }), lr: bm ? 1e-3 : 0.01 });
        }
      }
    }
  }
  for (const bm of [false, true]) {
    const lr = bm ? 1e-3 : 0.01;
    for (const flip of [0.25, 1]) out.push({ name: `mlp+bn ${bm ? 'bm+' : ''}frsf flip=${flip}`, arch: 'mlp', bn: true, feedback: feedbackByName('frsf', { bm, flip }), lr });
    for (const method of ['bp', 'fa', 'usf']) out.push({ name: `mlp+bn ${bm ? 'bm+' : ''}${method} flip=0.5`, arch: 'mlp', bn: true, feedback: feedbackByName(method, { bm, flip: 0.5 }), lr });
    for (const magnitude of ['abs-normal', 'lognormal', 'const-10', 'const-0.1']) {
      out.push({ name: `mlp+bn ${bm ? 'bm+' : ''}brsf(${magnitude})`, arch: 'mlp', bn: true, feedback: feedbackByName('brsf', { bm, magnitude }), lr });
      out.push({ name: `lenet+bn ${bm ? 'bm+' : ''}frsf(${magnitude})`, arch: 'lenet', bn: true, feedback: feedbackByName('frsf', { bm, magnitude }), lr });
    }
  }
  out.push({ name: 'lenet+bn usf, usf on BN', arch: 'lenet', bn: true, feedback: usf(), bnFeedback: usf(), lr: 0.01 });
  out.push({ name: 'mlp+bn brsf, bm+fa on BN', arch: 'mlp', bn: true, feedback: feedbackByName('brsf'), bnFeedback: feedbackByName('fa', { bm: true }), lr: 0.01 });
  out.push({ name: 'lenet per layer', arch: 'lenet', bn: false, feedback: (i) => [usf(), feedbackByName('brsf'), feedbackByName('fa'), symmetric(), batchManhattan(usf())][i]!, lr: 0.01 });
  return out;
}

function run(c: Case, data: ReturnType<typeof splitEmbeddedMnist>['train']): Record<string, string> {
  const rng = new Rng(7);
  const build = c.arch === 'lenet' ? lenet : mlp;
  const model = build({ rng: rng.fork(), bn: c.bn, feedback: c.feedback, ...(c.bnFeedback ? { bnFeedback: c.bnFeedback } : {}) });
  const optimizer = new SGD(model.params(), { lr: c.lr, momentum: 0.9, weightDecay: 1e-4 });
  const order = rng.fork().permutation(data.size);
  const x = Tensor.zeros([BATCH, 1, 28, 28]);
  const y = new Int32Array(BATCH);
  for (let s = 0; s < STEPS; s++) {
    data.fillBatch(order, s * BATCH, BATCH, x.data, y);
    model.instrument(s === STEPS - 1);
    trainStep(model, optimizer, x, y);
  }
  model.instrument(false);
  return checksums(model, optimizer);
}

describe('the 2016 rules are unchanged to the bit', () => {
  const data = splitEmbeddedMnist().train;
  holdToFixture(FIXTURE, cases(), (c) => `${c.name}: weights, gradients, momentum, feedback state and statistics after ${STEPS} steps`, (c) => run(c, data));
});
