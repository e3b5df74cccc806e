/**
 * Node-only parts of asymprop: loading data from files and running independent training runs
 * on worker threads. The main entry (`asymprop`) stays free of Node modules so it bundles for
 * browsers; import these from `asymprop/node`.
 *
 * @packageDocumentation
 */
export { MNIST_MEAN, MNIST_STD, SPLIT_SEED, loadEmbeddedMnist, splitEmbeddedMnist, type Split } from './data/embeddedMnist.js';
export { loadDataset } from './experiments/datasets.js';
export { runPool, type PoolOptions, type WorkerMessage } from './cli/pool.js';
