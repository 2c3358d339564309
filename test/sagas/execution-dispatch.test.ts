// The ExecutionSaga through the saga processor on PostgreSQL and PGlite: a JobQueued delivered
// five times creates one saga and dispatches once; a job with no free worker asks for
// provisioning and waits. The harness (dispatch-harness.ts) fakes the provider and records the
// worker's stream.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DB_KINDS, createAnyTestDatabase, type AnyTestDatabase } from '../helpers/databases.js';
import { newId, executionSagaId } from '../../src/shared/ids.js';
import { jobSpec } from '../helpers/job-spec.js';
import {
  createDispatchHarness,
  readyWorker,
  recordingStream,
  type DispatchHarness,
} from './dispatch-harness.js';

const spec = jobSpec();

// One database per adapter, in turn.
let t: AnyTestDatabase;

/** No worker alive and no saga waiting in the test database (earlier tests' sagas are done). */
async function noWorkersNorWaiters(): Promise<void> {
  await t.db.query("UPDATE workers SET state = 'TERMINATED'");
  await t.db.query("UPDATE saga_instances SET state = 'COMPLETED' WHERE state = 'WAITING'");
}

/** Queues a job and hands its JobQueued to the harness's saga processor, as the bus would. */
async function queueJob(h: DispatchHarness, correlationId: string) {
  const { job } = await h.commands.queue({ spec, idempotencyKey: null, correlationId });
  await h.process({
    eventId: newId(),
    type: 'JobQueued',
    correlationId,
    payload: { jobId: job.id, attempt: 1 },
  });
  return job;
}

for (const kind of DB_KINDS) {
  describe.sequential(kind, () => {
    beforeAll(async () => {
      t = await createAnyTestDatabase(kind);
    });
    afterAll(async () => {
      await t.drop();
    });

    describe(`${kind}: execution saga dispatch`, () => {
      it('JobQueued delivered five times creates one saga and one dispatch', async () => {
        const { sessions, process, commands, engine } = createDispatchHarness(t.db);
        const workerId = await readyWorker(t.db);
        const stream = recordingStream(sessions, workerId);
        const { job } = await commands.queue({
          spec,
          idempotencyKey: null,
          correlationId: 'dup-1',
        });
        const delivered = {
          eventId: newId(),
          type: 'JobQueued' as const,
          correlationId: 'dup-1',
          payload: { jobId: job.id, attempt: 1 },
        };
        await Promise.all([1, 2, 3, 4, 5].map(() => process(delivered)));
        await process(delivered);
        await engine.stop();
        expect(stream.runs.map((j) => j.id)).toEqual([job.id]);
        const sagas = await t.db.query<{ id: string; state: string }>(
          "SELECT id, state FROM saga_instances WHERE saga_type = 'execution' AND context->>'jobId' = $1",
          [job.id],
        );
        expect(sagas.rows).toEqual([{ id: executionSagaId(job.id, 1), state: 'WAITING' }]);
        const state = await t.db.query<{ state: string; worker_id: string }>(
          'SELECT state, worker_id FROM jobs WHERE id = $1',
          [job.id],
        );
        expect(state.rows[0]).toEqual({ state: 'ASSIGNED', worker_id: workerId });
        const assigned = await t.db.query<{ n: number }>(
          "SELECT count(*)::int AS n FROM outbox_events WHERE aggregate_id = $1 AND event_type = 'JobAssigned'",
          [job.id],
        );
        expect(assigned.rows[0]?.n).toBe(1);
      });

      it('with no free worker, asks for provisioning once and waits for WorkerReady', async () => {
        const { process, commands, engine } = createDispatchHarness(t.db);
        await t.db.query("UPDATE workers SET state = 'TERMINATED'");
        const { job } = await commands.queue({
          spec,
          idempotencyKey: null,
          correlationId: 'cold-1',
        });
        await process({
          eventId: newId(),
          type: 'JobQueued',
          correlationId: 'cold-1',
          payload: { jobId: job.id, attempt: 1 },
        });
        await engine.stop();
        const saga = await t.db.query<{ state: string; wait_key: string }>(
          'SELECT state, wait_key FROM saga_instances WHERE id = $1',
          [executionSagaId(job.id, 1)],
        );
        expect(saga.rows[0]).toEqual({ state: 'WAITING', wait_key: 'worker-ready' });
        const requested = await t.db.query<{ correlation_id: string }>(
          "SELECT correlation_id FROM outbox_events WHERE event_type = 'WorkerProvisioningRequested' AND payload->>'jobId' = $1",
          [job.id],
        );
        expect(requested.rows).toEqual([{ correlation_id: 'cold-1' }]);
      });

      it('behind waiting jobs, a new job still asks for a worker under the cap, and at the cap is parked at birth', async () => {
        const harness = createDispatchHarness(t.db);
        const { engine } = harness;
        await noWorkersNorWaiters();
        const queued = async (correlationId: string) => (await queueJob(harness, correlationId)).id;
        const saga = async (jobId: string) =>
          (
            await t.db.query<{ state: string; current_step: number }>(
              'SELECT state, current_step FROM saga_instances WHERE id = $1',
              [executionSagaId(jobId, 1)],
            )
          ).rows[0];
        const requested = async (jobId: string) =>
          (
            await t.db.query(
              "SELECT 1 FROM outbox_events WHERE event_type = 'WorkerProvisioningRequested' AND payload->>'jobId' = $1",
              [jobId],
            )
          ).rows.length;
        const first = await queued('park-1');
        const second = await queued('park-2');
        // Under the cap (no worker alive, 4 allowed): the second ran ReserveWorker and asked too.
        expect(await saga(second)).toEqual({ state: 'WAITING', current_step: 1 });
        expect([await requested(first), await requested(second)]).toEqual([1, 1]);
        // At the cap: four workers alive, all busy. The third is created parked, asks nothing.
        for (let i = 0; i < 4; i += 1) {
          const id = await readyWorker(t.db);
          await t.db.query("UPDATE workers SET state = 'BUSY', current_job_id = $2 WHERE id = $1", [
            id,
            newId(),
          ]);
        }
        const third = await queued('park-3');
        await engine.stop();
        expect(await saga(third)).toEqual({ state: 'WAITING', current_step: 0 });
        expect(await requested(third)).toBe(0);
      });

      it('a job cancelled while it waits for a worker ends its saga at once; the next WorkerReady goes to the job behind it', async () => {
        const harness = createDispatchHarness(t.db);
        const { process, commands, engine, sessions } = harness;
        await noWorkersNorWaiters();
        const queued = (correlationId: string) => queueJob(harness, correlationId);
        const first = await queued('cancel-1');
        const second = await queued('cancel-2');
        const sagaState = async (jobId: string) =>
          (
            await t.db.query<{ state: string }>('SELECT state FROM saga_instances WHERE id = $1', [
              executionSagaId(jobId, 1),
            ])
          ).rows[0]?.state;
        expect(await sagaState(first.id)).toBe('WAITING');
        await commands.cancel(first.id);
        await process({
          eventId: newId(),
          type: 'JobCancelled',
          correlationId: 'cancel-1',
          payload: { jobId: first.id, attempt: 1 },
        });
        expect(await sagaState(first.id)).toBe('COMPLETED');
        // A worker comes free: the one WorkerReady wakes the second job's saga, which takes it.
        const workerId = await readyWorker(t.db);
        const stream = recordingStream(sessions, workerId);
        await process({
          eventId: newId(),
          type: 'WorkerReady',
          correlationId: 'w',
          payload: { workerId },
        });
        await engine.stop();
        expect(stream.runs.map((r) => r.id)).toEqual([second.id]);
      });
    });
  });
}
