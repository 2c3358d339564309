// A dispatch that is not acknowledged is undone by its saga, on PostgreSQL and PGlite: a job
// ASSIGNED whose RUN is not acknowledged within dispatchAckTimeoutMs goes back to PENDING at the
// next attempt (FAILED when none is left) with its event, and its worker is terminated, not left
// BUSY. The same after a server restart between UpdateJobToAssigned and SendRunJobCommand (the
// new process has no stream for the worker, so the RUN fails at once) and after a restart while
// the saga waits for the acknowledgement (the new process sweeps the deadline from the database).
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { DB_KINDS, createAnyTestDatabase, type AnyTestDatabase } from '../helpers/databases.js';
import { executionSagaId } from '../../src/shared/ids.js';
import { jobSpec } from '../helpers/job-spec.js';
import {
  createDispatchHarness,
  jobQueued,
  readyWorker,
  recordingStream,
} from './dispatch-harness.js';
import {
  busyFor,
  eventsOf,
  jobRow,
  loseStepRecords,
  sagaRow,
  settleLeftovers,
  workerRow,
} from './dispatch-probe.js';

const ACK_MS = 50;
const pastDeadline = () => new Promise((resolve) => setTimeout(resolve, ACK_MS * 3));

let t: AnyTestDatabase;

async function queueJob(correlationId: string, maxAttempts = 3) {
  const { commands } = createDispatchHarness(t.db);
  const spec = jobSpec({ maxAttempts });
  const { job } = await commands.queue({ spec, idempotencyKey: null, correlationId });
  return { job, sagaId: executionSagaId(job.id, 1) };
}

/** The job is back to PENDING at attempt 2 with JobRequeued; its worker is terminated (with
 * WorkerTerminated), destroyed, and no longer BUSY; the saga is compensated. */
async function expectRequeued(
  ref: { jobId: string; sagaId: string; workerId: string },
  destroyed: string[],
) {
  expect(await jobRow(t.db, ref.jobId)).toEqual({ state: 'PENDING', attempt: 2, worker_id: null });
  const events = await eventsOf(t.db, ref.jobId);
  expect(events.map((e) => e.type)).toEqual(['JobQueued', 'JobAssigned', 'JobRequeued']);
  expect(events[2]?.payload).toMatchObject({ jobId: ref.jobId, attempt: 2 });
  expect(await busyFor(t.db, ref.jobId)).toEqual([]);
  expect(await workerRow(t.db, ref.workerId)).toMatchObject({ state: 'TERMINATED' });
  expect((await eventsOf(t.db, ref.workerId)).map((e) => e.type)).toEqual(['WorkerTerminated']);
  expect(destroyed).toEqual([`ext-${ref.workerId}`]);
  expect((await sagaRow(t.db, ref.sagaId))?.state).toBe('COMPENSATED');
}

for (const kind of DB_KINDS) {
  describe.sequential(kind, () => {
    beforeAll(async () => {
      t = await createAnyTestDatabase(kind);
    });
    afterAll(async () => {
      await t.drop();
    });
    beforeEach(async () => {
      await settleLeftovers(t.db);
    });

    async function worker(): Promise<string> {
      const id = await readyWorker(t.db);
      await t.db.query('UPDATE workers SET external_id = $2 WHERE id = $1', [id, `ext-${id}`]);
      return id;
    }

    describe(`${kind}: a dispatch that is not acknowledged is undone`, () => {
      it('ASSIGNED with no acknowledgement: requeued at attempt 2 after the deadline, worker terminated', async () => {
        const workerId = await worker();
        const h = createDispatchHarness(t.db, { dispatchAckTimeoutMs: ACK_MS });
        const stream = recordingStream(h.sessions, workerId);
        const { job, sagaId } = await queueJob('no-ack');
        await h.process(jobQueued(job));
        expect(stream.runs.map((j) => j.id)).toEqual([job.id]);
        expect(await jobRow(t.db, job.id)).toMatchObject({ state: 'ASSIGNED' });
        await pastDeadline();
        await h.engine.sweep();
        await h.engine.stop();
        await expectRequeued({ jobId: job.id, sagaId, workerId }, h.destroyed);
        expect(stream.closed).toHaveLength(1);
      });

      it('ASSIGNED with no acknowledgement and max_attempts 1: FAILED with JobFailed', async () => {
        const workerId = await worker();
        const h = createDispatchHarness(t.db, { dispatchAckTimeoutMs: ACK_MS });
        recordingStream(h.sessions, workerId);
        const { job, sagaId } = await queueJob('no-ack-last', 1);
        await h.process(jobQueued(job));
        await pastDeadline();
        await h.engine.sweep();
        await h.engine.stop();
        expect(await jobRow(t.db, job.id)).toEqual({
          state: 'FAILED',
          attempt: 1,
          worker_id: workerId,
        });
        const events = await eventsOf(t.db, job.id);
        expect(events.map((e) => e.type)).toEqual(['JobQueued', 'JobAssigned', 'JobFailed']);
        expect(await busyFor(t.db, job.id)).toEqual([]);
        expect(await workerRow(t.db, workerId)).toMatchObject({ state: 'TERMINATED' });
        expect((await sagaRow(t.db, sagaId))?.state).toBe('COMPENSATED');
      });

      it('a restart between UpdateJobToAssigned and SendRunJobCommand: requeued, not stuck ASSIGNED', async () => {
        const workerId = await worker();
        const crashed = createDispatchHarness(t.db, { crashBefore: 'SendRunJobCommand' });
        const stream = recordingStream(crashed.sessions, workerId);
        const { job, sagaId } = await queueJob('restart-assigned');
        await expect(crashed.process(jobQueued(job))).rejects.toThrow('simulated crash');
        // Its steps' records are written when it comes to rest (recordStepsAtRest): the crash
        // came first, so the saga stands where it started; the job is ASSIGNED.
        expect(await sagaRow(t.db, sagaId)).toMatchObject({
          state: 'IN_PROGRESS',
          current_step: 0,
        });

        const restarted = createDispatchHarness(t.open()); // no stream for the worker here
        expect(await restarted.engine.resumeAll()).toBe(1);
        await restarted.engine.stop();
        await expectRequeued({ jobId: job.id, sagaId, workerId }, restarted.destroyed);
        expect(stream.runs).toEqual([]);
      });

      it('the same restart with every step record lost: requeued, not stuck ASSIGNED', async () => {
        const workerId = await worker();
        const crashed = createDispatchHarness(t.db, { crashBefore: 'SendRunJobCommand' });
        recordingStream(crashed.sessions, workerId);
        const { job, sagaId } = await queueJob('restart-lost');
        await expect(crashed.process(jobQueued(job))).rejects.toThrow('simulated crash');
        await loseStepRecords(t.db, sagaId, 0, ['workerId']);

        const restarted = createDispatchHarness(t.open());
        await restarted.engine.resumeAll();
        await restarted.engine.stop();
        await expectRequeued({ jobId: job.id, sagaId, workerId }, restarted.destroyed);
      });

      it('a restart while waiting for the acknowledgement: the new process requeues at the deadline', async () => {
        const workerId = await worker();
        const before = createDispatchHarness(t.db, { dispatchAckTimeoutMs: ACK_MS });
        const stream = recordingStream(before.sessions, workerId);
        const { job, sagaId } = await queueJob('restart-waiting');
        await before.process(jobQueued(job));
        await before.engine.stop();
        expect(stream.runs).toHaveLength(1);
        expect((await sagaRow(t.db, sagaId))?.state).toBe('WAITING');

        const restarted = createDispatchHarness(t.open(), { dispatchAckTimeoutMs: ACK_MS });
        await restarted.engine.resumeAll();
        await pastDeadline();
        await restarted.engine.sweep();
        await restarted.engine.stop();
        await expectRequeued({ jobId: job.id, sagaId, workerId }, restarted.destroyed);
      });
    });
  });
}
