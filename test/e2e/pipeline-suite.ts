// The end-to-end suite: real server, real worker processes, real commands, driven through the
// CLI and the API. Registered once per deployment (see pipeline-*.test.ts).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { JobState } from '../../src/gen/hodei/v1/job_pb.js';
import { WorkerState } from '../../src/gen/hodei/v1/worker_pb.js';
import { runCli, startTestServer, type Deployment, type TestServer } from '../helpers/server.js';
import { isAlive, listProcs, processTree, waitFor } from '../helpers/procs.js';

/** What `hodei trace --json` prints, as far as these tests read it. */
interface TraceJson {
  jobs: Array<{ id: string; attempts: Array<{ outcome: string }> }>;
  workers: Array<{ id: string; state: string; terminationReason: string | null }>;
  sagas: Array<{ type: string }>;
  events: Array<{ seq: number; type: string }>;
}

const TERMINAL = [JobState.SUCCEEDED, JobState.FAILED, JobState.TIMED_OUT, JobState.CANCELLED];

export function pipelineSuite(deployment: Deployment): void {
  describe(`pipeline (${deployment})`, () => {
    let server: TestServer;
    const cli = (args: string[], timeoutMs?: number) =>
      runCli(['--url', server.url, ...args], {}, timeoutMs);

    beforeAll(async () => {
      server = await startTestServer({ deployment });
    });
    afterAll(async () => {
      await server?.cleanup();
    });

    async function waitForJob(id: string, states: JobState[], timeoutMs = 30_000) {
      return waitFor(
        `job ${id} to reach ${states.join('/')}`,
        async () => {
          const { job } = await server.jobs.getJob({ id });
          return job && states.includes(job.state) ? job : undefined;
        },
        timeoutMs,
      );
    }

    it('hodei run -- echo hello prints hello and exits 0', async () => {
      const result = await cli(['run', '--', 'echo', 'hello']);
      expect(result.stderr).not.toMatch(/Error|at .*\.js/);
      expect(result.stdout).toBe('hello\n');
      expect(result.code).toBe(0);
    });

    it("hodei run -- sh -c 'exit 3' exits 3, stderr lines go to stderr", async () => {
      const result = await cli(['run', '--', 'sh', '-c', 'echo out; echo err >&2; exit 3']);
      expect(result.code).toBe(3);
      expect(result.stdout).toBe('out\n');
      expect(result.stderr).toContain('err\n');
    });

    it('a command that does not exist fails with a clear message', async () => {
      const result = await cli(['run', '--', 'no-such-command-hodei']);
      expect(result.code).not.toBe(0);
      expect(result.stderr).toMatch(/not found: no-such-command-hodei/);
      expect(result.stderr).not.toMatch(/\n\s+at /);
    });

    it('invalid input is rejected naming the field, and nothing is stored', async () => {
      const before = (await server.jobs.listJobs({ pageSize: 500 })).jobs.length;
      await expect(server.jobs.queueJob({ spec: { command: '' } })).rejects.toThrow(
        /spec\.command/,
      );
      await expect(
        server.jobs.queueJob({ spec: { command: 'true', timeout: { seconds: -5n, nanos: 0 } } }),
      ).rejects.toThrow(/spec\.timeout/);
      await expect(
        server.jobs.getJob({ id: '5b8d3a43-2f61-4c4c-9a3f-2d1c3e4f5a6b' }),
      ).rejects.toThrow(/not found/);
      expect((await server.jobs.listJobs({ pageSize: 500 })).jobs.length).toBe(before);
    });

    it('Connect JSON over HTTP/1.1 works with a plain POST, and malformed JSON is INVALID_ARGUMENT', async () => {
      const ok = await fetch(`${server.url}/hodei.v1.JobService/QueueJob`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-correlation-id': 'curl-corr-1' },
        body: JSON.stringify({ spec: { command: 'true' } }),
      });
      expect(ok.status).toBe(200);
      const body = (await ok.json()) as {
        job: { id: string; correlationId: string; state: string };
      };
      expect(body.job.correlationId).toBe('curl-corr-1');
      expect(body.job.state).toBe('JOB_STATE_PENDING');
      const bad = await fetch(`${server.url}/hodei.v1.JobService/QueueJob`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: '{"spec": {',
      });
      expect(bad.status).toBe(400);
      expect(((await bad.json()) as { code: string }).code).toBe('invalid_argument');
      await waitForJob(body.job.id, [JobState.SUCCEEDED]);
    });

    it('50 jobs submitted at once all succeed', async () => {
      const queued = await Promise.all(
        Array.from({ length: 50 }, (_, i) =>
          server.jobs.queueJob({ spec: { command: 'echo', args: [`job-${i}`] } }),
        ),
      );
      const jobs = await Promise.all(
        queued.map((q) => waitForJob(q.job?.id ?? '', TERMINAL, 60_000)),
      );
      expect(jobs.map((j) => j.state).filter((s) => s !== JobState.SUCCEEDED)).toEqual([]);
      const logs = await server.jobs.getJobLogs({ id: queued[7]?.job?.id ?? '' });
      expect(Buffer.concat(logs.chunks.map((c) => c.data)).toString()).toBe('job-7\n');
      const workers = (await server.ops.listWorkers({})).workers.filter(
        (w) => w.state !== WorkerState.TERMINATED,
      );
      expect(workers.length).toBeLessThanOrEqual(4);
    });

    it('cancelling a running sleep 60 ends it within 2 s and leaves no process behind', async () => {
      const marker = `hodei-cancel-${randomBytes(4).toString('hex')}`;
      const { job } = await server.jobs.queueJob({
        spec: { command: 'sh', args: ['-c', `sleep 60; echo ${marker}`] },
      });
      const id = job?.id ?? '';
      await waitForJob(id, [JobState.RUNNING]);
      const tree = await waitFor('the job process tree', () => {
        const procs = processTree(marker);
        return procs.length >= 2 ? procs : undefined;
      });
      const started = Date.now();
      const result = await cli(['job', 'cancel', id]);
      expect(result.code).toBe(0);
      await waitFor(
        'the job processes to end',
        () => tree.every((p) => !isAlive(p.pid)) || undefined,
        2000,
        20,
      );
      expect(Date.now() - started).toBeLessThan(2000);
      const final = await waitForJob(id, [JobState.CANCELLED]);
      expect(final.state).toBe(JobState.CANCELLED);
    });

    it('a job with a timeout ends TIMED_OUT', async () => {
      const result = await cli(['run', '--timeout', '300ms', '--', 'sleep', '5']);
      expect(result.code).toBe(124);
    });

    /** A job that prints a unique marker, sleeps 2 s and prints done; returned once RUNNING. */
    async function runningTwoSecondJob(prefix: string) {
      const marker = `${prefix}-${randomBytes(4).toString('hex')}`;
      const { job } = await server.jobs.queueJob({
        spec: { command: 'sh', args: ['-c', `echo ${marker}; sleep 2; echo done`], maxAttempts: 3 },
      });
      const id = job?.id ?? '';
      return { id, marker, running: await waitForJob(id, [JobState.RUNNING]) };
    }

    it('SIGKILL of a worker in the middle of a job gets the job run again on a new worker', async () => {
      const { id, running } = await runningTwoSecondJob('hodei-kill');
      const workers = (await server.ops.listWorkers({})).workers;
      const worker = workers.find((w) => w.id === running.workerId);
      expect(worker?.externalId).toMatch(/^\d+$/);
      process.kill(Number(worker?.externalId), 'SIGKILL');
      const done = await waitForJob(id, TERMINAL, 30_000);
      expect(done.state).toBe(JobState.SUCCEEDED);
      expect(done.attempt).toBe(2);
      expect(done.workerId).not.toBe(running.workerId);
      const { workers: after } = await server.ops.listWorkers({});
      expect(after.find((w) => w.id === running.workerId)?.state).toBe(WorkerState.TERMINATED);
      const logs = await cli(['job', 'logs', id]);
      expect(logs.stdout).toContain('done');

      // hodei trace tells the whole story: both attempts, the lost worker, the RecoverySaga.
      const traced = await cli(['trace', id, '--json']);
      expect(traced.code).toBe(0);
      const trace = JSON.parse(traced.stdout) as TraceJson;
      const story = trace.jobs.find((j) => j.id === id);
      expect(story?.attempts.map((a) => a.outcome)).toEqual(['WORKER_LOST', 'SUCCEEDED']);
      const lost = trace.workers.find((w) => w.id === running.workerId);
      expect(lost?.state).toBe('TERMINATED');
      expect(lost?.terminationReason).toBeTruthy();
      expect(trace.workers.some((w) => w.id === done.workerId)).toBe(true);
      // An execution saga per attempt and the recovery between them (provisioning only when no
      // warm worker was left by the tests before).
      const sagaTypes = trace.sagas.map((saga) => saga.type);
      expect(sagaTypes.filter((t) => t === 'execution')).toHaveLength(2);
      expect(sagaTypes).toContain('recovery');
      const types = trace.events.map((e) => e.type);
      for (const type of ['JobQueued', 'JobStarted', 'WorkerLost', 'JobRequeued', 'JobSucceeded']) {
        expect(types).toContain(type);
      }
      expect(types.indexOf('WorkerLost')).toBeLessThan(types.lastIndexOf('JobStarted'));
      const seqs = trace.events.map((e) => e.seq);
      expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
      const text = await cli(['trace', id]);
      expect(text.stdout).toMatch(/attempt 1 on \S+ .* WORKER_LOST/);
      expect(text.stdout).toMatch(/attempt 2 on \S+ .* SUCCEEDED exit 0/);
      expect(text.stdout).toMatch(/recovery [0-9a-f]{8} .* COMPLETED/);
    });

    it('SIGKILL of the spawn helper under a running job ends its worker; the job runs again', async () => {
      const { id, running, marker } = await runningTwoSecondJob('hodei-helper');
      const shell = await waitFor('the job process', () =>
        listProcs().find((p) => p.state !== 'Z' && p.cmdline.startsWith(`sh -c echo ${marker}`)),
      );
      const helper = listProcs().find((p) => p.pid === shell.ppid);
      expect(helper?.cmdline).toContain('hodei-spawn-helper');
      process.kill(helper!.pid, 'SIGKILL');
      const done = await waitForJob(id, TERMINAL, 30_000);
      expect(done.state).toBe(JobState.SUCCEEDED);
      expect(done.attempt).toBe(2);
      expect(done.workerId).not.toBe(running.workerId);
      // The worker ended (crash-only), rather than reporting its job killed and going on.
      const { workers } = await server.ops.listWorkers({});
      expect(workers.find((w) => w.id === running.workerId)?.state).toBe(WorkerState.TERMINATED);
      await waitFor('the first attempt gone', () => !isAlive(shell.pid) || undefined);
    });

    it('hodei job submit --json, get, list and logs work after the worker is gone', async () => {
      const submitted = await cli([
        'job',
        'submit',
        '--json',
        '--correlation-id',
        'e2e-corr',
        '--',
        'echo',
        'kept',
      ]);
      expect(submitted.code).toBe(0);
      const parsed = JSON.parse(submitted.stdout) as {
        jobId: string;
        correlationId: string;
        state: string;
      };
      expect(parsed.correlationId).toBe('e2e-corr');
      await waitForJob(parsed.jobId, [JobState.SUCCEEDED]);
      const got = await cli(['job', 'get', parsed.jobId, '--json']);
      expect(JSON.parse(got.stdout)).toMatchObject({
        id: parsed.jobId,
        state: 'SUCCEEDED',
        exitCode: 0,
      });
      const list = await cli(['job', 'list', '--json', '--state', 'SUCCEEDED']);
      expect(list.code).toBe(0);
      expect(list.stdout).toContain(parsed.jobId);
      const logs = await cli(['job', 'logs', parsed.jobId]);
      expect(logs.stdout).toBe('kept\n');
      const workers = await cli(['workers', 'list', '--json']);
      expect(workers.code).toBe(0);
    });

    // The embedded database cannot be opened while its server runs: checked on PostgreSQL only.
    if (deployment === 'postgres+nats')
      it('one correlation id is on the job, every event about it, its sagas and their steps', async () => {
        const submitted = await cli(['job', 'submit', '--correlation-id', 'trace-1', '--', 'true']);
        const jobId = submitted.stdout.trim();
        await waitForJob(jobId, [JobState.SUCCEEDED]);
        const db = await server.openDb();
        try {
          const sagas = await waitFor('the execution saga to complete', async () => {
            const r = await db.query<{ id: string; state: string; correlation_id: string }>(
              "SELECT id, state, correlation_id FROM saga_instances WHERE context->>'jobId' = $1",
              [jobId],
            );
            return r.rows.some((row) => row.state === 'COMPLETED') ? r.rows : undefined;
          });
          const sagaIds = sagas.map((row) => row.id);
          const events = await db.query<{ event_type: string; correlation_id: string }>(
            `SELECT event_type, correlation_id FROM outbox_events
             WHERE aggregate_id = $1 OR aggregate_id = ANY($2::text[]) ORDER BY seq`,
            [jobId, sagaIds],
          );
          const steps = await db.query<{ correlation_id: string }>(
            'SELECT correlation_id FROM saga_steps WHERE saga_id = ANY($1::uuid[])',
            [sagaIds],
          );
          const job = await db.query<{ correlation_id: string }>(
            'SELECT correlation_id FROM jobs WHERE id = $1',
            [jobId],
          );
          expect(job.rows).toEqual([{ correlation_id: 'trace-1' }]);
          expect(events.rows.map((e) => e.event_type)).toEqual(
            expect.arrayContaining([
              'JobQueued',
              'SagaStarted',
              'JobAssigned',
              'JobStarted',
              'JobSucceeded',
              'SagaCompleted',
            ]),
          );
          const correlationIds = new Set([
            ...events.rows.map((e) => e.correlation_id),
            ...sagas.map((row) => row.correlation_id),
            ...steps.rows.map((row) => row.correlation_id),
          ]);
          expect(steps.rows.length).toBeGreaterThanOrEqual(4);
          expect([...correlationIds]).toEqual(['trace-1']);
        } finally {
          await db.close();
        }
      });

    it('serves /metrics, /healthz and /readyz on the same port', async () => {
      const metrics = await (await fetch(`${server.url}/metrics`)).text();
      for (const name of [
        'hodei_jobs_queued_total',
        'hodei_jobs_finished_total',
        'hodei_job_queue_to_start_seconds_bucket',
        'hodei_outbox_pending',
        'hodei_sagas_total',
        'hodei_workers',
      ]) {
        expect(metrics).toContain(name);
      }
      // What an operator alerts on, with the jobs above counted (a worker was SIGKILLed).
      for (const line of [
        /^hodei_job_stage_seconds_count\{stage="queue_to_assigned"\} [1-9]/m,
        /^hodei_job_stage_seconds_count\{stage="assigned_to_started"\} [1-9]/m,
        /^hodei_job_stage_seconds_count\{stage="run"\} [1-9]/m,
        /^hodei_saga_step_seconds_count\{type="execution",step="ValidateJobState"\} [1-9]/m,
        /^hodei_workers_lost_total\{cause="(stream_closed|process_exited)"\} [1-9]/m,
        /^hodei_outbox_oldest_pending_age_seconds \d/m,
        /^hodei_jobs_finished_total\{state="SUCCEEDED",reason="exited"\} [1-9]/m,
        /^hodei_jobs_finished_total\{state="TIMED_OUT",reason="timeout"\} [1-9]/m,
        /^hodei_bus_consumer_lag\{consumer="[^"]+"\} \d+$/m,
      ]) {
        expect(metrics).toMatch(line);
      }
      // Without a terminal and without HODEI_LOG_FORMAT the server logs JSON lines.
      const records = server
        .log()
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => (JSON.parse(l) as { msg: string }).msg);
      expect(records).toEqual(expect.arrayContaining(['job queued', 'job finished']));
      expect((await fetch(`${server.url}/healthz`)).status).toBe(200);
      expect((await fetch(`${server.url}/readyz`)).status).toBe(200);
    });
  });
}
