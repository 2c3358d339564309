// Before the integration suites: check PostgreSQL and NATS answer, and build a migrated template
// database that each test file copies (CREATE DATABASE … TEMPLATE is far faster than migrating).
// Names carry the pid of the run that made them, so concurrent runs leave each other alone and a
// run cleans up only what dead runs left behind; test streams in NATS older than any run are
// deleted too.
import pg from 'pg';
import type { TestProject } from 'vitest/node';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import { createPgDb } from '../src/db/pg/pg-db.js';
import { migrate } from '../src/db/migrate.js';
import { NATS_URL, PG_ADMIN_URL, databaseUrl } from './helpers/env.js';

declare module 'vitest' {
  export interface ProvidedContext {
    templateDb: string;
  }
}

/** Streams the suites and benchmarks name for themselves (a random suffix after the prefix). */
const TEST_STREAM =
  /^(T|TAPI|TBUS|TPOISON|TPOISONAWAY|TDLQ|TCPOISON|TRELAY|TRELAYORPHAN|TDLR|CHAOS|FUZZ|BENCH|BENCHOUT)_/;
/** Older than any run of the suite: left by a run that was killed (or by a leak). */
const STALE_STREAM_MS = 30 * 60_000;

/** Deletes test streams dead runs left behind: each reserves its max bytes in JetStream, and
 * enough of them leave no room for a new stream ("insufficient storage resources"). */
async function sweepStaleStreams(nc: NatsConnection): Promise<void> {
  const jsm = await jetstreamManager(nc);
  const stale: string[] = [];
  for await (const stream of jsm.streams.list()) {
    const age = Date.now() - Date.parse(stream.created);
    if (TEST_STREAM.test(stream.config.name) && age > STALE_STREAM_MS)
      stale.push(stream.config.name);
  }
  for (const name of stale) await jsm.streams.delete(name).catch(() => false);
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const admin = new pg.Client({ connectionString: PG_ADMIN_URL });
  try {
    await admin.connect();
  } catch (error) {
    throw new Error(`PostgreSQL is not reachable at ${PG_ADMIN_URL}: ${String(error)}`);
  }
  const existing = await admin.query<{ datname: string }>(
    "SELECT datname FROM pg_database WHERE datname LIKE 'hodei\\_t\\_%' OR datname LIKE 'hodei\\_tpl\\_%'",
  );
  for (const { datname } of existing.rows) {
    const pid = Number(/^hodei_(?:t|tpl)_(\d+)/.exec(datname)?.[1]);
    if (!pid || !alive(pid) || pid === process.pid) {
      await admin.query(`DROP DATABASE IF EXISTS "${datname}" WITH (FORCE)`);
    }
  }
  const template = `hodei_tpl_${process.pid}`;
  await admin.query(`CREATE DATABASE "${template}"`);
  const db = createPgDb({ connectionString: databaseUrl(template) });
  await migrate(db);
  await db.close();
  await admin.end();
  project.provide('templateDb', template);

  let nc;
  try {
    nc = await connect({ servers: NATS_URL, timeout: 3000 });
  } catch (error) {
    throw new Error(`NATS is not reachable at ${NATS_URL}: ${String(error)}`);
  }
  try {
    await sweepStaleStreams(nc);
  } finally {
    await nc.close();
  }

  return async () => {
    const client = new pg.Client({ connectionString: PG_ADMIN_URL });
    await client.connect();
    await client.query(`DROP DATABASE IF EXISTS "${template}" WITH (FORCE)`);
    await client.end();
  };
}
