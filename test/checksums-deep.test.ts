/**
 * The rules at depth, bit for bit, on one thread and on two: a few training steps of a ResNet-8
 * (3×3 convolutions of stride 1 and 2, 1×1 projection shortcuts, BN, global average pooling) under
 * every rule (bp, uSF, brSF, frSF, FA, DFA, Kolen-Pollack, weight mirrors, Batch Manhattan), with
 * SGD, Adam and RMSprop, and of a small net of the other kernels (a strided unpadded conv, average
 * and max pooling, tanh, sigmoid, dense), then the checksums of `checksum-helpers.ts` plus one of
 * an evaluation-mode forward pass. Recorded before the kernels moved behind one boundary and went
 * multi-threaded: any change to the arithmetic of these layers, or a result that depends on the
 * number of threads, fails here.
 *
 * The models come from the built library (dist/), whose helper threads run the built worker
 * script; `npm test` builds it first. `UPDATE_CHECKSUMS=1 npx vitest run test/checksums-deep.test.ts`
 * rewrites the fixture from the one-thread runs.
 */
import { afterAll, describe } from 'vitest';
import { checksums, holdToFixture, sha } from './checksum-helpers.js';

type Lib = typeof import('../src/index.js');
type NodeLib = typeof import('../src/node.js');
const lib: Lib = await import(new URL('../dist/index.js', import.meta.url).href);
const node: NodeLib = await import(new URL('../dist/node.js', import.meta.url).href);
const { Rng, SGD, Adam, RMSprop, Tensor, feedbackByName, resnet, trainStep } = lib;

const FIXTURE = new URL('./fixtures/checksums-deep.json', import.meta.url);
const STEPS = 3;
const BATCH = 24;

interface Case {
  readonly name: string;
  readonly arch: 'resnet8' | 'mixed';
  readonly bn: boolean;
  readonly method: string;
  readonly bm?: boolean;
  readonly optimizer: 'sgd' | 'adam' | 'rmsprop';
}

function cases(): Case[] {
  const out: Case[] = [];
  for (const method of ['bp', 'usf', 'brsf', 'frsf', 'fa', 'dfa', 'kp', 'wm']) out.push({ name: `resnet8+bn ${method}`, arch: 'resnet8', bn: true, method, optimizer: 'sgd' });
  out.push({ name: 'resnet8+bn bm+usf', arch: 'resnet8', bn: true, method: 'usf', bm: true, optimizer: 'sgd' });
  out.push({ name: 'resnet8+bn bm+frsf', arch: 'resnet8', bn: true, method: 'frsf', bm: true, optimizer: 'sgd' });
  out.push({ name: 'resnet8 bp', arch: 'resnet8', bn: false, method: 'bp', optimizer: 'sgd' });
  out.push({ name: 'resnet8 fa', arch: 'resnet8', bn: false, method: 'fa', optimizer: 'sgd' });
  out.push({ name: 'resnet8+bn bp adam', arch: 'resnet8', bn: true, method: 'bp', optimizer: 'adam' });
  out.push({ name: 'resnet8+bn fa rmsprop', arch: 'resnet8', bn: true, method: 'fa', optimizer: 'rmsprop' });
  for (const method of ['bp', 'brsf', 'dfa']) out.push({ name: `mixed ${method}`, arch: 'mixed', bn: false, method, optimizer: 'sgd' });
  return out;
}

/** Conv 3×3 stride 2 unpadded, average pool, tanh, conv 3×3 padded, max pool, sigmoid, dense: the kernels ResNet-8 does not use. */
function mixed(rng: InstanceType<Lib['Rng']>, feedback: ReturnType<Lib['feedbackByName']>): InstanceType<Lib['Sequential']> {
  const { AvgPool2d, Conv2d, Dense, Flatten, MaxPool2d, Sequential, Sigmoid, Tanh } = lib;
  return new Sequential([
    new Conv2d(1, 6, 3, { rng, stride: 2, feedback }), // 13×13
    new AvgPool2d(2, { stride: 1 }), //                   12×12
    new Tanh(),
    new Conv2d(6, 10, 3, { rng, padding: 1, feedback }),
    new MaxPool2d(3, { stride: 2, padding: 1 }), //       6×6
    new Sigmoid(),
    new Flatten(),
    new Dense(360, 10, { rng, feedback }),
  ], [1, 28, 28]);
}

function run(c: Case): Record<string, string> {
  const rng = new Rng(11);
  const feedback = feedbackByName(c.method, { bm: c.bm ?? false });
  const model = c.arch === 'resnet8' ? resnet({ rng: rng.fork(), depth: 8, bn: c.bn, feedback }) : mixed(rng.fork(), feedback);
  const params = model.params();
  const optimizer = c.optimizer === 'adam' ? new Adam(params, { lr: 1e-3, weightDecay: 1e-4 }) : c.optimizer === 'rmsprop' ? new RMSprop(params, { lr: 1e-3, momentum: 0.5 }) : new SGD(params, { lr: c.bm ? 1e-3 : 0.01, momentum: 0.9, weightDecay: 1e-4 });
  const x = Tensor.zeros([BATCH, 1, 28, 28]);
  const data = rng.fork();
  const y = Array.from({ length: BATCH }, (_, i) => (i * 7) % 10);
  for (let s = 0; s < STEPS; s++) {
    data.fillNormal(x.data);
    model.instrument(s === STEPS - 1);
    trainStep(model, optimizer, x, y);
  }
  model.instrument(false);
  return { ...checksums(model, optimizer), eval: sha([model.forward(x, false).data]) };
}

describe('residual networks and the other kernels are unchanged to the bit, on one thread', () => {
  holdToFixture(FIXTURE, cases(), (c) => `${c.name}: weights, gradients, optimizer, feedback state, statistics and an eval pass after ${STEPS} steps (1 thread)`, async (c) => {
    await node.useThreads(1);
    return run(c);
  });
});

describe.skipIf(process.env['UPDATE_CHECKSUMS'])('... and the same bits on two threads', () => {
  afterAll(() => node.useThreads(1));
  holdToFixture(FIXTURE, cases(), (c) => `${c.name} (2 threads)`, async (c) => {
    await node.useThreads(2);
    return run(c);
  });
});
