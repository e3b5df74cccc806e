import { existsSync, readFileSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { cpus as cpus_, totalmem } from 'node:os';
import { parseArgs } from 'node:util';
import { ConfigError, FileError } from '../errors.js';
import { DATASETS, OPTIMIZERS, type DatasetName } from '../experiments/config.js';
import { PARTS, PRESETS, gridFor, parseShard, shardOf, type Part, type Preset } from '../experiments/grid.js';
import { reproduce, resultsFile } from '../experiments/reproduce.js';
import { mergeRecords, parseResults, type ParsedResults, type ResultRecord } from '../experiments/results.js';
import { writeReport } from '../experiments/writeReport.js';
import { checkRenderer } from '../experiments/report/figures.js';
import { intOption, parallelOption, scanOption } from './args.js';
import { lockFile } from '../io/files.js';
import { importModules } from '../experiments/imports.js';
import { methodByName } from '../feedback/registry.js';
import { Progress, bar } from './progress.js';
import { formatAccuracy } from './table.js';

/** `asymprop reproduce --preset <name>`: a grid of runs, written as they finish, then the report. */
export async function reproduceCommand(args: string[]): Promise<number> {
  const imports = await importModules(scanOption(args, '--import'));
  const { values } = parseArgs({
    args,
    strict: true,
    allowPositionals: false,
    options: {
      preset: { type: 'string' },
      dataset: { type: 'string' },
      'data-dir': { type: 'string' },
      seeds: { type: 'string' },
      epochs: { type: 'string' },
      only: { type: 'string' },
      methods: { type: 'string' },
      optimizer: { type: 'string' },
      import: { type: 'string', multiple: true },
      out: { type: 'string' },
      resume: { type: 'boolean' },
      shard: { type: 'string' },
      workers: { type: 'string' },
      'checkpoint-every': { type: 'string' },
      'dry-run': { type: 'boolean' },
      quiet: { type: 'boolean' },
    },
  });
  const preset = choice('preset', values.preset ?? 'quick', PRESETS) as Preset;
  const gridOptions = {
    ...(values.dataset !== undefined ? { dataset: choice('dataset', values.dataset, DATASETS) as DatasetName } : {}),
    ...(values['data-dir'] !== undefined ? { dataDir: values['data-dir'] } : {}),
    ...(values.seeds !== undefined ? { seeds: values.seeds.split(',').map((s) => intOption('seeds', s)!) } : {}),
    ...(values.epochs !== undefined ? { epochs: intOption('epochs', values.epochs, true)! } : {}),
    ...(values.only !== undefined ? { only: values.only.split(',').map((p) => choice('only', p, PARTS) as Part) } : {}),
    ...(values.optimizer !== undefined ? { optimizer: choice('optimizer', values.optimizer, OPTIMIZERS) as 'sgd' | 'adam' | 'rmsprop' } : {}),
    ...(values.methods !== undefined ? { methods: values.methods.split(',').map((m) => methodByName(m).name) } : {}),
  };
  const shard = values.shard !== undefined ? parseShard(values.shard) : undefined;
  const out = values.out ?? `results/${preset}`;
  if (out === '') throw new ConfigError('out', out, 'a directory path');
  const progress = new Progress(process.stderr, values.quiet === true);

  if (values['dry-run']) {
    // The runs this command would run: the whole grid, or only the shard's, as reproduce() picks them.
    const grid = gridFor(preset, gridOptions);
    const runs = shard ? shardOf(grid, shard) : grid;
    for (const run of runs) process.stdout.write(`${run.parts.join(',')}\t${run.id}\n`);
    process.stdout.write(shard ? `${runs.length} runs (shard ${shard.index}/${shard.count} of ${grid.length} runs)\n` : `${runs.length} runs\n`);
    return 0;
  }

  // A grid ends with its report: find out now, not hours from now, that its renderer is missing.
  if (!shard) await checkRenderer();

  const t0 = Date.now();
  const active = new Map<number, string>();
  let total = 0, finished = 0;
  const onSignal = (signal: NodeJS.Signals) => {
    progress.done();
    process.stderr.write(`\ninterrupted (${signal}): ${finished} runs of this session are saved; rerun the same command with --resume to continue\n`);
    process.exit(signal === 'SIGTERM' ? 143 : 130);
  };
  // Ctrl-C, and the SIGTERM a scheduler sends when it cancels or preempts the task (scancel).
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const result = await reproduce({
    preset,
    ...gridOptions,
    out,
    ...(imports.length > 0 ? { imports } : {}),
    ...(shard ? { shard } : {}),
    ...(values.resume ? { resume: true } : {}),
    ...(values.workers !== undefined ? { workers: parallelOption('workers', values.workers)! } : {}),
    ...(values['checkpoint-every'] !== undefined ? { checkpointEvery: intOption('checkpoint-every', values['checkpoint-every'], true)! } : {}),
    keepLock: true,
    onStart: (info) => {
      total = info.total - info.skipped;
      progress.log(
        `asymprop reproduce --preset ${preset}${shard ? ` (shard ${shard.index}/${shard.count})` : ''}: ${info.total} runs, ` +
          `${info.skipped} already in ${info.file}${info.truncatedTail ? ' (an interrupted last line was dropped)' : ''}, ${total} to run`,
      );
    },
    onMessage: (m, run) => {
      const name = run.id.split('/').slice(1, 6).join(' ');
      if (m.type === 'batch') active.set(m.id, `${name} e${m.epoch} ${Math.round((100 * m.step) / m.steps)}%`);
      if (m.type === 'done') {
        active.delete(m.id);
        finished++;
        progress.log(`  [${finished}/${total}] ${run.id}: ${formatAccuracy(m.result.testAccuracy, m.result.divergedAt)} (${m.result.seconds.toFixed(0)} s)`);
      }
      progress.update(`${bar(total ? finished / total : 1)} ${finished}/${total} runs, ${((Date.now() - t0) / 1000).toFixed(0)} s | ${[...active.values()].join(' | ')}`);
    },
  });
  process.removeListener('SIGINT', onSignal);
  process.removeListener('SIGTERM', onSignal);
  progress.done();
  const wallSeconds = (Date.now() - t0) / 1000;
  progress.log(`${result.ran} runs done in ${wallSeconds.toFixed(0)} s; ${result.records.length} in ${result.file}`);
  try {
    if (!shard) {
      // The report rewrites the results file (sorted): from what is on disk, under the grid's lock
      // still, so that it cannot drop a line another process wrote.
      const command = `asymprop reproduce ${shellWords(args)}`.trim();
      const onDisk = readResultsFile(result.file).records;
      const written = await writeReport(out, onDisk, { title: `asymprop reproduction: ${preset} preset`, command, machine: machineDescription(), wallSeconds });
      progress.log(`report: ${written.report}`);
      process.stdout.write(`${readFileSync(written.report, 'utf8')}\n`);
    } else {
      progress.log(`shard done; merge the shards with: asymprop report ${out}/results.shard-*.jsonl --out ${out}`);
    }
  } finally {
    result.lock?.release();
  }
  return 0;
}

/** `asymprop report <results.jsonl ...> --out DIR`: merge results files (shards) and render the report. */
export async function reportCommand(args: string[]): Promise<number> {
  // Modules that register a user's methods, so that the grid of a results file that names them can be rebuilt.
  await importModules(scanOption(args, '--import'));
  const { values, positionals } = parseArgs({
    args,
    strict: true,
    allowPositionals: true,
    options: { out: { type: 'string' }, title: { type: 'string' }, quiet: { type: 'boolean' }, import: { type: 'string', multiple: true } },
  });
  if (positionals.length === 0) throw new ConfigError('results files', [], 'one or more results .jsonl files');
  const progress = new Progress(process.stderr, values.quiet === true);
  const out = values.out ?? '.';
  if (out === '') throw new ConfigError('out', out, 'a directory path');
  if (existsSync(out) && !statSync(out).isDirectory()) throw new FileError(out, 'write the report into', 'it is a file, not a directory');
  // The report rewrites <out>/results.jsonl with the merged runs: never drop runs a file there
  // holds, and never write it while a grid does (the grid holds its lock: the report is refused).
  // The lock is taken before any file is read, so that what is merged is what is on disk.
  const target = resultsFile(out);
  const lock = existsSync(out) ? lockFile(target, 'asymprop report') : null;
  try {
    const lists = positionals.map((file) => {
      const parsed = readResultsFile(file);
      if (parsed.truncatedTail) progress.log(`asymprop: ${file} ends in an incomplete line (an interrupted run); it is ignored`);
      if (parsed.records.length === 0) progress.log(`asymprop: ${file} holds no complete run`);
      return parsed.records;
    });
    const { records, duplicates } = mergeRecords(lists);
    if (records.length === 0) throw new ConfigError('results files', positionals, 'files holding at least one complete run');
    if (duplicates.length) progress.log(`asymprop: ${duplicates.length} runs appear in more than one file; the first copy of each is kept`);
    if (existsSync(target) && !positionals.some((f) => resolve(f) === resolve(target))) {
      const kept = new Set(records.map((r) => r.id));
      let there: ResultRecord[];
      try {
        there = readResultsFile(target).records;
      } catch (e) {
        throw new ConfigError('out', out, `a directory whose results.jsonl the report may replace: ${target} cannot be read as results (${(e as Error).message}); move it or choose another --out`);
      }
      const lost = there.filter((r) => !kept.has(r.id)).length;
      if (lost > 0) {
        const runs = lost === 1 ? '1 other run' : `${lost} other runs`;
        throw new ConfigError('out', out, `a directory whose results.jsonl holds no runs beyond the files merged: ${target} holds ${runs} that the report would replace; name it among the files to merge them, or choose another --out`);
      }
    }
    const written = await writeReport(out, records, { title: values.title ?? 'asymprop reproduction', command: `asymprop report ${shellWords(args)}`, machine: machineDescription() });
    progress.log(`report: ${written.report} (${records.length} runs from ${positionals.length} files)`);
    // A shard that failed or has not finished shows up here, not only inside the report.
    for (const c of written.coverage) {
      if (c.missing === null) progress.log(`asymprop: which runs of ${c.flags} are missing cannot be told: ${c.problem}`);
      if (c.missing === null || c.missing.length === 0) continue;
      const empty = c.shards.filter((s) => s.present === 0).map((s) => `${s.index}/${s.count}`);
      progress.log(`asymprop: ${c.missing.length} of the ${c.runs} runs of ${c.flags} are missing${empty.length ? ` (shard${empty.length === 1 ? '' : 's'} ${empty.join(', ')} wrote none)` : ''}; the report lists them`);
    }
  } finally {
    lock?.release();
  }
  return 0;
}

function readResultsFile(file: string): ParsedResults {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new ConfigError('results file', file, `a readable file (${(e as Error).message})`);
  }
  return parseResults(text, file);
}

function choice(option: string, value: string, allowed: readonly string[]): string {
  if (!allowed.includes(value)) throw new ConfigError(option, value, allowed.map((a) => `'${a}'`).join(', '));
  return value;
}

function machineDescription(): string {
  const cpus = cpus_();
  return `${cpus.length} × ${cpus[0]?.model.trim() ?? 'unknown CPU'}, ${Math.round(totalmem() / 2 ** 30)} GiB, ${process.platform} ${process.arch}, Node ${process.version}`;
}

/** The arguments as one shell line that gives them back: words with spaces or shell characters in single quotes. */
export function shellWords(args: readonly string[]): string {
  return args.map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`)).join(' ');
}
