// QueueJobs against a real control plane (in this process, PostgreSQL + JetStream): up to 1,000
// jobs in one call, all or none, every error naming its item; idempotency keys as QueueJob has
// them; secrets sealed per job.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Code, createClient, type Client } from '@connectrpc/connect';
import { createGrpcTransport } from '@connectrpc/connect-node';
import { startInProcessServer, type InProcessServer } from '../helpers/in-process-server.js';
import { JobService, JobState } from '../../src/gen/hodei/v1/job_pb.js';
import { rpcError } from '../helpers/rpc-error.js';

describe('QueueJobs', () => {
  let s: InProcessServer;
  let jobs: Client<typeof JobService>;
  const counts = async () => {
    const r = await s.t.db.query<{ jobs: number; queued: number }>(
      `SELECT (SELECT count(*)::int FROM jobs) AS jobs,
              (SELECT count(*)::int FROM outbox_events WHERE event_type = 'JobQueued') AS queued`,
    );
    return r.rows[0];
  };
  const echo = (i: number) => ({ spec: { command: 'echo', args: [String(i)] } });

  beforeAll(async () => {
    s = await startInProcessServer({ bus: 'jetstream' });
    jobs = createClient(JobService, createGrpcTransport({ baseUrl: s.server.url }));
  });
  afterAll(async () => {
    await s?.stop();
  });

  it('queues 1,000 jobs in one call, in order, each with its JobQueued', async () => {
    const before = await counts();
    const { jobs: queued } = await jobs.queueJobs({
      jobs: Array.from({ length: 1000 }, (_, i) => echo(i)),
    });
    expect(queued).toHaveLength(1000);
    expect(queued.map((j) => j.spec?.args[0])).toEqual(
      Array.from({ length: 1000 }, (_, i) => String(i)),
    );
    expect(queued.every((j) => j.state === JobState.PENDING)).toBe(true);
    expect(new Set(queued.map((j) => j.correlationId)).size).toBe(1000);
    expect(await counts()).toEqual({
      jobs: (before?.jobs ?? 0) + 1000,
      queued: (before?.queued ?? 0) + 1000,
    });
  });

  it('a bad item anywhere queues nothing and names the item', async () => {
    const before = await counts();
    const batch = Array.from({ length: 1000 }, (_, i) => echo(i));
    batch[999] = { spec: { command: '' } } as (typeof batch)[number];
    const error = await rpcError(jobs.queueJobs({ jobs: batch }));
    expect(error.code).toBe(Code.InvalidArgument);
    expect(error.rawMessage).toMatch(/^jobs\[999\]: spec\.command: /);
    const nul = await rpcError(
      jobs.queueJobs({ jobs: [echo(1), { spec: { command: 'echo', name: 'a\0b' } }] }),
    );
    expect(nul.code).toBe(Code.InvalidArgument);
    expect(nul.rawMessage).toMatch(/^jobs\[1\]\.spec\.name: must not contain NUL/);
    expect(await counts()).toEqual(before);
  });

  it('refuses an empty call, more than 1,000 jobs, and one key twice in a call', async () => {
    expect((await rpcError(jobs.queueJobs({ jobs: [] }))).rawMessage).toBe(
      'jobs: is empty; give 1 to 1000 jobs',
    );
    const over = await rpcError(
      jobs.queueJobs({ jobs: Array.from({ length: 1001 }, (_, i) => echo(i)) }),
    );
    expect(over.code).toBe(Code.InvalidArgument);
    expect(over.rawMessage).toMatch(/^jobs: has 1001 entries; at most 1000 allowed/);
    const twice = await rpcError(
      jobs.queueJobs({
        jobs: [
          { ...echo(1), idempotencyKey: 'same' },
          echo(2),
          { ...echo(3), idempotencyKey: 'same' },
        ],
      }),
    );
    expect(twice.code).toBe(Code.InvalidArgument);
    expect(twice.rawMessage).toMatch(
      /^jobs\[2\]: idempotency_key: "same" is also the key of jobs\[0\]/,
    );
  });

  it('keys: a repeat returns the same jobs; a key reused with another spec refuses the whole call', async () => {
    const batch = [
      { ...echo(1), idempotencyKey: 'batch-k1' },
      { ...echo(2), idempotencyKey: 'batch-k2' },
    ];
    const first = await jobs.queueJobs({ jobs: batch });
    const before = await counts();
    const again = await jobs.queueJobs({ jobs: batch });
    expect(again.jobs.map((j) => j.id)).toEqual(first.jobs.map((j) => j.id));
    expect(await counts()).toEqual(before);
    const reused = await rpcError(
      jobs.queueJobs({
        jobs: [echo(7), { spec: { command: 'echo', args: ['other'] }, idempotencyKey: 'batch-k2' }],
      }),
    );
    expect(reused.code).toBe(Code.AlreadyExists);
    expect(reused.rawMessage).toMatch(/^jobs\[1\]: idempotency_key "batch-k2" was used for job /);
    // The new job of that call (echo 7) was not queued either.
    expect(await counts()).toEqual(before);
  });

  it('secrets are sealed per job and never shown; events name them', async () => {
    const { jobs: queued } = await jobs.queueJobs({
      jobs: [
        { spec: { command: 'true', secrets: { TOKEN: 'hunter2' } } },
        { spec: { command: 'true' } },
      ],
    });
    const [withSecret, without] = queued;
    expect(Object.keys(withSecret?.spec?.secrets ?? {})).toEqual(['TOKEN']);
    expect(Object.values(withSecret?.spec?.secrets ?? {})).toEqual(['***']);
    const sealed = await s.t.db.query<{ job_id: string }>('SELECT job_id FROM job_secrets');
    expect(sealed.rows.map((r) => r.job_id)).toContain(withSecret?.id);
    expect(sealed.rows.map((r) => r.job_id)).not.toContain(without?.id);
    const events = await s.t.db.query<{ payload: string }>(
      "SELECT payload::text FROM outbox_events WHERE event_type = 'JobQueued' AND aggregate_id = $1",
      [withSecret?.id],
    );
    expect(events.rows[0]?.payload).toContain('"secrets": ["TOKEN"]');
    expect(events.rows[0]?.payload).not.toContain('hunter2');
  });
});
