// SQL for retries and the record of attempts (job_attempts, migration 0008): one function per
// statement. The statements that end an attempt otherwise (a terminal result, a requeue, a
// cancel) are in job-sql.ts and record the attempt themselves.
import type { Queryable } from '../db/db.js';
import { COLUMNS, columnsOf, toJob, type JobRow } from './job-row.js';
import type { JobRecord } from './job.js';

/** How an attempt ended, as job_attempts stores it. */
export type AttemptOutcome =
  | 'SUCCEEDED'
  | 'FAILED'
  | 'TIMED_OUT'
  | 'CANCELLED'
  | 'WORKER_LOST'
  | 'DISPATCH_FAILED'
  | 'SERVER_LOST';

export interface JobAttemptRecord {
  attempt: number;
  outcome: AttemptOutcome;
  exitCode: number | null;
  error: string;
  workerId: string | null;
  assignedAt: Date | null;
  startedAt: Date | null;
  finishedAt: Date;
  retryAt: Date | null;
}

/**
 * A failed run of this attempt and worker → PENDING at attempt + 1, one retry spent, held back
 * until `delayMs` from now (retry_at); the failed attempt recorded with that time, in the same
 * statement. Guarded by the retries seen when the delay was chosen (`retriesUsed`) and by
 * retries being left. Returns the job, or undefined if it had moved on or has no retry left.
 */
export async function retryJob(
  q: Queryable,
  update: {
    jobId: string;
    attempt: number;
    workerId: string;
    outcome: 'FAILED' | 'TIMED_OUT';
    exitCode: number | null;
    error: string;
    retriesUsed: number;
    delayMs: number;
  },
): Promise<JobRecord | undefined> {
  const result = await q.query<JobRow>(
    `WITH before AS (
       SELECT id, attempt, worker_id, assigned_at, started_at FROM jobs
       WHERE id = $1 AND attempt = $2 AND worker_id = $3 AND state IN ('ASSIGNED', 'RUNNING')
         AND retries_used = $4 AND retries_used < retries
       FOR UPDATE
     ), moved AS (
       UPDATE jobs j SET state = 'PENDING', attempt = j.attempt + 1,
         retries_used = j.retries_used + 1,
         retry_at = now() + make_interval(secs => $5::double precision / 1000),
         worker_id = NULL, assigned_at = NULL, started_at = NULL, finished_at = NULL,
         exit_code = NULL, error = $7, updated_at = now()
       FROM before b WHERE j.id = b.id
       RETURNING ${columnsOf('j')}
     ), kept AS (
       INSERT INTO job_attempts (job_id, attempt, outcome, exit_code, error, worker_id, assigned_at,
         started_at, retry_at)
       SELECT b.id, b.attempt, $6, $8, $7, b.worker_id, b.assigned_at,
         COALESCE(b.started_at, now()), m.retry_at
       FROM before b JOIN moved m ON m.id = b.id
       ON CONFLICT DO NOTHING
     )
     SELECT ${COLUMNS} FROM moved`,
    [
      update.jobId,
      update.attempt,
      update.workerId,
      update.retriesUsed,
      update.delayMs,
      update.outcome,
      update.error,
      update.exitCode,
    ],
  );
  const row = result.rows[0];
  return row ? toJob(row) : undefined;
}

/** Returns the job's ended attempts, oldest first. */
export async function findJobAttempts(q: Queryable, jobId: string): Promise<JobAttemptRecord[]> {
  const result = await q.query<{
    attempt: number;
    outcome: AttemptOutcome;
    exit_code: number | null;
    error: string;
    worker_id: string | null;
    assigned_at: Date | null;
    started_at: Date | null;
    finished_at: Date;
    retry_at: Date | null;
  }>(
    `SELECT attempt, outcome, exit_code, error, worker_id, assigned_at, started_at, finished_at,
       retry_at
     FROM job_attempts WHERE job_id = $1 ORDER BY attempt`,
    [jobId],
  );
  return result.rows.map((r) => ({
    attempt: r.attempt,
    outcome: r.outcome,
    exitCode: r.exit_code,
    error: r.error,
    workerId: r.worker_id,
    assignedAt: r.assigned_at,
    startedAt: r.started_at,
    finishedAt: r.finished_at,
    retryAt: r.retry_at,
  }));
}
