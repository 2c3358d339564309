// Runs the Db contract against embedded PGlite (in memory), and checks what only the embedded
// adapter has: a data directory that survives close + reopen and is locked to one process.
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createPgliteDb } from '../../src/db/pglite/pglite-db.js';
import { LOCK_FILE_NAME, acquireDataDirLock } from '../../src/db/pglite/data-dir-lock.js';
import { migrate } from '../../src/db/migrate.js';
import { HodeiError } from '../../src/shared/errors.js';
import { describeDbContract } from './db-contract.js';
import { spawnLockHolder, type LockHolder } from './lock-holder.js';

describeDbContract('pglite', async () => {
  const db = await createPgliteDb();
  await migrate(db);
  return { db, cleanup: () => db.close() };
});

describe('PGlite data directory', () => {
  const cleanups: (() => Promise<void>)[] = [];
  const tempDir = async (): Promise<string> => {
    const dir = await mkdtemp(path.join(tmpdir(), 'hodei-pglite-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    return path.join(dir, 'data'); // not created yet: createPgliteDb must create it
  };
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  it('keeps committed data across close and reopen, and releases the lock on close', async () => {
    const dir = await tempDir();
    const first = await createPgliteDb({ dataDir: dir });
    await migrate(first);
    await first.query(
      `INSERT INTO jobs (id, command, correlation_id, state) VALUES ($1, 'echo', 'c-1', 'PENDING')`,
      ['00000000-0000-4000-8000-000000000001'],
    );
    await first.close();
    await expect(readFile(path.join(dir, LOCK_FILE_NAME))).rejects.toMatchObject({
      code: 'ENOENT',
    });

    const second = await createPgliteDb({ dataDir: dir });
    cleanups.push(() => second.close());
    expect(await migrate(second)).toEqual([]);
    const { rows } = await second.query<{ command: string }>('SELECT command FROM jobs');
    expect(rows).toEqual([{ command: 'echo' }]);
  });

  it('refuses a second open of a directory that is open in this process', async () => {
    const dir = await tempDir();
    const first = await createPgliteDb({ dataDir: dir });
    cleanups.push(() => first.close());
    const error = await createPgliteDb({ dataDir: dir }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(HodeiError);
    expect(error).toMatchObject({ code: 'DATA_DIR_LOCKED' });
    expect((error as Error).message).toBe(
      `data directory ${dir} is in use by another hodei process (pid ${process.pid})`,
    );
    expect((await first.query<{ one: number }>('SELECT 1 AS one')).rows).toEqual([{ one: 1 }]);
  });

  it('fails at once while another process holds the directory, and takes over once it died', async () => {
    const dir = await tempDir();
    const setup = await createPgliteDb({ dataDir: dir });
    await migrate(setup);
    await setup.query(`CREATE TABLE kept (v text); INSERT INTO kept VALUES ('before')`);
    await setup.close();

    let holder: LockHolder | undefined = await spawnLockHolder(dir);
    cleanups.push(async () => holder?.kill());
    const started = Date.now();
    await expect(createPgliteDb({ dataDir: dir })).rejects.toMatchObject({
      code: 'DATA_DIR_LOCKED',
      message: `data directory ${dir} is in use by another hodei process (pid ${holder.pid})`,
    });
    expect(Date.now() - started).toBeLessThan(1000);

    await holder.kill(); // SIGKILL: the lock file stays behind with a dead pid
    holder = undefined;
    expect(await readFile(path.join(dir, LOCK_FILE_NAME), 'utf8')).toMatch(/^\d+\n/);
    const reopened = await createPgliteDb({ dataDir: dir });
    cleanups.push(() => reopened.close());
    expect((await reopened.query('SELECT v FROM kept')).rows).toEqual([{ v: 'before' }]);
  });

  it('lets exactly one of many concurrent takeovers of a stale lock win', async () => {
    const dir = await tempDir();
    const holder = await spawnLockHolder(dir);
    await holder.kill();
    const attempts = await Promise.allSettled(
      Array.from({ length: 8 }, () => acquireDataDirLock(dir)),
    );
    const won = attempts.filter((a) => a.status === 'fulfilled');
    expect(won).toHaveLength(1);
    for (const attempt of attempts) {
      if (attempt.status === 'rejected') {
        expect(attempt.reason).toMatchObject({ code: 'DATA_DIR_LOCKED' });
      }
    }
    await won[0]!.value.release();
  });
});
