/**
 * Writing files so that nothing is lost (Node only): every write loops until all its bytes are
 * down or fails with a {@link FileError}; an append that fails is cut back to where it started;
 * a file can be locked for writing by one process at a time.
 *
 * A write to a nearly full disk first writes what fits and returns the count, and only the next
 * write fails (ENOSPC): a single `writeSync` that ignores its return value leaves a short file
 * and reports success.
 */
import { randomBytes } from 'node:crypto';
import { closeSync, constants, fstatSync, fsyncSync, ftruncateSync, linkSync, openSync, readFileSync, renameSync, rmSync, writeSync } from 'node:fs';
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
    const n = withFileError(path, operation, () => writeSync(fd, bytes, done, bytes.length - done));
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
    withFileError(path, 'append to', () => fsyncSync(fd));
  } catch (e) {
    try {
      ftruncateSync(fd, before);
    } catch {
      // Cutting back can fail too (an I/O error); the reader drops a partial last line anyway.
    }
    throw e;
  }
}

/** A system error as a {@link FileError} naming the path (a FileError is returned as it is). */
export function toFileError(e: unknown, path: string, operation: string): FileError {
  return e instanceof FileError ? e : new FileError(path, operation, reasonOf(e));
}

/** Runs a file operation, turning a system error into a {@link FileError} naming the path. */
export function withFileError<T>(path: string, operation: string, op: () => T): T {
  try {
    return op();
  } catch (e) {
    throw toFileError(e, path, operation);
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
  /** A random token of this taking of the lock: a lock is released only by the one that took it. */
  readonly token: string;
}

/** A held lock: `release()` removes the lock file (and is safe to call twice). */
export interface FileLock {
  /** The lock file. */
  readonly file: string;
  /** Removes the lock file if this process still holds it. */
  release(): void;
}

/** The tokens of the locks this process holds now. */
const held = new Set<string>();

/**
 * Whether the holder of a lock still runs. A lock of another machine is taken as alive. A lock
 * that names this very process but none of the locks it holds is stale: a process killed before
 * (kill -9, a reboot, a container restarted) whose pid this one has been given again.
 */
function alive(holder: LockHolder): boolean {
  if (holder.host !== hostname()) return true;
  if (holder.pid === process.pid) return held.has(holder.token);
  try {
    process.kill(holder.pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM'; // alive, but another user's
  }
}

/**
 * Takes the exclusive lock of a file that one process at a time may write (a grid's results
 * file): `<path>.lock`, holding this process's id and a random token. The lock file appears
 * complete or not at all (written beside it, then hard-linked into place, which fails if it
 * exists). A lock left by a process that no longer runs (one killed with `kill -9`) is stale and
 * taken over: renamed away first, so that of two processes taking over the same stale lock only
 * one succeeds. A live holder is refused with a {@link FileError} naming it. The lock is released
 * by `release()` and, failing that, when the process exits.
 */
export function lockFile(path: string, what: string): FileLock {
  const file = `${path}.lock`;
  const me: LockHolder = { pid: process.pid, host: hostname(), since: new Date().toISOString(), what, token: randomBytes(12).toString('hex') };
  const tmp = `${file}.${me.token}.tmp`;
  try {
    const fd = withFileError(path, 'lock', () => openSync(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o644));
    try {
      writeFully(fd, new TextEncoder().encode(`${JSON.stringify(me)}\n`), file);
    } finally {
      closeSync(fd);
    }
    for (let attempt = 0; attempt < 5; attempt++) {
      try {
        linkSync(tmp, file);
        break;
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw new FileError(path, 'lock', reasonOf(e));
      }
      const holder = readHolder(file);
      if (holder === 'gone') continue; // released meanwhile: try again
      if (holder && alive(holder)) {
        throw new FileError(path, 'lock', `another process is writing it: pid ${holder.pid} on ${holder.host} since ${holder.since} (${holder.what}); wait for it to finish, or choose another --out`);
      }
      if (holder === null) {
        // Unreadable: not a lock this library writes (its locks appear whole). Refuse rather than guess.
        throw new FileError(path, 'lock', `its lock file ${file} is not one asymprop wrote; remove it if no grid is running`);
      }
      // Stale: move it aside under a name of our own, and check that what moved is the stale lock
      // read above (not one a faster process put there meanwhile, which goes back).
      const aside = `${file}.${me.token}.stale`;
      try {
        renameSync(file, aside);
      } catch {
        continue; // someone else moved it first
      }
      const moved = readHolder(aside);
      if (moved !== null && moved !== 'gone' && moved.token !== holder.token) {
        try {
          linkSync(aside, file);
        } catch {
          // The lock's place is taken again: the holder we moved keeps running without its file.
        }
        rmSync(aside, { force: true });
        throw new FileError(path, 'lock', `another process took it at the same moment (pid ${moved.pid})`);
      }
      rmSync(aside, { force: true });
    }
    const mine = readHolder(file);
    if (mine === null || mine === 'gone' || mine.token !== me.token) {
      throw new FileError(path, 'lock', 'the lock file keeps changing hands: other processes are taking it at the same time');
    }
  } finally {
    rmSync(tmp, { force: true });
  }
  held.add(me.token);
  const release = () => {
    if (!held.has(me.token)) return;
    held.delete(me.token);
    process.removeListener('exit', release);
    const holder = readHolder(file);
    if (holder !== null && holder !== 'gone' && holder.token === me.token) rmSync(file, { force: true });
  };
  process.on('exit', release);
  return { file, release };
}

/** The holder a lock file names; `'gone'` when there is no such file; null when it cannot be read as one. */
function readHolder(file: string): LockHolder | 'gone' | null {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'ENOENT' ? 'gone' : null;
  }
  try {
    const h = JSON.parse(text) as LockHolder;
    return Number.isInteger(h?.pid) && typeof h.host === 'string' && typeof h.token === 'string' ? h : null;
  } catch {
    return null;
  }
}
