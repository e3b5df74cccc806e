import { ConfigError, ShapeError } from '../errors.js';
import type { FeedbackStrategy } from '../feedback/strategy.js';
import { ReLU } from '../layers/activation.js';
import { checkRng } from '../layers/checks.js';
import { Conv2d } from '../layers/conv2d.js';
import { Dense } from '../layers/dense.js';
import type { Layer } from '../layers/layer.js';
import { GlobalAvgPool2d } from '../layers/pool.js';
import { Residual } from '../layers/residual.js';
import { Sequential } from '../layers/sequential.js';
import { BatchNorm } from '../norm/batchNorm.js';
import type { Initializer } from '../tensor/init.js';
import type { Rng } from '../tensor/rng.js';
import type { Shape } from '../tensor/tensor.js';
import { feedbackAt, type FeedbackChoice } from './common.js';

/** Options of {@link resnet}. */
export interface ResnetOptions {
  /** Draws the weights and seeds each layer's feedback generator. */
  rng: Rng;
  /** Weighted layers on the longest path, 6n+2 (n blocks per stage): 8, 14, 20, 32, 44, 56, 110. */
  depth: number;
  /** Per-sample input shape `[channels, height, width]` (default `[1, 28, 28]`; CIFAR's is `[3, 32, 32]`). */
  inputShape?: Shape;
  /** Output classes (default 10). */
  classes?: number;
  /** Batch normalisation after every convolution, the shortcut's included (default false). */
  bn?: boolean;
  /**
   * Feedback for the weighted layers, or a function of their position among them: the stem
   * conv is 0, then each block's conv1, conv2 and (where the shape changes) its shortcut conv in
   * turn, the final dense layer last (2 + 2·3n + 2 positions in all).
   */
  feedback?: FeedbackChoice;
  /** Feedback of the BN layers (default: the neighbouring weighted layer's strategy's `batchNorm`). */
  bnFeedback?: FeedbackStrategy;
  /** Channels of the first stage (default 16; the stages have w, 2w, 4w). */
  width?: number;
  /** Weight initialiser of the conv and dense layers (default He-normal). */
  init?: Initializer;
}

/** Whether `depth` is a CIFAR-style ResNet depth, 6n+2 with n ≥ 1. */
export function isResnetDepth(depth: unknown): depth is number {
  return typeof depth === 'number' && Number.isInteger(depth) && depth >= 8 && (depth - 2) % 6 === 0;
}

/**
 * The CIFAR-style residual network of He et al. (2016, section 4.2): a 3×3 conv of w channels
 * → [BN] → ReLU, then three stages of n basic blocks with w, 2w and 4w channels (the first block
 * of stages 2 and 3 halving height and width with stride 2), global average pooling, and a dense
 * layer to the classes; depth = 6n + 2. A basic block is
 *
 *     conv1 3×3 (stride s) → [bn1] → relu1 → conv2 3×3 → [bn2]   plus the shortcut, then ReLU
 *
 * with the identity as shortcut, or a 1×1 conv of stride s → [BN] where the shape changes
 * (He et al.'s option B). Convolutions followed by BN have no bias, as in torchvision. The layers
 * are `[stem conv, (bn), relu, stage1, stage2, stage3, pool, dense]`; a stage is a
 * {@link Sequential} of {@link Residual} blocks, so a parameter is named like
 * `"3.0.conv1.weight"` (stage at index 3, block 0) or `"4.0.shortcut.conv.weight"`.
 *
 * Every weighted layer takes the feedback rule, the shortcut's projection included, and every
 * random draw comes from `options.rng` in layer order.
 *
 * @throws {@link ConfigError} when `depth` is not 6n+2 (n ≥ 1), `rng` is missing, or a feedback choice is not a strategy.
 * @throws {@link ShapeError} naming the layer when `inputShape` is not `[C, H, W]`.
 *
 * @example
 * ```ts
 * import { Rng, Tensor, resnet, usf } from 'asymprop';
 *
 * const model = resnet({ rng: new Rng(1), depth: 8, bn: true, feedback: usf() });
 * console.log(model.forward(Tensor.zeros([2, 1, 28, 28]), false).shape); // [2, 10]
 * console.log(model.feedbackLayers().filter(({ layer }) => layer.feedbackKind !== 'batchnorm').length); // 10
 * console.log(model.params().map((p) => p.name).includes('4.0.shortcut.conv.weight')); // true
 * ```
 */
export function resnet(options: ResnetOptions): Sequential {
  const rng = checkRng('resnet', options.rng);
  if (!isResnetDepth(options.depth)) throw new ConfigError('resnet depth', options.depth, 'a depth 6n+2 with n ≥ 1: 8, 14, 20, 32, 44, 56, 110, …');
  const width = options.width ?? 16;
  if (!Number.isInteger(width) || width < 1) throw new ConfigError('resnet width', width, 'a positive integer');
  const n = (options.depth - 2) / 6;
  const inputShape = options.inputShape ?? [1, 28, 28];
  const classes = options.classes ?? 10;
  const bn = options.bn ?? false;
  const init = options.init ? { init: options.init } : {};
  let weighted = 0;
  const conv = (inC: number, outC: number, kernel: number, stride: number) => {
    const feedback = feedbackAt(options.feedback, weighted++);
    const layer = new Conv2d(inC, outC, kernel, { rng, stride, padding: (kernel - 1) / 2, bias: !bn, feedback, ...init });
    return { layer, feedback };
  };
  const norm = (channels: number, feedback: FeedbackStrategy) => new BatchNorm(channels, { rng, feedback: options.bnFeedback ?? feedback.batchNorm });

  if (inputShape.length !== 3) throw new ShapeError('resnet layer 0 (the stem Conv2d)', 'a per-sample input [C, H, W]', inputShape);
  const layers: Layer[] = [];
  const stem = conv(inputShape[0]!, width, 3, 1);
  layers.push(stem.layer);
  if (bn) layers.push(norm(width, stem.feedback));
  layers.push(new ReLU());
  let channels = width;
  for (let stage = 0; stage < 3; stage++) {
    const out = width << stage;
    const blocks: Layer[] = [];
    for (let b = 0; b < n; b++) {
      const stride = stage > 0 && b === 0 ? 2 : 1;
      const c1 = conv(channels, out, 3, stride);
      const c2 = conv(out, out, 3, 1);
      const main: Record<string, Layer> = bn
        ? { conv1: c1.layer, bn1: norm(out, c1.feedback), relu1: new ReLU(), conv2: c2.layer, bn2: norm(out, c2.feedback) }
        : { conv1: c1.layer, relu1: new ReLU(), conv2: c2.layer };
      let shortcut: Record<string, Layer> | undefined;
      if (stride !== 1 || channels !== out) {
        const p = conv(channels, out, 1, stride);
        shortcut = bn ? { conv: p.layer, bn: norm(out, p.feedback) } : { conv: p.layer };
      }
      blocks.push(new Residual(main, { ...(shortcut ? { shortcut } : {}), after: { relu: new ReLU() } }));
      channels = out;
    }
    layers.push(new Sequential(blocks));
  }
  layers.push(new GlobalAvgPool2d());
  layers.push(new Dense(channels, classes, { rng, feedback: feedbackAt(options.feedback, weighted++), ...init }));
  return new Sequential(layers, inputShape);
}
