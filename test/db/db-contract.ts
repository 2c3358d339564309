// The Db port's contract: one suite of behaviours every adapter (pg, PGlite) must show, registered
// by describeDbContract with a factory that opens a fresh, migrated database.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Db } from '../../src/db/db.js';
import { loadMigrations, migrate } from '../../src/db/migrate.js';

export interface DbUnderTest {
  db: Db;
  cleanup(): Promise<void>;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Resolves with the payloads received on `channel` so far, after a fenced, committed NOTIFY. */
async function drainAfterFence(db: Db, channel: string, received: string[]): Promise<string[]> {
  await db.query('SELECT pg_notify($1, $2)', [channel, 'fence']);
  const deadline = Date.now() + 5000;
  while (!received.includes('fence')) {
    if (Date.now() > deadline) throw new Error(`fence NOTIFY on ${channel} never arrived`);
    await sleep(5);
  }
  return received.filter((p) => p !== 'fence');
}

export function describeDbContract(adapter: string, open: () => Promise<DbUnderTest>): void {
  describe(`Db contract: ${adapter}`, () => {
    let subject: DbUnderTest;
    let db: Db;
    let tables = 0;
    /** Each test gets its own table, so tests sharing the database cannot see each other. */
    const table = async (columns: string): Promise<string> => {
      const name = `contract_t${++tables}`;
      await db.query(`CREATE TABLE ${name} (${columns})`);
      return name;
    };

    beforeAll(async () => {
      subject = await open();
      db = subject.db;
    });
    afterAll(async () => {
      await subject?.cleanup();
    });

    it('round-trips parameters: int8 as number, jsonb parsed, timestamptz as Date, bytea, null', async () => {
      const t = await table('n int8, doc jsonb, at timestamptz, data bytea, note text');
      const at = new Date('2024-05-06T07:08:09.123Z');
      const doc = { a: 1, list: ['x', { y: true }], nested: { z: null } };
      const insert = await db.query(
        `INSERT INTO ${t} (n, doc, at, data, note) VALUES ($1, $2, $3, $4, $5)`,
        [9_007_199_254_740_991, JSON.stringify(doc), at, Buffer.from([0, 1, 254, 255]), null],
      );
      expect(insert.rowCount).toBe(1);
      const { rows } = await db.query<{
        n: unknown;
        doc: unknown;
        at: unknown;
        data: unknown;
        note: unknown;
        big: unknown;
      }>(`SELECT n, doc, at, data, note, (n - 1)::int8 AS big FROM ${t}`);
      expect(rows).toHaveLength(1);
      const row = rows[0]!;
      expect(row.n).toBe(9_007_199_254_740_991);
      expect(row.big).toBe(9_007_199_254_740_990);
      expect(row.doc).toEqual(doc);
      expect(row.at).toBeInstanceOf(Date);
      expect((row.at as Date).toISOString()).toBe(at.toISOString());
      expect(row.data).toBeInstanceOf(Uint8Array);
      expect([...(row.data as Uint8Array)]).toEqual([0, 1, 254, 255]);
      expect(row.note).toBeNull();
    });

    it('runs every statement of a multi-statement query without parameters', async () => {
      // Migration files are run this way. What such a call returns differs between adapters
      // (node-postgres gives one result per statement), so only the effect is part of the contract.
      await db.query(
        `CREATE TABLE contract_multi (id int8 PRIMARY KEY);
         INSERT INTO contract_multi VALUES (1), (2);
         INSERT INTO contract_multi VALUES (3)`,
      );
      const { rows } = await db.query<{ n: number }>('SELECT count(*) AS n FROM contract_multi');
      expect(rows).toEqual([{ n: 3 }]);
    });

    it('commits a transaction and returns what its function returned', async () => {
      const t = await table('id int PRIMARY KEY');
      const value = await db.transaction(async (tx) => {
        await tx.query(`INSERT INTO ${t} VALUES ($1), ($2)`, [1, 2]);
        return 'done';
      });
      expect(value).toBe('done');
      expect((await db.query(`SELECT id FROM ${t} ORDER BY id`)).rows).toEqual([
        { id: 1 },
        { id: 2 },
      ]);
    });

    it('a transaction that throws leaves nothing behind and rethrows', async () => {
      const t = await table('id int PRIMARY KEY');
      const failure = new Error('step failed');
      await expect(
        db.transaction(async (tx) => {
          await tx.query(`INSERT INTO ${t} VALUES ($1)`, [1]);
          await tx.query(`INSERT INTO ${t} VALUES ($1)`, [2]);
          throw failure;
        }),
      ).rejects.toBe(failure);
      expect((await db.query(`SELECT * FROM ${t}`)).rowCount).toBe(0);
    });

    it('concurrent read-modify-write transactions do not interleave', async () => {
      const t = await table('id int PRIMARY KEY, n int NOT NULL');
      await db.query(`INSERT INTO ${t} VALUES (1, 0)`);
      const increments = Array.from({ length: 5 }, () =>
        db.transaction(async (tx) => {
          const { rows } = await tx.query<{ n: number }>(
            `SELECT n FROM ${t} WHERE id = 1 FOR UPDATE`,
          );
          await sleep(10);
          await tx.query(`UPDATE ${t} SET n = $1 WHERE id = 1`, [rows[0]!.n + 1]);
        }),
      );
      await Promise.all(increments);
      expect((await db.query(`SELECT n FROM ${t}`)).rows).toEqual([{ n: 5 }]);
    });

    it('work outside a transaction never lands inside it (and is not rolled back with it)', async () => {
      const t = await table('id text PRIMARY KEY');
      let inside!: () => void;
      const started = new Promise<void>((resolve) => (inside = resolve));
      const failing = db.transaction(async (tx) => {
        await tx.query(`INSERT INTO ${t} VALUES ($1)`, ['rolled-back']);
        inside();
        await sleep(50);
        throw new Error('abort');
      });
      await started;
      const outside = db.query(`INSERT INTO ${t} VALUES ($1)`, ['outside']);
      const other = db.transaction((tx) => tx.query(`INSERT INTO ${t} VALUES ($1)`, ['other']));
      await expect(failing).rejects.toThrow('abort');
      await Promise.all([outside, other]);
      const { rows } = await db.query<{ id: string }>(`SELECT id FROM ${t} ORDER BY id`);
      expect(rows.map((r) => r.id)).toEqual(['other', 'outside']);
    });

    it('FOR UPDATE SKIP LOCKED claims give concurrent claimers disjoint rows', async () => {
      const t = await table('id int PRIMARY KEY, owner text');
      await db.query(`INSERT INTO ${t} (id) SELECT generate_series(1, 6)`);
      const claim = (owner: string): Promise<number[]> =>
        db.transaction(async (tx) => {
          const { rows } = await tx.query<{ id: number }>(
            `UPDATE ${t} SET owner = $1 WHERE id IN (
               SELECT id FROM ${t} WHERE owner IS NULL ORDER BY id LIMIT 3 FOR UPDATE SKIP LOCKED)
             RETURNING id`,
            [owner],
          );
          await sleep(30); // hold the row locks while the other claimer runs
          return rows.map((r) => r.id).sort((a, b) => a - b);
        });
      const [a, b] = await Promise.all([claim('a'), claim('b')]);
      expect(a).toHaveLength(3);
      expect(b).toHaveLength(3);
      expect([...a, ...b].sort((x, y) => x - y)).toEqual([1, 2, 3, 4, 5, 6]);
      const left = await db.query(`SELECT id FROM ${t} WHERE owner IS NULL FOR UPDATE SKIP LOCKED`);
      expect(left.rowCount).toBe(0);
    });

    it('LISTEN/NOTIFY delivers a payload after commit, never before it, never on rollback', async () => {
      const channel = 'hodei_Contract'; // mixed case: the exact name must be kept
      const received: string[] = [];
      const unlisten = await db.listen(channel, (payload) => received.push(payload));
      try {
        await db.transaction(async (tx) => {
          await tx.query('SELECT pg_notify($1, $2)', [channel, 'committed']);
          await sleep(50);
          expect(received).toEqual([]);
        });
        await expect(
          db.transaction(async (tx) => {
            await tx.query('SELECT pg_notify($1, $2)', [channel, 'rolled-back']);
            throw new Error('abort');
          }),
        ).rejects.toThrow('abort');
        expect(await drainAfterFence(db, channel, received)).toEqual(['committed']);
      } finally {
        await unlisten();
      }
      await db.query('SELECT pg_notify($1, $2)', [channel, 'after-unlisten']);
      await sleep(100);
      expect(received).not.toContain('after-unlisten');
    });

    it('migrate() on a migrated database applies nothing', async () => {
      expect(await migrate(db)).toEqual([]);
      const { rows } = await db.query<{ n: number }>(
        'SELECT count(*)::int AS n FROM schema_migrations',
      );
      expect(rows[0]!.n).toBe((await loadMigrations()).length);
    });

    it('INSERT … ON CONFLICT DO NOTHING reports rowCount 0 for a duplicate', async () => {
      const t = await table('key text PRIMARY KEY');
      const sql = `INSERT INTO ${t} VALUES ($1) ON CONFLICT DO NOTHING`;
      expect((await db.query(sql, ['k'])).rowCount).toBe(1);
      expect((await db.query(sql, ['k'])).rowCount).toBe(0);
    });

    it('a state-guarded UPDATE reports whether it changed a row', async () => {
      const t = await table('id int PRIMARY KEY, state text NOT NULL');
      await db.query(`INSERT INTO ${t} VALUES (1, 'PENDING')`);
      const move = `UPDATE ${t} SET state = $3 WHERE id = $1 AND state = $2`;
      expect((await db.query(move, [1, 'PENDING', 'ASSIGNED'])).rowCount).toBe(1);
      expect((await db.query(move, [1, 'PENDING', 'ASSIGNED'])).rowCount).toBe(0);
    });

    it('a unique violation rejects with SQLSTATE 23505 in error.code', async () => {
      const t = await table('id int PRIMARY KEY');
      await db.query(`INSERT INTO ${t} VALUES (1)`);
      await expect(db.query(`INSERT INTO ${t} VALUES ($1)`, [1])).rejects.toMatchObject({
        code: '23505',
      });
    });
  });
}
