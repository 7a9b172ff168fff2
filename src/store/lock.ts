/**
 * One process per data dir: the in-memory serving state would diverge otherwise. The lock is a file
 * holding the owner's pid, created exclusively and whole (a hard link to a file written first, so it
 * is never seen empty). A lock left by a process that died is broken
 * only under a second exclusive file, `kairos.lock.break`, after reading the lock again: of several
 * processes that found the same stale lock at once, one breaks it and takes the data dir, and the
 * others then find a live owner. Without that, one could delete the lock another had just written.
 */
import { randomBytes } from 'node:crypto';
import { linkSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** a break lock older than this was left by a process that died inside the few microseconds it is held */
const STALE_BREAK_MS = 10_000;

/** A process that was killed but not yet reaped (a zombie) holds nothing: treat it as gone. */
function zombie(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) === 'Z';
  } catch {
    return false;
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  return !zombie(pid);
}

/** the pid a lock file names, or undefined when it is gone */
function holderOf(path: string): number | undefined {
  try {
    return Number(readFileSync(path, 'utf8'));
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
}

const held = (pid: number): boolean => Number.isInteger(pid) && pid > 0 && pid !== process.pid && alive(pid);

/**
 * Creates `path` holding our pid; false when it exists. The file appears with its content (a link to
 * a file written first), so no other process ever reads a lock that is still empty and takes it for
 * one left behind.
 */
function create(path: string): boolean {
  const written = `${path}.${process.pid}.${randomBytes(6).toString('hex')}`;
  writeFileSync(written, String(process.pid));
  try {
    linkSync(written, path);
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw e;
  } finally {
    rmSync(written, { force: true });
  }
}

/**
 * Removes the lock at `path` if it still names a process that is gone, holding the break lock while
 * it looks; false when another process is breaking it right now.
 */
function breakStale(path: string): boolean {
  const breaker = `${path}.break`;
  if (!create(breaker)) {
    try {
      if (Date.now() - statSync(breaker).mtimeMs > STALE_BREAK_MS) rmSync(breaker, { force: true });
    } catch {
      // removed meanwhile by its owner
    }
    return false;
  }
  try {
    const holder = holderOf(path);
    if (holder !== undefined && !held(holder)) rmSync(path, { force: true });
    return true;
  } finally {
    rmSync(breaker, { force: true });
  }
}

/** Takes the data dir's lock or throws naming the process that holds it. Returns the release. */
export function lockDataDir(dataDir: string): () => void {
  mkdirSync(dataDir, { recursive: true });
  const path = join(dataDir, 'kairos.lock');
  for (let attempt = 0; attempt < 50; attempt++) {
    if (create(path)) return () => rmSync(path, { force: true });
    const holder = holderOf(path);
    if (holder !== undefined && held(holder)) throw new Error(`the data dir ${dataDir} is in use by process ${holder}; stop it first`);
    // left behind by a process that died (or gone already): break it, or let whoever is breaking it finish
    if (!breakStale(path)) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 2);
  }
  throw new Error(`cannot lock the data dir ${dataDir}`);
}
