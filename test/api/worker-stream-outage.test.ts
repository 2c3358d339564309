// A worker's reports survive the database going away: its connections killed over and over while
// it sends output, the server holds the stream and writes again once the database answers, so
// every byte is stored exactly once and the result is recorded.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { createClient } from '@connectrpc/connect';
import { createGrpcTransport } from '@connectrpc/connect-node';
import { waitFor } from '../helpers/procs.js';
import type { TestDatabase } from '../helpers/db.js';
import { PG_ADMIN_URL } from '../helpers/env.js';
import { handDrivenWorker, startInProcessServer } from '../helpers/in-process-server.js';
import type { RunningServer } from '../../src/server/running-server.js';
import { JobService, JobState, LogStream } from '../../src/gen/hodei/v1/job_pb.js';
import { RunOutcome } from '../../src/gen/hodei/v1/worker_pb.js';

let t: TestDatabase;
let server: RunningServer;
let stopServer: () => Promise<void>;

beforeAll(async () => {
  const started = await startInProcessServer({ bus: 'jetstream', logLevel: 'silent' });
  ({ t, server } = started);
  stopServer = started.stop;
});
afterAll(async () => {
  await stopServer?.();
});

/** Kills every connection to the test database but its own. */
async function killConnections(admin: pg.Client): Promise<number> {
  const killed = await admin.query<{ n: number }>(
    `SELECT count(pg_terminate_backend(pid))::int AS n FROM pg_stat_activity
     WHERE datname = $1 AND pid <> pg_backend_pid()`,
    [t.name],
  );
  return killed.rows[0]?.n ?? 0;
}

describe('worker stream during a database outage', () => {
  it('output sent while its connections are killed is stored once, in order; the result lands', async () => {
    const jobs = createClient(JobService, createGrpcTransport({ baseUrl: server.url }));
    const admin = new pg.Client({ connectionString: PG_ADMIN_URL });
    await admin.connect();
    const worker = await handDrivenWorker(t.db, server.url);
    const { connection } = worker;
    try {
      const { job } = await jobs.queueJob({ spec: { command: 'true' } });
      const jobId = job?.id ?? '';
      expect((await worker.next()).body.case).toBe('run');
      connection.send({ case: 'ack', value: { jobId, attempt: 1 } });
      await waitFor('RUNNING', async () => {
        const { job: current } = await jobs.getJob({ id: jobId });
        return current?.state === JobState.RUNNING || undefined;
      });

      let killed = 0;
      const lines: string[] = [];
      for (let i = 0; i < 200; i += 1) {
        lines.push(`line ${i}\n`);
        connection.send({
          case: 'output',
          value: {
            jobId,
            attempt: 1,
            chunks: [{ stream: LogStream.STDOUT, data: Buffer.from(lines[i]!) }],
          },
        });
        if (i % 25 === 10) killed += await killConnections(admin);
        await new Promise((r) => setTimeout(r, 5));
      }
      connection.send({
        case: 'result',
        value: { jobId, attempt: 1, outcome: RunOutcome.EXITED, exitCode: 0 },
      });
      await waitFor(
        'the job to succeed',
        async () => {
          const { job: current } = await jobs
            .getJob({ id: jobId })
            .catch(() => ({ job: undefined }));
          return current?.state === JobState.SUCCEEDED ? current : undefined;
        },
        30_000,
      );
      expect(killed).toBeGreaterThan(0);
      const stored = await jobs.getJobLogs({ id: jobId });
      expect(Buffer.concat(stored.chunks.map((c) => c.data)).toString()).toBe(lines.join(''));
    } finally {
      connection.close();
      await admin.end();
    }
  });
});
