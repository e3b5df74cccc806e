import { ShapeError } from '../errors.js';
import type { Rng } from '../tensor/rng.js';
import type { Shape, Tensor } from '../tensor/tensor.js';
import { isContainer, type Layer, type LayerBuffers, type LeafBackward, type NamedChild } from './layer.js';

/** What containers (Sequential, Residual) do with their named sublayers, written once. */

/** One sublayer's backward inside a walk: a nested container is walked into, a leaf goes to `leaf`. */
export function walkInto(layer: Layer, g: Tensor, leaf: LeafBackward): Tensor {
  return isContainer(layer) ? layer.backwardThrough(g, leaf) : leaf(layer, g);
}

/** The shape after the sublayers in turn; a `ShapeError` names the sublayer that refuses its input (`layer conv1 …`). */
export function outputShapeThrough(children: readonly NamedChild[], inputShape: Shape): number[] {
  let shape = [...inputShape];
  for (const { name, layer } of children) {
    try {
      shape = layer.outputShape(shape);
    } catch (e) {
      if (e instanceof ShapeError) throw new ShapeError(`layer ${name} ${e.where}`, e.expected, e.received);
      throw e;
    }
  }
  return shape;
}

/** The sublayers' non-parameter state, each named `"<child>.<name>"` like the parameters. */
export function childBuffers(children: readonly NamedChild[]): Required<LayerBuffers> {
  const arrays: Record<string, Float32Array | Float64Array> = {};
  const rngs: Record<string, Rng> = {};
  for (const { name, layer } of children) {
    const b = layer.buffers?.();
    for (const [k, v] of Object.entries(b?.arrays ?? {})) arrays[`${name}.${k}`] = v;
    for (const [k, v] of Object.entries(b?.rngs ?? {})) rngs[`${name}.${k}`] = v;
  }
  return { arrays, rngs };
}
