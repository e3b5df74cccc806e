/**
 * The fast kernels' one WebAssembly module: every kernel function, generated at run time by the
 * TypeScript of this folder, in one module that imports one memory, so that a helper thread can
 * run any of them on the same memory as the calling thread.
 */
import { moduleBytes, type WasmFunction } from './assembler.js';
import { channelsToPositions, col2im, im2col, positionsToChannels, sumPlanes } from './conv.js';
import { gemmChunks, gemmKernel, packB, packBT, unpad } from './gemm.js';
import { bnGradSums, bnInputGrad, bnNormalize, bnSums } from './norm.js';
import { sgdMomentum } from './optim.js';
import { maxPool, maxPoolBackward } from './pool.js';
import { add, addRows, allFinite, axpy, relu, reluBackward, scale, sign, signScale, sumRows } from './vector.js';
import { xor128Kernels } from './xor128.js';

/** The module's functions, in order (`gemm` first: `gemmChunks` calls it by its index, 0). */
function functions(): WasmFunction[] {
  return [
    gemmKernel(), gemmChunks(0), packB(), packBT(), unpad(),
    im2col(), col2im(), positionsToChannels(), channelsToPositions(), sumPlanes(),
    relu(), reluBackward(), add(), axpy(), scale(), sign(), signScale(), addRows(), sumRows(), allFinite(),
    bnSums(), bnNormalize(), bnGradSums(), bnInputGrad(),
    maxPool(), maxPoolBackward(), sgdMomentum(),
    ...xor128Kernels(),
  ];
}

/** The names of the module's functions, in order: a band names its function by its index here. */
export const KERNEL_NAMES = [
  'gemm', 'gemmChunks', 'packB', 'packBT', 'unpad',
  'im2col', 'col2im', 'positionsToChannels', 'channelsToPositions', 'sumPlanes',
  'relu', 'reluBackward', 'add', 'axpy', 'scale', 'sign', 'signScale', 'addRows', 'sumRows', 'allFinite',
  'bnSums', 'bnNormalize', 'bnGradSums', 'bnInputGrad',
  'maxPool', 'maxPoolBackward', 'sgdMomentum',
  'xor128', 'xor128x4',
] as const;

/** A kernel function's name. */
export type KernelName = (typeof KERNEL_NAMES)[number];

/** The module's bytes, importing `env.memory` (shared, with `maxPages` pages at most, when given). */
export function kernelModuleBytes(maxPages?: number): Uint8Array<ArrayBuffer> {
  const fns = functions();
  fns.forEach((f, i) => {
    if (f.name !== KERNEL_NAMES[i]) throw new Error(`kernel module: function ${i} is ${f.name}, expected ${KERNEL_NAMES[i]}`);
  });
  return moduleBytes(fns, maxPages);
}
