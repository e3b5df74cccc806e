import { DataFormatError } from '../errors.js';
import { isStrategyName } from '../feedback/define.js';
import type { FeedbackStats } from '../feedback/stats.js';
import { ARCHITECTURES, DATASETS, OPTIMIZERS, type RunConfig } from './config.js';
import { GRID_IDENTITY_OPTIONS, PARTS, PRESETS, type GridIdentity, type Part } from './grid.js';
import type { RunResult } from './run.js';

/** The format tag of every line of a results file. */
export const RESULTS_FORMAT = 'asymprop-results/1';

/**
 * One finished run, one line of a results file (JSON Lines). Written as soon as the run ends, so
 * an interrupted grid loses nothing that finished.
 */
export interface ResultRecord {
  /** {@link RESULTS_FORMAT}: the file format and its version. */
  readonly format: typeof RESULTS_FORMAT;
  /** The run's stable id (see {@link runId}). */
  readonly id: string;
  /** The parts of the grid the run belongs to. */
  readonly parts: readonly Part[];
  /** The run's full configuration. */
  readonly config: RunConfig;
  /** The strategy's display name, e.g. `bm+usf`. */
  readonly strategy: string;
  /** Test accuracy after the last epoch, 0 to 1; null when the run diverged. */
  readonly testAccuracy: number | null;
  /** Mean training loss of the last finished epoch; null when it was not finite or no epoch finished. */
  readonly trainLoss: number | null;
  /** Whether the loss or a weight became non-finite. */
  readonly diverged: boolean;
  /** Where the run diverged, or null. */
  readonly divergedAt: {
    /** The epoch (1-based). */
    epoch: number;
    /** The step within the epoch (1-based). */
    step: number;
    /** What was non-finite. */
    detail: string;
    /** Where non-finite values first appear (a parameter, or a layer's output), if found. */
    layer: string | null;
  } | null;
  /** Per epoch: learning rate, train loss and accuracy, test loss and accuracy. */
  readonly history: readonly {
    /** The epoch (1-based). */
    epoch: number;
    /** Its learning rate. */
    lr: number;
    /** Mean training loss over its batches. */
    trainLoss: number;
    /** Training accuracy over its batches, 0 to 1. */
    trainAccuracy: number;
    /** Test loss after it. */
    testLoss: number;
    /** Test accuracy after it, 0 to 1. */
    testAccuracy: number;
    /** Per feedback layer, its statistics on the epoch's last batch (NaN as null); only in the `transport` part's records. */
    feedback?: Record<string, Record<string, number | null> | null>;
  }[];
  /** Wall time of the run in seconds. */
  readonly seconds: number;
  /** When the run finished (ISO 8601). */
  readonly finishedAt: string;
  /** {@link dataDigest} of the data the run trained and tested on (absent in records written before it existed). */
  readonly dataDigest?: string;
  /** The grid (and shard) the run belongs to, so that a report can name the runs still missing (absent in records written before it existed, and for grids made with a filter). */
  readonly grid?: GridIdentity;
}

/**
 * Turns a run's result into its results-file record: non-finite numbers become null (JSON has no
 * NaN), and the history keeps only the per-epoch numbers, with the per-layer feedback statistics
 * only in the `transport` part's records.
 */
export function toRecord(id: string, parts: readonly Part[], result: RunResult, finishedAt: Date = new Date(), dataDigest?: string, grid?: GridIdentity | null): ResultRecord {
  const finite = (x: number) => (Number.isFinite(x) ? x : null);
  return {
    format: RESULTS_FORMAT,
    id,
    parts,
    config: result.config,
    strategy: result.strategy,
    testAccuracy: result.diverged ? null : finite(result.testAccuracy),
    trainLoss: finite(result.trainLoss),
    diverged: result.diverged,
    divergedAt: result.divergedAt,
    history: result.history.map(({ epoch, lr, trainLoss, trainAccuracy, testLoss, testAccuracy, feedback }) => ({
      epoch, lr, trainLoss, trainAccuracy, testLoss, testAccuracy,
      // The transport part's records keep the alignment of each layer, epoch by epoch.
      ...(parts.includes('transport') && feedback ? { feedback: finiteStats(feedback) } : {}),
    })),
    seconds: result.seconds,
    finishedAt: finishedAt.toISOString(),
    ...(dataDigest !== undefined ? { dataDigest } : {}),
    ...(grid ? { grid } : {}),
  };
}

/** What {@link parseResults} found in a results file. */
export interface ParsedResults {
  /** The records of the complete lines, in file order. */
  readonly records: ResultRecord[];
  /** Byte length of the complete lines; anything after it is a line cut short by an interruption. */
  readonly completeBytes: number;
  /** Whether the file ended in an incomplete line (a run being written when the process died). */
  readonly truncatedTail: boolean;
}

const utf8 = new TextEncoder();
const byteLength = (s: string): number => utf8.encode(s).length;

/**
 * Parses a results file. A last line without its newline is the trace of a write cut short and is
 * reported (not returned); any other malformed line is a {@link DataFormatError} naming the file
 * and the line, because it means the file was damaged, not interrupted.
 *
 * @param text the file's contents.
 * @param file the file's name, for error messages.
 */
export function parseResults(text: string, file: string): ParsedResults {
  const records: ResultRecord[] = [];
  const end = text.lastIndexOf('\n') + 1;
  const lines = text.slice(0, end).split('\n');
  lines.pop();
  let offset = 0;
  lines.forEach((line, i) => {
    if (line.trim() !== '') records.push(checkRecord(line, file, i + 1, offset));
    offset += byteLength(line) + 1;
  });
  return { records, completeBytes: byteLength(text.slice(0, end)), truncatedTail: end < text.length };
}

function checkRecord(line: string, file: string, lineNo: number, offset: number): ResultRecord {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch (e) {
    throw new DataFormatError(file, `line ${lineNo} is not JSON: ${(e as Error).message}`, offset);
  }
  const r = value as Partial<ResultRecord>;
  if (typeof r !== 'object' || r === null || r.format !== RESULTS_FORMAT) {
    throw new DataFormatError(file, `line ${lineNo}: expected "format": "${RESULTS_FORMAT}", received ${JSON.stringify((r as { format?: unknown })?.format)}`, offset);
  }
  if (typeof r.id !== 'string' || !Array.isArray(r.parts) || typeof r.config !== 'object' || r.config === null || typeof r.diverged !== 'boolean' || !Array.isArray(r.history)) {
    throw new DataFormatError(file, `line ${lineNo}: a record needs id, parts, config, diverged and history`, offset);
  }
  const problem = recordProblem(r);
  if (problem) throw new DataFormatError(file, `line ${lineNo}: ${problem}`, offset);
  if (r.dataDigest !== undefined && !(typeof r.dataDigest === 'string' && /^[0-9a-f]{16}$/.test(r.dataDigest))) {
    throw new DataFormatError(file, `line ${lineNo}: dataDigest ${JSON.stringify(r.dataDigest)} is not 16 hex digits`, offset);
  }
  if (r.testAccuracy !== null && !(typeof r.testAccuracy === 'number' && r.testAccuracy >= 0 && r.testAccuracy <= 1)) {
    throw new DataFormatError(file, `line ${lineNo}: testAccuracy ${JSON.stringify(r.testAccuracy)} is not null or a number in [0, 1]`, offset);
  }
  return r as ResultRecord;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const finite = (v: unknown): boolean => typeof v === 'number' && Number.isFinite(v);
const numberOrNull = (v: unknown): boolean => v === null || finite(v);
/** Names of registered methods (lower-case letters, digits, dashes), with room for a user's. */
const NAME = /^[A-Za-z][\w+().=,:-]{0,127}$/;

/**
 * What is wrong with a record's fields, or null: the vocabulary (datasets, architectures,
 * optimizers, parts; names made only of a name's characters) and every field's type. A report
 * prints these strings, so nothing outside the vocabulary may reach it.
 */
function recordProblem(r: Partial<ResultRecord>): string | null {
  const c = r.config as unknown as Record<string, unknown>;
  if (!(PARTS as readonly unknown[]).includes(r.parts![0]) || r.parts!.some((p) => !(PARTS as readonly unknown[]).includes(p))) return `parts ${JSON.stringify(r.parts)} are not among ${PARTS.join(', ')}`;
  if (!(DATASETS as readonly unknown[]).includes(c['dataset'])) return `config.dataset ${JSON.stringify(c['dataset'])} is not one of ${DATASETS.join(', ')}`;
  if (!(ARCHITECTURES as readonly unknown[]).includes(c['arch'])) return `config.arch ${JSON.stringify(c['arch'])} is not one of ${ARCHITECTURES.join(', ')}`;
  if (typeof c['feedback'] !== 'string' || !NAME.test(c['feedback'])) return `config.feedback ${JSON.stringify(c['feedback'])} is not a method name`;
  if (!isStrategyName(r.strategy)) return `strategy ${JSON.stringify(r.strategy)} is not a strategy name`;
  if (c['magnitude'] !== null && !(typeof c['magnitude'] === 'string' && /^[\w.+-]{1,32}$/.test(c['magnitude']))) return `config.magnitude ${JSON.stringify(c['magnitude'])} is not null or a magnitude law`;
  if (c['optimizer'] !== undefined && !(OPTIMIZERS as readonly unknown[]).includes(c['optimizer'])) return `config.optimizer ${JSON.stringify(c['optimizer'])} is not one of ${OPTIMIZERS.join(', ')}`;
  for (const k of ['lr', 'flip', 'momentum', 'weightDecay']) if (!finite(c[k])) return `config.${k} ${JSON.stringify(c[k])} is not a number`;
  for (const k of ['epochs', 'seed', 'batchSize', ...(c['depth'] !== undefined ? ['depth'] : [])]) if (!Number.isInteger(c[k])) return `config.${k} ${JSON.stringify(c[k])} is not an integer`;
  for (const k of ['bn', 'bm']) if (typeof c[k] !== 'boolean') return `config.${k} ${JSON.stringify(c[k])} is not true or false`;
  if (c['dataDir'] !== null && typeof c['dataDir'] !== 'string') return `config.dataDir ${JSON.stringify(c['dataDir'])} is not null or a path`;
  if (c['feedbackOptions'] !== undefined && !(isObject(c['feedbackOptions']) && Object.values(c['feedbackOptions']).every(finite))) return 'config.feedbackOptions is not an object of numbers';
  if (r.grid !== undefined) {
    const problem = gridProblem(r.grid);
    if (problem) return `grid ${problem}`;
  }
  if (!numberOrNull(r.trainLoss)) return `trainLoss ${JSON.stringify(r.trainLoss)} is not null or a number`;
  if (!finite(r.seconds)) return `seconds ${JSON.stringify(r.seconds)} is not a number`;
  if (r.divergedAt !== null && !(isObject(r.divergedAt) && Number.isInteger(r.divergedAt.epoch) && Number.isInteger(r.divergedAt.step))) return 'divergedAt is not null or { epoch, step, detail, layer }';
  for (const [i, h] of (r.history as unknown[]).entries()) {
    if (!isObject(h) || h['epoch'] !== i + 1) return `history[${i}] is not the record of epoch ${i + 1}`;
    for (const k of ['lr', 'trainLoss', 'trainAccuracy', 'testLoss', 'testAccuracy']) if (!numberOrNull(h[k])) return `history[${i}].${k} ${JSON.stringify(h[k])} is not null or a number`;
    const fb = h['feedback'];
    if (fb !== undefined && fb !== null) {
      if (!isObject(fb)) return `history[${i}].feedback is not an object`;
      for (const [layer, stats] of Object.entries(fb)) {
        if (!/^[\w.]{1,64}$/.test(layer)) return `history[${i}].feedback has a layer named ${JSON.stringify(layer)}`;
        if (stats !== null && !(isObject(stats) && Object.values(stats).every(numberOrNull))) return `history[${i}].feedback.${layer} is not null or an object of numbers`;
      }
    }
  }
  return null;
}

/** What is wrong with a record's `grid`, or null. */
function gridProblem(g: unknown): string | null {
  if (!isObject(g)) return 'is not an object { preset, options, runs, shard? }';
  if (!(PRESETS as readonly unknown[]).includes(g['preset'])) return `.preset ${JSON.stringify(g['preset'])} is not one of ${PRESETS.join(', ')}`;
  if (!Number.isInteger(g['runs']) || (g['runs'] as number) < 1) return `.runs ${JSON.stringify(g['runs'])} is not a positive integer`;
  const runs = g['runs'] as number;
  const s = g['shard'];
  if (s !== undefined && !(isObject(s) && Number.isInteger(s['index']) && Number.isInteger(s['count']) && (s['index'] as number) >= 1 && (s['index'] as number) <= (s['count'] as number) && (s['count'] as number) <= runs)) return `.shard ${JSON.stringify(s)} is not { index, count } with 1 ≤ index ≤ count ≤ runs`;
  const o = g['options'];
  if (!isObject(o)) return '.options is not an object';
  // A list longer than the grid's runs cannot have made it: bounded, so a report never builds a huge grid.
  const list = (v: unknown, item: (x: unknown) => boolean) => Array.isArray(v) && v.length >= 1 && v.length <= runs && v.every(item);
  const valid: Record<(typeof GRID_IDENTITY_OPTIONS)[number], (v: unknown) => boolean> = {
    dataset: (v) => (DATASETS as readonly unknown[]).includes(v),
    seeds: (v) => list(v, Number.isInteger),
    epochs: (v) => Number.isInteger(v) && (v as number) >= 1,
    only: (v) => list(v, (p) => (PARTS as readonly unknown[]).includes(p)),
    optimizer: (v) => (OPTIMIZERS as readonly unknown[]).includes(v),
    methods: (v) => list(v, (m) => typeof m === 'string' && NAME.test(m)),
  };
  for (const [k, v] of Object.entries(o)) {
    if (!(GRID_IDENTITY_OPTIONS as readonly string[]).includes(k) || !valid[k as keyof typeof valid](v)) return `.options.${k} ${JSON.stringify(v)} is not a valid grid option`;
  }
  return null;
}

/** Merges records from several files (shards), keeping the first record of each id. */
export function mergeRecords(lists: readonly (readonly ResultRecord[])[]): {
  /** One record per id, in the order first seen. */
  records: ResultRecord[];
  /** The ids met again after their first record (once per extra copy). */
  duplicates: string[];
} {
  const seen = new Map<string, ResultRecord>();
  const duplicates: string[] = [];
  for (const list of lists) {
    for (const r of list) {
      if (seen.has(r.id)) duplicates.push(r.id);
      else seen.set(r.id, r);
    }
  }
  return { records: [...seen.values()], duplicates };
}

/** Feedback statistics with NaN (no matrix of W's shape, for direct feedback) as null, JSON-safe. */
function finiteStats(stats: Readonly<Record<string, FeedbackStats | null>>): Record<string, Record<string, number | null> | null> {
  const out: Record<string, Record<string, number | null> | null> = {};
  for (const [layer, s] of Object.entries(stats)) out[layer] = s ? Object.fromEntries(Object.entries(s).map(([k, v]) => [k, Number.isFinite(v) ? v : null])) : null;
  return out;
}
