// One database suite, two adapters: a fresh migrated PostgreSQL database (copied from the run's
// template) or a fresh migrated in-memory PGlite. PGlite is one connection, so `open()` hands back
// the same Db there (a "second process" shares it).
import type { Db, Queryable } from '../../src/db/db.js';
import { createPgliteDb } from '../../src/db/pglite/pglite-db.js';
import { migrate } from '../../src/db/migrate.js';
import { createTestDatabase } from './db.js';

export type DbKind = 'postgres' | 'pglite';
export const DB_KINDS: readonly DbKind[] = ['postgres', 'pglite'];

export interface AnyTestDatabase {
  db: Db;
  open(): Db;
  drop(): Promise<void>;
}

export async function createAnyTestDatabase(kind: DbKind): Promise<AnyTestDatabase> {
  if (kind === 'postgres') return createTestDatabase();
  const db = await createPgliteDb({});
  await migrate(db);
  return { db, open: () => db, drop: () => db.close() };
}

/** The row `sql` returns for `id` (its $1); throws naming `what` when there is none. */
export async function rowById<T extends Record<string, unknown>>(
  db: Queryable,
  sql: string,
  id: string,
  what: string,
): Promise<T> {
  const row = (await db.query<T>(sql, [id])).rows[0];
  if (!row) throw new Error(`${what} ${id} not found`);
  return row;
}
