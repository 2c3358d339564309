// A job's story from the database alone (OpsService.GetTrace, `hodei trace`): everything recorded
// under its correlation id — its jobs and their attempts, the outbox events in the order they were
// written, the sagas with their steps, the workers its attempts ran on and the ones provisioned
// for it, and dead letters. No tracing backend is needed: the outbox, the saga tables and
// job_attempts already hold the whole story until retention deletes it.
import type { Db } from '../db/db.js';
import { isUuid } from '../shared/ids.js';
import type { JobRecord } from '../jobs/job.js';
import { findJob, listJobsByCorrelation } from '../jobs/job-sql.js';
import { findJobAttempts, type JobAttemptRecord } from '../jobs/job-attempt-sql.js';
import { listEventsByCorrelation, type TracedEvent } from '../outbox/outbox-sql.js';
import { listSagasByCorrelation, type TracedSaga } from '../sagas/saga-sql.js';
import { findWorkersByIds, listWorkersByCorrelation } from '../workers/worker-sql.js';
import type { WorkerRecord } from '../workers/worker.js';
import {
  listFailedEventsByCorrelation,
  type FailedEvent,
} from '../deadletter/failed-events-sql.js';

export interface Trace {
  correlationId: string;
  /** When its first job was queued (or its first event, without a job): time zero. */
  origin: Date;
  jobs: Array<{ job: JobRecord; attempts: JobAttemptRecord[] }>;
  events: TracedEvent[];
  sagas: TracedSaga[];
  workers: WorkerRecord[];
  deadLetters: FailedEvent[];
}

/** Bounds on what one trace reads: a correlation id reused for thousands of jobs stays cheap. */
export const TRACE_LIMITS = Object.freeze({
  jobs: 50,
  events: 2000,
  sagas: 200,
  workers: 100,
  deadLetters: 200,
});

/** The trace of a job id or a correlation id, or undefined when nothing is recorded under it. */
export async function readTrace(db: Db, id: string): Promise<Trace | undefined> {
  const job = isUuid(id) ? await findJob(db, id) : undefined;
  const correlationId = job?.correlationId ?? id;
  const [jobs, events, sagas, provisioned, deadLetters] = await Promise.all([
    listJobsByCorrelation(db, correlationId, TRACE_LIMITS.jobs),
    listEventsByCorrelation(db, correlationId, TRACE_LIMITS.events),
    listSagasByCorrelation(db, correlationId, TRACE_LIMITS.sagas),
    listWorkersByCorrelation(db, correlationId, TRACE_LIMITS.workers),
    listFailedEventsByCorrelation(db, correlationId, TRACE_LIMITS.deadLetters),
  ]);
  if (jobs.length === 0 && events.length === 0 && sagas.length === 0) return undefined;
  const withAttempts = await Promise.all(
    jobs.map(async (j) => ({ job: j, attempts: await findJobAttempts(db, j.id) })),
  );
  // The workers its attempts ran on (a reused worker was provisioned under another id).
  const ranOn = new Set<string>();
  for (const { job: j, attempts } of withAttempts) {
    if (j.workerId) ranOn.add(j.workerId);
    for (const a of attempts) if (a.workerId) ranOn.add(a.workerId);
  }
  for (const w of provisioned) ranOn.delete(w.id);
  const others = await findWorkersByIds(db, [...ranOn].slice(0, TRACE_LIMITS.workers));
  const workers = [...provisioned, ...others].sort(
    (a, b) => a.createdAt.getTime() - b.createdAt.getTime(),
  );
  const starts = [...jobs.map((j) => j.createdAt), ...events.map((e) => e.occurredAt)];
  const origin = new Date(Math.min(...starts.map((d) => d.getTime()), Date.now()));
  return { correlationId, origin, jobs: withAttempts, events, sagas, workers, deadLetters };
}
