import { ConfigError, ShapeError, StateError } from '../errors.js';
import type { Param } from '../tensor/param.js';
import { assertSameShape, type Shape, type Tensor } from '../tensor/tensor.js';
import { childBuffers, outputShapeThrough, walkInto } from './children.js';
import type { ContainerLayer, Layer, LayerBuffers, LeafBackward, NamedChild } from './layer.js';
import { defaultKernels } from '../kernels/fast.js';
import type { Kernels } from '../kernels/kernels.js';
import { Workspace } from './workspace.js';

/** Named sublayers in the order they apply: `{ conv1, bn1, relu1, conv2, bn2 }`. */
export type NamedLayers = Readonly<Record<string, Layer>>;

/** Options of {@link Residual}. */
export interface ResidualOptions {
  /** The shortcut's layers (a 1×1 strided conv and its BN where the shape changes); none: the identity. Named `shortcut.<name>`. */
  shortcut?: NamedLayers;
  /** Layers applied to the sum (the block's final ReLU). */
  after?: NamedLayers;
}

/**
 * A residual block: `y = after(main(x) + shortcut(x))`, the shortcut the identity unless given.
 *
 * The backward pass is the chain rule through a fork: the error at the sum goes down both
 * branches, and the input receives the sum of what they send back,
 *
 *     dX = (what main's layers send down from dS) + (what the shortcut's send down from dS)
 *
 * with dS the error at the sum (dS itself through an identity shortcut). The block does only
 * that sum; every layer inside runs its own backward, with its own feedback rule, when the model
 * walks into the block ({@link ContainerLayer.backwardThrough}). That is why a block is a
 * container rather than a layer with a hand-written backward: Kolen-Pollack's B, direct
 * feedback's output error and the instrumentation reach the convolutions inside it exactly as
 * they reach a top-level one. Parameters are named after the sublayers (`conv1.weight`,
 * `shortcut.conv.weight`), prefixed by the model with the block's place (`"3.0.conv1.weight"`).
 *
 * @example
 * ```ts
 * import { BatchNorm, Conv2d, ReLU, Residual, Rng, Tensor } from 'asymprop';
 *
 * const rng = new Rng(0);
 * const block = new Residual(
 *   { conv1: new Conv2d(4, 4, 3, { rng, padding: 1 }), relu1: new ReLU(), conv2: new Conv2d(4, 4, 3, { rng, padding: 1 }) },
 *   { after: { relu: new ReLU() } },
 * );
 * console.log(block.forward(Tensor.zeros([2, 4, 8, 8]), true).shape, block.params().map((p) => p.name)[0]); // [2, 4, 8, 8] conv1.weight
 * ```
 */
export class Residual implements ContainerLayer {
  private readonly main: readonly NamedChild[];
  private readonly shortcut: readonly NamedChild[];
  private readonly after: readonly NamedChild[];
  /** main, shortcut and after, in that order: fixed at construction. */
  private readonly all: readonly NamedChild[];
  /** The kernels of the block's own sums (its layers have theirs; {@link Residual.useKernels} sets all). */
  kernels: Kernels = defaultKernels();
  private readonly workspace = new Workspace(() => this.kernels);
  private cache: { sumShape: Shape } | null = null;

  /**
   * @param main the main branch's layers, by name, in order (at least one).
   * @param options the shortcut's layers (default: identity) and the layers after the sum.
   * @throws {@link ConfigError} for an empty main branch, a name that is not an identifier, or a layer used twice.
   */
  constructor(main: NamedLayers, options: ResidualOptions = {}) {
    this.main = named('main', main);
    if (this.main.length === 0) throw new ConfigError('Residual main branch', main, 'at least one layer');
    this.shortcut = named('shortcut', options.shortcut ?? {}).map(({ name, layer }) => ({ name: `shortcut.${name}`, layer }));
    this.after = named('after', options.after ?? {});
    const all = (this.all = [...this.main, ...this.shortcut, ...this.after]);
    const seen = new Set<Layer>();
    const names = new Set<string>();
    for (const { name, layer } of all) {
      if (seen.has(layer)) throw new ConfigError(`Residual layer ${name}`, layer.describe(), 'a layer instance used once');
      if (names.has(name)) throw new ConfigError('Residual layer name', name, 'a name used once');
      seen.add(layer);
      names.add(name);
    }
    for (const { name, layer } of all) for (const p of layer.params()) p.name = `${name}.${p.name}`;
  }

  describe(): string {
    const list = (ls: typeof this.main) => ls.map((c) => c.layer.describe()).join(', ');
    return `Residual(${list(this.main)}; shortcut: ${this.shortcut.length ? list(this.shortcut) : 'identity'}${this.after.length ? `; after: ${list(this.after)}` : ''})`;
  }

  children(): readonly NamedChild[] {
    return this.all;
  }

  /**
   * @throws {@link ShapeError} naming the sublayer that cannot take its input, or, when the two
   * branches end in different shapes, naming the block with both shapes (a shape-changing block
   * needs a projection shortcut).
   */
  outputShape(inputShape: Shape): number[] {
    const mainShape = outputShapeThrough(this.main, inputShape);
    const shortcutShape = outputShapeThrough(this.shortcut, inputShape);
    if (mainShape.length !== shortcutShape.length || mainShape.some((d, i) => d !== shortcutShape[i])) {
      throw new ShapeError(`${this.describe()} shortcut output`, `the main branch's shape [${mainShape.join(', ')}] (a block that changes the shape needs a projection shortcut)`, shortcutShape);
    }
    return outputShapeThrough(this.after, mainShape);
  }

  forward(x: Tensor, training: boolean): Tensor {
    let h = x;
    for (const { layer } of this.main) h = layer.forward(h, training);
    let s = x;
    for (const { layer } of this.shortcut) s = layer.forward(s, training);
    assertSameShape(`${this.describe()} sum`, h, s);
    const sum = this.workspace.tensor('sum', h.shape, h.dtype, false);
    this.kernels.add(sum.data, h.data, s.data); // S = main(X) + shortcut(X)
    this.cache = { sumShape: sum.shape };
    let y = sum;
    for (const { layer } of this.after) y = layer.forward(y, training);
    return y;
  }

  backwardThrough(dy: Tensor, leaf: LeafBackward): Tensor {
    if (!this.cache) throw new StateError(`${this.describe()}.backward called before forward`);
    let dS = dy;
    for (let i = this.after.length - 1; i >= 0; i--) dS = walkInto(this.after[i]!.layer, dS, leaf);
    let dMain = dS;
    for (let i = this.main.length - 1; i >= 0; i--) dMain = walkInto(this.main[i]!.layer, dMain, leaf);
    let dShortcut = dS;
    for (let i = this.shortcut.length - 1; i >= 0; i--) dShortcut = walkInto(this.shortcut[i]!.layer, dShortcut, leaf);
    assertSameShape(`${this.describe()}.backward`, dMain, dShortcut);
    const dx = this.workspace.tensor('dx', dMain.shape, dMain.dtype, false);
    this.kernels.add(dx.data, dMain.data, dShortcut.data); // dX = main's dX + shortcut's dX
    return dx;
  }

  /** The block's backward with every sublayer's own backward (a model walks in with {@link Residual.backwardThrough} instead). */
  backward(dy: Tensor): Tensor {
    return this.backwardThrough(dy, (layer, g) => layer.backward(g));
  }

  params(): Param[] {
    return this.all.flatMap(({ layer }) => layer.params());
  }

  zeroGrad(): void {
    for (const { layer } of this.all) layer.zeroGrad();
  }

  buffers(): Required<LayerBuffers> {
    return childBuffers(this.all);
  }

  reuseBuffers(on: boolean): void {
    this.workspace.reuse = on;
    for (const { layer } of this.all) layer.reuseBuffers?.(on);
  }

  /** Computes the block's sums, and every layer in it, with `kernels`. */
  useKernels(kernels: Kernels): void {
    this.kernels = kernels;
    for (const { layer } of this.all) layer.useKernels?.(kernels);
  }
}

function named(branch: string, layers: NamedLayers): { name: string; layer: Layer }[] {
  if (typeof layers !== 'object' || layers === null) throw new ConfigError(`Residual ${branch}`, layers, 'an object of named layers, e.g. { conv1, bn1 }');
  return Object.entries(layers).map(([name, layer]) => {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) throw new ConfigError(`Residual ${branch} layer name`, name, 'an identifier (letters, digits, _; not starting with a digit)');
    if (typeof layer?.forward !== 'function' || typeof layer.backward !== 'function') throw new ConfigError(`Residual ${branch} layer ${name}`, layer, 'a Layer');
    return { name, layer };
  });
}
