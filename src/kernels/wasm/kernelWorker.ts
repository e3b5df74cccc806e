/**
 * A Web Worker that serves the kernels for `useGemmThreads` (browsers). It waits for its one setup
 * message, then runs a kernel on the shared memory whenever the calling thread hands it a band of
 * a call.
 */
import { serveKernelThread, type KernelThreadInit } from './threads.js';

declare const self: { onmessage: ((event: { data: KernelThreadInit }) => void) | null };

self.onmessage = (event) => {
  self.onmessage = null;
  serveKernelThread(event.data);
};
