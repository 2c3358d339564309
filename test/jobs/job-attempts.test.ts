// Retries and the record of attempts on a real database (PostgreSQL and PGlite): a failed run the
// retry policy covers goes back to PENDING at the next attempt, held back by its backoff, with
// JobRetryScheduled in the same transaction; every ended attempt is kept with its exit code and
// error; retries and lost workers spend separate budgets.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DB_KINDS, createAnyTestDatabase, type AnyTestDatabase } from '../helpers/databases.js';
import { createOutboxWriter } from '../../src/outbox/outbox-writer.js';
import {
  assignJobStatement,
  findJob,
  insertJobStatement,
  markJobRunningStatement,
  cancelJob,
  requeueJob,
} from '../../src/jobs/job-sql.js';
import { findJobAttempts } from '../../src/jobs/job-attempt-sql.js';
import { runStatement } from '../../src/db/statement.js';
import { newId } from '../../src/shared/ids.js';
import { jobSpec } from '../helpers/job-spec.js';
import { insertWorker, activateWorker } from '../../src/workers/worker-sql.js';
import { createWorkerReports, type RunReport } from '../../src/workers/worker-reports.js';
import { createJobWatch } from '../../src/jobs/job-watch.js';
import { silentLogger } from '../../src/shared/logger.js';
import { createWorkerMonitor } from '../../src/workers/worker-monitor.js';
import { createWorkerLiveness } from '../../src/workers/worker-liveness.js';
import { systemClock } from '../../src/shared/clock.js';
import type { Provider } from '../../src/providers/provider.js';
import type { JobSpecInput } from '../../src/jobs/job.js';

const outbox = createOutboxWriter({ subjectPrefix: 'hodei.events' });
let t: AnyTestDatabase;

async function queued(spec: Partial<JobSpecInput>): Promise<string> {
  const id = newId();
  await runStatement(
    t.db,
    insertJobStatement({ id, spec: jobSpec(spec), idempotencyKey: null, correlationId: `c-${id}` }),
  );
  return id;
}

async function readyWorker(): Promise<string> {
  const id = newId();
  await insertWorker(t.db, { id, provider: 'process', otpHash: 'x', correlationId: 'w' });
  await activateWorker(t.db, id);
  return id;
}

/** Takes the job's current attempt to RUNNING on a worker, as the ExecutionSaga and the worker's
 * acknowledgement do; returns the worker and attempt. */
async function running(jobId: string): Promise<{ workerId: string; attempt: number }> {
  const job = await findJob(t.db, jobId);
  const workerId = await readyWorker();
  const attempt = job?.attempt ?? 0;
  await t.db.query("UPDATE workers SET state = 'BUSY', current_job_id = $2 WHERE id = $1", [
    workerId,
    jobId,
  ]);
  expect(await runStatement(t.db, assignJobStatement(jobId, attempt, workerId))).toHaveLength(1);
  expect(await runStatement(t.db, markJobRunningStatement(jobId, attempt, workerId))).toHaveLength(
    1,
  );
  return { workerId, attempt };
}

function reports() {
  return createWorkerReports({
    db: t.db,
    outbox,
    logger: silentLogger(),
    jobWatch: createJobWatch(),
  });
}

async function runEnds(jobId: string, end: Omit<RunReport, 'jobId' | 'attempt'>) {
  const { workerId, attempt } = await running(jobId);
  await reports().recordResult(workerId, { jobId, attempt, ...end });
  return { workerId, attempt };
}

async function eventsOf(
  jobId: string,
): Promise<Array<{ type: string; payload: Record<string, unknown> }>> {
  const r = await t.db.query<{ event_type: string; payload: Record<string, unknown> }>(
    'SELECT event_type, payload FROM outbox_events WHERE aggregate_id = $1 ORDER BY seq',
    [jobId],
  );
  return r.rows.map((row) => ({ type: row.event_type, payload: row.payload }));
}

const exited = (exitCode: number) => ({ outcome: 'EXITED' as const, exitCode, error: '' });
const retry = (retries: number, backoffMs = 1000, maxBackoffMs = 60_000) => ({
  retry: { retries, backoffMs, maxBackoffMs },
});

for (const kind of DB_KINDS) {
  describe.sequential(`${kind}: retries and attempts`, () => {
    beforeAll(async () => {
      t = await createAnyTestDatabase(kind);
    });
    afterAll(async () => {
      await t.drop();
    });

    it('a non-zero exit with retries left goes back to PENDING at the next attempt, after a backoff', async () => {
      const jobId = await queued(retry(2, 2000, 60_000));
      const before = Date.now();
      const { workerId } = await runEnds(jobId, exited(3));
      const job = await findJob(t.db, jobId);
      expect(job).toMatchObject({ state: 'PENDING', attempt: 2, retriesUsed: 1, workerId: null });
      expect(job?.error).toBe('exited with code 3');
      // The first retry waits between half and all of the 2 s base.
      const wait = (job?.retryAt?.getTime() ?? 0) - before;
      expect(wait).toBeGreaterThanOrEqual(900);
      expect(wait).toBeLessThanOrEqual(2500);
      const events = await eventsOf(jobId);
      const scheduled = events.find((e) => e.type === 'JobRetryScheduled');
      expect(scheduled?.payload).toMatchObject({
        jobId,
        attempt: 2,
        failedAttempt: 1,
        workerId,
        exitCode: 3,
        retry: 1,
        retries: 2,
      });
      expect(events.map((e) => e.type)).not.toContain('JobFailed');
      expect(await findJobAttempts(t.db, jobId)).toMatchObject([
        { attempt: 1, outcome: 'FAILED', exitCode: 3, error: 'exited with code 3', workerId },
      ]);
      const [first] = await findJobAttempts(t.db, jobId);
      expect(first?.retryAt?.getTime()).toBe(job?.retryAt?.getTime());
    });

    it('a success is recorded in one statement: job, attempt, worker READY and both events, once', async () => {
      const jobId = await queued({});
      const { workerId, attempt } = await running(jobId);
      const success = { jobId, attempt, ...exited(0), correlationId: `c-${jobId}` };
      await reports().recordResult(workerId, success);
      await reports().recordResult(workerId, success); // reported twice: nothing more
      expect(await findJob(t.db, jobId)).toMatchObject({ state: 'SUCCEEDED', exitCode: 0 });
      expect(await findJobAttempts(t.db, jobId)).toMatchObject([
        { attempt: 1, outcome: 'SUCCEEDED', exitCode: 0, workerId },
      ]);
      const worker = await t.db.query<{ state: string; jobs_run: number }>(
        'SELECT state, jobs_run FROM workers WHERE id = $1',
        [workerId],
      );
      expect(worker.rows[0]).toEqual({ state: 'READY', jobs_run: 1 });
      expect((await eventsOf(jobId)).map((e) => e.type)).toContain('JobSucceeded');
      expect((await eventsOf(jobId)).filter((e) => e.type === 'JobSucceeded')).toEqual([
        { type: 'JobSucceeded', payload: { jobId, attempt, workerId, exitCode: 0 } },
      ]);
      const ready = await t.db.query<{ correlation_id: string }>(
        "SELECT correlation_id FROM outbox_events WHERE aggregate_id = $1 AND event_type = 'WorkerReady'",
        [workerId],
      );
      expect(ready.rows).toEqual([{ correlation_id: `c-${jobId}` }]);
    });

    it('a success reported after a cancel frees the worker (WorkerReady) and leaves the job CANCELLED', async () => {
      const jobId = await queued({});
      const { workerId, attempt } = await running(jobId);
      await cancelJob(t.db, jobId);
      await reports().recordResult(workerId, {
        jobId,
        attempt,
        ...exited(0),
        correlationId: `c-${jobId}`,
      });
      expect((await findJob(t.db, jobId))?.state).toBe('CANCELLED');
      expect((await eventsOf(jobId)).map((e) => e.type)).not.toContain('JobSucceeded');
      const ready = await t.db.query<{ n: number }>(
        "SELECT count(*)::int AS n FROM outbox_events WHERE aggregate_id = $1 AND event_type = 'WorkerReady'",
        [workerId],
      );
      expect(ready.rows[0]?.n).toBe(1);
      const worker = await t.db.query<{ state: string }>(
        'SELECT state FROM workers WHERE id = $1',
        [workerId],
      );
      expect(worker.rows[0]?.state).toBe('READY');
    });

    it('keeps every attempt and ends FAILED once retries are spent', async () => {
      const jobId = await queued(retry(2, 1));
      await runEnds(jobId, exited(1));
      await runEnds(jobId, { outcome: 'TIMED_OUT', exitCode: null, error: '' });
      await runEnds(jobId, exited(7));
      const job = await findJob(t.db, jobId);
      expect(job).toMatchObject({ state: 'FAILED', attempt: 3, retriesUsed: 2, exitCode: 7 });
      expect(job?.retryAt).toBeNull();
      const attempts = await findJobAttempts(t.db, jobId);
      expect(attempts.map((a) => [a.attempt, a.outcome, a.exitCode, a.error])).toEqual([
        [1, 'FAILED', 1, 'exited with code 1'],
        [2, 'TIMED_OUT', null, 'timed out'],
        [3, 'FAILED', 7, 'exited with code 7'],
      ]);
      expect(attempts[2]?.retryAt).toBeNull();
      const types = (await eventsOf(jobId)).map((e) => e.type);
      expect(types.filter((x) => x === 'JobRetryScheduled')).toHaveLength(2);
      expect(types.filter((x) => x === 'JobFailed')).toHaveLength(1);
    });

    it('a retried job that then succeeds ends SUCCEEDED with the failure kept', async () => {
      const jobId = await queued(retry(3, 1));
      await runEnds(jobId, exited(2));
      await runEnds(jobId, exited(0));
      expect(await findJob(t.db, jobId)).toMatchObject({
        state: 'SUCCEEDED',
        attempt: 2,
        exitCode: 0,
      });
      expect((await findJobAttempts(t.db, jobId)).map((a) => a.outcome)).toEqual([
        'FAILED',
        'SUCCEEDED',
      ]);
    });

    it('never retries without a policy, a command that could not start, or a run cancelled on the worker', async () => {
      for (const [spec, end] of [
        [{}, exited(1)],
        [
          retry(3),
          { outcome: 'START_FAILED' as const, exitCode: null, error: 'spawn nope ENOENT' },
        ],
        [retry(3), { outcome: 'CANCELLED' as const, exitCode: null, error: '' }],
      ] as const) {
        const jobId = await queued(spec);
        await runEnds(jobId, end);
        expect(await findJob(t.db, jobId)).toMatchObject({ state: 'FAILED', attempt: 1 });
        expect((await eventsOf(jobId)).map((e) => e.type)).not.toContain('JobRetryScheduled');
      }
    });

    it('a result reported twice schedules one retry', async () => {
      const jobId = await queued(retry(3, 1));
      const { workerId, attempt } = await runEnds(jobId, exited(1));
      await reports().recordResult(workerId, { jobId, attempt, ...exited(1) });
      expect(await findJob(t.db, jobId)).toMatchObject({
        state: 'PENDING',
        attempt: 2,
        retriesUsed: 1,
      });
      const types = (await eventsOf(jobId)).map((e) => e.type);
      expect(types.filter((x) => x === 'JobRetryScheduled')).toHaveLength(1);
    });

    it('retries do not spend the attempts kept for lost workers, nor lost workers the retries', async () => {
      const jobId = await queued({ maxAttempts: 2, ...retry(1, 1) });
      await runEnds(jobId, exited(1)); // retry 1 of 1: attempt 2
      const second = await running(jobId);
      // Attempt 2 is the first cut short by a lost worker: one of two allowed, so requeued.
      const requeued = await requeueJob(
        t.db,
        { jobId, attempt: second.attempt },
        'WORKER_LOST',
        'worker lost: gone',
      );
      expect(requeued).toMatchObject({ state: 'PENDING', attempt: 3, retriesUsed: 1 });
      const third = await running(jobId);
      const failed = await requeueJob(
        t.db,
        { jobId, attempt: third.attempt },
        'DISPATCH_FAILED',
        'dispatch failed',
      );
      expect(failed).toMatchObject({ state: 'FAILED', attempt: 3 });
      expect((await findJobAttempts(t.db, jobId)).map((a) => [a.attempt, a.outcome])).toEqual([
        [1, 'FAILED'],
        [2, 'WORKER_LOST'],
        [3, 'DISPATCH_FAILED'],
      ]);
    });

    it('cancelling a running attempt records it; cancelling during a backoff clears the wait', async () => {
      const runningJob = await queued({});
      const { attempt } = await running(runningJob);
      await cancelJob(t.db, runningJob);
      expect(await findJobAttempts(t.db, runningJob)).toMatchObject([
        { attempt, outcome: 'CANCELLED', error: 'cancelled by request' },
      ]);

      const waiting = await queued(retry(2, 60_000, 60_000));
      await runEnds(waiting, exited(1));
      const cancelled = await cancelJob(t.db, waiting);
      expect(cancelled?.previousState).toBe('PENDING');
      expect(cancelled?.job).toMatchObject({ state: 'CANCELLED', attempt: 2, retryAt: null });
      expect((await findJobAttempts(t.db, waiting)).map((a) => a.outcome)).toEqual(['FAILED']);
    });

    it('a worker lost with its server (a crash) is not charged to max_attempts', async () => {
      const jobId = await queued({ maxAttempts: 1 });
      const first = await running(jobId);
      const requeued = await requeueJob(
        t.db,
        { jobId, attempt: first.attempt },
        'SERVER_LOST',
        'gone',
      );
      expect(requeued).toMatchObject({ state: 'PENDING', attempt: 2 });
      const second = await running(jobId);
      const failed = await requeueJob(
        t.db,
        { jobId, attempt: second.attempt },
        'WORKER_LOST',
        'lost',
      );
      expect(failed).toMatchObject({ state: 'FAILED', attempt: 2 });
      expect((await findJobAttempts(t.db, jobId)).map((a) => a.outcome)).toEqual([
        'SERVER_LOST',
        'WORKER_LOST',
      ]);
    });

    it("the kill-switch says whether the worker's stream was held by another server", async () => {
      const monitor = (serverInstance: string) =>
        createWorkerMonitor({
          db: t.db,
          outbox,
          provider: {} as Provider,
          liveness: createWorkerLiveness(systemClock),
          logger: silentLogger(),
          heartbeatIntervalMs: 3_600_000,
          missedHeartbeats: 3,
          idleTtlMs: 3_600_000,
          serverInstance,
        });
      for (const [holder, gone] of [
        ['old-server', true],
        ['this-server', false],
      ] as const) {
        const jobId = await queued({});
        const { workerId } = await running(jobId);
        await t.db.query('UPDATE workers SET server_instance = $2 WHERE id = $1', [
          workerId,
          holder,
        ]);
        expect(await monitor('this-server').workerLost(workerId, 'stream closed')).toBe(true);
        const lost = (await eventsOf(workerId)).find((e) => e.type === 'WorkerLost');
        expect(lost?.payload.serverGone === true).toBe(gone);
        expect(lost?.payload.jobId).toBe(jobId);
      }
    });
  });
}
