import { closeSync, existsSync, mkdirSync, openSync, readFileSync, readdirSync, rmSync, statSync, truncateSync } from 'node:fs';
import { join } from 'node:path';
import { runPool, type WorkerMessage } from './pool.js';
import { ConfigError, FileError } from '../errors.js';
import { appendDurably, lockFile, withFileError, type FileLock } from '../io/files.js';
import { loadDataset } from './datasets.js';
import { gridFor, gridIdentity, shardOf, type GridOptions, type GridRun, type Preset } from './grid.js';
import { configDifferences, type RunConfig } from './config.js';
import { dataDigest } from '../data/digest.js';
import { parseResults, toRecord, type ParsedResults, type ResultRecord } from './results.js';

/** Options of {@link reproduce}. */
export interface ReproduceOptions extends GridOptions {
  /** The grid to run. */
  readonly preset: Preset;
  /** Directory of the results file (created if missing). */
  readonly out: string;
  /** Continue an interrupted grid: skip the runs already in the results file. */
  readonly resume?: boolean;
  /** Run only shard `index` of `count` (1-based; see {@link asymprop!shardOf}), into its own results file. */
  readonly shard?: {
    /** The shard's number, 1 to `count`. */
    index: number;
    /** The number of shards. */
    count: number;
  };
  /** Worker threads, one run each at a time (default: the machine's available parallelism). */
  readonly workers?: number;
  /**
   * Checkpoint each run every this many steps (and after every epoch) under `<out>/checkpoints/`,
   * so that a resumed grid also continues the runs that were cut off midway.
   */
  readonly checkpointEvery?: number;
  /** Module URLs every worker imports first (`--import`: modules that register a user's methods). */
  readonly imports?: readonly string[];
  /** Progress events: every worker message, with the grid run it concerns. */
  readonly onMessage?: (message: WorkerMessage, run: GridRun) => void;
  /**
   * Keep the results file's lock when the grid ends and return it (`ReproduceResult.lock`), for a
   * caller that goes on to write the report from the file; by default it is released.
   */
  readonly keepLock?: boolean;
  /** Called once the runs to do are known. */
  readonly onStart?: (info: { total: number; skipped: number; file: string; truncatedTail: boolean }) => void;
}

/** What {@link reproduce} did. */
export interface ReproduceResult {
  /** Path of the results file. */
  readonly file: string;
  /** Every record in the results file (earlier sessions' and this one's). */
  readonly records: ResultRecord[];
  /** Runs finished in this call. */
  readonly ran: number;
  /** Runs skipped because the results file already held them (with `resume`). */
  readonly skipped: number;
  /** The results file's lock, still held (only with `keepLock`): release it when done. */
  readonly lock?: FileLock;
}

/** The results file of a grid (one per shard): `<out>/results.jsonl` or `<out>/results.shard-<i>-of-<n>.jsonl`. */
export function resultsFile(out: string, shard?: { index: number; count: number }): string {
  return join(out, shard ? `results.shard-${shard.index}-of-${shard.count}.jsonl` : 'results.jsonl');
}

/**
 * Runs a preset's grid (or one shard of it) on worker threads, appending each finished run to the
 * results file the moment it ends: one `write` of one complete line, then `fsync`. A grid stopped
 * at any moment (Ctrl-C, a crash, `kill -9`) therefore keeps every finished run, and at most the
 * line being written is cut short; `resume` drops that partial line and runs what is missing, so
 * nothing is lost and nothing is run twice. It does not write the report (see `writeReport` in
 * `asymprop/report`); `asymprop reproduce` does both.
 *
 * Every dataset the runs need is read once before anything is written, so a missing or damaged
 * data file stops the grid with its error and leaves no results file behind.
 *
 * @throws {@link asymprop!ConfigError} when the results file exists, is not empty and `resume` is
 * not set, or for invalid grid options.
 * @throws {@link asymprop!DataFormatError} when the existing results file is damaged, or a data
 * file is missing or malformed.
 */
export async function reproduce(options: ReproduceOptions): Promise<ReproduceResult> {
  const grid = gridFor(options.preset, options);
  const runs = options.shard ? shardOf(grid, options.shard) : grid;
  const file = resultsFile(options.out, options.shard);
  // Each record names its grid and shard, so that a report of merged shards can name what is missing.
  const identity = gridIdentity(options.preset, options, grid.length, options.shard);

  // Every dataset is read before anything is written: a missing or damaged file stops the grid
  // with its error and leaves nothing behind. Each worker then reads its own copy. The digest of
  // the data goes into every record, and earlier records on other data are refused.
  if (typeof options.out !== 'string' || options.out === '') throw new ConfigError('out', options.out, 'a directory path');
  const digests = new Map<string, string>();
  const keyOf = (c: RunConfig) => `${c.dataset}\0${c.dataDir ?? ''}`;
  for (const { config: c } of runs) if (!digests.has(keyOf(c))) digests.set(keyOf(c), dataDigest(loadDataset(c.dataset, c.dataDir)));
  if (!existsSync(options.out)) makeDirectory(options.out);
  else if (!statSync(options.out).isDirectory()) throw new FileError(options.out, 'write results into', 'it is a file, not a directory');
  if (existsSync(file) && !statSync(file).isFile()) throw new FileError(file, 'append to', 'it is not a regular file (a directory?)');
  // The results file is this process's alone until the grid ends: a second grid on it is refused.
  const lock = lockFile(file, `asymprop reproduce --preset ${options.preset}`);
  try {
    // An empty results file holds no earlier results (a grid that stopped before its first run
    // ended; its checkpoints, if any, are still used).
    let earlier: ParsedResults | null = null;
    if (existsSync(file) && statSync(file).size > 0) {
      if (!options.resume) {
        throw new ConfigError('out', options.out, `a directory without ${file}: it holds earlier results; pass --resume to continue them, or choose another --out`);
      }
      earlier = parseResults(withFileError(file, 'read', () => readFileSync(file, 'utf8')), file);
    }
    const previous = earlier?.records ?? [];
    if (runs.length > 0) checkEarlier(previous, runs[0]!.config, digests.get(keyOf(runs[0]!.config))!, file, options.out);
    const truncatedTail = earlier?.truncatedTail ?? false;
    const done = new Set(previous.map((r) => r.id));
    const todo = runs.filter((r) => !done.has(r.id));
    if (earlier?.truncatedTail) withFileError(file, 'cut back', () => truncateSync(file, earlier!.completeBytes)); // the line a killed process was writing
    options.onStart?.({ total: runs.length, skipped: runs.length - todo.length, file, truncatedTail });

    const checkpointDir = join(options.out, 'checkpoints');
    removeStaleCheckpoints(checkpointDir, runs, done);
    const checkpoints = options.checkpointEvery !== undefined ? todo.map((r) => join(checkpointDir, `${hashId(r.id)}.ckpt`)) : undefined;
    if (checkpoints) makeDirectory(checkpointDir);
    const fd = withFileError(file, 'open for appending', () => openSync(file, 'a'));
    const fresh: ResultRecord[] = [];
    try {
      await runPool(
        todo.map((r) => r.config),
        {
          ...(options.workers !== undefined ? { workers: options.workers } : {}),
          ...(checkpoints ? { checkpoints, checkpointEvery: options.checkpointEvery! } : {}),
          ...(options.imports ? { imports: options.imports } : {}),
          onMessage: (m) => {
            const run = todo[m.id]!;
            if (m.type === 'done') {
              const record = toRecord(run.id, run.parts, m.result, new Date(), digests.get(keyOf(run.config)), identity);
              // The whole line or nothing: a failed append (a full disk) is cut back and stops the grid.
              appendDurably(fd, `${JSON.stringify(record)}\n`, file);
              fresh.push(record);
              // Only once its result is on disk is a run's checkpoint no longer needed.
              if (checkpoints) withFileError(checkpoints[m.id]!, 'remove the finished run\'s checkpoint', () => rmSync(checkpoints[m.id]!, { force: true }));
            }
            options.onMessage?.(m, run);
          },
        },
      );
    } finally {
      closeSync(fd);
    }
    const result = { file, records: [...previous, ...fresh], ran: fresh.length, skipped: runs.length - todo.length };
    if (options.keepLock) return { ...result, lock };
    lock.release();
    return result;
  } catch (e) {
    lock.release();
    throw e;
  }
}

/** The settings every run of a grid shares; earlier results made with others are not continued. */
const SETTINGS = ['dataset', 'epochs', 'batchSize', 'momentum', 'weightDecay', 'optimizer'];

/**
 * Refuses to continue a results file whose runs were made with other settings (another
 * `--epochs`, say) or on other data (another `--data-dir` with other files) than this grid:
 * their ids can match this grid's, and mixed in they would make one report of two grids.
 */
function checkEarlier(previous: readonly ResultRecord[], grid: RunConfig, digest: string, file: string, out: string): void {
  const counts = new Map<string, number>();
  for (const r of previous) {
    const differences = configDifferences(r.config, grid, 'the results file', SETTINGS);
    if (r.dataDigest !== undefined && r.config.dataset === grid.dataset && r.dataDigest !== digest) {
      differences.push(`data: digest ${JSON.stringify(r.dataDigest)} in the results file, ${JSON.stringify(digest)} for ${grid.dataset}${grid.dataDir ? ` from ${grid.dataDir}` : ''} now`);
    }
    const key = differences.join('; ');
    if (key) counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  if (counts.size === 0) return;
  const what = [...counts].map(([d, n]) => `${n} run${n === 1 ? '' : 's'} with ${d}`).join('; and ');
  throw new ConfigError('out', out, `a directory whose results this grid can continue: ${file} holds ${what}; resume with the options it was made with, or choose another --out`);
}

function makeDirectory(dir: string): void {
  withFileError(dir, 'create the directory', () => mkdirSync(dir, { recursive: true }));
}

/** A file name for a run id (ids hold slashes and '=' signs): 16 hex digits of two FNV-1a hashes. */
function hashId(id: string): string {
  let a = 0x811c9dc5, b = 0x01000193;
  for (let i = 0; i < id.length; i++) {
    a = Math.imul(a ^ id.charCodeAt(i), 0x01000193) >>> 0;
    b = Math.imul(b ^ id.charCodeAt(id.length - 1 - i), 0x811c9dc5) >>> 0;
  }
  return a.toString(16).padStart(8, '0') + b.toString(16).padStart(8, '0');
}

/**
 * What a killed grid can leave among this grid's (or shard's) checkpoints: the checkpoint of a run
 * whose result was already written, and a temporary file of a save cut short. Only files of the
 * given runs are touched, because shards share the directory.
 */
function removeStaleCheckpoints(dir: string, runs: readonly GridRun[], done: ReadonlySet<string>): void {
  if (!existsSync(dir)) return;
  const mine = new Map(runs.map((r) => [hashId(r.id), r.id]));
  if (!statSync(dir).isDirectory()) throw new FileError(dir, 'keep checkpoints in', 'it is a file, not a directory');
  for (const file of withFileError(dir, 'list', () => readdirSync(dir))) {
    const m = /^([0-9a-f]{16})\.ckpt(\..+\.tmp)?$/.exec(file);
    const id = m ? mine.get(m[1]!) : undefined;
    if (id === undefined) continue;
    if (m![2] || done.has(id)) withFileError(join(dir, file), 'remove', () => rmSync(join(dir, file), { force: true }));
  }
}
