/**
 * A one-node Slurm cluster for the tests, on this machine: munge with its own key and socket,
 * slurmctld and slurmd in the foreground as child processes, every file (configuration, state,
 * spool, logs) under one temporary directory, and ports the system chose as free. `stop()` cancels
 * every job and ends the three daemons by their process ids; it is also called when the test
 * process exits, whatever ends it.
 *
 * Needs root (slurmd starts the jobs) and Debian's `slurm-wlm`, `munge` (and `parallel` for the
 * second documented way): {@link CLUSTER_MISSING} says why a cluster cannot start here, or is null.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { availableParallelism, hostname, totalmem } from 'node:os';
import { join } from 'node:path';

const PROGRAMS = ['/usr/sbin/munged', '/usr/sbin/slurmctld', '/usr/sbin/slurmd', '/usr/bin/sbatch', '/usr/bin/scontrol', '/usr/bin/squeue', '/usr/bin/scancel', '/usr/bin/sinfo', '/usr/bin/parallel'];
/** Every Slurm command gets this long before it counts as hung. */
const COMMAND_TIMEOUT_MS = 60_000;

/** Why a cluster cannot start on this machine, or null when it can. */
export const CLUSTER_MISSING: string | null =
  process.getuid?.() !== 0
    ? 'not root: slurmd must start the jobs as root on this one-node cluster'
    : PROGRAMS.some((p) => !existsSync(p))
      ? `missing ${PROGRAMS.filter((p) => !existsSync(p)).join(', ')} (apt-get install -y slurm-wlm munge parallel)`
      : availableParallelism() < 2
        ? 'fewer than 2 CPUs: the documented script asks for 2 per task'
        : null;

/** One array task as `scontrol show job` reports it. */
export interface TaskState {
  /** The array index, or the pending range (`2-3`). */
  readonly task: string;
  /** PENDING, RUNNING, COMPLETED, FAILED, CANCELLED, … */
  readonly state: string;
  /** `exit:signal`, e.g. `0:0`, `2:0`. */
  readonly exitCode: string;
}

/** A running one-node cluster. */
export interface Cluster {
  /** The environment a Slurm command needs (`SLURM_CONF`), on top of this process's. */
  readonly env: NodeJS.ProcessEnv;
  /** Runs a Slurm command (sbatch, squeue, scancel, …) in `cwd`; throws with its output if it fails. */
  run(command: string, args: readonly string[], cwd: string, env?: NodeJS.ProcessEnv): string;
  /** Submits a batch script (`sbatch --parsable`) and returns the job id. */
  submit(args: readonly string[], cwd: string, env?: NodeJS.ProcessEnv): string;
  /** The job's array tasks in index order, or null when scontrol does not answer (or has forgotten the job). */
  tasks(job: string): TaskState[] | null;
  /** Waits until no task of the job is pending or running, at most `timeoutMs`. */
  wait(job: string, timeoutMs: number): Promise<TaskState[]>;
  /** Cancels every job, waits (at most 30 s) until none is left, and stops the daemons. */
  stop(): Promise<void>;
  /** The Slurm version, e.g. `slurm-wlm 22.05.8`. */
  readonly version: string;
}

/** The states of an array task that has ended. */
export const ENDED = ['COMPLETED', 'FAILED', 'CANCELLED', 'TIMEOUT', 'NODE_FAIL', 'OUT_OF_MEMORY', 'PREEMPTED', 'BOOT_FAIL', 'DEADLINE'];

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const port = (server.address() as { port: number }).port;
      server.close(() => resolve(port));
    });
  });
}

/** Polls `done` every 200 ms until it is true; throws after `timeoutMs`, with `log()` in the message. */
export async function until(what: string, timeoutMs: number, done: () => boolean, log: () => string): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!done()) {
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}\n${log()}`);
    await sleep(200);
  }
}

/** Starts munged, slurmctld and slurmd under `dir` (which must exist) and waits until the node is idle. */
export async function startCluster(dir: string): Promise<Cluster> {
  const daemons: ChildProcess[] = [];
  const logs = join(dir, 'log');
  for (const d of ['munge', 'state', 'spool', 'log']) mkdirSync(join(dir, d), { recursive: true });
  // munged checks that its socket's directory is reachable by all and its key readable by it alone.
  chmodSync(join(dir, 'munge'), 0o755);
  const key = join(dir, 'munge', 'munge.key');
  writeFileSync(key, randomBytes(1024), { mode: 0o600 });
  const socket = join(dir, 'munge', 'munge.socket');
  const start = (program: string, args: string[], name: string, env: NodeJS.ProcessEnv = process.env) => {
    const child = spawn(program, args, { stdio: ['ignore', 'pipe', 'pipe'], env });
    let output = '';
    child.stdout!.on('data', (b: Buffer) => (output += b.toString()));
    child.stderr!.on('data', (b: Buffer) => (output += b.toString()));
    // Its output, for a failure's message (the directory may be gone when the test has ended).
    child.on('exit', () => {
      if (existsSync(logs)) writeFileSync(join(logs, `${name}.out`), output);
    });
    daemons.push(child);
    return { child, output: () => output };
  };
  let stopped = false;
  const stopDaemons = () => {
    if (stopped) return;
    stopped = true;
    for (const d of daemons.reverse()) if (d.exitCode === null && d.signalCode === null) d.kill('SIGKILL');
  };
  process.once('exit', stopDaemons);

  try {
    const munge = start('/usr/sbin/munged', ['-F', '--force', `--socket=${socket}`, `--key-file=${key}`, `--pid-file=${join(dir, 'munge', 'munged.pid')}`, `--log-file=${join(dir, 'munge', 'munged.log')}`, `--seed-file=${join(dir, 'munge', 'munged.seed')}`], 'munged');
    await until('munged to create its socket', 10_000, () => existsSync(socket) || munge.child.exitCode !== null, munge.output);
    if (!existsSync(socket)) throw new Error(`munged did not start:\n${munge.output()}`);

    const node = hostname().split('.')[0]!;
    // Two CPUs, whatever the machine has: each task of the documented script takes both, so the
    // tasks of an array run one after another, the same on every machine.
    const cpus = 2;
    const memory = Math.floor((totalmem() / 2 ** 20) * 0.9);
    const ctldPort = await freePort();
    let dPort = await freePort();
    while (dPort === ctldPort) dPort = await freePort();
    const conf = join(dir, 'slurm.conf');
    writeFileSync(conf, [
      'ClusterName=asymproptest',
      `SlurmctldHost=${node}(127.0.0.1)`,
      `SlurmctldPort=${ctldPort}`,
      `SlurmdPort=${dPort}`,
      'AuthType=auth/munge',
      'CredType=cred/munge',
      `AuthInfo=socket=${socket}`,
      'SlurmUser=root',
      'SlurmdUser=root',
      `StateSaveLocation=${join(dir, 'state')}`,
      `SlurmdSpoolDir=${join(dir, 'spool')}`,
      `SlurmctldPidFile=${join(dir, 'slurmctld.pid')}`,
      `SlurmdPidFile=${join(dir, 'slurmd.pid')}`,
      `SlurmctldLogFile=${join(logs, 'slurmctld.log')}`,
      `SlurmdLogFile=${join(logs, 'slurmd.log')}`,
      // Process groups: with proctrack/linuxproc on this machine a cancelled task's processes
      // outlived it (only the batch shell was signalled); clusters use proctrack/cgroup.
      'ProctrackType=proctrack/pgid',
      'TaskPlugin=task/none',
      'SelectType=select/cons_tres',
      'SelectTypeParameters=CR_Core',
      'SchedulerType=sched/backfill',
      'MpiDefault=none',
      'JobAcctGatherType=jobacct_gather/none',
      'AccountingStorageType=accounting_storage/none',
      'ReturnToService=2',
      // Finished jobs stay visible to scontrol for 10 minutes (there is no accounting database).
      'MinJobAge=600',
      'KillWait=5',
      `NodeName=${node} NodeAddr=127.0.0.1 CPUs=${cpus} RealMemory=${memory} State=UNKNOWN`,
      `PartitionName=test Nodes=${node} Default=YES MaxTime=INFINITE State=UP`,
      '',
    ].join('\n'));
    const env = { ...process.env, SLURM_CONF: conf };
    const ctld = start('/usr/sbin/slurmctld', ['-D', '-i', '-f', conf], 'slurmctld', env);
    const slurmd = start('/usr/sbin/slurmd', ['-D', '-N', node, '-f', conf], 'slurmd', env);
    const log = () => `slurmctld:\n${ctld.output()}\nslurmd:\n${slurmd.output()}\n${existsSync(join(logs, 'slurmctld.log')) ? readFileSync(join(logs, 'slurmctld.log'), 'utf8').slice(-2000) : ''}`;
    await until('the node to be idle', 30_000, () => {
      if (ctld.child.exitCode !== null || slurmd.child.exitCode !== null) throw new Error(`a Slurm daemon exited:\n${log()}`);
      const r = spawnSync('/usr/bin/sinfo', ['-h', '-o', '%T'], { env, encoding: 'utf8', timeout: COMMAND_TIMEOUT_MS });
      return r.status === 0 && r.stdout.trim() === 'idle';
    }, log);

    const run = (command: string, args: readonly string[], cwd: string, extra: NodeJS.ProcessEnv = {}) => {
      const r = spawnSync(command, args, { cwd, env: { ...env, ...extra }, encoding: 'utf8', timeout: COMMAND_TIMEOUT_MS });
      if (r.status !== 0) throw new Error(`${command} ${args.join(' ')} failed (${r.status}): ${r.stdout}${r.stderr}`);
      return r.stdout;
    };
    const tasks = (job: string): TaskState[] | null => {
      const r = spawnSync('/usr/bin/scontrol', ['show', 'job', '-o', job], { env, encoding: 'utf8', timeout: COMMAND_TIMEOUT_MS });
      if (r.status !== 0) return null;
      return r.stdout.trim().split('\n').filter((l) => l.includes('JobState=')).map((line) => ({
        task: /ArrayTaskId=(\S+)/.exec(line)?.[1] ?? '',
        state: /JobState=(\S+)/.exec(line)![1]!,
        exitCode: /ExitCode=(\S+)/.exec(line)?.[1] ?? '',
      })).sort((a, b) => parseInt(a.task, 10) - parseInt(b.task, 10));
    };
    // Should this process die without running its exit handlers (SIGKILL, say), a watchdog
    // outside it stops the daemons once it is gone.
    const watchdog = spawn('/bin/sh', ['-c', `while kill -0 ${process.pid} 2>/dev/null; do sleep 1; done; kill -9 ${daemons.map((d) => d.pid).join(' ')} 2>/dev/null`], { detached: true, stdio: 'ignore' });
    watchdog.unref();
    daemons.push(watchdog);
    const version = run('/usr/bin/sinfo', ['--version'], dir).trim();
    return {
      env,
      version,
      run,
      submit: (args, cwd, extra) => run('/usr/bin/sbatch', ['--parsable', ...args], cwd, extra).trim().split(';')[0]!,
      tasks,
      wait: async (job, timeoutMs) => {
        const ended = () => {
          const ts = tasks(job);
          return ts !== null && ts.length > 0 && ts.every((t) => ENDED.includes(t.state)) ? ts : null;
        };
        await until(`job ${job} to end`, timeoutMs, () => ended() !== null, log);
        return ended()!;
      },
      stop: async () => {
        // Jobs first (their processes are not the daemons' children), then the daemons.
        spawnSync('/usr/bin/scancel', ['--full', '--user=root'], { env, timeout: COMMAND_TIMEOUT_MS });
        const end = Date.now() + 30_000;
        while (Date.now() < end) {
          const q = spawnSync('/usr/bin/squeue', ['-h', '-o', '%i'], { env, encoding: 'utf8', timeout: COMMAND_TIMEOUT_MS });
          if (q.status === 0 && q.stdout.trim() === '') break;
          await sleep(500);
        }
        stopDaemons();
      },
    };
  } catch (e) {
    stopDaemons();
    throw e;
  }
}
