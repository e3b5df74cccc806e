import { DataFormatError, ShapeError, describeValue, formatShape } from '../errors.js';
import type { FeedbackState } from '../feedback/strategy.js';
import type { Sequential } from '../layers/sequential.js';
import type { Optimizer, OptimizerState } from '../optim/optimizer.js';
import { isRngState, type RngState } from '../tensor/rng.js';
import { validateProgress, type TrainProgress } from './train.js';

/**
 * Checkpoints: everything a run needs to continue exactly where it stopped.
 *
 * Format, version 2 (all integers little-endian):
 *
 * ```
 * bytes 0–7     magic "ASYMPCKP"
 * bytes 8–11    uint32 header length H
 * bytes 12–…    header: H bytes of UTF-8 JSON (see CheckpointHeader)
 * then          uint32 FNV-1a checksum of the H header bytes
 * then          zero padding to a multiple of 8
 * then          payload: the arrays listed in header.arrays, each at its offset (relative to the
 *               payload start, 8-byte aligned), float32 or float64
 * ```
 *
 * The header holds the format version, the parameters' and buffers' names, shapes, dtypes and
 * offsets, a checksum of the payload, and as JSON: each layer's feedback state (random matrices,
 * masks, generators), the optimizer state (momentum buffers, step count), every other generator
 * (data order, dropout), the training progress (epoch, step, running sums, history) and free-form
 * metadata (the run's configuration). Both checksums are checked before anything is used, so one
 * changed byte anywhere in the file is refused.
 *
 * Version 1 (asymprop 0.1.0 before this change) had no header checksum: the header ended at the
 * padding. It is still read, its header validated field by field like version 2's.
 */
export const CHECKPOINT_MAGIC = 'ASYMPCKP';
/** The format version this library writes (see {@link CHECKPOINT_MAGIC} for the format); it reads 1 and 2. */
export const CHECKPOINT_VERSION = 2;

/** One array in the payload. */
export interface CheckpointArray {
  /** The parameter's name (`"1.weight"`) or the buffer's (`"2.running_mean"`). */
  readonly name: string;
  /** A trainable parameter's value, or a layer's non-parameter state (see `Layer.buffers`). */
  readonly kind: 'param' | 'buffer';
  /** The element type in the payload. */
  readonly dtype: 'float32' | 'float64';
  /** The array's shape (a buffer's is its length). */
  readonly shape: readonly number[];
  /** Byte offset within the payload. */
  readonly offset: number;
}

/** The JSON header of a checkpoint. */
export interface CheckpointHeader {
  /** Always `asymprop-checkpoint`. */
  readonly format: 'asymprop-checkpoint';
  /** {@link CHECKPOINT_VERSION} when written. */
  readonly version: number;
  /** Where each parameter and buffer lies in the payload. */
  readonly arrays: readonly CheckpointArray[];
  /** The payload's length in bytes (the file ends right after it). */
  readonly payloadBytes: number;
  /** FNV-1a 32-bit hash of the payload bytes. */
  readonly checksum: number;
  /** Each feedback layer's state, by layer index (`Sequential.feedbackState`). */
  readonly feedback: Record<string, FeedbackState>;
  /** The optimizer's state (momentum buffers, step count, learning rate). */
  readonly optimizer: OptimizerState;
  /** Every generator's state: the model's as `model.<index>.<name>`, the others by the name given in `CheckpointSource.rngs`. */
  readonly rngs: Record<string, RngState>;
  /** Where training stood. */
  readonly progress: TrainProgress;
  /** Free-form JSON from `CheckpointSource.meta` (`runExperiment` stores the run's configuration). */
  readonly meta: Record<string, unknown>;
}

/** A decoded checkpoint: the header and the arrays, by name. */
export interface Checkpoint {
  /** Where it was read from (for messages). */
  readonly file?: string;
  /** The parsed and validated header. */
  readonly header: CheckpointHeader;
  /** The parameters' values, by name (fresh copies). */
  readonly params: ReadonlyMap<string, Float32Array | Float64Array>;
  /** The layers' buffers, by name (fresh copies). */
  readonly buffers: ReadonlyMap<string, Float32Array | Float64Array>;
}

/** What a checkpoint captures. */
export interface CheckpointSource {
  /** The model: its parameters, buffers, generators and feedback state are saved. */
  readonly model: Sequential;
  /** The optimizer over the model's parameters. */
  readonly optimizer: Optimizer;
  /** Where training stands (what `train` passes to `onCheckpoint`). */
  readonly progress: TrainProgress;
  /** Generators outside the model, e.g. `{ data: dataRng }`. */
  readonly rngs?: Record<
    string,
    {
      /** The generator's state, as {@link Rng.state} returns it. */
      state(): RngState;
    }
  >;
  /** Free-form JSON saved with the checkpoint, e.g. the run's configuration. */
  readonly meta?: Record<string, unknown>;
}

const MAX_HEADER_BYTES = 256 * 1024 * 1024;

/**
 * Serialises a model, its optimizer and the training progress into checkpoint bytes (the format
 * described at {@link CHECKPOINT_MAGIC}).
 *
 * @example
 * ```ts
 * import { Rng, SGD, decodeCheckpoint, encodeCheckpoint, mlp, restoreCheckpoint } from 'asymprop';
 *
 * const make = (seed: number) => {
 *   const model = mlp({ rng: new Rng(seed), inputShape: [4], hidden: [8], classes: 3 });
 *   return { model, optimizer: new SGD(model.params(), { lr: 0.1, momentum: 0.9 }) };
 * };
 * const a = make(1);
 * const progress = { epoch: 1, step: 0, epochStartRng: new Rng(2).state(), lossSum: 0, correct: 0, seen: 0, history: [] };
 * const bytes = encodeCheckpoint({ ...a, progress, meta: { note: 'example' } });
 *
 * const b = make(2); // the same architecture, other weights
 * const restored = restoreCheckpoint(decodeCheckpoint(bytes, 'in memory'), b);
 * console.log(bytes.length > 0, restored.epoch, b.model.params()[0]!.value.data[0] === a.model.params()[0]!.value.data[0]); // true 1 true
 * ```
 */
export function encodeCheckpoint(source: CheckpointSource): Uint8Array {
  const { model, optimizer, progress } = source;
  const buffers = model.buffers();
  const entries: { name: string; kind: 'param' | 'buffer'; data: Float32Array | Float64Array; shape: readonly number[] }[] = [
    ...model.params().map((p) => ({ name: p.name, kind: 'param' as const, data: p.value.data, shape: p.value.shape })),
    ...Object.entries(buffers.arrays).map(([name, data]) => ({ name, kind: 'buffer' as const, data, shape: [data.length] })),
  ];
  const arrays: CheckpointArray[] = [];
  let offset = 0;
  for (const e of entries) {
    arrays.push({ name: e.name, kind: e.kind, dtype: e.data instanceof Float64Array ? 'float64' : 'float32', shape: [...e.shape], offset });
    offset = align8(offset + e.data.byteLength);
  }
  const payload = new Uint8Array(offset);
  entries.forEach((e, i) => payload.set(new Uint8Array(e.data.buffer, e.data.byteOffset, e.data.byteLength), arrays[i]!.offset));

  const rngs: Record<string, RngState> = {};
  for (const [name, rng] of Object.entries(buffers.rngs)) rngs[`model.${name}`] = rng.state();
  for (const [name, rng] of Object.entries(source.rngs ?? {})) rngs[name] = rng.state();
  const header: CheckpointHeader = {
    format: 'asymprop-checkpoint',
    version: CHECKPOINT_VERSION,
    arrays,
    payloadBytes: payload.length,
    checksum: fnv1a(payload),
    feedback: model.feedbackState(),
    optimizer: optimizer.state(),
    rngs,
    progress,
    meta: source.meta ?? {},
  };
  const headerBytes = new TextEncoder().encode(JSON.stringify(header));
  const payloadStart = align8(12 + headerBytes.length + 4);
  const out = new Uint8Array(payloadStart + payload.length);
  out.set(new TextEncoder().encode(CHECKPOINT_MAGIC), 0);
  const view = new DataView(out.buffer);
  view.setUint32(8, headerBytes.length, true);
  out.set(headerBytes, 12);
  view.setUint32(12 + headerBytes.length, fnv1a(headerBytes), true);
  out.set(payload, payloadStart);
  return out;
}

/**
 * Parses and validates checkpoint bytes (magic, version, header, every array's place in the
 * payload, the checksum) without trusting any size it reads before checking it against the
 * file's length. Every problem is a {@link DataFormatError} naming the file, field and offset.
 */
export function decodeCheckpoint(bytes: Uint8Array, file: string): Checkpoint {
  if (!(bytes instanceof Uint8Array)) throw new DataFormatError(String(file), `expected the checkpoint's bytes (a Uint8Array, e.g. from readFileSync), received ${describeValue(bytes)}`);
  if (bytes.length < 12) throw new DataFormatError(file, `${bytes.length} bytes is shorter than a checkpoint header (12 bytes)`, 0);
  const magic = new TextDecoder().decode(bytes.subarray(0, 8));
  if (magic !== CHECKPOINT_MAGIC) throw new DataFormatError(file, `not an asymprop checkpoint: magic ${JSON.stringify(magic)}, expected "${CHECKPOINT_MAGIC}"`, 0);
  const headerLength = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getUint32(8, true);
  if (headerLength > bytes.length - 12 || headerLength > MAX_HEADER_BYTES) {
    throw new DataFormatError(file, `header length ${headerLength} exceeds the ${bytes.length - 12} bytes after the preamble`, 8);
  }
  let header: CheckpointHeader;
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(12, 12 + headerLength))) as CheckpointHeader;
  } catch (e) {
    throw new DataFormatError(file, `header is not valid JSON: ${(e as Error).message}`, 12);
  }
  if (typeof header !== 'object' || header === null || header.format !== 'asymprop-checkpoint') {
    throw new DataFormatError(file, `header format ${describeValue((header as { format?: unknown } | null)?.format)}, expected "asymprop-checkpoint"`, 12);
  }
  if (header.version !== 1 && header.version !== 2) {
    const newer = typeof header.version === 'number' && header.version > CHECKPOINT_VERSION;
    throw new DataFormatError(file, `checkpoint version ${describeValue(header.version)}${newer ? ' was written by a newer asymprop' : ' is unknown'}; this version reads versions 1 and ${CHECKPOINT_VERSION}`, 12);
  }
  let headerEnd = 12 + headerLength;
  if (header.version === 2) {
    if (headerEnd + 4 > bytes.length) throw new DataFormatError(file, 'the file ends inside the header checksum', headerEnd);
    const stored = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getUint32(headerEnd, true);
    if (fnv1a(bytes.subarray(12, headerEnd)) !== stored) throw new DataFormatError(file, 'header checksum mismatch: the file is damaged', 12);
    headerEnd += 4;
  }
  validateHeader(header, file);
  const payloadStart = align8(headerEnd);
  // The padding is zeros (so a version-2 file whose "2" was changed to "1" is not read as version 1:
  // its header checksum would stand where version 1 has padding).
  for (let i = headerEnd; i < Math.min(payloadStart, bytes.length); i++) {
    if (bytes[i] !== 0) throw new DataFormatError(file, `byte ${i} of the padding before the payload is ${bytes[i]}, not 0`, i);
  }
  const payloadBytes = header.payloadBytes;
  if (!Number.isInteger(payloadBytes) || payloadBytes < 0 || payloadStart + payloadBytes !== bytes.length) {
    throw new DataFormatError(file, `payload of ${describeValue(payloadBytes)} bytes at ${payloadStart} disagrees with the file's ${bytes.length} bytes`, payloadStart);
  }
  const payload = bytes.subarray(payloadStart);
  if (fnv1a(payload) !== header.checksum) throw new DataFormatError(file, 'payload checksum mismatch: the file is damaged', payloadStart);
  if (!Array.isArray(header.arrays)) throw new DataFormatError(file, 'header field "arrays" is not a list', 12);
  const params = new Map<string, Float32Array | Float64Array>();
  const buffers = new Map<string, Float32Array | Float64Array>();
  for (const a of header.arrays) {
    const where = `array ${describeValue(a?.name)}`;
    if (typeof a?.name !== 'string' || (a.kind !== 'param' && a.kind !== 'buffer') || (a.dtype !== 'float32' && a.dtype !== 'float64') || !Array.isArray(a.shape)) {
      throw new DataFormatError(file, `${where}: needs name, kind, dtype (float32|float64) and shape`, 12);
    }
    let count = 1;
    for (const d of a.shape) {
      if (!Number.isInteger(d) || d < 0) throw new DataFormatError(file, `${where}: shape ${describeValue(a.shape)} is not a list of sizes`, 12);
      count *= d;
    }
    const width = a.dtype === 'float64' ? 8 : 4;
    if (!Number.isInteger(a.offset) || a.offset < 0 || a.offset % 8 !== 0 || a.offset + count * width > payload.length) {
      throw new DataFormatError(file, `${where}: ${count} values at offset ${describeValue(a.offset)} do not fit the ${payload.length}-byte payload`, payloadStart);
    }
    // A fresh, aligned copy (Buffer#slice would share the file's memory instead of copying).
    const copy = new Uint8Array(payload.subarray(a.offset, a.offset + count * width));
    const data = a.dtype === 'float64' ? new Float64Array(copy.buffer) : new Float32Array(copy.buffer);
    (a.kind === 'param' ? params : buffers).set(a.name, data);
  }
  return { file, header, params, buffers };
}

/**
 * Loads a checkpoint into a model of the same architecture and strategies and its optimizer, and
 * returns the training progress to pass to `train({ resume })`. Generators outside the model are
 * restored through `rngs` (e.g. `{ data: dataRng }`). Names, shapes and missing entries are checked
 * before anything is changed, and a feedback or optimizer state that is refused is rolled back, so
 * a checkpoint that does not fit leaves the model and optimizer as they were.
 */
export function restoreCheckpoint(
  checkpoint: Checkpoint,
  target: { model: Sequential; optimizer: Optimizer; rngs?: Record<string, { setState(s: RngState): void }> },
  file = 'checkpoint',
): TrainProgress {
  const { model, optimizer } = target;
  const modelParams = model.params();
  const buffers = model.buffers();
  for (const p of modelParams) {
    const data = checkpoint.params.get(p.name);
    if (!data) throw new DataFormatError(file, `no parameter "${p.name}" (the checkpoint has ${[...checkpoint.params.keys()].join(', ') || 'none'})`);
    const shape = checkpoint.header.arrays.find((a) => a.name === p.name)!.shape;
    if (shape.length !== p.value.rank || shape.some((d, i) => d !== p.value.shape[i])) {
      throw new ShapeError(`checkpoint ${file} parameter "${p.name}"`, formatShape(p.value.shape), shape);
    }
    if (data.length !== p.value.size) throw new DataFormatError(file, `parameter "${p.name}" has ${data.length} values for shape ${formatShape(shape)}`);
  }
  if (checkpoint.params.size !== modelParams.length) {
    throw new DataFormatError(file, `${checkpoint.params.size} parameters, the model has ${modelParams.length}`);
  }
  for (const [name, array] of Object.entries(buffers.arrays)) {
    const data = checkpoint.buffers.get(name);
    if (!data || data.length !== array.length) throw new DataFormatError(file, `buffer "${name}" is missing or has the wrong length`);
  }
  const rngStates = checkpoint.header.rngs;
  const wanted = [...Object.keys(buffers.rngs).map((n) => `model.${n}`), ...Object.keys(target.rngs ?? {})];
  for (const name of wanted) if (!rngStates[name]) throw new DataFormatError(file, `no state for generator "${name}"`);

  // Everything checked: now restore. The strategy and optimizer loaders validate their own parts;
  // if one refuses, both are put back as they were, so the model is untouched.
  const feedbackBefore = model.feedbackState();
  const optimizerBefore = optimizer.state();
  try {
    model.loadFeedbackState(checkpoint.header.feedback);
    optimizer.loadState(checkpoint.header.optimizer);
  } catch (e) {
    model.loadFeedbackState(feedbackBefore);
    optimizer.loadState(optimizerBefore);
    throw e;
  }
  for (const p of modelParams) p.value.data.set(checkpoint.params.get(p.name)!);
  for (const [name, array] of Object.entries(buffers.arrays)) array.set(checkpoint.buffers.get(name)!);
  for (const [name, rng] of Object.entries(buffers.rngs)) rng.setState(rngStates[`model.${name}`]!);
  for (const [name, rng] of Object.entries(target.rngs ?? {})) rng.setState(rngStates[name]!);
  return checkpoint.header.progress;
}

/**
 * Checks the header's JSON fields for their types and ranges (the arrays are checked against the
 * payload, and the states against the model when restored). A {@link DataFormatError} names the field.
 */
function validateHeader(header: CheckpointHeader, file: string): void {
  const bad = (field: string, expected: string, value: unknown) => new DataFormatError(file, `header field "${field}": expected ${expected}, found ${describeValue(value)}`, 12);
  const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
  for (const field of ['feedback', 'optimizer', 'rngs', 'progress', 'meta'] as const) {
    if (!isObject(header[field])) throw new DataFormatError(file, `header field "${field}" is missing or not an object`, 12);
  }
  if (!Number.isInteger(header.checksum) || header.checksum < 0 || header.checksum > 0xffffffff) throw bad('checksum', 'a 32-bit unsigned integer', header.checksum);
  for (const [name, state] of Object.entries(header.feedback)) if (!isObject(state)) throw bad(`feedback.${name}`, 'an object', state);
  const o = header.optimizer as unknown as Record<string, unknown>;
  if (typeof o['type'] !== 'string') throw bad('optimizer.type', 'a string', o['type']);
  if (typeof o['lr'] !== 'number' || !Number.isFinite(o['lr']) || o['lr'] < 0) throw bad('optimizer.lr', 'a finite number ≥ 0', o['lr']);
  if (!Number.isInteger(o['steps']) || (o['steps'] as number) < 0) throw bad('optimizer.steps', 'an integer ≥ 0', o['steps']);
  if (!isObject(o['buffers'])) throw bad('optimizer.buffers', 'an object', o['buffers']);
  for (const [name, state] of Object.entries(header.rngs)) {
    if (!isRngState(state)) throw bad(`rngs.${name}`, 'a generator state (Rng.state())', state);
  }
  validateProgress(header.progress, (field, expected, value) => bad(`progress.${field}`, expected, value));
}

function align8(n: number): number {
  return Math.ceil(n / 8) * 8;
}

/** FNV-1a, 32 bits: a cheap checksum that catches damaged files. */
function fnv1a(bytes: Uint8Array): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < bytes.length; i++) {
    h ^= bytes[i]!;
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h;
}
