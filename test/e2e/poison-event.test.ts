// End to end, on both deployments: a job whose working directory is 1 MiB long (the API accepts it
// today) fails with a bounded JobFailed event, nothing waits in the outbox or is dead-lettered,
// and the next job runs. Before issue 8 the event was 1,048,750 bytes, over NATS's max_payload,
// and the relay retried its batch for ever while every new job stayed PENDING.
import { afterAll, describe, expect, it } from 'vitest';
import { JobState } from '../../src/gen/hodei/v1/job_pb.js';
import { startTestServer, type Deployment, type TestServer } from '../helpers/server.js';
import { waitFor } from '../helpers/procs.js';
import { EVENT_LIMITS } from '../../src/events/event-bounds.js';

const MiB = 1024 * 1024;

for (const deployment of ['postgres+nats', 'embedded'] as Deployment[]) {
  describe(`a job with a 1 MiB working directory (${deployment})`, () => {
    let server: TestServer | undefined;
    afterAll(async () => {
      await server?.cleanup();
    });

    it('fails with a bounded event, and the next job still runs', async () => {
      server = await startTestServer({ deployment });
      const s = server;
      const state = async (id: string) => (await s.jobs.getJob({ id })).job;
      const huge = `/tmp/${'d'.repeat(MiB - 5)}`;
      const { job } = await s.jobs.queueJob({ spec: { command: 'true', workingDir: huge } });
      const failed = await waitFor(
        'the job to fail',
        async () => {
          const j = await state(job?.id ?? '');
          return j?.state === JobState.FAILED ? j : undefined;
        },
        30_000,
      );
      expect(failed.error.length).toBeLessThan(EVENT_LIMITS.fieldBytes);

      const { job: next } = await s.jobs.queueJob({ spec: { command: 'echo', args: ['next'] } });
      await waitFor(
        'the next job to succeed',
        async () =>
          (await state(next?.id ?? ''))?.state === JobState.SUCCEEDED ? true : undefined,
        30_000,
      );

      await s.stop();
      const db = await s.openDb();
      try {
        const events = await db.query<{ event_type: string; bytes: number; published: boolean }>(
          `SELECT event_type, octet_length(payload::text) AS bytes,
             published_at IS NOT NULL AS published
           FROM outbox_events WHERE aggregate_id = $1 ORDER BY seq`,
          [job?.id ?? ''],
        );
        const jobFailed = events.rows.find((r) => r.event_type === 'JobFailed');
        expect(jobFailed?.published).toBe(true);
        const largest = Math.max(...events.rows.map((r) => r.bytes));
        expect(largest).toBeLessThanOrEqual(EVENT_LIMITS.payloadBytes);
        // No publish was refused, nothing was dead-lettered.
        const refused = await db.query<{ retried: number; dead: number; failed: number }>(
          `SELECT (SELECT count(*)::int FROM outbox_events WHERE delivery_attempts > 0) AS retried,
             (SELECT count(*)::int FROM outbox_events WHERE dead_lettered_at IS NOT NULL) AS dead,
             (SELECT count(*)::int FROM failed_events) AS failed`,
        );
        expect(refused.rows[0]).toEqual({ retried: 0, dead: 0, failed: 0 });
      } finally {
        await db.close();
      }
    });
  });
}
