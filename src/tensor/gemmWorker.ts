/**
 * A Web Worker that serves matrix products for {@link useGemmThreads} (browsers). It waits for
 * its one setup message, then runs the kernel on the shared memory whenever the calling thread
 * hands it a band of a product.
 */
import { serveGemmThread, type GemmThreadInit } from './threads.js';

declare const self: { onmessage: ((event: { data: GemmThreadInit }) => void) | null };

self.onmessage = (event) => {
  self.onmessage = null;
  serveGemmThread(event.data);
};
