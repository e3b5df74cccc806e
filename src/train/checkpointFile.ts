import { closeSync, fsyncSync, openSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { dirname } from 'node:path';
import { DataFormatError } from '../errors.js';
import { withFileError, writeFully } from '../io/files.js';
import { decodeCheckpoint, encodeCheckpoint, type Checkpoint, type CheckpointSource } from './checkpoint.js';

/**
 * Writes a checkpoint atomically: to a temporary file beside the target, flushed to disk, then
 * renamed over the target (and the directory flushed), so a crash at any moment leaves either
 * the previous checkpoint or the new one, never a half-written file. A write that fails (a full
 * disk, a read-only directory) removes the temporary file, leaves the previous checkpoint in
 * place and throws a {@link asymprop!FileError} naming the file and the cause.
 */
export function saveCheckpoint(path: string, source: CheckpointSource): void {
  const bytes = encodeCheckpoint(source);
  const tmp = `${path}.${process.pid}.tmp`;
  const operation = 'write the checkpoint';
  const fd = withFileError(path, operation, () => openSync(tmp, 'w'));
  try {
    try {
      writeFully(fd, bytes, path, operation);
      withFileError(path, operation, () => fsyncSync(fd));
    } finally {
      closeSync(fd);
    }
    withFileError(path, operation, () => renameSync(tmp, path));
  } catch (e) {
    rmSync(tmp, { force: true });
    throw e;
  }
  try {
    const dir = openSync(dirname(path), 'r');
    fsyncSync(dir);
    closeSync(dir);
  } catch {
    // Some file systems cannot fsync a directory; the rename itself is still atomic.
  }
}

/** Reads and validates a checkpoint file (see `decodeCheckpoint`). */
export function loadCheckpoint(path: string): Checkpoint {
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(path);
  } catch (e) {
    throw new DataFormatError(path, `cannot read the checkpoint: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  return decodeCheckpoint(bytes, path);
}
