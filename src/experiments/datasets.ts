import type { Dataset } from '../data/dataset.js';
import { splitEmbeddedMnist } from '../data/embeddedMnist.js';
import type { DatasetName } from './config.js';

/** Loads a named dataset's training and test sets (Node only: reads files). */
export function loadDataset(name: DatasetName): { train: Dataset; test: Dataset } {
  switch (name) {
    case 'mnist-embedded':
      return splitEmbeddedMnist();
  }
}
