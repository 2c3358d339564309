// The worker stream against a real control plane (in this process, on PostgreSQL and JetStream),
// driven by hand: an acknowledged RUN makes the job RUNNING with JobStarted under the job's
// correlation id, and an ack for a job never sent on that stream is ignored and changes nothing.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Code, createClient } from '@connectrpc/connect';
import { createGrpcTransport } from '@connectrpc/connect-node';
import { waitFor } from '../helpers/procs.js';
import type { TestDatabase } from '../helpers/db.js';
import { handDrivenWorker, startInProcessServer } from '../helpers/in-process-server.js';
import type { RunningServer } from '../../src/server/running-server.js';
import { createAgentConnection } from '../../src/agent/agent-connection.js';
import { JobService, JobState } from '../../src/gen/hodei/v1/job_pb.js';
import { RunOutcome } from '../../src/gen/hodei/v1/worker_pb.js';
import { newId } from '../../src/shared/ids.js';
import { EVENT_LIMITS } from '../../src/events/event-bounds.js';

let t: TestDatabase;
let server: RunningServer;
let logLines: string[];
let stopServer: () => Promise<void>;

beforeAll(async () => {
  // The hand-driven worker is the only one: nothing is provisioned.
  const started = await startInProcessServer({ bus: 'jetstream' });
  ({ t, server, logLines } = started);
  stopServer = started.stop;
});
afterAll(async () => {
  await stopServer?.();
});

describe('worker stream', () => {
  it('an ack makes the job RUNNING with JobStarted under its correlation id; a stray ack is ignored', async () => {
    const jobs = createClient(JobService, createGrpcTransport({ baseUrl: server.url }));
    const worker = await handDrivenWorker(t.db, server.url);
    try {
      const { job } = await jobs.queueJob({
        spec: { command: 'true' },
        correlationId: 'stream-corr',
      });
      const jobId = job?.id ?? '';
      const run = await worker.next();
      expect(run.body.case).toBe('run');
      expect(run.body.case === 'run' && run.body.value.jobId).toBe(jobId);

      const stray = newId();
      worker.connection.send({ case: 'ack', value: { jobId: stray, attempt: 1 } });
      worker.connection.send({ case: 'ack', value: { jobId, attempt: 1 } });
      await waitFor('the job to be RUNNING', async () => {
        const { job: current } = await jobs.getJob({ id: jobId });
        return current?.state === JobState.RUNNING ? current : undefined;
      });
      const started = await t.db.query<{ aggregate_id: string; correlation_id: string }>(
        "SELECT aggregate_id, correlation_id FROM outbox_events WHERE event_type = 'JobStarted'",
      );
      expect(started.rows).toEqual([{ aggregate_id: jobId, correlation_id: 'stream-corr' }]);
      expect(
        logLines.some((l) => l.includes('ignored ack for a run not sent on this stream')),
      ).toBe(true);
      expect(logLines.find((l) => l.includes(stray))).toBeDefined();

      worker.connection.send({
        case: 'result',
        value: { jobId, attempt: 1, outcome: RunOutcome.EXITED, exitCode: 0 },
      });
      await waitFor('the job to succeed', async () => {
        const { job: current } = await jobs.getJob({ id: jobId });
        return current?.state === JobState.SUCCEEDED ? current : undefined;
      });
    } finally {
      worker.connection.close();
    }
  });

  it('a second Connect with a stolen session token is refused; the live stream finishes its job', async () => {
    const jobs = createClient(JobService, createGrpcTransport({ baseUrl: server.url }));
    const worker = await handDrivenWorker(t.db, server.url);
    const thief = createAgentConnection(server.url);
    try {
      const { job } = await jobs.queueJob({ spec: { command: 'true' } });
      const jobId = job?.id ?? '';
      expect((await worker.next()).body.case).toBe('run');
      const stolen = (async () => {
        for await (const message of thief.open(worker.sessionToken)) void message;
      })();
      // The token was spent by the live stream: it opens nothing more.
      await expect(stolen).rejects.toMatchObject({ code: Code.Unauthenticated });
      worker.connection.send({ case: 'ack', value: { jobId, attempt: 1 } });
      worker.connection.send({
        case: 'result',
        value: { jobId, attempt: 1, outcome: RunOutcome.EXITED, exitCode: 0 },
      });
      const done = await waitFor('the job to succeed', async () => {
        const { job: current } = await jobs.getJob({ id: jobId });
        return current?.state === JobState.SUCCEEDED ? current : undefined;
      });
      expect(done.attempt).toBe(1);
    } finally {
      thief.close();
      worker.connection.close();
    }
  });

  it('output is stored only for the run sent on this stream, and only while it runs', async () => {
    const jobs = createClient(JobService, createGrpcTransport({ baseUrl: server.url }));
    const worker = await handDrivenWorker(t.db, server.url);
    try {
      const { job } = await jobs.queueJob({ spec: { command: 'true' } });
      const jobId = job?.id ?? '';
      expect((await worker.next()).body.case).toBe('run');
      const { job: other } = await jobs.queueJob({ spec: { command: 'true', name: 'other' } });
      const chunk = (text: string) => ({ stream: 1, data: Buffer.from(text) });
      worker.connection.send({ case: 'ack', value: { jobId, attempt: 1 } });
      // Another job, another attempt: not this stream's run.
      worker.connection.send({
        case: 'output',
        value: { jobId: other?.id ?? '', attempt: 1, chunks: [chunk('not mine\n')] },
      });
      worker.connection.send({
        case: 'output',
        value: { jobId, attempt: 2, chunks: [chunk('wrong attempt\n')] },
      });
      worker.connection.send({
        case: 'output',
        value: { jobId, attempt: 1, chunks: [chunk('mine\n')] },
      });
      worker.connection.send({
        case: 'result',
        value: { jobId, attempt: 1, outcome: RunOutcome.EXITED, exitCode: 0 },
      });
      // After the result the run is over: late output is refused.
      worker.connection.send({
        case: 'output',
        value: { jobId, attempt: 1, chunks: [chunk('late\n')] },
      });
      await waitFor('the job to succeed', async () => {
        const { job: current } = await jobs.getJob({ id: jobId });
        return current?.state === JobState.SUCCEEDED ? current : undefined;
      });
      await new Promise((r) => setTimeout(r, 200));
      const stored = await t.db.query<{ job_id: string; text: string }>(
        "SELECT job_id, convert_from(data, 'UTF8') AS text FROM job_output ORDER BY seq",
      );
      expect(stored.rows).toEqual([{ job_id: jobId, text: 'mine\n' }]);
      await jobs.cancelJob({ id: other?.id ?? '' });
    } finally {
      worker.connection.close();
    }
  });

  it('a request bigger than the message limit is refused whole', async () => {
    const response = await fetch(`${server.url}/hodei.v1.JobService/QueueJob`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ spec: { command: 'true', args: ['x'.repeat(5 * 1024 * 1024)] } }),
    });
    expect(response.status).toBe(429);
    expect(((await response.json()) as { code: string }).code).toBe('resource_exhausted');
  });

  it('a result whose error is 1 MiB and holds a NUL fails the job with the error cut to 4 KiB', async () => {
    const jobs = createClient(JobService, createGrpcTransport({ baseUrl: server.url }));
    const worker = await handDrivenWorker(t.db, server.url);
    try {
      const { job } = await jobs.queueJob({ spec: { command: 'true' } });
      const jobId = job?.id ?? '';
      expect((await worker.next()).body.case).toBe('run');
      worker.connection.send({ case: 'ack', value: { jobId, attempt: 1 } });
      const error = `bad\0${'e'.repeat(1024 * 1024)}`;
      worker.connection.send({
        case: 'result',
        value: { jobId, attempt: 1, outcome: RunOutcome.START_FAILED, exitCode: 127, error },
      });
      const failed = await waitFor('the job to fail', async () => {
        const { job: current } = await jobs.getJob({ id: jobId });
        return current?.state === JobState.FAILED ? current : undefined;
      });
      expect(Buffer.byteLength(failed.error)).toBeLessThanOrEqual(EVENT_LIMITS.fieldBytes);
      expect(failed.error.startsWith('bad\uFFFDeee')).toBe(true);
      expect(failed.error).toMatch(/… \(\d+ bytes cut\)$/);
      const event = await t.db.query<{ error: string }>(
        "SELECT payload->>'error' AS error FROM outbox_events WHERE event_type = 'JobFailed' AND aggregate_id = $1",
        [jobId],
      );
      expect(event.rows).toEqual([{ error: failed.error }]);
    } finally {
      worker.connection.close();
    }
  });
});
