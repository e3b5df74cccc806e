/**
 * A Node worker thread that serves matrix products for `useThreads` (`asymprop/node`): it waits
 * for its one setup message, then runs the kernel on the shared memory whenever the calling
 * thread hands it a band of a product.
 */
import { parentPort } from 'node:worker_threads';
import { serveGemmThread, type GemmThreadInit } from './threads.js';

parentPort?.once('message', (init: GemmThreadInit) => serveGemmThread(init));
