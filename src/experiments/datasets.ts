import type { Dataset } from '../data/dataset.js';
import { splitEmbeddedMnist } from '../data/embeddedMnist.js';
import { loadCifar10, loadCifar100, loadFashionMnist, loadMnist } from '../data/files.js';
import { ConfigError } from '../errors.js';
import type { DatasetName } from './config.js';

/**
 * Loads a named dataset's training and test sets (Node only: reads files). `dir` overrides the
 * default place: Debian's `dataset-fashion-mnist` directory for Fashion-MNIST; MNIST and CIFAR
 * have no default and need one. The embedded digits need no files and ignore `dir`.
 *
 * @throws {@link asymprop!ConfigError} when MNIST or CIFAR is named without `dir`.
 * @throws {@link asymprop!DataFormatError} when the files are missing or malformed.
 */
export function loadDataset(
  name: DatasetName,
  dir: string | null = null,
): {
  /** The training set. */
  train: Dataset;
  /** The test set. */
  test: Dataset;
} {
  switch (name) {
    case 'mnist-embedded':
      return splitEmbeddedMnist();
    case 'fashion-mnist':
      return dir === null ? loadFashionMnist() : loadFashionMnist(dir);
    case 'mnist':
      return loadMnist(requireDir(name, dir));
    case 'cifar10':
      return loadCifar10(requireDir(name, dir));
    case 'cifar100':
      return loadCifar100(requireDir(name, dir));
  }
}

function requireDir(name: DatasetName, dir: string | null): string {
  if (dir === null) throw new ConfigError('data-dir', undefined, `the directory holding the ${name} files (--data-dir)`);
  return dir;
}
