// Runs the Db contract against the PostgreSQL adapter, on a fresh database copied from the
// migrated template; and its prepared statements.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { createPgDb } from '../../src/db/pg/pg-db.js';
import type { Db } from '../../src/db/db.js';
import { describeDbContract } from './db-contract.js';

describeDbContract('pg', async () => {
  const database = await createTestDatabase();
  return { db: database.db, cleanup: () => database.drop() };
});

describe('pg: prepared statements', () => {
  let database: TestDatabase;
  beforeAll(async () => {
    database = await createTestDatabase();
  });
  afterAll(() => database.drop());

  const preparedOnConnection = (db: Db) =>
    db.transaction(async (tx) => {
      const sum = await tx.query<{ n: number }>('SELECT $1::int + 1 AS n', [41]);
      const prepared = await tx.query<{ statement: string }>(
        'SELECT statement FROM pg_prepared_statements',
      );
      return { n: sum.rows[0]?.n, statements: prepared.rows.map((r) => r.statement) };
    });

  it('a parameterised statement is prepared once per connection under a name, and runs again', async () => {
    const first = await preparedOnConnection(database.db);
    expect(first).toEqual({ n: 42, statements: ['SELECT $1::int + 1 AS n'] });
    expect((await preparedOnConnection(database.db)).n).toBe(42);
  });

  it('a statement that failed to prepare is prepared again next time, and then runs', async () => {
    const text = 'SELECT count(*)::int AS n FROM prepare_later WHERE n <> $1';
    // Fails at Parse on every connection of the pool that tries it: the table is not there yet.
    for (let i = 0; i < 3; i += 1) {
      await expect(database.db.query(text, [0])).rejects.toThrow(/prepare_later/);
    }
    await database.db.query('CREATE TABLE prepare_later (n int)');
    for (let i = 0; i < 3; i += 1) {
      expect((await database.db.query<{ n: number }>(text, [0])).rows).toEqual([{ n: 0 }]);
    }
  });

  it('HODEI_DATABASE_PREPARE=off (prepare: false) sends every statement unnamed', async () => {
    const unprepared = createPgDb({ connectionString: database.url, prepare: false });
    try {
      expect(await preparedOnConnection(unprepared)).toEqual({ n: 42, statements: [] });
    } finally {
      await unprepared.close();
    }
  });
});
