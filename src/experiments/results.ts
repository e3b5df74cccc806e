import { DataFormatError } from '../errors.js';
import type { FeedbackStats } from '../feedback/stats.js';
import type { RunConfig } from './config.js';
import type { Part } from './grid.js';
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
}

/**
 * Turns a run's result into its results-file record: non-finite numbers become null (JSON has no
 * NaN), and the history keeps only the per-epoch numbers, with the per-layer feedback statistics
 * only in the `transport` part's records.
 */
export function toRecord(id: string, parts: readonly Part[], result: RunResult, finishedAt: Date = new Date(), dataDigest?: string): ResultRecord {
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
  if (r.dataDigest !== undefined && !(typeof r.dataDigest === 'string' && /^[0-9a-f]{16}$/.test(r.dataDigest))) {
    throw new DataFormatError(file, `line ${lineNo}: dataDigest ${JSON.stringify(r.dataDigest)} is not 16 hex digits`, offset);
  }
  if (r.testAccuracy !== null && !(typeof r.testAccuracy === 'number' && r.testAccuracy >= 0 && r.testAccuracy <= 1)) {
    throw new DataFormatError(file, `line ${lineNo}: testAccuracy ${JSON.stringify(r.testAccuracy)} is not null or a number in [0, 1]`, offset);
  }
  return r as ResultRecord;
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
