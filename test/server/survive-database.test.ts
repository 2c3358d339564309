// A killed database connection never kills the server: while 60 jobs are queued and run by real
// workers, every connection of the server to PostgreSQL is terminated every 100 ms for two
// seconds (pg_terminate_backend, 57P01 — what an operator or a failover does). The server carries
// on, and every job ends SUCCEEDED with exactly one JobSucceeded.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { createClient } from '@connectrpc/connect';
import { createGrpcTransport } from '@connectrpc/connect-node';
import { JobService, JobState } from '../../src/gen/hodei/v1/job_pb.js';
import { startInProcessServer, type InProcessServer } from '../helpers/in-process-server.js';
import { PG_ADMIN_URL } from '../helpers/env.js';
import { waitFor } from '../helpers/procs.js';

let started: InProcessServer;

beforeAll(async () => {
  started = await startInProcessServer({
    bus: 'jetstream',
    logLevel: 'silent',
    // Real workers (the package's `hodei worker`).
    overrides: { workerCommand: undefined, maxWorkers: 4 },
  });
});
afterAll(async () => {
  await started?.stop();
});

describe('surviving killed database connections', () => {
  it('60 jobs while the server’s connections are terminated every 100 ms: all succeed once', async () => {
    const jobs = createClient(JobService, createGrpcTransport({ baseUrl: started.server.url }));
    const admin = new pg.Client({ connectionString: PG_ADMIN_URL });
    await admin.connect();
    let killed = 0;
    const killer = setInterval(() => {
      void admin
        .query<{ n: number }>(
          `SELECT count(pg_terminate_backend(pid))::int AS n FROM pg_stat_activity
           WHERE datname = $1 AND pid <> pg_backend_pid()`,
          [started.t.name],
        )
        .then(
          (r) => (killed += r.rows[0]?.n ?? 0),
          () => undefined,
        );
    }, 100);
    const ids: string[] = [];
    try {
      for (let i = 0; i < 60; i += 1) {
        // A QueueJob that met a killed connection is answered with an error: the caller retries
        // with the same idempotency key, as a client would, and gets the one job.
        const id = await waitFor(`job ${i} queued`, async () => {
          try {
            const { job } = await jobs.queueJob({
              spec: { command: 'echo', args: [`job-${i}`] },
              idempotencyKey: `survive-${i}`,
            });
            return job?.id;
          } catch {
            return undefined;
          }
        });
        ids.push(id);
        await new Promise((r) => setTimeout(r, 30));
      }
    } finally {
      clearInterval(killer);
    }
    expect(killed).toBeGreaterThan(0);
    for (const id of ids) {
      await waitFor(
        `job ${id} to succeed`,
        async () => {
          const { job } = await jobs.getJob({ id }).catch(() => ({ job: undefined }));
          return job?.state === JobState.SUCCEEDED ? job : undefined;
        },
        90_000,
        100,
      );
    }
    await admin.end();
    const db = started.t.db;
    const once = await db.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM (SELECT aggregate_id FROM outbox_events
       WHERE event_type = 'JobSucceeded' GROUP BY aggregate_id HAVING count(*) = 1) once`,
    );
    expect(once.rows[0]?.n).toBe(60);
    expect((await fetch(`${started.server.url}/healthz`)).status).toBe(200);
  }, 180_000);
});
