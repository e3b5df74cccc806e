/**
 * The grid on a real cluster scheduler: the Slurm array script that docs/cluster.md shows,
 * extracted from the page and submitted to a one-node Slurm cluster this test starts (see
 * ./slurm.ts), for the quick preset in 1 epoch as 3 shards; a task cancelled midway and submitted
 * again; a task that fails; and the same shards under GNU parallel. Every merged result must equal
 * an unsharded run of the same grid to the bit.
 *
 * Without root or Debian's slurm-wlm, munge and parallel the tests are skipped with that reason,
 * except when CI is set: then they fail.
 */
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it, type TestContext } from 'vitest';
import { gridFor, shardOf } from '../dist/experiments/grid.js';
import { parseResults, type ResultRecord } from '../dist/experiments/results.js';
import { resultsFile } from '../dist/experiments/reproduce.js';
import { CLUSTER_MISSING, ENDED, startCluster, until, type Cluster } from './slurm.js';

const REPO = fileURLToPath(new URL('..', import.meta.url));
const DOC = readFileSync(join(REPO, 'docs', 'cluster.md'), 'utf8');
const GRID = gridFor('quick', { epochs: 1 });
const SHARDS = 3;
const OPTIONS = '--epochs 1 --checkpoint-every 20';
const MINUTES = 60_000;

/** The one ```bash block of docs/cluster.md: the array script. */
function documentedScript(): string {
  const blocks = [...DOC.matchAll(/```bash\n([\s\S]*?)```/g)].map((m) => m[1]!);
  expect(blocks, 'docs/cluster.md shows the Slurm script in one ```bash block').toHaveLength(1);
  return blocks[0]!;
}

/** A record without what differs between two runs of the same configuration: time, date, grid (shard). */
function outcome(r: ResultRecord): Omit<ResultRecord, 'seconds' | 'finishedAt' | 'grid'> {
  const { seconds: _s, finishedAt: _f, grid: _g, ...rest } = r;
  return rest;
}
const read = (file: string): ResultRecord[] => parseResults(readFileSync(file, 'utf8'), file).records;
const byId = (rs: readonly ResultRecord[]) => [...rs].sort((a, b) => (a.id < b.id ? -1 : 1)).map(outcome);

function need(context: TestContext): void {
  if (!CLUSTER_MISSING) return;
  if (process.env.CI) throw new Error(`CI is set and ${CLUSTER_MISSING}`);
  context.skip(CLUSTER_MISSING);
}

describe.sequential('the grid as a Slurm array job, as docs/cluster.md shows it', () => {
  let dir = '';
  let project = '';
  let cluster: Cluster | null = null;
  let reference: ResultRecord[] = [];
  // Every command has a time limit: a hung child must fail the test, not stall the suite.
  const asymprop = (args: readonly string[], cwd = project) => spawnSync(join(project, 'node_modules', '.bin', 'asymprop'), args, { cwd, encoding: 'utf8', timeout: 15 * MINUTES });

  beforeAll(async () => {
    if (CLUSTER_MISSING) return;
    dir = mkdtempSync(join(tmpdir(), 'asymprop-cluster-'));
    // A project that has asymprop installed the way npm lays it out: node_modules/asymprop and
    // its command in node_modules/.bin, so that the script's `npx asymprop` finds it.
    project = join(dir, 'project');
    mkdirSync(join(project, 'node_modules', '.bin'), { recursive: true });
    symlinkSync(REPO, join(project, 'node_modules', 'asymprop'));
    symlinkSync('../asymprop/dist/cli/main.js', join(project, 'node_modules', '.bin', 'asymprop'));
    mkdirSync(join(project, 'docs', 'examples'), { recursive: true });
    writeFileSync(join(project, 'docs', 'examples', 'slurm-array.sh'), documentedScript(), { mode: 0o755 });
    mkdirSync(join(project, 'logs'));
    mkdirSync(join(dir, 'slurm'));
    cluster = await startCluster(join(dir, 'slurm'));
    // The unsharded grid every sharded one must equal.
    const ref = asymprop(['reproduce', '--preset', 'quick', '--epochs', '1', '--out', join(dir, 'reference'), '--quiet']);
    expect(ref.status, ref.stderr).toBe(0);
    reference = read(join(dir, 'reference', 'results.jsonl'));
  }, 20 * MINUTES);

  afterAll(async () => {
    await cluster?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('the script on the page is the file in docs/examples', () => {
    expect(documentedScript()).toBe(readFileSync(join(REPO, 'docs', 'examples', 'slurm-array.sh'), 'utf8'));
  });

  it('runs 3 shards as an array; task 2, cancelled midway and submitted again, continues; the merge equals the unsharded grid to the bit', async (context) => {
    need(context);
    const c = cluster!;
    expect(reference.map((r) => r.id).sort()).toEqual(GRID.map((r) => r.id).sort());
    const env = { PRESET: 'quick', OPTIONS };
    const job = c.submit([`--array=1-${SHARDS}`, 'docs/examples/slurm-array.sh'], project, env);
    const out = join(project, 'results', 'quick');
    const shardFile = (i: number) => resultsFile(out, { index: i, count: SHARDS });
    const lines = (file: string) => (existsSync(file) ? readFileSync(file, 'utf8').split('\n').filter(Boolean).length : 0);
    const checkpoints = () => (existsSync(join(out, 'checkpoints')) ? readdirSync(join(out, 'checkpoints')).filter((f) => f.endsWith('.ckpt')).length : 0);

    // Task 2 runs once task 1 is done (each task takes both of the node's 2 CPUs), so the
    // checkpoints on disk are its own. Cancel it when it has finished two runs and is midway
    // through another, with a checkpoint on disk.
    await until('task 2 to be midway', 10 * MINUTES, () => {
      if (c.tasks(job)?.find((t) => t.task === '2' && ENDED.includes(t.state))) throw new Error(`task 2 ended before it could be cancelled: ${JSON.stringify(c.tasks(job))}`);
      return lines(shardFile(2)) >= 2 && checkpoints() > 0;
    }, () => JSON.stringify(c.tasks(job)));
    c.run('/usr/bin/scancel', [`${job}_2`], project);
    const first = await c.wait(job, 10 * MINUTES);
    expect(first.map((t) => [t.task, t.state])).toEqual([['1', 'COMPLETED'], ['2', 'CANCELLED'], ['3', 'COMPLETED']]);
    const cut = lines(shardFile(2));
    expect(cut).toBeGreaterThanOrEqual(2);
    expect(cut).toBeLessThan(shardOf(GRID, { index: 2, count: SHARDS }).length);
    const log2 = readFileSync(join(project, 'logs', `asymprop-${job}_2.out`), 'utf8');
    expect(log2).toMatch(/interrupted \(SIGTERM\): \d+ runs of this session are saved/);

    // Submitted again, as the page says: only task 2, with the array's size.
    const again = c.submit(['--array=2', `--export=ALL,SHARDS=${SHARDS}`, 'docs/examples/slurm-array.sh'], project, env);
    const second = await c.wait(again, 10 * MINUTES);
    expect(second.map((t) => [t.task, t.state, t.exitCode])).toEqual([['2', 'COMPLETED', '0:0']]);
    const log = readFileSync(join(project, 'logs', `asymprop-${again}_2.out`), 'utf8');
    expect(log).toContain(`(shard 2/${SHARDS}): ${shardOf(GRID, { index: 2, count: SHARDS }).length} runs, ${cut} already in`);

    // Every shard holds exactly its runs, once; the merge holds the grid's, equal to the reference.
    for (let i = 1; i <= SHARDS; i++) {
      const ids = read(shardFile(i)).map((r) => r.id);
      expect(ids.slice().sort()).toEqual(shardOf(GRID, { index: i, count: SHARDS }).map((r) => r.id).sort());
      expect(read(shardFile(i)).every((r) => r.grid?.preset === 'quick' && r.grid.shard?.index === i && r.grid.shard.count === SHARDS && r.grid.runs === GRID.length)).toBe(true);
    }
    expect(checkpoints()).toBe(0);
    const merged = asymprop(['report', ...[1, 2, 3].map(shardFile), '--out', out]);
    expect(merged.status, merged.stderr).toBe(0);
    expect(merged.stderr).toContain(`(${GRID.length} runs from ${SHARDS} files)`);
    expect(merged.stderr).not.toMatch(/missing|more than one file/);
    expect(byId(read(join(out, 'results.jsonl')))).toEqual(byId(reference));
    const report = readFileSync(join(out, 'report.md'), 'utf8');
    expect(report).toContain(`- Grid: \`asymprop reproduce --preset quick --epochs 1\`, all ${GRID.length} runs present; by shard: 1/3 complete (19 runs), 2/3 complete (19 runs), 3/3 complete (18 runs)`);
    expect(report).toContain('## Findings');
  }, 25 * MINUTES);

  it('a task that fails (a bad option) is a failed task, and the merged report names its shard as missing', async (context) => {
    need(context);
    const c = cluster!;
    const out = join(project, 'results', 'failing');
    mkdirSync(out, { recursive: true });
    for (const i of [1, 2]) expect(existsSync(resultsFile(join(project, 'results', 'quick'), { index: i, count: SHARDS })), 'the array job of the previous test left its shards').toBe(true);
    for (const i of [1, 2]) copyFileSync(join(project, 'results', 'quick', `results.shard-${i}-of-${SHARDS}.jsonl`), join(out, `results.shard-${i}-of-${SHARDS}.jsonl`));
    const job = c.submit(['--array=3', `--export=ALL,SHARDS=${SHARDS}`, 'docs/examples/slurm-array.sh'], project, { PRESET: 'quick', OUT: out, OPTIONS: '--epoch 1' });
    const tasks = await c.wait(job, 5 * MINUTES);
    expect(tasks.map((t) => [t.task, t.state, t.exitCode])).toEqual([['3', 'FAILED', '2:0']]);
    expect(readFileSync(join(project, 'logs', `asymprop-${job}_3.out`), 'utf8')).toMatch(/--epoch/);
    const files = readdirSync(out).filter((f) => f.startsWith('results.shard-')).map((f) => join(out, f));
    expect(files).toHaveLength(2);
    const merged = asymprop(['report', ...files, '--out', out]);
    expect(merged.status, merged.stderr).toBe(0);
    const lost = shardOf(GRID, { index: 3, count: SHARDS });
    expect(merged.stderr).toContain(`asymprop: ${lost.length} of the ${GRID.length} runs of --preset quick --epochs 1 are missing (shard 3/3 wrote none); the report lists them`);
    const report = readFileSync(join(out, 'report.md'), 'utf8');
    expect(report).toContain(`- Missing: **${lost.length} of the ${GRID.length} runs** of \`asymprop reproduce --preset quick --epochs 1\`; by shard: 1/3 complete (19 runs), 2/3 complete (19 runs), 3/3 **none of its 18 runs** (failed, still running, or its file not given)`);
    expect(report).toContain(`  - missing: ${lost[0]!.id.replace(/([\\`*_[\]|])/g, '\\$1')}`);
  }, 10 * MINUTES);

  it('GNU parallel runs the same shards with the command the page shows, with the same results', (context) => {
    need(context);
    const line = DOC.split('\n').find((l) => l.startsWith('parallel --sshloginfile hosts.txt'));
    expect(line, 'docs/cluster.md shows a GNU parallel command').toBeDefined();
    // The page's command for 4 machines and the protocol, here for this machine (":" in
    // hosts.txt), the quick preset in 1 epoch and 3 shards.
    const edits: [string, string][] = [['cd ~/asymprop', `cd ${project}`], ['--preset protocol', '--preset quick --epochs 1 --workers 2'], ['{}/4', `{}/${SHARDS}`], ['results/protocol', 'results/parallel'], ['::: 1 2 3 4', '::: 1 2 3']];
    let command = line!;
    for (const [from, to] of edits) {
      expect(command, `the command still contains ${from}`).toContain(from);
      command = command.replace(from, to);
    }
    writeFileSync(join(project, 'hosts.txt'), ':\n');
    const r = spawnSync('bash', ['-c', command], { cwd: project, encoding: 'utf8', input: '', timeout: 15 * MINUTES });
    expect(r.status, r.stderr).toBe(0);
    const out = join(project, 'results', 'parallel');
    const files = [1, 2, 3].map((i) => resultsFile(out, { index: i, count: SHARDS }));
    const merged = asymprop(['report', ...files, '--out', out]);
    expect(merged.status, merged.stderr).toBe(0);
    expect(byId(read(join(out, 'results.jsonl')))).toEqual(byId(reference));
  }, 15 * MINUTES);
});
