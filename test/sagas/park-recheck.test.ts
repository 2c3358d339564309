// A saga's recheck made by the statement that parks it (StepOutcome `recheckInPark`, decision
// 0026), as the ExecutionSaga's wait for the acknowledgement of its RUN uses it: an
// acknowledgement committed before that statement ends the wait in the same run, with no wake-up;
// on PostgreSQL, one still uncommitted when the statement starts makes it wait for the outcome and
// then see it (the job's row is locked FOR SHARE), so no acknowledgement falls between the look and
// the WAITING row.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DB_KINDS, createAnyTestDatabase, type AnyTestDatabase } from '../helpers/databases.js';
import { jobSpec } from '../helpers/job-spec.js';
import { executionSagaId } from '../../src/shared/ids.js';
import type { Db } from '../../src/db/db.js';
import { runStatement } from '../../src/db/statement.js';
import { jobMovedOn } from '../../src/jobs/job-sql.js';
import { parkRecheckingStatement } from '../../src/sagas/saga-sql.js';
import {
  createDispatchHarness,
  jobQueued,
  readyWorker,
  recordingStream,
  sagaState as stateOfSaga,
} from './dispatch-harness.js';

let t: AnyTestDatabase;

/** The database, running `before` ahead of the statement that parks a saga with a recheck. */
function beforeParking(db: Db, before: () => Promise<void>): Db {
  return {
    kind: db.kind,
    transaction: (fn) => db.transaction(fn),
    listen: (channel, onNotify) => db.listen(channel, onNotify),
    close: () => db.close(),
    async query(sql, params) {
      if (sql.includes('AS found')) await before();
      return db.query(sql, params);
    },
  };
}

const sagaState = (id: string) => stateOfSaga(t.db, id);

for (const kind of DB_KINDS) {
  describe.sequential(kind, () => {
    beforeAll(async () => {
      t = await createAnyTestDatabase(kind);
    });
    afterAll(async () => {
      await t.drop();
    });

    describe(`${kind}: the recheck in the park statement`, () => {
      it('an acknowledgement committed before the park ends the wait in the same run, with no wake-up', async () => {
        await t.db.query("UPDATE workers SET state = 'TERMINATED'");
        let jobId = '';
        const db = beforeParking(t.db, async () => {
          // The worker's acknowledgement, as it lands between the RUN and the WAITING row.
          await t.db.query(
            "UPDATE jobs SET state = 'RUNNING', started_at = now() WHERE id = $1 AND state = 'ASSIGNED'",
            [jobId],
          );
        });
        const h = createDispatchHarness(db);
        const worker = await readyWorker(t.db);
        const stream = recordingStream(h.sessions, worker);
        const { job } = await h.commands.queue({
          spec: jobSpec(),
          idempotencyKey: null,
          correlationId: 'park-1',
        });
        jobId = job.id;
        await h.process(jobQueued(job));
        await h.engine.stop();
        expect(stream.runs.map((j) => j.id)).toEqual([job.id]);
        expect(await sagaState(executionSagaId(job.id, 1))).toMatchObject({
          state: 'COMPLETED',
          wait_key: null,
        });
      });

      it('without an acknowledgement the saga parks, waiting for it', async () => {
        await t.db.query("UPDATE workers SET state = 'TERMINATED'");
        const h = createDispatchHarness(t.db);
        const worker = await readyWorker(t.db);
        recordingStream(h.sessions, worker);
        const { job } = await h.commands.queue({
          spec: jobSpec(),
          idempotencyKey: null,
          correlationId: 'park-2',
        });
        await h.process(jobQueued(job));
        await h.engine.stop();
        expect(await sagaState(executionSagaId(job.id, 1))).toEqual({
          state: 'WAITING',
          current_step: 3,
          wait_key: `job-started:${job.id}:1`,
        });
      });
    });
  });
}

// An acknowledgement in flight while the park runs needs two connections: PostgreSQL only (PGlite
// is one connection, so nothing is ever uncommitted while another statement runs).
describe.sequential(
  'postgres: the recheck in the park statement, against a concurrent change',
  () => {
    beforeAll(async () => {
      t = await createAnyTestDatabase('postgres');
    });
    afterAll(async () => {
      await t.drop();
    });

    it('an acknowledgement uncommitted when the park starts is waited for, then seen; one rolled back is not', async () => {
      for (const outcome of ['commit', 'rollback'] as const) {
        const h = createDispatchHarness(t.db);
        const { job } = await h.commands.queue({
          spec: jobSpec(),
          idempotencyKey: null,
          correlationId: `park-3-${outcome}`,
        });
        const worker = await readyWorker(t.db);
        await t.db.query(
          "UPDATE jobs SET state = 'ASSIGNED', worker_id = $2, assigned_at = now() WHERE id = $1",
          [job.id, worker],
        );
        const sagaId = executionSagaId(job.id, 1);
        await t.db.query(
          `INSERT INTO saga_instances (id, saga_type, state, correlation_id, context, current_step)
               VALUES ($1, 'execution', 'IN_PROGRESS', 'c', '{}', 3)`,
          [sagaId],
        );
        let release: () => void = () => undefined;
        let updated: () => void = () => undefined;
        const holding = new Promise<void>((resolve) => (updated = resolve));
        const ack = t.db
          .transaction(async (tx) => {
            await tx.query("UPDATE jobs SET state = 'RUNNING' WHERE id = $1", [job.id]);
            updated();
            await new Promise<void>((resolve) => (release = resolve));
            if (outcome === 'rollback') throw new Error('rolled back');
          })
          .catch(() => undefined);
        await holding;
        let parkedAt = 0;
        const park = runStatement(
          t.db,
          parkRecheckingStatement(
            {
              id: sagaId,
              from: 'IN_PROGRESS',
              state: 'WAITING',
              currentStep: 3,
              context: {},
              waitKey: `job-started:${job.id}:1`,
              waitDeadline: new Date(Date.now() + 60_000),
            },
            'c',
            [],
            jobMovedOn(job.id, 1),
          ),
        ).then((rows) => {
          parkedAt = Date.now();
          return rows;
        });
        await new Promise((resolve) => setTimeout(resolve, 200));
        expect(parkedAt).toBe(0); // blocked on the job's row
        const releasedAt = Date.now();
        release();
        await ack;
        const stayed = await park;
        expect(parkedAt).toBeGreaterThanOrEqual(releasedAt);
        expect(stayed).toEqual([outcome === 'commit']);
        expect((await sagaState(sagaId)).state).toBe(
          outcome === 'commit' ? 'IN_PROGRESS' : 'WAITING',
        );
      }
    });
  },
);
