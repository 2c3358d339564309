// The ExecutionSaga's surroundings for saga tests: the saga engine and processor on a test
// database, a fake provider (the only port we fake) that records what it destroys, recording
// worker streams, READY workers, and a way to crash a run just before a given step, as a server
// that dies there would leave it. Each harness is one "server process": a second one on the same
// database, with its own (empty) streams, is that server after a restart.
import { createSagaEngine, type SagaEngine } from '../../src/sagas/saga-engine.js';
import { createSagaProcessor } from '../../src/sagas/saga-processor.js';
import { executionSaga } from '../../src/sagas/execution-saga.js';
import { provisioningSaga } from '../../src/sagas/provisioning-saga.js';
import { recoverySaga } from '../../src/sagas/recovery-saga.js';
import type { SagaDefinition } from '../../src/sagas/saga.js';
import type { SagaDeps } from '../../src/sagas/saga-deps.js';
import { createOutboxWriter } from '../../src/outbox/outbox-writer.js';
import { createWorkerSessions, type WorkerSessions } from '../../src/workers/worker-sessions.js';
import { createJobWatch } from '../../src/jobs/job-watch.js';
import { createJobCommands, type JobCommands } from '../../src/jobs/job-commands.js';
import { silentLogger } from '../../src/shared/logger.js';
import { systemClock } from '../../src/shared/clock.js';
import { newId } from '../../src/shared/ids.js';
import type { DeliveredEvent } from '../../src/events/catalog.js';
import type { Provider } from '../../src/providers/provider.js';
import type { JobRecord } from '../../src/jobs/job.js';
import type { Db } from '../../src/db/db.js';
import { testSecretBox } from '../helpers/secret-box.js';
import { rowById } from '../helpers/databases.js';
import { jobSpec } from '../helpers/job-spec.js';

export interface DispatchHarness {
  deps: SagaDeps;
  engine: SagaEngine;
  sessions: WorkerSessions;
  process: (event: DeliveredEvent) => Promise<void>;
  commands: JobCommands;
  /** External ids the fake provider was asked to destroy. */
  destroyed: string[];
}

export interface DispatchHarnessOptions {
  dispatchAckTimeoutMs?: number;
  /** The ExecutionSaga's run dies (an error that is not a step failure) when it reaches this step. */
  crashBefore?: string;
}

function fakeProvider(destroyed: string[]): Provider {
  return {
    name: 'process',
    create: () => Promise.resolve({ externalId: '999999' }),
    destroy: (externalId) => {
      destroyed.push(externalId);
      return Promise.resolve();
    },
    exists: () => Promise.resolve(false),
    list: () => Promise.resolve([]),
    inventory: () => Promise.resolve([]),
    capacity: () => Promise.resolve({}),
    onExit: () => () => undefined,
    close: () => Promise.resolve(),
  };
}

function crashingBefore<C extends Record<string, unknown>, M extends Record<string, unknown>>(
  definition: SagaDefinition<C, M>,
  stepName: string | undefined,
): SagaDefinition<C, M> {
  if (!stepName) return definition;
  return {
    ...definition,
    steps: definition.steps.map((step) =>
      step.name === stepName
        ? {
            ...step,
            execute: () => Promise.reject(new Error(`simulated crash before ${stepName}`)),
          }
        : step,
    ),
  };
}

export function createDispatchHarness(
  db: Db,
  options: DispatchHarnessOptions = {},
): DispatchHarness {
  const outbox = createOutboxWriter({ subjectPrefix: 'hodei.events' });
  const sessions = createWorkerSessions();
  const destroyed: string[] = [];
  const deps: SagaDeps = {
    secretBox: testSecretBox(),
    db,
    outbox,
    provider: fakeProvider(destroyed),
    sessions,
    logger: silentLogger(),
    serverUrl: () => 'http://127.0.0.1:1',
    settings: {
      maxWorkers: 4,
      provisioningTimeoutMs: 30_000,
      dispatchAckTimeoutMs: options.dispatchAckTimeoutMs ?? 10_000,
      workerWaitMs: 5000,
    },
  };
  const engine = createSagaEngine({
    db,
    outbox,
    logger: silentLogger(),
    clock: systemClock,
    definitions: [
      crashingBefore(executionSaga(deps), options.crashBefore),
      provisioningSaga(deps),
      recoverySaga(deps),
    ],
  });
  const process = createSagaProcessor({ engine, sessions, jobWatch: createJobWatch() });
  const commands = createJobCommands({ db, outbox, secretBox: deps.secretBox });
  return { deps, engine, sessions, process, commands, destroyed };
}

/** A READY worker as registration leaves one, idle for `idleMs` (the longest idle is claimed
 * first). Written directly: the OTP flow is not what these tests are about. */
export async function readyWorker(
  db: Db,
  options: { idleMs?: number; externalId?: string } = {},
): Promise<string> {
  const id = newId();
  await db.query(
    `INSERT INTO workers (id, provider, external_id, state, otp_hash, otp_used, correlation_id,
       registered_at, last_heartbeat_at, ready_since)
     VALUES ($1, 'process', $2, 'READY', 'x', true, 'w', now(), now(),
       now() - make_interval(secs => $3::double precision / 1000))`,
    [id, options.externalId ?? '', options.idleMs ?? 0],
  );
  return id;
}

/** A worker's state and the job it is BUSY for. */
export function workerState(
  db: Db,
  id: string,
): Promise<{ state: string; current_job_id: string | null }> {
  return rowById(db, 'SELECT state, current_job_id FROM workers WHERE id = $1', id, 'worker');
}

/** A saga's state, step and what it waits on. */
export function sagaState(
  db: Db,
  id: string,
): Promise<{ state: string; current_step: number; wait_key: string | null }> {
  return rowById(
    db,
    'SELECT state, current_step, wait_key FROM saga_instances WHERE id = $1',
    id,
    'saga',
  );
}

/** An open stream for the worker in this harness's process; records the RUN commands it carries
 * and why it was closed. */
export function recordingStream(
  sessions: WorkerSessions,
  workerId: string,
): { runs: JobRecord[]; closed: string[] } {
  const runs: JobRecord[] = [];
  const closed: string[] = [];
  sessions.tryAdd({
    workerId,
    sendRun: (job) => runs.push(job),
    sendCancel: () => undefined,
    close: (reason) => closed.push(reason),
  });
  return { runs, closed };
}

/** JobQueued for the job, as the relay delivers it. */
export function jobQueued(job: JobRecord): DeliveredEvent {
  return {
    eventId: newId(),
    type: 'JobQueued',
    correlationId: job.correlationId,
    payload: { jobId: job.id, attempt: job.attempt },
  };
}

/** A job of `echo` queued through the commands (its JobQueued written, not delivered). */
export async function queueEcho(db: Db, correlationId: string): Promise<JobRecord> {
  const { job } = await createDispatchHarness(db).commands.queue({
    spec: jobSpec({ command: 'echo' }),
    idempotencyKey: null,
    correlationId,
  });
  return job;
}

/** No worker alive and no saga waiting (earlier tests' sagas and workers are done with). */
export async function noWorkersNorWaiters(db: Db): Promise<void> {
  await db.query("UPDATE workers SET state = 'TERMINATED'");
  await db.query("UPDATE saga_instances SET state = 'COMPLETED' WHERE state = 'WAITING'");
}

/** The job waits out a retry backoff of an hour. */
export async function inRetryBackoff(db: Db, jobId: string): Promise<void> {
  await db.query("UPDATE jobs SET retry_at = now() + interval '1 hour' WHERE id = $1", [jobId]);
}
