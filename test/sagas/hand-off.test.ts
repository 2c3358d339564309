// The ExecutionSaga's hand-off (handOffReadyWorkersStatement, decisions 0020 and 0028), on
// PostgreSQL and PGlite: the oldest waiting sagas paired with the longest-idle READY workers, each
// worker reserved for its saga's job and each saga woken, and each job that waits for a worker
// (this attempt's, PENDING, due) assigned to it with its JobAssigned, built in the same
// statement; a job in backoff, cancelled, at another attempt or gone is only read.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DB_KINDS, createAnyTestDatabase, type AnyTestDatabase } from '../helpers/databases.js';
import { executionSagaId, newId } from '../../src/shared/ids.js';
import { handOffReadyWorkersStatement } from '../../src/workers/worker-sql.js';
import { insertSagasStatement } from '../../src/sagas/saga-sql.js';
import { runStatement } from '../../src/db/statement.js';
import { createOutboxWriter } from '../../src/outbox/outbox-writer.js';
import type { DeliveredEvent } from '../../src/events/catalog.js';
import type { JobRecord } from '../../src/jobs/job.js';
import { WORKER_READY_KEY } from '../../src/sagas/saga-deps.js';
import {
  inRetryBackoff,
  noWorkersNorWaiters,
  queueEcho,
  readyWorker,
  workerState,
} from './dispatch-harness.js';

let t: AnyTestDatabase;

for (const kind of DB_KINDS) {
  describe.sequential(kind, () => {
    beforeAll(async () => {
      t = await createAnyTestDatabase(kind);
    });
    afterAll(async () => {
      await t.drop();
    });

    describe(`${kind}: the hand-off of READY workers to waiting sagas`, () => {
      const queue = (correlationId: string) => queueEcho(t.db, correlationId);

      /** An ExecutionSaga of the job at `attempt` (of job id `jobId` when given), waiting for a
       * worker; each one waits longer than the next. */
      const waitingSaga = async (job: JobRecord, attempt = 1, jobId = job.id) => {
        const id = executionSagaId(job.id, attempt);
        await runStatement(
          t.db,
          insertSagasStatement([
            {
              id,
              type: 'execution',
              correlationId: job.correlationId,
              context: { jobId, attempt },
            },
          ]),
        );
        await t.db.query(
          `UPDATE saga_instances SET state = 'WAITING', wait_key = $2, current_step = 1,
             created_at = clock_timestamp() WHERE id = $1`,
          [id, WORKER_READY_KEY],
        );
        return id;
      };

      const told: DeliveredEvent[] = [];
      const handOff = () =>
        createOutboxWriter({
          subjectPrefix: 'hodei.events',
          committed: { db: t.db, events: (events) => told.push(...events) },
        }).changeWithBuiltEvents(t.db, handOffReadyWorkersStatement(WORKER_READY_KEY, 16), {
          type: 'JobAssigned',
          aggregate: 'job_id',
          payload: { jobId: 'job_id', attempt: 'job_attempt', workerId: 'given' },
        });

      it('assigns each job that waits for a worker, with its JobAssigned, and only reads the others', async () => {
        await noWorkersNorWaiters(t.db);
        const due = await queue('hand-due');
        const backoff = await queue('hand-backoff');
        await inRetryBackoff(t.db, backoff.id);
        const cancelled = await queue('hand-cancelled');
        await t.db.query("UPDATE jobs SET state = 'CANCELLED' WHERE id = $1", [cancelled.id]);
        const other = await queue('hand-other-attempt');
        const gone = await queue('hand-gone');
        const later = await queue('hand-later');
        const sagas = [
          await waitingSaga(due),
          await waitingSaga(backoff),
          await waitingSaga(cancelled),
          await waitingSaga(other, 2),
          await waitingSaga(gone, 1, newId()),
          await waitingSaga(later),
        ];
        // Five workers, longest idle first: the sixth saga (the youngest) finds none.
        const workers: string[] = [];
        for (let i = 5; i > 0; i -= 1) workers.push(await readyWorker(t.db, { idleMs: i * 1000 }));
        told.length = 0;

        const handed = await handOff();
        expect(handed.map((h) => [h.saga.id, h.saga.state, h.given])).toEqual(
          sagas.slice(0, 5).map((id, i) => [id, 'IN_PROGRESS', workers[i]]),
        );
        const [w0, w1, w2, w3] = workers as [string, string, string, string];
        expect(handed.map((h) => h.memo?.job.state)).toEqual([
          'ASSIGNED',
          'PENDING',
          'CANCELLED',
          'PENDING',
          undefined,
        ]);
        expect(handed[0]?.memo?.job).toMatchObject({ id: due.id, workerId: w0, attempt: 1 });
        expect(handed[1]?.memo?.job.workerId).toBeNull();
        // Every worker given is BUSY for its saga's job; the saga's steps give back the ones
        // whose job does not wait for them.
        expect(await workerState(t.db, w0)).toEqual({ state: 'BUSY', current_job_id: due.id });
        expect(await workerState(t.db, w1)).toEqual({ state: 'BUSY', current_job_id: backoff.id });
        expect((await workerState(t.db, w3)).current_job_id).toBe(other.id);
        expect((await workerState(t.db, w2)).current_job_id).toBe(cancelled.id);
        const assigned = await t.db.query<{ aggregate_id: string; payload: unknown }>(
          `SELECT aggregate_id, payload FROM outbox_events
           WHERE event_type = 'JobAssigned' AND aggregate_id = ANY ($1::text[])`,
          [[due, backoff, cancelled, other, gone, later].map((j) => j.id)],
        );
        const payload = { jobId: due.id, attempt: 1, workerId: w0 };
        expect(assigned.rows).toEqual([{ aggregate_id: due.id, payload }]);
        expect(told.map((e) => [e.type, e.correlationId, e.payload])).toEqual([
          ['JobAssigned', 'hand-due', payload],
        ]);
        // The youngest still waits; with no READY worker left, a hand-off wakes no one.
        expect(await handOff()).toEqual([]);
        const waiting = await t.db.query<{ state: string }>(
          'SELECT state FROM saga_instances WHERE id = $1',
          [sagas[5]],
        );
        expect(waiting.rows[0]?.state).toBe('WAITING');
      });
    });
  });
}
