// Chaos: the control plane is killed with SIGKILL while 100 jobs are queued or running, and
// started again on the same database. Every job must end SUCCEEDED, recorded exactly once.
import { afterAll, describe, expect, it } from 'vitest';
import { JobState } from '../../src/gen/hodei/v1/job_pb.js';
import { startTestServer, type Deployment, type TestServer } from '../helpers/server.js';
import { waitFor } from '../helpers/procs.js';

const JOBS = 100;

for (const deployment of ['embedded', 'postgres+nats'] as Deployment[]) {
  describe(`server crash (${deployment})`, () => {
    let server: TestServer | undefined;
    afterAll(async () => {
      await server?.cleanup();
    });

    it(`SIGKILL during ${JOBS} queued jobs, then a restart, ends with all SUCCEEDED exactly once`, async () => {
      server = await startTestServer({ deployment });
      const s = server;
      const queued = await Promise.all(
        Array.from({ length: JOBS }, (_, i) =>
          s.jobs.queueJob({ spec: { command: 'sh', args: ['-c', `sleep 0.1; echo job-${i}`] } }),
        ),
      );
      const ids = queued.map((q) => q.job?.id ?? '');
      // Let some finish and some run, then crash.
      await waitFor('a few jobs to finish', async () => {
        const { jobs } = await s.jobs.listJobs({ states: [JobState.SUCCEEDED], pageSize: 500 });
        return jobs.length >= 10 ? true : undefined;
      });
      await s.kill();
      await s.restart();
      await waitFor(
        'every job to succeed after the restart',
        async () => {
          const states = await Promise.all(
            ids.map(async (id) => (await s.jobs.getJob({ id })).job?.state),
          );
          return states.every((st) => st === JobState.SUCCEEDED) ? true : undefined;
        },
        120_000,
        500,
      );
      await s.stop();
      const db = await s.openDb();
      try {
        const succeeded = await db.query<{ aggregate_id: string; n: number }>(
          `SELECT aggregate_id, count(*)::int AS n FROM outbox_events
           WHERE event_type = 'JobSucceeded' GROUP BY aggregate_id`,
        );
        expect(succeeded.rows).toHaveLength(JOBS);
        expect(succeeded.rows.filter((r) => r.n !== 1)).toEqual([]);
        const logs = await db.query<{ n: number }>(
          `SELECT count(DISTINCT job_id)::int AS n FROM job_output
           WHERE convert_from(data, 'UTF8') LIKE 'job-%'`,
        );
        expect(logs.rows[0]?.n).toBe(JOBS);
      } finally {
        await db.close();
      }
    }, 240_000);
  });
}
