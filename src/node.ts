/**
 * Node-only parts of asymprop: loading data from files and running independent training runs
 * on worker threads. The main entry (`asymprop`) stays free of Node modules so it bundles for
 * browsers; import these from `asymprop/node`.
 *
 * @packageDocumentation
 * @module asymprop/node
 */
export { MNIST_MEAN, MNIST_STD, SPLIT_SEED, loadEmbeddedMnist, splitEmbeddedMnist } from './data/embeddedMnist.js';
export type { Split } from './data/dataset.js';
export { loadDataset } from './experiments/datasets.js';
export { runPool, type PoolOptions, type WorkerMessage } from './experiments/pool.js';
export { readMaybeGzip, loadMnistFormat, loadFashionMnist, loadMnist, loadCifar10, loadCifar100, FASHION_MNIST_DIR, FASHION_MNIST_MEAN, FASHION_MNIST_STD, CIFAR10_MEAN, CIFAR10_STD, CIFAR100_MEAN, CIFAR100_STD, MAX_FILE_BYTES, type ReadOptions, type MnistFormatOptions, type Cifar100Options } from './data/files.js';
export { reproduce, resultsFile, type ReproduceOptions, type ReproduceResult } from './experiments/reproduce.js';
export { loadCheckpoint, saveCheckpoint } from './train/checkpointFile.js';
export { appendDurably, lockFile, type FileLock, type LockHolder } from './io/files.js';
export { useThreads } from './kernels/nodeThreads.js';
