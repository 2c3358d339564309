// Exclusive lock on an embedded database's data directory. PGlite has no postmaster.pid of its
// own, and two processes writing the same PGlite files corrupt them, so a hodei process takes this
// lock before it opens the directory. The lock is a file in the directory holding the owner's pid,
// a random token and the process start time; it is created atomically (a fully written temp file
// hard-linked into place), and one left by a dead process is taken over.
import { link, mkdir, readFile, unlink, writeFile } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { HodeiError } from '../../shared/errors.js';

export const LOCK_FILE_NAME = 'hodei.lock';
const GUARD_SUFFIX = '.takeover';
const GUARD_WAIT_MS = 2000;

export interface DataDirLock {
  readonly dir: string;
  /** Removes the lock file if it is still ours; safe to call twice. */
  release(): Promise<void>;
}

/** Another live process (or another open instance in this process) holds the directory. */
export class DataDirLockedError extends HodeiError {
  constructor(
    readonly dir: string,
    readonly pid: number,
  ) {
    super(
      'DATA_DIR_LOCKED',
      `data directory ${dir} is in use by another hodei process (pid ${pid})`,
      { dir, pid },
    );
  }
}

interface Owner {
  pid: number;
  token: string;
  /** Start time of the process in clock ticks since boot (Linux), or '' when unknown. */
  started: string;
  raw: string;
}

/** Field 22 of /proc/<pid>/stat: tells a reused pid (a container restarted as pid 1) apart. */
function processStartTime(pid: number): string {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const afterName = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return afterName[19] ?? '';
  } catch {
    return '';
  }
}

function isAlive(owner: Owner): boolean {
  if (!Number.isInteger(owner.pid) || owner.pid <= 0) return false;
  try {
    process.kill(owner.pid, 0);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  const started = processStartTime(owner.pid);
  return owner.started === '' || started === '' || started === owner.started;
}

function parseOwner(raw: string): Owner {
  const [pid = '', token = '', started = ''] = raw.split('\n');
  return { pid: Number(pid), token, started, raw };
}

async function readOwner(file: string): Promise<Owner | undefined> {
  try {
    return parseOwner(await readFile(file, 'utf8'));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

/** Creates `file` with `content` only if it does not exist; the content is never seen half written. */
async function createExclusive(file: string, content: string): Promise<boolean> {
  const temp = `${file}.${randomBytes(6).toString('hex')}.tmp`;
  await writeFile(temp, content, { flag: 'wx' });
  try {
    await link(temp, file);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw error;
  } finally {
    await unlink(temp).catch(() => undefined);
  }
}

async function unlinkIfExists(file: string): Promise<void> {
  await unlink(file).catch((error: NodeJS.ErrnoException) => {
    if (error.code !== 'ENOENT') throw error;
  });
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Removes a lock file whose owner is dead, if it still holds exactly `stale`. Removals are
 * serialised by a short-lived guard file, so two processes taking over the same stale lock cannot
 * remove each other's fresh one.
 */
async function removeStaleLock(lockFile: string, stale: Owner, me: string): Promise<void> {
  const guard = lockFile + GUARD_SUFFIX;
  const deadline = Date.now() + GUARD_WAIT_MS;
  while (!(await createExclusive(guard, me))) {
    const holder = await readOwner(guard);
    if (holder && !isAlive(holder)) {
      await unlinkIfExists(guard);
    } else if (Date.now() > deadline) {
      throw new DataDirLockedError(path.dirname(lockFile), holder?.pid ?? stale.pid);
    } else {
      await sleep(10);
    }
  }
  try {
    const current = await readOwner(lockFile);
    if (current?.raw === stale.raw) await unlinkIfExists(lockFile);
  } finally {
    await unlinkIfExists(guard);
  }
}

/** Creates `dir` if needed and locks it for this process; throws DataDirLockedError if held. */
export async function acquireDataDirLock(dir: string): Promise<DataDirLock> {
  const absolute = path.resolve(dir);
  await mkdir(absolute, { recursive: true });
  const lockFile = path.join(absolute, LOCK_FILE_NAME);
  const token = randomBytes(12).toString('hex');
  const content = `${process.pid}\n${token}\n${processStartTime(process.pid)}\n`;

  for (let attempt = 0; attempt < 10; attempt++) {
    if (await createExclusive(lockFile, content)) {
      let released = false;
      return {
        dir: absolute,
        async release() {
          if (released) return;
          released = true;
          const owner = await readOwner(lockFile);
          if (owner?.token === token) await unlinkIfExists(lockFile);
        },
      };
    }
    const owner = await readOwner(lockFile);
    if (owner === undefined) continue; // released between our attempt and the read: try again
    if (isAlive(owner)) throw new DataDirLockedError(absolute, owner.pid);
    await removeStaleLock(lockFile, owner, content);
  }
  const owner = await readOwner(lockFile);
  throw new DataDirLockedError(absolute, owner?.pid ?? 0);
}
