/**
 * Vite configuration of the interactive page (`npm run site` builds it into site/dist,
 * `npm run site:dev` serves it with live reload).
 *
 * The page imports the library by its package name, resolved here to the TypeScript sources.
 * A small plugin provides the MNIST digits as one compact binary file, `mnist-digits.bin`
 * (see src/digitsFile.ts for its layout), made at build time from the library's embedded digits.
 */
import { fileURLToPath } from 'node:url';
import { defineConfig, type Plugin } from 'vite';
import type { ImageDataset } from '../src/index.js';
import { MNIST_MEAN, MNIST_STD, splitEmbeddedMnist } from '../src/node.js';
import { DIGITS_FILE, encodeDigits } from './src/digitsFile.js';

/** Digits the page trains on and tests on. */
const TRAIN_DIGITS = 2000;
const TEST_DIGITS = 500;

/**
 * The page's digits: every 4th sample of the library's fixed 8,000 / 2,000 split of the 10,000
 * embedded MNIST digits (`splitEmbeddedMnist`). The split lists its samples class after class,
 * so an even stride keeps the class proportions: 2,000 training and 500 test digits, about 2 MB.
 *
 * @param split the library's split (made here when not given).
 */
export function pageDigits({ train, test } = splitEmbeddedMnist()): Uint8Array {
  const every = (set: ImageDataset, count: number) => {
    const stride = set.size / count;
    return set.subset(set.name, Array.from({ length: count }, (_, i) => Math.floor(i * stride)));
  };
  const trainSubset = every(train, TRAIN_DIGITS);
  const testSubset = every(test, TEST_DIGITS);
  return encodeDigits({
    trainImages: trainSubset.images,
    trainLabels: trainSubset.labels,
    testImages: testSubset.images,
    testLabels: testSubset.labels,
    mean: MNIST_MEAN,
    std: MNIST_STD,
  });
}

/** Serves `mnist-digits.bin` in development and writes it next to index.html in the build. */
function embeddedDigits(): Plugin {
  let bytes: Uint8Array | null = null;
  const digits = () => (bytes ??= pageDigits());
  return {
    name: 'asymprop-embedded-digits',
    configureServer(server) {
      server.middlewares.use(`/${DIGITS_FILE}`, (_request, response) => {
        response.setHeader('Content-Type', 'application/octet-stream');
        response.end(digits());
      });
    },
    generateBundle() {
      this.emitFile({ type: 'asset', fileName: DIGITS_FILE, source: digits() });
    },
  };
}

/**
 * Cross-origin isolation for the dev server and `vite preview`: with it the page has
 * SharedArrayBuffer, and each training worker runs its matrix products on two threads
 * (`useGemmThreads`). A static host without these headers gets one thread, and the same results.
 */
const crossOriginIsolation = {
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Embedder-Policy': 'require-corp',
};

export default defineConfig({
  root: fileURLToPath(new URL('.', import.meta.url)),
  // Relative URLs, so the built page works from any directory of any static server.
  base: './',
  resolve: {
    alias: [{ find: /^asymprop$/, replacement: fileURLToPath(new URL('../src/index.ts', import.meta.url)) }],
  },
  server: { headers: crossOriginIsolation },
  preview: { headers: crossOriginIsolation },
  worker: { format: 'es' },
  // Let the dev server find the worker's dependencies at start-up (it does not follow `new Worker`).
  optimizeDeps: { entries: ['index.html', 'src/worker.ts'] },
  build: { outDir: 'dist', emptyOutDir: true, target: 'es2022' },
  plugins: [embeddedDigits()],
});
