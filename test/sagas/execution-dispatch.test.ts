// The ExecutionSaga through the saga processor on a real PostgreSQL database: a JobQueued
// delivered five times creates one saga and dispatches once; a job with no free worker asks for
// provisioning and waits. The provider is a fake (the only port we fake); the worker's stream is
// a recording session.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DB_KINDS, createAnyTestDatabase, type AnyTestDatabase } from '../helpers/databases.js';
import { createSagaEngine } from '../../src/sagas/saga-engine.js';
import { createSagaProcessor } from '../../src/sagas/saga-processor.js';
import { executionSaga } from '../../src/sagas/execution-saga.js';
import { provisioningSaga } from '../../src/sagas/provisioning-saga.js';
import { recoverySaga } from '../../src/sagas/recovery-saga.js';
import type { SagaDeps } from '../../src/sagas/saga-deps.js';
import { createOutboxWriter } from '../../src/outbox/outbox-writer.js';
import { createWorkerSessions } from '../../src/workers/worker-sessions.js';
import { createJobWatch } from '../../src/jobs/job-watch.js';
import { createJobCommands } from '../../src/jobs/job-commands.js';
import { activateWorker, insertWorker, spendWorkerOtp } from '../../src/workers/worker-sql.js';
import { silentLogger } from '../../src/shared/logger.js';
import { systemClock } from '../../src/shared/clock.js';
import { newId, executionSagaId } from '../../src/shared/ids.js';
import type { Provider } from '../../src/providers/provider.js';
import type { JobRecord } from '../../src/jobs/job.js';
import { jobSpec } from '../helpers/job-spec.js';

const fakeProvider: Provider = {
  name: 'process',
  create: () => Promise.resolve({ externalId: '999999' }),
  destroy: () => Promise.resolve(),
  exists: () => Promise.resolve(false),
  list: () => Promise.resolve([]),
  capacity: () => Promise.resolve({}),
  onExit: () => () => undefined,
  close: () => Promise.resolve(),
};

function setup() {
  const outbox = createOutboxWriter({ subjectPrefix: 'hodei.events' });
  const sessions = createWorkerSessions();
  const deps: SagaDeps = {
    db: t.db,
    outbox,
    provider: fakeProvider,
    sessions,
    logger: silentLogger(),
    serverUrl: () => 'http://127.0.0.1:1',
    settings: {
      maxWorkers: 4,
      provisioningTimeoutMs: 30_000,
      dispatchAckTimeoutMs: 10_000,
      workerWaitMs: 5000,
    },
  };
  const engine = createSagaEngine({
    db: t.db,
    outbox,
    logger: silentLogger(),
    clock: systemClock,
    definitions: [executionSaga(deps), provisioningSaga(deps), recoverySaga(deps)],
  });
  const process = createSagaProcessor({ engine, sessions, jobWatch: createJobWatch() });
  const commands = createJobCommands({ db: t.db, outbox });
  return { engine, sessions, process, commands };
}

async function readyWorker(): Promise<string> {
  const id = newId();
  await insertWorker(t.db, { id, provider: 'process', otpHash: 'x', correlationId: 'w' });
  await spendWorkerOtp(t.db, id);
  await activateWorker(t.db, id);
  return id;
}

const spec = jobSpec();

// One database per adapter, in turn (the helpers above read the current one).
let t: AnyTestDatabase;

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
        const { sessions, process, commands, engine } = setup();
        const workerId = await readyWorker();
        const sent: JobRecord[] = [];
        sessions.add({
          workerId,
          sendRun: (job) => sent.push(job),
          sendCancel: () => undefined,
          close: () => undefined,
        });
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
        expect(sent.map((j) => j.id)).toEqual([job.id]);
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
        const { process, commands, engine } = setup();
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
    });
  });
}
