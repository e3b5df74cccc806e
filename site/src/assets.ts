/**
 * The files that the build writes beside the page (see the plugins in `site/vite.config.ts`),
 * by their paths relative to the page. No imports, so that the build (Node) and the page share it.
 */

/**
 * The page's MNIST digits: 2,000 training and 500 test digits of the library's embedded ones, as a
 * split file (the library's `encodeSplit`; the worker reads it with `decodeSplit`).
 */
export const DIGITS_FILE = 'mnist-digits.bin';

/** The view of `src/layers/dense.ts`, with the lines where the feedback matrix V enters highlighted. */
export const DENSE_PAGE = 'source/dense.ts.html';
