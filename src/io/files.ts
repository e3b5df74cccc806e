/**
 * Writing files so that nothing is lost (Node only): every write loops until all its bytes are
 * down or fails with a {@link FileError}; an append that fails is cut back to where it started;
 * a file can be locked for writing by one process at a time.
 *
 * A write to a nearly full disk first writes what fits and returns the count, and only the next
 * write fails (ENOSPC): a single `writeSync` that ignores its return value leaves a short file
 * and reports success.
 */
import { closeSync, constants, fstatSync, fsyncSync, ftruncateSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { hostname } from 'node:os';
import { FileError } from '../errors.js';

const REASONS: Record<string, string> = {
  ENOSPC: 'no space left on device',
  EDQUOT: 'disk quota exceeded',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  EROFS: 'read-only file system',
  ENOENT: 'no such file or directory',
  ENOTDIR: 'a part of the path is not a directory',
  EISDIR: 'it is a directory',
  EEXIST: 'it already exists',
  ELOOP: 'too many symbolic links (a loop?)',
  ENAMETOOLONG: 'the name is too long',
  EIO: 'input/output error',
  EMFILE: 'too many open files',
};

/** A system error in words, with its code: `no space left on device (ENOSPC)`. */
export function reasonOf(e: unknown): string {
  const code = (e as NodeJS.ErrnoException | null)?.code;
  if (code) return `${REASONS[code] ?? (e as Error).message} (${code})`;
  return e instanceof Error ? e.message : String(e);
}

/** Writes all of `bytes` at the file position of `fd`, looping over short writes. */
export function writeFully(fd: number, bytes: Uint8Array, path: string, operation = 'write'): void {
  let done = 0;
  while (done < bytes.length) {
    let n: number;
    try {
      n = writeSync(fd, bytes, done, bytes.length - done);
    } catch (e) {
      throw new FileError(path, operation, reasonOf(e));
    }
    // A write that makes no progress would loop for ever; the system reports no error for it.
    if (n <= 0) throw new FileError(path, operation, `the system wrote ${n} of ${bytes.length - done} bytes`);
    done += n;
  }
}

/**
 * Appends `text` to the file open for appending on `fd` and flushes it to disk. If any of it
 * fails, the file is cut back to its length before the call (so it still ends at its last
 * complete line) and a {@link FileError} says why.
 */
export function appendDurably(fd: number, text: string, path: string): void {
  const before = fstatSync(fd).size;
  try {
    writeFully(fd, new TextEncoder().encode(text), path, 'append to');
    fsync(fd, path, 'append to');
  } catch (e) {
    try {
      ftruncateSync(fd, before);
    } catch {
      // Cutting back can fail too (an I/O error); the reader drops a partial last line anyway.
    }
    throw e;
  }
}

function fsync(fd: number, path: string, operation: string): void {
  try {
    fsyncSync(fd);
  } catch (e) {
    throw new FileError(path, operation, reasonOf(e));
  }
}

/** What a lock file holds: who holds the lock. */
export interface LockHolder {
  /** The holder's process id. */
  readonly pid: number;
  /** The machine it runs on. */
  readonly host: string;
  /** When it took the lock (ISO 8601). */
  readonly since: string;
  /** What it is doing, e.g. its command line. */
  readonly what: string;
}

/** A held lock: `release()` removes the lock file (and is safe to call twice). */
export interface FileLock {
  /** The lock file. */
  readonly file: string;
  /** Removes the lock file if this process still holds it. */
  release(): void;
}

/** Whether a process of this machine is alive (a process of another machine is assumed alive). */
function alive(holder: LockHolder): boolean {
  if (holder.host !== hostname()) return true;
  try {
    process.kill(holder.pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM'; // alive, but another user's
  }
}

/**
 * Takes the exclusive lock of a file that one process at a time may write (a grid's results
 * file): creates `<path>.lock` (only if it does not exist, atomically) holding this process's id.
 * A lock left by a process that no longer runs (one killed with `kill -9`) is stale and taken
 * over; a live holder is refused with a {@link FileError} naming it. The lock is released by
 * `release()` and, failing that, when the process exits.
 */
export function lockFile(path: string, what: string): FileLock {
  const file = `${path}.lock`;
  const me: LockHolder = { pid: process.pid, host: hostname(), since: new Date().toISOString(), what };
  for (let attempt = 0; attempt < 3; attempt++) {
    let fd: number;
    try {
      fd = openSync(file, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o644);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw new FileError(path, 'lock', reasonOf(e));
      const holder = readHolder(file);
      if (holder && alive(holder)) {
        throw new FileError(path, 'lock', `another process is writing it: pid ${holder.pid} on ${holder.host} since ${holder.since} (${holder.what}); wait for it to finish, or choose another --out`);
      }
      // Stale (its process is gone) or unreadable (a holder killed while writing it): take it over.
      rmSync(file, { force: true });
      continue;
    }
    try {
      writeFully(fd, new TextEncoder().encode(`${JSON.stringify(me)}\n`), file);
    } finally {
      closeSync(fd);
    }
    let held = true;
    const release = () => {
      if (!held) return;
      held = false;
      process.removeListener('exit', release);
      if (readHolder(file)?.pid === process.pid) rmSync(file, { force: true });
    };
    process.on('exit', release);
    return { file, release };
  }
  throw new FileError(path, 'lock', 'the lock file keeps reappearing: another process is taking it at the same time');
}

function readHolder(file: string): LockHolder | null {
  try {
    const h = JSON.parse(readFileSync(file, 'utf8')) as LockHolder;
    return Number.isInteger(h?.pid) && typeof h.host === 'string' ? h : null;
  } catch {
    return null;
  }
}
