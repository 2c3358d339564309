// ExecutionSagas created IN_PROGRESS take their first look in the statement that creates them
// (insertSagasDispatchingStatement, decision 0027), on PostgreSQL and PGlite: sagas started
// together are paired in their order with the longest-idle READY workers, each job assigned with
// its JobAssigned; a job that is not due, finished, or held by a worker already is only read; a
// saga parked at birth looks at nothing; a saga that exists already (a redelivery) is not
// inserted and changes nothing.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DB_KINDS, createAnyTestDatabase, type AnyTestDatabase } from '../helpers/databases.js';
import { jobSpec } from '../helpers/job-spec.js';
import { executionSagaId } from '../../src/shared/ids.js';
import { insertSagasDispatchingStatement } from '../../src/workers/worker-sql.js';
import { createOutboxWriter } from '../../src/outbox/outbox-writer.js';
import { event } from '../../src/events/catalog.js';
import type { NewSaga, SagaParking } from '../../src/sagas/saga-sql.js';
import type { JobRecord } from '../../src/jobs/job.js';
import {
  inRetryBackoff,
  noWorkersNorWaiters,
  createDispatchHarness,
  queueEcho,
  jobQueued,
  readyWorker,
  recordingStream,
  workerState as stateOfWorker,
} from './dispatch-harness.js';

let t: AnyTestDatabase;

const sagaOf = (job: JobRecord, attempt = 1): NewSaga => ({
  id: executionSagaId(job.id, attempt),
  type: 'execution',
  correlationId: job.correlationId,
  context: { jobId: job.id, attempt },
});

/** The sagas started together, as the engine starts them. */
async function start(sagas: NewSaga[], parking?: SagaParking) {
  const outbox = createOutboxWriter({ subjectPrefix: 'hodei.events' });
  return outbox.changeWithRowEvents(
    t.db,
    insertSagasDispatchingStatement(sagas, parking),
    sagas.flatMap((saga) => {
      const { jobId, attempt } = saga.context as { jobId: string; attempt: number };
      return [
        {
          ...event('SagaStarted', saga.id, saga.correlationId, {
            sagaId: saga.id,
            sagaType: 'execution',
          }),
          row: saga.id,
        },
        {
          ...event('JobAssigned', jobId, saga.correlationId, { jobId, attempt, workerId: '' }),
          row: saga.id,
          fill: { workerId: 'worker_id' },
        },
      ];
    }),
  );
}

/** The events of these aggregates but JobQueued, in order: type and the workerId of a JobAssigned. */
async function events(ids: string[]): Promise<string[]> {
  const result = await t.db.query<{ event_type: string; worker_id: string | null }>(
    `SELECT event_type, payload->>'workerId' AS worker_id FROM outbox_events
     WHERE aggregate_id = ANY ($1::text[]) AND event_type <> 'JobQueued' ORDER BY seq`,
    [ids],
  );
  return result.rows.map((r) => (r.worker_id ? `${r.event_type}:${r.worker_id}` : r.event_type));
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

    describe(`${kind}: the first look at a saga's start`, () => {
      const queue = (correlationId: string) => queueEcho(t.db, correlationId);

      it('pairs the sagas started together, in order, with the longest-idle READY workers', async () => {
        await t.db.query("UPDATE workers SET state = 'TERMINATED'");
        const jobs = [await queue('start-1'), await queue('start-2'), await queue('start-3')];
        const newer = await readyWorker(t.db, { idleMs: 10 });
        const older = await readyWorker(t.db, { idleMs: 5000 });
        const sagas = jobs.map((job) => sagaOf(job));
        const started = await start(sagas);
        expect(started.map((s) => s.saga)).toMatchObject(
          sagas.map((s) => ({ id: s.id, state: 'IN_PROGRESS', current_step: 0 })),
        );
        const [first, second, third] = started.map((s) => s.memo);
        expect(first?.job).toMatchObject({ id: jobs[0]!.id, state: 'ASSIGNED', workerId: older });
        expect(first?.reservation?.worker).toMatchObject({ id: older, state: 'BUSY' });
        expect(second?.job).toMatchObject({ state: 'ASSIGNED', workerId: newer });
        expect(second?.reservation?.worker?.id).toBe(newer);
        expect(third).toEqual({
          job: expect.objectContaining({ id: jobs[2]!.id, state: 'PENDING' }) as unknown,
          reservation: { worker: undefined, liveWorkers: 2 },
        });
        expect(await workerState(older)).toEqual({ state: 'BUSY', current_job_id: jobs[0]!.id });
        expect(await workerState(newer)).toEqual({ state: 'BUSY', current_job_id: jobs[1]!.id });
        expect(await events([...sagas.map((s) => s.id), ...jobs.map((j) => j.id)])).toEqual([
          'SagaStarted',
          `JobAssigned:${older}`,
          'SagaStarted',
          `JobAssigned:${newer}`,
          'SagaStarted',
        ]);

        // Started again (a redelivery): nothing inserted, nothing claimed, no event.
        const spare = await readyWorker(t.db);
        expect(await start([sagaOf(jobs[2]!)])).toEqual([]);
        expect((await workerState(spare)).state).toBe('READY');
        expect(await events([jobs[2]!.id])).toEqual([]);
      });

      it('only reads a job that is not due, finished, at another attempt or held by a worker', async () => {
        await t.db.query("UPDATE workers SET state = 'TERMINATED'");
        const worker = await readyWorker(t.db);
        const backoff = await queue('start-4');
        await inRetryBackoff(t.db, backoff.id);
        const cancelled = await queue('start-5');
        await t.db.query("UPDATE jobs SET state = 'CANCELLED' WHERE id = $1", [cancelled.id]);
        const later = await queue('start-6');
        const held = await queue('start-7');
        const holder = await readyWorker(t.db);
        await t.db.query("UPDATE workers SET state = 'BUSY', current_job_id = $2 WHERE id = $1", [
          holder,
          held.id,
        ]);
        const started = await start([
          sagaOf(backoff),
          sagaOf(cancelled),
          sagaOf(later, 2),
          sagaOf(held),
          {
            ...sagaOf(held),
            id: executionSagaId(held.id, 9),
            context: { jobId: '00000000-0000-4000-8000-000000000000', attempt: 9 },
          },
        ]);
        expect(started.map((s) => s.memo?.job?.state)).toEqual([
          'PENDING',
          'CANCELLED',
          'PENDING',
          'PENDING',
          undefined,
        ]);
        for (const s of started) expect(s.memo?.reservation).toBeUndefined();
        expect(await workerState(worker)).toEqual({ state: 'READY', current_job_id: null });
        expect(await workerState(holder)).toEqual({ state: 'BUSY', current_job_id: held.id });
        expect(await events([backoff.id, cancelled.id, later.id, held.id])).toEqual([]);
      });

      it('a saga parked at birth looks at nothing', async () => {
        await noWorkersNorWaiters(t.db);
        const worker = await readyWorker(t.db);
        const waiting = await queue('start-8');
        const parking = { key: 'worker-ready', deadlineMs: 60_000 };
        // Nobody waits on the key: created IN_PROGRESS, and it dispatches.
        const [running] = await start([sagaOf(waiting)], parking);
        expect(running?.saga.state).toBe('IN_PROGRESS');
        expect(running?.memo?.reservation?.worker?.id).toBe(worker);
        await t.db.query(
          "UPDATE saga_instances SET state = 'WAITING', wait_key = 'worker-ready' WHERE id = $1",
          [running!.saga.id],
        );
        // Now one does: the next is created WAITING and reads nothing, claims nothing.
        const spare = await readyWorker(t.db);
        const behind = await queue('start-9');
        const [parked] = await start([sagaOf(behind)], parking);
        expect(parked).toEqual({ saga: expect.objectContaining({ state: 'WAITING' }) as unknown });
        expect((await workerState(spare)).state).toBe('READY');
        expect(await events([sagaOf(behind).id, behind.id])).toEqual(['SagaStarted']);
      });

      it('through the saga processor: one JobAssigned, the RUN sent, the steps find the work done', async () => {
        await noWorkersNorWaiters(t.db);
        const h = createDispatchHarness(t.db);
        const worker = await readyWorker(t.db);
        const stream = recordingStream(h.sessions, worker);
        const { job } = await h.commands.queue({
          spec: jobSpec(),
          idempotencyKey: null,
          correlationId: 'start-10',
        });
        await h.process(jobQueued(job));
        await h.process(jobQueued(job));
        await h.engine.stop();
        expect(stream.runs.map((j) => j.id)).toEqual([job.id]);
        expect(await events([job.id])).toEqual([`JobAssigned:${worker}`]);
        const steps = await t.db.query<{ name: string; output: unknown }>(
          'SELECT name, output FROM saga_steps WHERE saga_id = $1 ORDER BY step_index',
          [executionSagaId(job.id, 1)],
        );
        expect(steps.rows.slice(0, 3)).toMatchObject([
          { name: 'ValidateJobState', output: null },
          { name: 'ReserveWorker', output: { workerId: worker, assigned: true } },
          { name: 'UpdateJobToAssigned' },
        ]);
      });
    });
  });
}
