/**
 * Vite configuration of the interactive page (`npm run site` builds it into site/dist,
 * `npm run site:dev` serves it with live reload).
 *
 * The page imports the library by its package name, resolved here to the TypeScript sources.
 * Two small plugins provide what the page needs from the repository, made at each build: the
 * MNIST digits as one split file, `mnist-digits.bin` (the library's `encodeSplit`, from its
 * embedded digits), and the view of `src/layers/dense.ts` that the page links to (sourcePage.ts).
 */
import { fileURLToPath } from 'node:url';
import { defineConfig, type Plugin } from 'vite';
import { encodeSplit, type ImageDataset } from '../src/index.js';
import { splitEmbeddedMnist } from '../src/node.js';
import { DENSE_SOURCE, densePage } from './sourcePage.js';
import { DENSE_PAGE, DIGITS_FILE } from './src/assets.js';

/** Digits the page trains on and tests on. */
const TRAIN_DIGITS = 2000;
const TEST_DIGITS = 500;

/**
 * The page's digits: every 4th sample of the library's fixed 8,000 / 2,000 split of the 10,000
 * embedded MNIST digits (`splitEmbeddedMnist`). The split lists its samples class after class,
 * so an even stride keeps the class proportions: 2,000 training and 500 test digits, about 2 MB,
 * as a split file (the library's `encodeSplit`, read back in the worker by `decodeSplit`).
 *
 * @param split the library's split (made here when not given).
 */
export function pageDigits({ train, test } = splitEmbeddedMnist()): Uint8Array {
  const every = (set: ImageDataset, count: number) => {
    const stride = set.size / count;
    return set.subset(set.name, Array.from({ length: count }, (_, i) => Math.floor(i * stride)));
  };
  return encodeSplit({ train: every(train, TRAIN_DIGITS), test: every(test, TEST_DIGITS) });
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
 * The view of `src/layers/dense.ts` (`source/dense.ts.html`), served in development and written
 * beside the page in the build; index.html's link to it names the lines where V enters, filled in
 * here: `@@DENSE_PAGE@@`, `@@V_LINE@@` (the first of them) and `@@V_LINES@@` (all, "96 and 116").
 */
function denseSource(): Plugin {
  const page = () => densePage();
  return {
    name: 'asymprop-dense-source',
    transformIndexHtml(html) {
      const { lines } = page();
      return html
        .replaceAll('@@DENSE_PAGE@@', DENSE_PAGE)
        .replaceAll('@@DENSE_SOURCE@@', DENSE_SOURCE)
        .replaceAll('@@V_LINE@@', String(lines[0]))
        .replaceAll('@@V_LINES@@', lines.join(' and '));
    },
    configureServer(server) {
      server.middlewares.use(`/${DENSE_PAGE}`, (_request, response) => {
        response.setHeader('Content-Type', 'text/html; charset=utf-8');
        response.end(page().html);
      });
    },
    generateBundle() {
      this.emitFile({ type: 'asset', fileName: DENSE_PAGE, source: page().html });
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
  plugins: [embeddedDigits(), denseSource()],
});
