// The API fuzz suite in the test run: a few thousand generated requests (bench/fuzz/fuzz-api.ts),
// well-formed and malformed, over Connect JSON and gRPC, against a real server on PostgreSQL and
// NATS. Every answer is OK or a client-error code (INVALID_ARGUMENT naming a field); rejected
// requests store nothing (the jobs table holds exactly the jobs QueueJob said it queued, each with
// one JobQueued event); the server's memory stays within a bound; and it still runs the next
// `echo`. The seed is printed, and HODEI_FUZZ_SEED replays a run.
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { waitFor } from '../helpers/procs.js';
import { runFuzz } from '../../bench/fuzz/fuzz-api.js';
import { JobState } from '../../src/gen/hodei/v1/job_pb.js';
import type { Db } from '../../src/db/db.js';

/** The server's resident memory after the run stays under this (it is ~80 MB idle, and the
 * run sends requests of up to 4 MiB, 8 at a time). */
const RSS_BOUND_MB = 400;
const RUNS = 3000;

let server: TestServer;
let db: Db;

function rssMb(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0) / 1024;
}

beforeAll(async () => {
  server = await startTestServer({ env: { HODEI_MAX_WORKERS: '2' } });
  db = await server.openDb();
}, 60_000);
afterAll(async () => {
  await db?.close();
  await server?.cleanup();
});

it(`answers ${RUNS} generated requests with OK or a client error, stores only what it accepted, and still runs echo`, async () => {
  const seed = Number(process.env.HODEI_FUZZ_SEED ?? Date.now() % 2 ** 31);
  const figures = await runFuzz({ url: server.url, runs: RUNS, seed, concurrency: 8 });
  const context = `seed ${seed} (HODEI_FUZZ_SEED=${seed} replays it); answers ${JSON.stringify(figures.byCode)}`;
  expect(figures.violations.slice(0, 12), context).toEqual([]);
  expect(figures.requests).toBe(RUNS);
  expect(figures.byTransport.grpc).toBeGreaterThan(RUNS / 4);
  expect(figures.byTransport['connect-json']).toBeGreaterThan(RUNS / 4);
  // Some of each: accepted jobs, and refusals.
  expect(figures.byCode.ok ?? 0, context).toBeGreaterThan(RUNS / 20);
  expect(figures.byCode.InvalidArgument ?? 0, context).toBeGreaterThan(RUNS / 10);

  // Nothing but what was accepted was stored, each job with its one JobQueued event.
  const rows = await db.query<{ id: string }>('SELECT id FROM jobs');
  expect(new Set(rows.rows.map((r) => r.id))).toEqual(figures.acceptedJobIds);
  const queued = await db.query<{ n: string }>(
    "SELECT count(*)::text AS n FROM outbox_events WHERE event_type = 'JobQueued'",
  );
  expect(Number(queued.rows[0]?.n)).toBe(figures.acceptedJobIds.size);

  const rss = rssMb(server.proc.pid!);
  expect(rss, `server RSS ${rss.toFixed(0)} MB after the run`).toBeLessThan(RSS_BOUND_MB);

  // The accepted jobs are cancelled, and the server runs the next echo.
  for (const id of figures.acceptedJobIds) await server.jobs.cancelJob({ id });
  const { job } = await server.jobs.queueJob({
    spec: { command: 'echo', args: ['after the fuzz'] },
  });
  await waitFor(
    'the echo after the fuzz to succeed',
    async () => {
      const { job: now } = await server.jobs.getJob({ id: job!.id });
      return now?.state === JobState.SUCCEEDED ? true : undefined;
    },
    30_000,
  );
}, 240_000);
