// Retention benchmark: storage per job over a 100,000-job run, with the retention loop running
// and without it, on PostgreSQL (the table-bus deployment, so the bus tables count too).
// Real jobs run at tens per second here, so the storage each job leaves is written directly, in
// batches, through the statements the platform uses where they are cheap to drive (job insert,
// outbox writer, table-bus publish with its fan-out, subject filter) and plain SQL for the rest:
// per job, the job row SUCCEEDED with one attempt, its 8 events in the outbox and on the bus
// (acked by the consumer), its ExecutionSaga (4 steps) and about 1 KiB of output. The retention
// loop is the real one (safety/retention.ts), with ages of a few seconds instead of days; storage
// is pg_total_relation_size after autovacuum has had its usual chance (no VACUUM by the bench).
// Prints one JSON line per checkpoint: transient storage (outbox, bus, sagas, output) must stay
// flat with retention, record storage (jobs, attempts) grows by the same bytes per job.
// Usage: npm run bench:retention [-- --jobs 100000 --every 10000]
import pg from 'pg';
import { randomBytes } from 'node:crypto';
import { createPgDb } from '../src/db/pg/pg-db.js';
import { migrate } from '../src/db/migrate.js';
import type { Db } from '../src/db/db.js';
import { insertJobStatement } from '../src/jobs/job-sql.js';
import { runStatement } from '../src/db/statement.js';
import { createOutboxWriter } from '../src/outbox/outbox-writer.js';
import { EVENT_AGGREGATES, event, subjectFor, type NewEvent } from '../src/events/catalog.js';
import { encodeEvent } from '../src/events/codec.js';
import { insertMessages } from '../src/bus/postgres/publish-sql.js';
import { upsertConsumer } from '../src/bus/postgres/consumer-sql.js';
import { filterToRegex } from '../src/bus/postgres/subject-filter.js';
import { createRetention } from '../src/safety/retention.js';
import { newId } from '../src/shared/ids.js';
import { createLogger } from '../src/shared/logger.js';
import { NO_RETRIES } from '../src/jobs/retry-policy.js';
import { arg } from './args.js';

const JOBS = Number(arg('jobs', '100000'));
const EVERY = Number(arg('every', '10000'));
const BATCH = 500;
const AGE_MS = 3000;
const PG_ADMIN = process.env.HODEI_BENCH_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const PREFIX = 'hodei.events';
const outbox = createOutboxWriter({ subjectPrefix: PREFIX });
const OUTPUT = randomBytes(768).toString('base64'); // ~1 KiB of text per job

const TRANSIENT = [
  'outbox_events',
  'bus_messages',
  'bus_deliveries',
  'saga_instances',
  'saga_steps',
  'job_output',
];
const RECORD = ['jobs', 'job_attempts'];

async function bytesOf(db: Db, tables: string[]): Promise<number> {
  const r = await db.query<{ n: string }>(
    'SELECT sum(pg_total_relation_size(t::regclass))::bigint AS n FROM unnest($1::text[]) t',
    [tables],
  );
  return Number(r.rows[0]?.n ?? 0);
}

function eventsOf(jobId: string, correlationId: string, workerId: string): NewEvent[] {
  const ref = { jobId, attempt: 1 };
  const sagaId = newId();
  const saga = { sagaId, sagaType: 'execution' };
  return [
    event('JobQueued', jobId, correlationId, ref),
    event('SagaStarted', sagaId, correlationId, saga),
    event('JobAssigned', jobId, correlationId, { ...ref, workerId }),
    event('JobStarted', jobId, correlationId, { ...ref, workerId }),
    event('SagaCompleted', sagaId, correlationId, saga),
    event('JobSucceeded', jobId, correlationId, { ...ref, workerId, exitCode: 0 }),
    event('WorkerReady', workerId, correlationId, { workerId }),
    event('WorkerReady', workerId, correlationId, { workerId }),
  ];
}

/** Writes `n` finished jobs with everything a job leaves behind, in one transaction. */
async function writeJobs(db: Db, n: number): Promise<void> {
  const workerId = newId();
  await db.transaction(async (tx) => {
    const ids: string[] = [];
    const all: NewEvent[] = [];
    for (let i = 0; i < n; i += 1) {
      const id = newId();
      ids.push(id);
      const spec = {
        name: '',
        command: 'sh',
        args: ['-c', 'echo hello'],
        env: {},
        workingDir: '',
        timeoutMs: 0,
        maxAttempts: 3,
        labels: {},
        provider: '',
        retry: NO_RETRIES,
        secretNames: [],
      };
      await runStatement(
        tx,
        insertJobStatement({ id, spec, idempotencyKey: null, correlationId: id }),
      );
      all.push(...eventsOf(id, id, workerId));
    }
    await outbox.append(tx, all);
    // The relay's work: every event of the batch published (this bench is the only writer).
    await tx.query('UPDATE outbox_events SET published_at = now() WHERE published_at IS NULL');
    await insertMessages(
      tx,
      all.map((e) => {
        const eventId = newId();
        return {
          id: eventId,
          subject: subjectFor(PREFIX, e.type),
          data: encodeEvent({
            eventId,
            type: e.type,
            aggregateType: EVENT_AGGREGATES[e.type],
            occurredAt: new Date().toISOString(),
            aggregateId: e.aggregateId,
            correlationId: e.correlationId,
            payload: e.payload,
          }),
          headers: {},
        };
      }),
    );
    await tx.query(
      "UPDATE bus_deliveries SET state = 'acked', settled_at = now() WHERE state = 'pending'",
    );
    await tx.query(
      `UPDATE jobs SET state = 'SUCCEEDED', exit_code = 0, worker_id = $2, assigned_at = now(),
         started_at = now(), finished_at = now() WHERE id = ANY($1::uuid[])`,
      [ids, workerId],
    );
    await tx.query(
      `INSERT INTO job_attempts (job_id, attempt, outcome, exit_code, worker_id, assigned_at, started_at)
       SELECT id, 1, 'SUCCEEDED', 0, $2, now(), now() FROM unnest($1::uuid[]) id`,
      [ids, workerId],
    );
    await tx.query(
      `WITH s AS (
         INSERT INTO saga_instances (id, saga_type, state, correlation_id, context, finished_at)
         SELECT gen_random_uuid(), 'execution', 'COMPLETED', id::text,
           jsonb_build_object('jobId', id, 'attempt', 1, 'workerId', $2::text), now()
         FROM unnest($1::uuid[]) id RETURNING id, correlation_id)
       INSERT INTO saga_steps (saga_id, step_index, name, state, correlation_id, output, finished_at)
       SELECT s.id, n, (ARRAY['ValidateJobState','ReserveWorker','UpdateJobToAssigned','SendRunJobCommand'])[n + 1],
         'COMPLETED', s.correlation_id, jsonb_build_object('workerId', $2::text), now()
       FROM s CROSS JOIN generate_series(0, 3) n`,
      [ids, workerId],
    );
    await tx.query(
      `INSERT INTO job_output (job_id, attempt, part, stream, data, worker_id, correlation_id)
       SELECT id, 1, 0, 'stdout', convert_to($2, 'UTF8'), $3, id::text FROM unnest($1::uuid[]) id`,
      [ids, OUTPUT, workerId],
    );
  });
}

async function run(withRetention: boolean): Promise<void> {
  const name = `hodei_bench_retention_${process.pid}_${withRetention ? 'on' : 'off'}`;
  const admin = new pg.Client({ connectionString: PG_ADMIN });
  await admin.connect();
  await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
  await admin.query(`CREATE DATABASE ${name}`);
  const url = new URL(PG_ADMIN);
  url.pathname = `/${name}`;
  const db = createPgDb({ connectionString: url.toString() });
  try {
    await migrate(db);
    await upsertConsumer(db, {
      name: 'saga-processor',
      filterSubject: `${PREFIX}.>`,
      filterRegex: filterToRegex(`${PREFIX}.>`),
      ackWaitMs: 30_000,
      maxDeliver: 3,
    });
    const retention = createRetention({
      db,
      logger: createLogger({ level: process.env.HODEI_LOG_LEVEL ?? 'warn' }),
      intervalMs: 1000,
      eventsMs: withRetention ? AGE_MS : 0,
      jobOutputMs: withRetention ? AGE_MS : 0,
      tableBus: true,
    });
    if (withRetention) await retention.start();
    const started = Date.now();
    for (let done = 0; done < JOBS;) {
      const n = Math.min(BATCH, JOBS - done);
      await writeJobs(db, n);
      done += n;
      if (done % EVERY === 0 || done === JOBS) {
        const transient = await bytesOf(db, TRANSIENT);
        const record = await bytesOf(db, RECORD);
        const rows = await db.query<{ n: number }>(
          'SELECT (SELECT count(*) FROM outbox_events)::int AS n',
        );
        console.log(
          JSON.stringify({
            bench: 'retention',
            retention: withRetention ? `${AGE_MS / 1000}s` : 'off',
            jobs: done,
            seconds: Math.round((Date.now() - started) / 100) / 10,
            transient_mb: Math.round(transient / 1e5) / 10,
            transient_bytes_per_job: Math.round(transient / done),
            outbox_rows: rows.rows[0]?.n,
            record_mb: Math.round(record / 1e5) / 10,
            record_bytes_per_job: Math.round(record / done),
          }),
        );
      }
    }
    await retention.stop();
  } finally {
    await db.close();
    await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    await admin.end();
  }
}

const only = arg('only', '');
if (only !== 'on') await run(false);
if (only !== 'off') await run(true);
