// Retention end to end (PostgreSQL + NATS, real server and workers), with ages of a second: the
// output of a finished job is deleted and `hodei job logs` says so; published events and
// finished sagas are deleted while the job stays; the JetStream stream carries its age and size
// limits, also when it existed before without them.
import { afterAll, describe, expect, it } from 'vitest';
import { connect } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import { JobState } from '../../src/gen/hodei/v1/job_pb.js';
import { runCli, startTestServer, type TestServer } from '../helpers/server.js';
import { waitFor } from '../helpers/procs.js';
import { NATS_URL } from '../helpers/env.js';

describe('retention (postgres+nats)', () => {
  let server: TestServer | undefined;
  afterAll(async () => {
    await server?.cleanup();
  });

  it('deletes what is old and done, says so for a job whose output is gone, and limits the stream', async () => {
    server = await startTestServer({
      env: {
        HODEI_RETENTION_INTERVAL: '500ms',
        HODEI_RETENTION_EVENTS: '1s',
        HODEI_RETENTION_JOB_OUTPUT: '1s',
        HODEI_STREAM_MAX_AGE: '1h',
        HODEI_STREAM_MAX_BYTES: '64MiB',
      },
    });
    const s = server;
    const { job } = await s.jobs.queueJob({
      spec: { command: 'echo', args: ['kept for a second'] },
    });
    const id = job?.id ?? '';
    await waitFor('the job to succeed', async () => {
      const { job: now } = await s.jobs.getJob({ id });
      return now?.state === JobState.SUCCEEDED ? now : undefined;
    });
    const deleted = await waitFor('its output to be deleted', async () => {
      const { job: now } = await s.jobs.getJob({ id });
      return now?.outputDeletedAt ? now : undefined;
    });
    expect(deleted.state).toBe(JobState.SUCCEEDED);
    await expect(s.jobs.getJobLogs({ id })).rejects.toThrow(/deleted by retention/);
    const logs = await runCli(['--url', s.url, 'job', 'logs', id]);
    expect(logs.code).not.toBe(0);
    expect(logs.stderr).toMatch(/the output of job .* was deleted by retention at/);
    expect(logs.stderr).not.toMatch(/\n\s+at /);
    const shown = await runCli(['--url', s.url, 'job', 'get', id]);
    expect(shown.stdout).toMatch(/output deleted:.*\(retention\)/);

    const db = await s.openDb();
    try {
      await waitFor('published events and finished sagas to be deleted', async () => {
        const r = await db.query<{ events: number; sagas: number; jobs: number }>(
          `SELECT (SELECT count(*) FROM outbox_events WHERE published_at IS NOT NULL)::int AS events,
             (SELECT count(*) FROM saga_instances WHERE finished_at IS NOT NULL)::int AS sagas,
             (SELECT count(*) FROM jobs)::int AS jobs`,
        );
        const row = r.rows[0];
        return row && row.events === 0 && row.sagas === 0 ? row : undefined;
      });
      const attempts = await db.query('SELECT 1 FROM job_attempts WHERE job_id = $1', [id]);
      expect(attempts.rowCount).toBe(1);
    } finally {
      await db.close();
    }
    expect(s.log()).toMatch(/retention deleted old rows/);

    const nc = await connect({ servers: NATS_URL });
    try {
      const jsm = await jetstreamManager(nc);
      const info = await jsm.streams.info(s.streamName ?? '');
      expect(info.config.max_age).toBe(3600 * 1e9);
      expect(info.config.max_bytes).toBe(64 * 1024 * 1024);
      // A stream made without limits (an older version) gets them at the next start.
      await jsm.streams.update(s.streamName ?? '', {
        ...info.config,
        max_age: 0,
        max_bytes: -1,
      });
      await s.stop();
      await s.restart();
      const after = await jsm.streams.info(s.streamName ?? '');
      expect(after.config.max_age).toBe(3600 * 1e9);
      expect(after.config.max_bytes).toBe(64 * 1024 * 1024);
    } finally {
      await nc.close();
    }
  });
});
