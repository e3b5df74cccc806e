/**
 * A Node worker thread that serves the kernels for `useThreads` (`asymprop/node`): it waits for
 * its one setup message, then runs a kernel on the shared memory whenever the calling thread
 * hands it a band of a call.
 */
import { parentPort } from 'node:worker_threads';
import { serveKernelThread, type KernelThreadInit } from './threads.js';

parentPort?.once('message', (init: KernelThreadInit) => serveKernelThread(init));
