import { ArrayDataset, Rng } from 'asymprop';

/** Seed of the spirals: the points are the same for every run seed, like the MNIST split. */
export const SPIRALS_SEED = 'asymprop:site-spirals';

/** The spirals fit in [-SPIRALS_EXTENT, SPIRALS_EXTENT]² (the boundary view shows this square). */
export const SPIRALS_EXTENT = 2.4;

/**
 * Interleaved spirals, one arm per class (the CS231n toy problem): with t = (i + ½)/n, point i of
 * class c sits at radius 2t and angle 4c + 4t + noise (radians), so each arm turns about 0.6 of a
 * circle and the arms start 4 radians apart.
 *
 * @param perClass points per class.
 * @param classes number of arms.
 * @param rng draws the angular noise (N(0, 0.2)).
 */
export function spirals(name: string, perClass: number, classes: number, rng: Rng): ArrayDataset {
  const features = new Float32Array(perClass * classes * 2);
  const labels = new Uint8Array(perClass * classes);
  let k = 0;
  for (let c = 0; c < classes; c++) {
    for (let i = 0; i < perClass; i++) {
      const r = (i + 0.5) / perClass;
      const angle = 4 * c + 4 * r + rng.normal(0, 0.2);
      features[2 * k] = 2 * r * Math.sin(angle);
      features[2 * k + 1] = 2 * r * Math.cos(angle);
      labels[k] = c;
      k++;
    }
  }
  return new ArrayDataset(name, features, labels, [2], classes);
}

/** The page's spirals: 200 training and 100 test points per class, 3 classes. */
export function spiralSplit(): { train: ArrayDataset; test: ArrayDataset } {
  const rng = new Rng(SPIRALS_SEED);
  return { train: spirals('spirals/train', 200, 3, rng), test: spirals('spirals/test', 100, 3, rng) };
}
