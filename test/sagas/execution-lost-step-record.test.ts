// The ExecutionSaga run again over a dispatch it had half done, on PostgreSQL and PGlite: a crash
// lost the record of ReserveWorker (or of every step up to UpdateJobToAssigned) and a fresh engine
// resumes the saga. The worker held for the job is reused, no second one is claimed, and the job
// gets one RUN. Two runs of the saga that overlapped and each claimed a worker end with one.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { DB_KINDS, createAnyTestDatabase, type AnyTestDatabase } from '../helpers/databases.js';
import { executionSagaId } from '../../src/shared/ids.js';
import { DispatchTakenError, executionSaga } from '../../src/sagas/execution-saga.js';
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

let t: AnyTestDatabase;

async function queueJob(correlationId: string) {
  const { commands } = createDispatchHarness(t.db);
  const { job } = await commands.queue({ spec: jobSpec(), idempotencyKey: null, correlationId });
  return { job, sagaId: executionSagaId(job.id, 1) };
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

    describe(`${kind}: a dispatch run again after its step record was lost`, () => {
      it('a lost ReserveWorker record: one worker claimed, the job runs once', async () => {
        const first = await readyWorker(t.db, { idleMs: 2000 }); // the longest idle: claimed
        const other = await readyWorker(t.db, { idleMs: 1000 });
        const { job, sagaId } = await queueJob('lost-reserve');
        const crashed = createDispatchHarness(t.db, { crashBefore: 'UpdateJobToAssigned' });
        await expect(
          crashed.engine.start('execution', sagaId, 'lost-reserve', { jobId: job.id, attempt: 1 }),
        ).rejects.toThrow('simulated crash');
        expect(await busyFor(t.db, job.id)).toEqual([first]);
        await loseStepRecords(t.db, sagaId, 1, ['workerId']);
        expect(await sagaRow(t.db, sagaId)).toMatchObject({
          state: 'IN_PROGRESS',
          current_step: 1,
        });

        const resumed = createDispatchHarness(t.open());
        const toFirst = recordingStream(resumed.sessions, first);
        const toOther = recordingStream(resumed.sessions, other);
        expect(await resumed.engine.resumeAll()).toBe(1);
        await resumed.engine.stop();

        expect(toFirst.runs.map((j) => j.id)).toEqual([job.id]);
        expect(toOther.runs).toEqual([]);
        expect(await busyFor(t.db, job.id)).toEqual([first]);
        expect(await workerRow(t.db, other)).toEqual({ state: 'READY', current_job_id: null });
        expect(await jobRow(t.db, job.id)).toEqual({
          state: 'ASSIGNED',
          attempt: 1,
          worker_id: first,
        });
        const assigned = (await eventsOf(t.db, job.id)).filter((e) => e.type === 'JobAssigned');
        expect(assigned.map((e) => e.payload.workerId)).toEqual([first]);
        expect(await sagaRow(t.db, sagaId)).toEqual({
          state: 'WAITING',
          current_step: 3,
          wait_key: `job-started:${job.id}:1`,
        });
      });

      it('lost records up to UpdateJobToAssigned: the assigned worker gets the one RUN', async () => {
        const first = await readyWorker(t.db, { idleMs: 2000 });
        const other = await readyWorker(t.db, { idleMs: 1000 });
        const { job, sagaId } = await queueJob('lost-assign');
        const crashed = createDispatchHarness(t.db, { crashBefore: 'SendRunJobCommand' });
        await expect(
          crashed.engine.start('execution', sagaId, 'lost-assign', { jobId: job.id, attempt: 1 }),
        ).rejects.toThrow('simulated crash');
        expect(await jobRow(t.db, job.id)).toMatchObject({ state: 'ASSIGNED', worker_id: first });
        // Not one record landed: the saga resumes at ValidateJobState with the job ASSIGNED.
        await loseStepRecords(t.db, sagaId, 0, ['workerId']);

        const resumed = createDispatchHarness(t.open());
        const toFirst = recordingStream(resumed.sessions, first);
        const toOther = recordingStream(resumed.sessions, other);
        await resumed.engine.resumeAll();
        await resumed.engine.stop();

        expect(toFirst.runs.map((j) => j.id)).toEqual([job.id]);
        expect(toOther.runs).toEqual([]);
        expect(await busyFor(t.db, job.id)).toEqual([first]);
        expect(await workerRow(t.db, other)).toEqual({ state: 'READY', current_job_id: null });
        expect(await sagaRow(t.db, sagaId)).toMatchObject({ state: 'WAITING', current_step: 3 });
        const types = (await eventsOf(t.db, job.id)).map((e) => e.type);
        expect(types).toEqual(['JobQueued', 'JobAssigned']);
      });

      it('two overlapping runs each claimed a worker: the one that did not assign gives its worker back', async () => {
        const first = await readyWorker(t.db, { idleMs: 2000 });
        const other = await readyWorker(t.db, { idleMs: 1000 });
        const h = createDispatchHarness(t.db);
        const toFirst = recordingStream(h.sessions, first);
        const toOther = recordingStream(h.sessions, other);
        const { job, sagaId } = await queueJob('overlap');
        await h.process(jobQueued(job)); // run A: reserves `first`, assigns, sends the RUN
        // Run B's claim overlapped A's, so it saw no worker held for the job and took `other`.
        await t.db.query(
          "UPDATE workers SET state = 'BUSY', current_job_id = $2, ready_since = NULL WHERE id = $1",
          [other, job.id],
        );
        const assign = executionSaga(h.deps).steps.find((s) => s.name === 'UpdateJobToAssigned');
        if (!assign) throw new Error('no UpdateJobToAssigned step');
        await expect(
          assign.execute({
            sagaId,
            correlationId: 'overlap',
            context: { jobId: job.id, attempt: 1, workerId: other },
            memo: {},
          }),
        ).rejects.toBeInstanceOf(DispatchTakenError);
        await h.engine.stop();

        expect(await workerRow(t.db, other)).toEqual({ state: 'READY', current_job_id: null });
        expect((await eventsOf(t.db, other)).map((e) => e.type)).toEqual(['WorkerReady']);
        expect(await busyFor(t.db, job.id)).toEqual([first]);
        expect(await jobRow(t.db, job.id)).toEqual({
          state: 'ASSIGNED',
          attempt: 1,
          worker_id: first,
        });
        expect(await sagaRow(t.db, sagaId)).toMatchObject({ state: 'WAITING' });
        expect(toFirst.runs.map((j) => j.id)).toEqual([job.id]);
        expect(toOther.runs).toEqual([]);
      });
    });
  });
}
