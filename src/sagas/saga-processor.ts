// The saga processor: the durable `saga-processor` consumer. It maps each event to the saga it
// starts or wakes; it changes no state itself (sagas do).
import type { DeliveredEvent, EventType } from '../events/catalog.js';
import { executionSagaId, provisioningSagaId, recoverySagaId } from '../shared/ids.js';
import type { JobWatch } from '../jobs/job-watch.js';
import type { WorkerSessions } from '../workers/worker-sessions.js';
import type { SagaEngine } from './saga-engine.js';
import { WORKER_READY_KEY, jobStartedKey, workerRegisteredKey } from './saga-deps.js';

export interface SagaProcessorDeps {
  engine: SagaEngine;
  sessions: WorkerSessions;
  jobWatch: JobWatch;
}

function str(payload: Record<string, unknown>, key: string): string {
  const value = payload[key];
  if (typeof value !== 'string' || value === '') throw new Error(`event payload lacks "${key}"`);
  return value;
}

function int(payload: Record<string, unknown>, key: string): number {
  const value = payload[key];
  if (typeof value !== 'number' || !Number.isInteger(value))
    throw new Error(`event payload lacks "${key}"`);
  return value;
}

/** The events of record only: the processor starts and wakes nothing for them, so the bus need
 * not deliver them to it (ConsumerOptions.ignoredSubjects). */
export const RECORD_ONLY_EVENTS: readonly EventType[] = [
  'WorkerCreated',
  'WorkerTerminated',
  'SagaStarted',
  'SagaStepCompleted',
  'SagaCompleted',
  'SagaCompensated',
  'SagaFailed',
];

/** The priority of a requeued attempt's ExecutionSaga among sagas waiting for a worker. */
export const REQUEUED_PRIORITY = 1;

/** How many job starts `startsThatEnded` remembers (beyond: the oldest is forgotten, and the end
 * of its run tries to end the saga as before). */
const STARTS_REMEMBERED = 10_000;

export function createSagaProcessor(
  deps: SagaProcessorDeps,
): (event: DeliveredEvent) => Promise<void> {
  const { engine } = deps;
  // The keys of job starts whose JobStarted ended the saga waiting for it, here: that saga never
  // waits on its key again, so the end of the same run (JobSucceeded, …), which ends it only in
  // case the JobStarted was lost, has nothing to do and skips the statement. Not remembered
  // (another server, a restart, a start not yet parked): the end tries as before.
  const startsThatEnded = new Set<string>();
  const rememberStart = (key: string) => {
    startsThatEnded.add(key);
    if (startsThatEnded.size > STARTS_REMEMBERED) {
      const oldest = startsThatEnded.values().next().value;
      if (oldest !== undefined) startsThatEnded.delete(oldest);
    }
  };
  // Starts under way: a short run's end can be handled while its start's finishWaiting is still
  // in flight (each is handled as it comes), and then waits for it rather than try on its own.
  const startsInFlight = new Map<string, Promise<boolean>>();
  return async (event) => {
    const p = event.payload;
    switch (event.type) {
      case 'JobQueued':
      case 'JobRequeued': {
        const jobId = str(p, 'jobId');
        const attempt = int(p, 'attempt');
        deps.jobWatch.notify(jobId);
        // A job taken off its worker (lost, or a failed dispatch) had its turn already: it gets
        // the next free worker ahead of the jobs queued behind it.
        await engine.start(
          'execution',
          executionSagaId(jobId, attempt),
          event.correlationId,
          { jobId, attempt },
          // While jobs wait for a worker, a new one's saga is created parked behind them.
          { priority: event.type === 'JobRequeued' ? REQUEUED_PRIORITY : 0, parkBehind: true },
        );
        return;
      }
      case 'JobRetryScheduled': {
        // The failed attempt's saga may still wait for its start; the next attempt's saga waits
        // out the backoff itself (ValidateJobState).
        const jobId = str(p, 'jobId');
        const attempt = int(p, 'attempt');
        deps.jobWatch.notify(jobId);
        await engine.wake(jobStartedKey(jobId, int(p, 'failedAttempt')), false);
        await engine.start('execution', executionSagaId(jobId, attempt), event.correlationId, {
          jobId,
          attempt,
        });
        return;
      }
      case 'WorkerProvisioningRequested': {
        const requestId = str(p, 'requestId');
        await engine.start('provisioning', provisioningSagaId(requestId), event.correlationId, {
          requestId,
          provider: str(p, 'provider'),
        });
        return;
      }
      case 'WorkerRegistered':
        await engine.wake(workerRegisteredKey(str(p, 'workerId')), false);
        return;
      case 'WorkerReady':
        await engine.wake(WORKER_READY_KEY, true);
        return;
      case 'WorkerLost': {
        const workerId = str(p, 'workerId');
        const jobId = typeof p.jobId === 'string' ? p.jobId : undefined;
        const attempt = typeof p.attempt === 'number' ? p.attempt : undefined;
        const job = jobId !== undefined && attempt !== undefined ? { jobId, attempt } : undefined;
        await engine.start('recovery', recoverySagaId(workerId, job), event.correlationId, {
          workerId,
          reason: typeof p.reason === 'string' ? p.reason : 'lost',
          jobId,
          attempt,
          ...(p.serverGone === true ? { serverGone: true } : {}),
        });
        return;
      }
      case 'JobCancelled': {
        const jobId = str(p, 'jobId');
        const attempt = int(p, 'attempt');
        deps.jobWatch.notify(jobId);
        if (typeof p.workerId === 'string')
          deps.sessions.get(p.workerId)?.sendCancel(jobId, attempt);
        // A job cancelled while it waited for a worker: its saga ends now, rather than being
        // the one a WorkerReady wakes (which would leave that worker idle until a deadline).
        else await engine.wakeSaga(executionSagaId(jobId, attempt));
        return;
      }
      case 'JobAssigned':
        deps.jobWatch.notify(str(p, 'jobId'));
        return;
      case 'JobStarted':
      case 'JobSucceeded':
      case 'JobFailed':
      case 'JobTimedOut': {
        const jobId = str(p, 'jobId');
        const attempt = int(p, 'attempt');
        deps.jobWatch.notify(jobId);
        const key = jobStartedKey(jobId, attempt);
        // The saga waiting for this start ends with it: completed in the statement that would
        // have woken it (SendRunJobCommand's finishOnEvent, decision 0026).
        const finish = () =>
          engine.finishWaiting(
            'execution',
            executionSagaId(jobId, attempt),
            key,
            event.correlationId,
          );
        if (event.type === 'JobStarted') {
          const ending = finish().then((finished) => {
            if (finished) rememberStart(key);
            return finished;
          });
          startsInFlight.set(key, ending);
          try {
            await ending;
          } finally {
            if (startsInFlight.get(key) === ending) startsInFlight.delete(key);
          }
          return;
        }
        await startsInFlight.get(key)?.catch(() => false);
        if (!startsThatEnded.delete(key)) await finish();
        return;
      }
      default:
        return; // RECORD_ONLY_EVENTS
    }
  };
}
