// Before the integration suites: check PostgreSQL and NATS answer, and build a migrated template
// database that each test file copies (CREATE DATABASE … TEMPLATE is ~10x faster than migrating).
import pg from 'pg';
import { connect } from '@nats-io/transport-node';
import { createPgDb } from '../src/db/pg/pg-db.js';
import { migrate } from '../src/db/migrate.js';
import { NATS_URL, PG_ADMIN_URL, TEMPLATE_DB, databaseUrl } from './helpers/env.js';

export default async function setup(): Promise<void> {
  const admin = new pg.Client({ connectionString: PG_ADMIN_URL });
  try {
    await admin.connect();
  } catch (error) {
    throw new Error(`PostgreSQL is not reachable at ${PG_ADMIN_URL}: ${String(error)}`);
  }
  const stale = await admin.query<{ datname: string }>(
    "SELECT datname FROM pg_database WHERE datname LIKE 'hodei_t_%' OR datname = $1",
    [TEMPLATE_DB],
  );
  for (const row of stale.rows) {
    await admin.query(`DROP DATABASE IF EXISTS "${row.datname}" WITH (FORCE)`);
  }
  await admin.query(`CREATE DATABASE "${TEMPLATE_DB}"`);
  const db = createPgDb({ connectionString: databaseUrl(TEMPLATE_DB) });
  await migrate(db);
  await db.close();
  await admin.end();

  try {
    const nc = await connect({ servers: NATS_URL, timeout: 3000 });
    await nc.close();
  } catch (error) {
    throw new Error(`NATS is not reachable at ${NATS_URL}: ${String(error)}`);
  }
}
