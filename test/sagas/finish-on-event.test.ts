// The ExecutionSaga's wait for its RUN's acknowledgement ends in the statement that would have
// woken it (SagaStep.finishOnEvent, engine.finishWaiting, decision 0026), on PostgreSQL and
// PGlite: a JobStarted completes the waiting saga with its last step's record and one
// SagaCompleted; a redelivery, or a saga not waiting there, changes nothing (no record either).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DB_KINDS, createAnyTestDatabase, type AnyTestDatabase } from '../helpers/databases.js';
import { jobSpec } from '../helpers/job-spec.js';
import { executionSagaId, newId } from '../../src/shared/ids.js';
import { jobStartedKey } from '../../src/sagas/saga-deps.js';
import {
  createDispatchHarness,
  jobQueued,
  readyWorker,
  recordingStream,
  sagaState as stateOfSaga,
} from './dispatch-harness.js';

let t: AnyTestDatabase;

const sagaState = (id: string) => stateOfSaga(t.db, id);

async function completedEvents(sagaId: string): Promise<number> {
  const result = await t.db.query<{ n: number }>(
    "SELECT count(*)::int AS n FROM outbox_events WHERE event_type = 'SagaCompleted' AND aggregate_id = $1",
    [sagaId],
  );
  return result.rows[0]?.n ?? -1;
}

for (const kind of DB_KINDS) {
  describe.sequential(kind, () => {
    beforeAll(async () => {
      t = await createAnyTestDatabase(kind);
    });
    afterAll(async () => {
      await t.drop();
    });

    describe(`${kind}: a wait that ends with its event`, () => {
      it('JobStarted completes the saga waiting for it in one statement; a redelivery changes nothing', async () => {
        await t.db.query("UPDATE workers SET state = 'TERMINATED'");
        const h = createDispatchHarness(t.db);
        const worker = await readyWorker(t.db);
        recordingStream(h.sessions, worker);
        const { job } = await h.commands.queue({
          spec: jobSpec(),
          idempotencyKey: null,
          correlationId: 'finish-1',
        });
        await h.process(jobQueued(job));
        const sagaId = executionSagaId(job.id, 1);
        expect(await sagaState(sagaId)).toEqual({
          state: 'WAITING',
          current_step: 3,
          wait_key: jobStartedKey(job.id, 1),
        });
        await t.db.query("UPDATE jobs SET state = 'RUNNING', started_at = now() WHERE id = $1", [
          job.id,
        ]);
        const started = {
          eventId: newId(),
          type: 'JobStarted' as const,
          correlationId: 'finish-1',
          payload: { jobId: job.id, attempt: 1, workerId: worker },
        };
        await h.process(started);
        expect(await sagaState(sagaId)).toEqual({
          state: 'COMPLETED',
          current_step: 4,
          wait_key: null,
        });
        const step = await t.db.query<{ name: string; state: string; output: unknown }>(
          'SELECT name, state, output FROM saga_steps WHERE saga_id = $1 AND step_index = 3',
          [sagaId],
        );
        expect(step.rows).toEqual([
          { name: 'SendRunJobCommand', state: 'COMPLETED', output: { started: true } },
        ]);
        expect(await completedEvents(sagaId)).toBe(1);

        // Delivered again, and the run's end: nothing waits any more.
        await h.process({ ...started, eventId: newId() });
        await h.process({
          eventId: newId(),
          type: 'JobSucceeded',
          correlationId: 'finish-1',
          payload: { jobId: job.id, attempt: 1, workerId: worker, exitCode: 0 },
        });
        expect(
          await h.engine.finishWaiting('execution', sagaId, jobStartedKey(job.id, 1), 'finish-1'),
        ).toBe(false);
        await h.engine.stop();
        expect((await sagaState(sagaId)).state).toBe('COMPLETED');
        expect(await completedEvents(sagaId)).toBe(1);
      });

      it('a saga waiting elsewhere in its steps is left alone', async () => {
        await t.db.query("UPDATE workers SET state = 'TERMINATED'");
        const h = createDispatchHarness(t.db);
        const { job } = await h.commands.queue({
          spec: jobSpec(),
          idempotencyKey: null,
          correlationId: 'finish-2',
        });
        // No worker: the saga waits for one at ReserveWorker.
        await h.process(jobQueued(job));
        const sagaId = executionSagaId(job.id, 1);
        expect(
          await h.engine.finishWaiting('execution', sagaId, jobStartedKey(job.id, 1), 'finish-2'),
        ).toBe(false);
        await h.engine.stop();
        expect(await sagaState(sagaId)).toMatchObject({ state: 'WAITING', current_step: 1 });
        expect(await completedEvents(sagaId)).toBe(0);
        // Nor is a record of the step it never reached written.
        const steps = await t.db.query<{ step_index: number }>(
          'SELECT step_index FROM saga_steps WHERE saga_id = $1 AND step_index >= 1',
          [sagaId],
        );
        expect(steps.rows).toEqual([]);
      });
    });
  });
}
