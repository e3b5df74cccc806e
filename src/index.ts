/**
 * asymprop: neural networks whose backward pass is a pluggable feedback strategy.
 *
 * This entry point runs anywhere JavaScript runs (Node, browsers, workers). Node-only helpers
 * (the embedded MNIST loader, data files, worker threads, `reproduce`, checkpoint files) live in
 * `asymprop/node`; the command line is the `asymprop` command.
 *
 * @packageDocumentation
 * @module asymprop
 */
export * from './errors.js';

export { Tensor, allocate, assertFinite, assertSameShape, assertShape, dtypeOf, sameShape, sizeOf } from './tensor/tensor.js';
export type { DType, NestedNumbers, Shape, Storage } from './tensor/tensor.js';
export { Rng, type RngState } from './tensor/rng.js';
export { gemm, gemmKernel, gemmReference, matmul, transposeInto, type MatmulOptions } from './tensor/matmul.js';
export type { ChannelGradSums, Kernels, MomentumStep, StridedMatrix } from './kernels/kernels.js';
export { ReferenceKernels, referenceKernels } from './kernels/reference.js';
export { MAX_THREADS, WasmKernels, defaultKernels, gemmParallelProducts, gemmThreads, useGemmThreads } from './kernels/fast.js';
export type { ThreadSpawner, ThreadWorker } from './kernels/wasm/threads.js';
export * as ops from './tensor/ops.js';
export { Param } from './tensor/param.js';
export { heNormal, initializerByName, uniformInit, xavierNormal, xavierUniform, type Initializer } from './tensor/init.js';
export { decodeArray, encodeArray, type Encodable, type EncodedArray } from './tensor/encode.js';

export type { BackwardSignals, Feedback, FeedbackContext, FeedbackLayerKind, FeedbackSite, FeedbackSpec, FeedbackState, FeedbackStrategy, UpdateOptions } from './feedback/strategy.js';
export { symmetric, type SymmetricOptions } from './feedback/symmetric.js';
export { brsf, frsf, signConcordant, usf, type SignConcordantOptions } from './feedback/signConcordant.js';
export { feedbackAlignment, randomFeedback } from './feedback/random.js';
export { batchManhattan } from './feedback/batchManhattan.js';
export { BindingState, LearnedFeedback, MatrixFeedback, checkFlip, checkRate, drawFlipMask } from './feedback/base.js';
export { ALL_LAYER_KINDS, STRATEGY_NAME_RULE, bindFeedback, defineStrategy, isStrategyName, type StrategyDefinition } from './feedback/define.js';
export { checkMagnitudeLaw, drawMagnitudes, magnitudeName, parseMagnitudeLaw, type MagnitudeLaw } from './feedback/magnitude.js';
export { directFeedback } from './feedback/direct.js';
export { KOLEN_POLLACK_DEFAULTS, kolenPollack, type KolenPollackOptions } from './feedback/kolenPollack.js';
export { WEIGHT_MIRROR_DEFAULTS, weightMirror, type WeightMirrorOptions } from './feedback/weightMirror.js';
export { feedbackFromSpec, type CustomFeedbackFactories } from './feedback/spec.js';
export { EXTRA_METHOD_COLORS, feedbackByName, methodByName, methodColor, methodNames, methodOptionFlags, methodOptions, methods, registerMethod, type FeedbackByNameOptions, type Method, type MethodOption, type MethodSettings, type OptionFlag } from './feedback/registry.js';
export { matrixStats, measureFeedback, type ErrorsSeen, type FeedbackStats } from './feedback/stats.js';

export { isContainer, isFeedbackLayer, type ContainerLayer, type FeedbackLayer, type Layer, type LayerBuffers, type LeafBackward, type NamedChild } from './layers/layer.js';
export { Residual, type NamedLayers, type ResidualOptions } from './layers/residual.js';
export { Dense, type DenseOptions } from './layers/dense.js';
export { ReLU, Sigmoid, Tanh } from './layers/activation.js';
export { Flatten } from './layers/flatten.js';
export { FeedbackLayerBase } from './layers/feedbackLayer.js';
export { WeightedLayer, type WeightedLayerOptions } from './layers/weighted.js';
export { Conv2d, type Conv2dOptions } from './layers/conv2d.js';
export { AvgPool2d, GlobalAvgPool2d, MaxPool2d, type AvgPoolOptions, type PoolOptions } from './layers/pool.js';
export { Dropout } from './layers/dropout.js';
export { geometry2d, outputSize, pair, type Geometry2d, type Size2, type WindowOptions } from './tensor/geometry.js';
export { BatchNorm, BatchNorm1d, BatchNorm2d, type BatchNormOptions } from './norm/batchNorm.js';
export { Sequential, type Link } from './layers/sequential.js';
export { checkLabels, meanSquaredError, softmaxCrossEntropy, type Labels, type LossResult } from './layers/loss.js';

export type { Optimizer, OptimizerState } from './optim/optimizer.js';
export { FLUSH_BELOW, SGD, type SGDOptions } from './optim/sgd.js';
export { Adam, RMSprop, type AdamOptions, type RMSpropOptions } from './optim/adaptive.js';
export { constantLr, multiStepLr, protocolSchedule, stepLr, type LrSchedule } from './optim/schedule.js';

export { ArrayDataset, ImageDataset, type Dataset, type ImageDatasetOptions, type Split } from './data/dataset.js';
export { SPLIT_MAGIC, SPLIT_VERSION, decodeSplit, encodeSplit, type SplitHeader, type SplitSet } from './data/splitFile.js';
export { dataDigest } from './data/digest.js';
export { parseIdx, idxImagesAndLabels, IDX_MAX_BYTES, IDX_MAX_RANK, type IdxArray, type IdxFileNames, type IdxImagesAndLabels, type IdxImagesAndLabelsOptions } from './data/idx.js';
export { parseCifar, CIFAR_PIXELS, CIFAR_SAMPLE_SHAPE, type CifarData, type CifarOptions, type CifarVariant } from './data/cifar.js';
export { trainStep, type StepResult } from './train/step.js';
export { Batches, Trainer, type Batch, type TrainerOptions, type TrainerPosition, type TrainerStep } from './train/trainer.js';
export { evaluate, train, type DivergenceInfo, type EpochRecord, type TrainOptions, type TrainProgress, type TrainResult } from './train/train.js';
export { CHECKPOINT_MAGIC, CHECKPOINT_VERSION, decodeCheckpoint, encodeCheckpoint, restoreCheckpoint, type Checkpoint, type CheckpointArray, type CheckpointHeader, type CheckpointSource } from './train/checkpoint.js';

export { mlp, type MlpOptions } from './models/mlp.js';
export { lenet, type LenetOptions } from './models/lenet.js';
export { isResnetDepth, resnet, type ResnetOptions } from './models/resnet.js';
export { feedbackAt, type FeedbackChoice } from './models/common.js';
export { GradCheckError, assertGradCheck, gradCheck, type GradCheckOptions, type GradCheckResult, type GradMismatch } from './check/gradCheck.js';
export { ARCHITECTURES, DATASETS, DEFAULT_RESNET_DEPTH, OPTIMIZERS, PROTOCOL_DEFAULTS, archLabel, configDifferences, defaultLr, resolveRunConfig, runLabel, strategyOf, type Architecture, type DatasetName, type OptimizerName, type RunConfig } from './experiments/config.js';
export { runExperiment, type RunCallbacks, type RunResult } from './experiments/run.js';
export { FLIPS, LR_GRID, MAGNITUDES, METHODS, NORMALISATIONS, PARTS, PRESETS, GRID_IDENTITY_OPTIONS, gridFlags, gridFor, gridIdentity, normalisationOf, parseShard, runId, shardOf, type GridIdentity, type GridOptions, type GridRun, type NormalisationName, type Part, type Preset } from './experiments/grid.js';
export { RESULTS_FORMAT, mergeRecords, parseResults, toRecord, type ParsedResults, type ResultRecord } from './experiments/results.js';
