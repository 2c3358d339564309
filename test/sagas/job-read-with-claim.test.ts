// An ExecutionSaga's first look reads its job, reserves a worker and assigns the job to it with
// its JobAssigned in one statement (readJobAssigningWorker, decision 0026), on PostgreSQL and
// PGlite: only for a job at that attempt, PENDING and due; a job still in its retry backoff,
// finished or at another attempt leaves every worker READY and writes no event, and the saga that
// read it gives nothing back because it took nothing.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DB_KINDS, createAnyTestDatabase, type AnyTestDatabase } from '../helpers/databases.js';
import { jobSpec } from '../helpers/job-spec.js';
import { executionSagaId } from '../../src/shared/ids.js';
import { readJobAssigningWorker } from '../../src/workers/worker-sql.js';
import { createOutboxWriter } from '../../src/outbox/outbox-writer.js';
import { event } from '../../src/events/catalog.js';
import {
  inRetryBackoff,
  noWorkersNorWaiters,
  createDispatchHarness,
  jobQueued,
  readyWorker,
  recordingStream,
  workerState as stateOfWorker,
} from './dispatch-harness.js';

let t: AnyTestDatabase;

/** The saga's first look, as ValidateJobState runs it. */
async function readJobClaimingWorker(jobId: string, attempt: number) {
  const outbox = createOutboxWriter({ subjectPrefix: 'hodei.events' });
  const [look] = await outbox.changeWithRowEvents(
    t.db,
    readJobAssigningWorker(jobId, attempt),
    [
      {
        ...event('JobAssigned', jobId, 'c', { jobId, attempt, workerId: '' }),
        row: jobId,
        fill: { workerId: 'id' },
      },
    ],
    'job_id',
  );
  if (!look) throw new Error('the first look returned no row');
  return look;
}

/** The workerId of each JobAssigned of the job, in order. */
async function assignedEvents(jobId: string): Promise<string[]> {
  const result = await t.db.query<{ worker_id: string }>(
    `SELECT payload->>'workerId' AS worker_id FROM outbox_events
     WHERE event_type = 'JobAssigned' AND aggregate_id = $1 ORDER BY seq`,
    [jobId],
  );
  return result.rows.map((r) => r.worker_id);
}

const workerState = (id: string) => stateOfWorker(t.db, id);

for (const kind of DB_KINDS) {
  describe.sequential(kind, () => {
    beforeAll(async () => {
      t = await createAnyTestDatabase(kind);
    });
    afterAll(async () => {
      await t.drop();
    });

    describe(`${kind}: the job read with the worker claim`, () => {
      it('claims the longest-idle READY worker for a PENDING job at its attempt, and returns the job', async () => {
        await t.db.query("UPDATE workers SET state = 'TERMINATED'");
        const { commands } = createDispatchHarness(t.db);
        const { job } = await commands.queue({
          spec: jobSpec({ command: 'echo' }),
          idempotencyKey: null,
          correlationId: 'read-1',
        });
        const newer = await readyWorker(t.db, { idleMs: 10 });
        const older = await readyWorker(t.db, { idleMs: 5000 });
        const read = await readJobClaimingWorker(job.id, 1);
        expect(read.job).toMatchObject({
          id: job.id,
          command: 'echo',
          state: 'ASSIGNED',
          workerId: older,
        });
        expect(read.reservation?.worker?.id).toBe(older);
        expect(read.assigned).toBe(true);
        expect(await workerState(older)).toEqual({ state: 'BUSY', current_job_id: job.id });
        expect((await workerState(newer)).state).toBe('READY');
        expect(await assignedEvents(job.id)).toEqual([older]);
        // Read again (a re-run after a lost step record): assigned already, nothing claimed.
        const again = await readJobClaimingWorker(job.id, 1);
        expect(again).toMatchObject({
          job: { state: 'ASSIGNED', workerId: older },
          assigned: false,
        });
        expect(again.reservation).toBeUndefined();
        expect(await assignedEvents(job.id)).toEqual([older]);
        // A worker held for the PENDING job (a claim whose assignment did not happen): that one.
        await t.db.query(
          "UPDATE jobs SET state = 'PENDING', worker_id = NULL, assigned_at = NULL WHERE id = $1",
          [job.id],
        );
        const held = await readJobClaimingWorker(job.id, 1);
        expect(held.reservation?.worker?.id).toBe(older);
        expect(held.job).toMatchObject({ state: 'ASSIGNED', workerId: older });
        expect((await workerState(newer)).state).toBe('READY');
      });

      it('claims nothing for a job in its backoff, at another attempt, finished or gone', async () => {
        await t.db.query("UPDATE workers SET state = 'TERMINATED'");
        const { commands } = createDispatchHarness(t.db);
        const worker = await readyWorker(t.db);
        const queue = async (correlationId: string) =>
          (await commands.queue({ spec: jobSpec(), idempotencyKey: null, correlationId })).job;
        const backoff = await queue('read-2');
        await inRetryBackoff(t.db, backoff.id);
        const finished = await queue('read-3');
        await t.db.query("UPDATE jobs SET state = 'CANCELLED' WHERE id = $1", [finished.id]);
        const later = await queue('read-4');

        const inBackoff = await readJobClaimingWorker(backoff.id, 1);
        expect(inBackoff.job?.retryAt).toBeInstanceOf(Date);
        expect(inBackoff.reservation).toBeUndefined();
        expect((await readJobClaimingWorker(finished.id, 1)).reservation).toBeUndefined();
        expect((await readJobClaimingWorker(later.id, 2)).reservation).toBeUndefined();
        expect(await readJobClaimingWorker('00000000-0000-4000-8000-000000000000', 1)).toEqual({
          job: undefined,
          assigned: false,
        });
        expect(await workerState(worker)).toEqual({ state: 'READY', current_job_id: null });
        for (const id of [backoff.id, finished.id, later.id])
          expect(await assignedEvents(id)).toEqual([]);

        // Due now: the claim and the assignment go with the read.
        await t.db.query("UPDATE jobs SET retry_at = now() - interval '1 second' WHERE id = $1", [
          backoff.id,
        ]);
        const due = await readJobClaimingWorker(backoff.id, 1);
        expect(due.reservation?.worker?.id).toBe(worker);
        expect(due.job).toMatchObject({ state: 'ASSIGNED', workerId: worker });
        expect(await assignedEvents(backoff.id)).toEqual([worker]);
      });

      it('with no READY worker, reports how many workers are alive (for the provisioning decision)', async () => {
        await t.db.query("UPDATE workers SET state = 'TERMINATED'");
        const { commands } = createDispatchHarness(t.db);
        const busy = await readyWorker(t.db);
        await t.db.query("UPDATE workers SET state = 'BUSY' WHERE id = $1", [busy]);
        const { job } = await commands.queue({
          spec: jobSpec(),
          idempotencyKey: null,
          correlationId: 'read-5',
        });
        const read = await readJobClaimingWorker(job.id, 1);
        expect(read.reservation).toEqual({ worker: undefined, liveWorkers: 1 });
        expect(read).toMatchObject({ job: { state: 'PENDING' }, assigned: false });
        expect(await assignedEvents(job.id)).toEqual([]);
      });

      it('a saga whose job is in its retry backoff waits it out without taking the READY worker', async () => {
        await noWorkersNorWaiters(t.db);
        const h = createDispatchHarness(t.db);
        const worker = await readyWorker(t.db);
        const stream = recordingStream(h.sessions, worker);
        const { job } = await h.commands.queue({
          spec: jobSpec(),
          idempotencyKey: null,
          correlationId: 'read-6',
        });
        await inRetryBackoff(t.db, job.id);
        await h.process(jobQueued(job));
        const saga = await t.db.query<{ state: string; wait_key: string; current_step: number }>(
          'SELECT state, wait_key, current_step FROM saga_instances WHERE id = $1',
          [executionSagaId(job.id, 1)],
        );
        expect(saga.rows[0]).toEqual({
          state: 'WAITING',
          wait_key: `retry-due:${job.id}:1`,
          current_step: 0,
        });
        expect(await workerState(worker)).toEqual({ state: 'READY', current_job_id: null });
        expect(stream.runs).toEqual([]);

        // The backoff over, its deadline wakes the saga: read, claimed and sent in one run.
        await t.db.query('UPDATE jobs SET retry_at = now() WHERE id = $1', [job.id]);
        await t.db.query(
          "UPDATE saga_instances SET wait_deadline = now() - interval '1 second' WHERE id = $1",
          [executionSagaId(job.id, 1)],
        );
        await h.engine.sweep();
        await h.engine.stop();
        expect(stream.runs.map((j) => j.id)).toEqual([job.id]);
        expect(await workerState(worker)).toEqual({ state: 'BUSY', current_job_id: job.id });
      });
    });
  });
}
