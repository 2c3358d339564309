// withDb: a fresh database per test file, copied from the migrated template, dropped afterwards.
import pg from 'pg';
import { randomBytes } from 'node:crypto';
import { createPgDb } from '../../src/db/pg/pg-db.js';
import type { Db } from '../../src/db/db.js';
import { inject } from 'vitest';
import { PG_ADMIN_URL, databaseUrl } from './env.js';

export interface TestDatabase {
  name: string;
  url: string;
  db: Db;
  /** Opens another pool on the same database (a second server, say). */
  open(): Db;
  drop(): Promise<void>;
}

async function admin<T>(fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: PG_ADMIN_URL });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

export async function createTestDatabase(): Promise<TestDatabase> {
  const template = inject('templateDb');
  // Same pid as the run's template, so global setup knows whose it is.
  const name = `hodei_t_${template.replace('hodei_tpl_', '')}_${randomBytes(6).toString('hex')}`;
  await admin((c) => c.query(`CREATE DATABASE "${name}" TEMPLATE "${template}"`));
  const url = databaseUrl(name);
  const opened: Db[] = [];
  const open = (): Db => {
    const db = createPgDb({ connectionString: url });
    opened.push(db);
    return db;
  };
  const db = open();
  return {
    name,
    url,
    db,
    open,
    async drop() {
      await Promise.all(opened.map((d) => d.close().catch(() => undefined)));
      await admin((c) => c.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`));
    },
  };
}
