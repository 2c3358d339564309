// End to end, on both deployments: the largest job the API accepts (every list, map and string of
// its spec at its limit, a working directory no system can enter) fails with a bounded JobFailed
// event, nothing waits in the outbox or is dead-lettered, and the next job runs. Before issue 8 a
// 1 MiB working directory made a 1,048,750-byte event, over NATS's max_payload, and the relay
// retried its batch for ever while every new job stayed PENDING; since issue 9 the API refuses it.
import { afterAll, describe, expect, it } from 'vitest';
import { JobState } from '../../src/gen/hodei/v1/job_pb.js';
import { startTestServer, type Deployment, type TestServer } from '../helpers/server.js';
import { waitFor } from '../helpers/procs.js';
import { EVENT_LIMITS } from '../../src/events/event-bounds.js';
import { LIMITS } from '../../src/jobs/validate-job-spec.js';
import { ConnectError, Code } from '@connectrpc/connect';

const MiB = 1024 * 1024;

for (const deployment of ['postgres+nats', 'embedded'] as Deployment[]) {
  describe(`the largest job the API accepts (${deployment})`, () => {
    let server: TestServer | undefined;
    afterAll(async () => {
      await server?.cleanup();
    });

    it('fails with a bounded event, and the next job still runs', async () => {
      server = await startTestServer({ deployment });
      const s = server;
      const state = async (id: string) => (await s.jobs.getJob({ id })).job;
      const refused = await s.jobs
        .queueJob({ spec: { command: 'true', workingDir: `/tmp/${'d'.repeat(MiB - 5)}` } })
        .catch((e: unknown) => e);
      expect(refused).toBeInstanceOf(ConnectError);
      expect((refused as ConnectError).code).toBe(Code.InvalidArgument);
      expect((refused as ConnectError).rawMessage).toMatch(/^spec\.working_dir: /);
      expect((refused as ConnectError).rawMessage.length).toBeLessThan(200);
      expect((await s.jobs.listJobs({})).jobs).toHaveLength(0);

      const argBytes = Math.floor(LIMITS.argsBytes / LIMITS.args);
      const envValue = Math.floor(LIMITS.envBytes / LIMITS.envEntries) - 8;
      const spec = {
        command: 'true',
        name: 'n'.repeat(LIMITS.nameLength),
        args: Array.from({ length: LIMITS.args }, () => 'a'.repeat(argBytes)),
        env: Object.fromEntries(
          Array.from({ length: LIMITS.envEntries }, (_, i) => [`V${i}`, 'v'.repeat(envValue)]),
        ),
        labels: Object.fromEntries(
          Array.from({ length: LIMITS.labels }, (_, i) => [
            `l${i}`,
            'l'.repeat(LIMITS.labelLength),
          ]),
        ),
        workingDir: `/tmp/${'d'.repeat(LIMITS.workingDirLength - 5)}`,
      };
      const { job } = await s.jobs.queueJob({ spec });
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
