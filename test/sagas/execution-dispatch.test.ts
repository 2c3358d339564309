// The ExecutionSaga through the saga processor on PostgreSQL and PGlite: a JobQueued delivered
// five times creates one saga and dispatches once; a job with no free worker asks for
// provisioning and waits. The harness (dispatch-harness.ts) fakes the provider and records the
// worker's stream.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DB_KINDS, createAnyTestDatabase, type AnyTestDatabase } from '../helpers/databases.js';
import { newId, executionSagaId } from '../../src/shared/ids.js';
import { jobSpec } from '../helpers/job-spec.js';
import type { JobRecord } from '../../src/jobs/job.js';
import { traceIdFor } from '../../src/telemetry/tracing.js';
import {
  noWorkersNorWaiters,
  createDispatchHarness,
  readyWorker,
  recordingStream,
  type DispatchHarness,
} from './dispatch-harness.js';

const spec = jobSpec();

// One database per adapter, in turn.
let t: AnyTestDatabase;

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
        await noWorkersNorWaiters(t.db);
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
        await noWorkersNorWaiters(t.db);
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

      it('a WorkerReady hands every READY worker to the oldest waiting jobs as it wakes them, and wakes none when no worker is free', async () => {
        const harness = createDispatchHarness(t.db);
        const { process, engine, sessions } = harness;
        await noWorkersNorWaiters(t.db);
        const jobs: JobRecord[] = [];
        for (const c of ['hand-1', 'hand-2', 'hand-3']) jobs.push(await queueJob(harness, c));
        const waiting = async () =>
          (
            await t.db.query<{ id: string }>(
              "SELECT id FROM saga_instances WHERE state = 'WAITING' AND wait_key = 'worker-ready' AND id = ANY($1)",
              [jobs.map((j) => executionSagaId(j.id, 1))],
            )
          ).rows.length;
        expect(await waiting()).toBe(3);
        // Two workers come free (the longest idle first); one WorkerReady is handled.
        const older = await readyWorker(t.db, { idleMs: 2000 });
        const newer = await readyWorker(t.db, { idleMs: 1000 });
        const streams = [recordingStream(sessions, older), recordingStream(sessions, newer)];
        await process({
          eventId: newId(),
          type: 'WorkerReady',
          correlationId: 'w',
          payload: { workerId: older },
        });
        // The two oldest jobs, each with its own worker; the third still waits.
        expect(streams.map((s) => s.runs.map((r) => r.id))).toEqual([[jobs[0]?.id], [jobs[1]?.id]]);
        expect(await waiting()).toBe(1);
        const steps = await t.db.query<{ output: { workerId: string; handedOff: boolean } }>(
          "SELECT output FROM saga_steps WHERE saga_id = $1 AND name = 'ReserveWorker'",
          [executionSagaId(jobs[0]?.id ?? '', 1)],
        );
        // The hand-off assigned each job with its JobAssigned (decision 0028), in the trace of
        // the job's correlation id: once, naming its worker.
        expect(steps.rows[0]?.output).toEqual({ workerId: older, handedOff: true, assigned: true });
        const assigned = await t.db.query<{
          aggregate_id: string;
          correlation_id: string;
          traceparent: string;
          payload: { jobId: string; attempt: number; workerId: string };
        }>(
          `SELECT aggregate_id, correlation_id, traceparent, payload FROM outbox_events
           WHERE event_type = 'JobAssigned' AND aggregate_id = ANY ($1::text[]) ORDER BY seq`,
          [jobs.map((j) => j.id)],
        );
        expect(assigned.rows.map((r) => [r.aggregate_id, r.correlation_id, r.payload])).toEqual([
          [jobs[0]?.id, 'hand-1', { jobId: jobs[0]?.id, attempt: 1, workerId: older }],
          [jobs[1]?.id, 'hand-2', { jobId: jobs[1]?.id, attempt: 1, workerId: newer }],
        ]);
        for (const row of assigned.rows)
          expect(row.traceparent).toMatch(
            new RegExp(`^00-${traceIdFor(row.correlation_id)}-[0-9a-f]{16}-01$`),
          );
        // No worker free: the next WorkerReady wakes no one.
        expect(await engine.wake('worker-ready', true)).toBe(0);
        expect(await waiting()).toBe(1);
        await engine.stop();
      });

      it('a worker handed to the saga of a job cancelled meanwhile is given back, and the next waiter gets it', async () => {
        const harness = createDispatchHarness(t.db);
        const { process, commands, engine, sessions } = harness;
        await noWorkersNorWaiters(t.db);
        // At the cap, all busy: the first job waits in ReserveWorker, the next two are parked at
        // birth (in ValidateJobState).
        const first = await queueJob(harness, 'give-1');
        const busy: string[] = [];
        for (let i = 0; i < 4; i += 1) {
          const id = await readyWorker(t.db);
          await t.db.query("UPDATE workers SET state = 'BUSY', current_job_id = $2 WHERE id = $1", [
            id,
            newId(),
          ]);
          busy.push(id);
        }
        const second = await queueJob(harness, 'give-2');
        const third = await queueJob(harness, 'give-3');
        // The second is cancelled, its JobCancelled not yet handled: its saga still waits.
        await commands.cancel(second.id);
        const free = async (workerId: string) => {
          await t.db.query(
            "UPDATE workers SET state = 'READY', current_job_id = NULL, ready_since = now() WHERE id = $1",
            [workerId],
          );
          await process({
            eventId: newId(),
            type: 'WorkerReady',
            correlationId: 'w',
            payload: { workerId },
          });
        };
        const [w1, w2] = busy as [string, string];
        const streams = [recordingStream(sessions, w1), recordingStream(sessions, w2)];
        await free(w1);
        await free(w2);
        // The second's saga gave w2 back (READY, with its WorkerReady written) and ended.
        const given = await t.db.query<{ state: string }>(
          'SELECT state FROM workers WHERE id = $1',
          [w2],
        );
        expect(given.rows[0]?.state).toBe('READY');
        const ready = await t.db.query(
          "SELECT 1 FROM outbox_events WHERE event_type = 'WorkerReady' AND aggregate_id = $1",
          [w2],
        );
        expect(ready.rows.length).toBe(1);
        // That WorkerReady, delivered, hands w2 to the third.
        await process({
          eventId: newId(),
          type: 'WorkerReady',
          correlationId: 'w',
          payload: { workerId: w2 },
        });
        await engine.stop();
        expect(streams.map((st) => st.runs.map((r) => r.id))).toEqual([[first.id], [third.id]]);
        const sagas = await t.db.query<{ id: string; state: string }>(
          'SELECT id, state FROM saga_instances WHERE id = ANY($1)',
          [[second.id, third.id].map((id) => executionSagaId(id, 1))],
        );
        expect(new Map(sagas.rows.map((r) => [r.id, r.state]))).toEqual(
          new Map([
            [executionSagaId(second.id, 1), 'COMPLETED'],
            [executionSagaId(third.id, 1), 'WAITING'],
          ]),
        );
      });
    });
  });
}
