// SQL for the jobs table: one function per statement. State changes are guarded by the expected
// state (and attempt), and report whether they changed a row.
import type { Queryable } from '../db/db.js';
import type { SqlCondition, Statement } from '../db/statement.js';
import type { JobRecord, StoredJobSpec } from './job.js';
import type { JobState } from './job-state.js';
import { COLUMNS, columnsOf, toJob, type JobRow } from './job-row.js';

/** A job to insert. */
export interface NewJob {
  id: string;
  spec: StoredJobSpec;
  /** Keyed hash of the idempotency key and the secret values (both given), else null. */
  secretsDigest?: string | null;
  idempotencyKey: string | null;
  correlationId: string;
  /** The API token queueing it; absent or null with auth off. */
  queuedBy?: string | null;
}

/** Inserts a PENDING job; returns it, or no row when the idempotency key is already taken. */
export function insertJobStatement(job: NewJob): Statement<JobRecord> {
  const s = job.spec;
  return {
    text: `INSERT INTO jobs (id, name, command, args, env, working_dir, timeout_ms, max_attempts,
       labels, provider, idempotency_key, correlation_id, state, retries, retry_backoff_ms,
       retry_max_backoff_ms, queued_by, secret_names, secrets_digest)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, 'PENDING', $13, $14, $15, $16, $17,
       $18)
     ON CONFLICT (idempotency_key) DO NOTHING
     RETURNING ${COLUMNS}`,
    params: [
      job.id,
      s.name,
      s.command,
      JSON.stringify(s.args),
      JSON.stringify(s.env),
      s.workingDir,
      s.timeoutMs,
      s.maxAttempts,
      JSON.stringify(s.labels),
      s.provider,
      job.idempotencyKey,
      job.correlationId,
      s.retry.retries,
      s.retry.backoffMs,
      s.retry.maxBackoffMs,
      job.queuedBy ?? null,
      JSON.stringify(s.secretNames),
      job.secretsDigest ?? null,
    ],
    read: toJob,
  };
}

/** Inserts PENDING jobs in one statement (in the given order); returns those inserted — a job
 * whose idempotency key is already taken is left out. */
export function insertJobsStatement(jobs: readonly NewJob[]): Statement<JobRecord> {
  const rows = jobs.map((job, ord) => ({
    ord,
    id: job.id,
    name: job.spec.name,
    command: job.spec.command,
    args: job.spec.args,
    env: job.spec.env,
    working_dir: job.spec.workingDir,
    timeout_ms: job.spec.timeoutMs,
    max_attempts: job.spec.maxAttempts,
    labels: job.spec.labels,
    provider: job.spec.provider,
    idempotency_key: job.idempotencyKey,
    correlation_id: job.correlationId,
    retries: job.spec.retry.retries,
    retry_backoff_ms: job.spec.retry.backoffMs,
    retry_max_backoff_ms: job.spec.retry.maxBackoffMs,
    queued_by: job.queuedBy ?? null,
    secret_names: job.spec.secretNames,
    secrets_digest: job.secretsDigest ?? null,
  }));
  return {
    text: `INSERT INTO jobs (id, name, command, args, env, working_dir, timeout_ms, max_attempts,
       labels, provider, idempotency_key, correlation_id, state, retries, retry_backoff_ms,
       retry_max_backoff_ms, queued_by, secret_names, secrets_digest)
     SELECT r.id, r.name, r.command, r.args, r.env, r.working_dir, r.timeout_ms, r.max_attempts,
       r.labels, r.provider, r.idempotency_key, r.correlation_id, 'PENDING', r.retries,
       r.retry_backoff_ms, r.retry_max_backoff_ms, r.queued_by, r.secret_names, r.secrets_digest
     FROM jsonb_to_recordset($1::jsonb) AS r(ord int, id uuid, name text, command text, args jsonb,
       env jsonb, working_dir text, timeout_ms bigint, max_attempts int, labels jsonb,
       provider text, idempotency_key text, correlation_id text, retries int,
       retry_backoff_ms bigint, retry_max_backoff_ms bigint, queued_by text, secret_names jsonb,
       secrets_digest text)
     ORDER BY r.ord
     ON CONFLICT (idempotency_key) DO NOTHING
     RETURNING ${COLUMNS}`,
    params: [JSON.stringify(rows)],
    read: toJob,
  };
}

/** Returns the jobs queued under these idempotency keys. */
export async function findJobsByIdempotencyKeys(
  q: Queryable,
  keys: readonly string[],
): Promise<JobRecord[]> {
  if (keys.length === 0) return [];
  const result = await q.query<JobRow>(
    `SELECT ${COLUMNS} FROM jobs WHERE idempotency_key = ANY($1::text[])`,
    [keys],
  );
  return result.rows.map(toJob);
}

/** Returns the job with this id, or undefined. */
export async function findJob(q: Queryable, id: string): Promise<JobRecord | undefined> {
  const result = await q.query<JobRow>(`SELECT ${COLUMNS} FROM jobs WHERE id = $1`, [id]);
  const row = result.rows[0];
  return row ? toJob(row) : undefined;
}

/** A saga's look, in the statement that parks it, whether the job moved past ASSIGNED at
 * `attempt` (or is gone): the row is locked FOR SHARE, so a change to it committed after that
 * statement's snapshot waits for the saga's WAITING row (saga.ts, `recheckInPark`). */
export function jobMovedOn(jobId: string, attempt: number): SqlCondition {
  return {
    params: [jobId, attempt],
    sql: ([id, at]) =>
      `NOT EXISTS (SELECT 1 FROM jobs WHERE id = ${id}::uuid AND attempt = ${at}::int
         AND state = 'ASSIGNED' FOR SHARE)`,
  };
}

/** Returns the job queued under this idempotency key, or undefined. */
export async function findJobByIdempotencyKey(
  q: Queryable,
  key: string,
): Promise<JobRecord | undefined> {
  const result = await q.query<JobRow>(`SELECT ${COLUMNS} FROM jobs WHERE idempotency_key = $1`, [
    key,
  ]);
  const row = result.rows[0];
  return row ? toJob(row) : undefined;
}

/** Returns up to `limit` jobs, newest first, after the job `afterId`, optionally only in `states`. */
export async function listJobs(
  q: Queryable,
  options: { states: JobState[]; limit: number; afterId?: string; queuedBy?: string },
): Promise<JobRecord[]> {
  const result = await q.query<JobRow>(
    `SELECT ${COLUMNS} FROM jobs
     WHERE (cardinality($1::text[]) = 0 OR state = ANY($1::text[]))
       AND ($2::uuid IS NULL OR (created_at, id) < (SELECT created_at, id FROM jobs WHERE id = $2))
       AND ($4::text IS NULL OR queued_by = $4)
     ORDER BY created_at DESC, id DESC
     LIMIT $3`,
    [options.states, options.afterId ?? null, options.limit, options.queuedBy ?? null],
  );
  return result.rows.map(toJob);
}

/** The assignment of job $1 at attempt $2 (PENDING → ASSIGNED) to the worker `workerId` (an SQL
 * expression), without its RETURNING. */
export function assignJobSql(workerId: string): string {
  return `UPDATE jobs SET state = 'ASSIGNED', worker_id = ${workerId}, assigned_at = now(),
       updated_at = now()
     WHERE id = $1 AND attempt = $2 AND state = 'PENDING'`;
}

/** PENDING → ASSIGNED for this attempt; returns the job, or no row if it was not PENDING. */
export function assignJobStatement(
  jobId: string,
  attempt: number,
  workerId: string,
): Statement<JobRecord> {
  return {
    text: `${assignJobSql('$3')} RETURNING ${COLUMNS}`,
    params: [jobId, attempt, workerId],
    read: toJob,
  };
}

/** ASSIGNED → RUNNING when the worker acknowledged the run; returns the job, or no row if this
 * attempt is not ASSIGNED to that worker (any more). */
export function markJobRunningStatement(
  jobId: string,
  attempt: number,
  workerId: string,
): Statement<JobRecord> {
  return {
    text: `UPDATE jobs SET state = 'RUNNING', started_at = now(), last_heartbeat_at = now(),
       updated_at = now()
     WHERE id = $1 AND attempt = $2 AND worker_id = $3 AND state = 'ASSIGNED'
     RETURNING ${COLUMNS}`,
    params: [jobId, attempt, workerId],
    read: toJob,
  };
}

/** `done` (the job's attempt $2 on worker $3 ended: ASSIGNED/RUNNING → `state`, with `exitCode`
 * and `error`, SQL expressions) and `kept` (that attempt recorded in job_attempts), as CTEs. */
function finishedAttemptCtes(values: { state: string; exitCode: string; error: string }): string {
  return `done AS (
       UPDATE jobs SET state = ${values.state}, exit_code = ${values.exitCode},
         error = ${values.error}, finished_at = now(), updated_at = now(),
         started_at = COALESCE(started_at, now()), retry_at = NULL
       WHERE id = $1 AND attempt = $2 AND worker_id = $3 AND state IN ('ASSIGNED', 'RUNNING')
       RETURNING ${COLUMNS}
     ), kept AS (
       INSERT INTO job_attempts (job_id, attempt, outcome, exit_code, error, worker_id, assigned_at,
         started_at, finished_at)
       SELECT id, attempt, state, exit_code, error, worker_id, assigned_at, started_at, finished_at
       FROM done
       ON CONFLICT DO NOTHING
     )`;
}

/** ASSIGNED/RUNNING → a terminal state for this attempt and worker, the attempt recorded in
 * job_attempts by the same statement; returns the job or undefined. */
export async function finishJob(
  q: Queryable,
  update: {
    jobId: string;
    attempt: number;
    workerId: string;
    state: 'SUCCEEDED' | 'FAILED' | 'TIMED_OUT';
    exitCode: number | null;
    error: string;
  },
): Promise<JobRecord | undefined> {
  const result = await q.query<JobRow>(
    `WITH ${finishedAttemptCtes({ state: '$4', exitCode: '$5', error: '$6' })}
     SELECT ${COLUMNS} FROM done`,
    [update.jobId, update.attempt, update.workerId, update.state, update.exitCode, update.error],
  );
  const row = result.rows[0];
  return row ? toJob(row) : undefined;
}

/**
 * A run that succeeded, in one statement: the job SUCCEEDED for this attempt and worker (its
 * attempt recorded, as finishJob does) and the worker BUSY for it back to READY. Always one row:
 * the job (or null when it was not this attempt's to finish) and `emit`, the event types that
 * apply — JobSucceeded when the job finished, WorkerReady when the worker was released.
 */
export function succeedJobReleasingWorkerStatement(update: {
  jobId: string;
  attempt: number;
  workerId: string;
  exitCode: number;
}): Statement<{ job: JobRecord | undefined; emit: string[] }> {
  return {
    ctes: `${finishedAttemptCtes({ state: "'SUCCEEDED'", exitCode: '$4', error: "''" })},
     released AS (
       UPDATE workers SET state = 'READY', current_job_id = NULL, ready_since = now(),
         jobs_run = jobs_run + 1
       WHERE id = $3 AND state = 'BUSY' AND current_job_id = $1
       RETURNING id
     )`,
    text: `SELECT ${columnsOf('done')},
       array_remove(ARRAY[
         CASE WHEN EXISTS (SELECT 1 FROM done) THEN 'JobSucceeded' END,
         CASE WHEN EXISTS (SELECT 1 FROM released) THEN 'WorkerReady' END], NULL) AS emit
     FROM (SELECT 1) AS one LEFT JOIN done ON true`,
    params: [update.jobId, update.attempt, update.workerId, update.exitCode],
    read: (row: JobRow & { emit: string[] }) => ({
      job: row.id === null ? undefined : toJob(row),
      emit: row.emit,
    }),
  };
}

/** Any non-terminal state → CANCELLED; returns the cancelled job and the state it was in. An
 * attempt that was ASSIGNED or RUNNING is recorded in job_attempts by the same statement. */
export async function cancelJob(
  q: Queryable,
  jobId: string,
  cancelledBy: string | null = null,
): Promise<{ job: JobRecord; previousState: JobState } | undefined> {
  const result = await q.query<JobRow & { previous_state: JobState }>(
    `WITH before AS (
       SELECT id, state AS previous_state, attempt, worker_id, assigned_at, started_at FROM jobs
       WHERE id = $1 AND state IN ('PENDING', 'ASSIGNED', 'RUNNING') FOR UPDATE
     ), done AS (
       UPDATE jobs j SET state = 'CANCELLED', finished_at = now(), updated_at = now(),
         retry_at = NULL, error = 'cancelled by request', cancelled_by = $2
       FROM before b WHERE j.id = b.id
       RETURNING ${columnsOf('j')}, b.previous_state
     ), kept AS (
       INSERT INTO job_attempts (job_id, attempt, outcome, error, worker_id, assigned_at,
         started_at)
       SELECT id, attempt, 'CANCELLED', 'cancelled by request', worker_id, assigned_at, started_at
       FROM before WHERE previous_state IN ('ASSIGNED', 'RUNNING')
       ON CONFLICT DO NOTHING
     )
     SELECT * FROM done`,
    [jobId, cancelledBy],
  );
  const row = result.rows[0];
  return row ? { job: toJob(row), previousState: row.previous_state } : undefined;
}

/** Why an attempt was taken off its worker before its command ended. SERVER_LOST: its worker
 * went with the server that held its stream (a crash); not charged to max_attempts, up to
 * MAX_SERVER_LOSSES per job (a job whose command brings the server down must end some day). */
export type LostAttemptOutcome = 'WORKER_LOST' | 'DISPATCH_FAILED' | 'SERVER_LOST';

export const MAX_SERVER_LOSSES = 20;

/**
 * Takes a job of this attempt off its worker: back to PENDING with attempt + 1 while the runs cut
 * short by a lost worker or a failed dispatch (job_attempts, this one included) are fewer than
 * max_attempts — a SERVER_LOST one is not counted, up to MAX_SERVER_LOSSES — otherwise FAILED.
 * The attempt is recorded in job_attempts by the same statement. Returns the job after the
 * change, or undefined if it had moved on.
 */
export async function requeueJob(
  q: Queryable,
  ref: { jobId: string; attempt: number },
  outcome: LostAttemptOutcome,
  error: string,
): Promise<JobRecord | undefined> {
  const result = await q.query<JobRow>(
    `WITH before AS (
       SELECT j.id, j.attempt, j.worker_id, j.assigned_at, j.started_at,
         (SELECT count(*) FROM job_attempts a WHERE a.job_id = j.id
            AND a.outcome IN ('WORKER_LOST', 'DISPATCH_FAILED'))
           + CASE WHEN $4 = 'SERVER_LOST' THEN 0 ELSE 1 END < j.max_attempts
         AND (SELECT count(*) FROM job_attempts a WHERE a.job_id = j.id
            AND a.outcome = 'SERVER_LOST') < ${MAX_SERVER_LOSSES} AS again
       FROM jobs j WHERE j.id = $1 AND j.attempt = $2 AND j.state IN ('ASSIGNED', 'RUNNING')
       FOR UPDATE OF j
     ), moved AS (
       UPDATE jobs j SET
         state = CASE WHEN b.again THEN 'PENDING' ELSE 'FAILED' END,
         attempt = CASE WHEN b.again THEN j.attempt + 1 ELSE j.attempt END,
         worker_id = CASE WHEN b.again THEN NULL ELSE j.worker_id END,
         assigned_at = CASE WHEN b.again THEN NULL ELSE j.assigned_at END,
         started_at = CASE WHEN b.again THEN NULL ELSE j.started_at END,
         finished_at = CASE WHEN b.again THEN NULL ELSE now() END,
         retry_at = NULL, error = $3, updated_at = now()
       FROM before b WHERE j.id = b.id
       RETURNING ${columnsOf('j')}
     ), kept AS (
       INSERT INTO job_attempts (job_id, attempt, outcome, error, worker_id, assigned_at,
         started_at)
       SELECT b.id, b.attempt, $4, $3, b.worker_id, b.assigned_at, b.started_at
       FROM before b JOIN moved m ON m.id = b.id
       ON CONFLICT DO NOTHING
     )
     SELECT ${COLUMNS} FROM moved`,
    [ref.jobId, ref.attempt, error, outcome],
  );
  const row = result.rows[0];
  return row ? toJob(row) : undefined;
}

/** Counts jobs per state (for metrics). */
export async function countJobsByState(
  q: Queryable,
): Promise<Array<{ state: JobState; count: number }>> {
  const result = await q.query<{ state: JobState; count: number }>(
    'SELECT state, count(*)::int AS count FROM jobs GROUP BY state',
  );
  return result.rows;
}

/**
 * Returns RUNNING jobs whose worker has not been heard from for `silentMs` (the DatabaseReaper),
 * oldest silence first, at most `limit`. A job's liveness is its worker's: a worker runs one job
 * at a time and every frame it sends counts (workers.last_heartbeat_at, written by the monitor of
 * the server holding its stream); a job whose worker row stopped being written (terminated, gone,
 * or its server gone) goes silent from then. jobs.last_heartbeat_at is not read (only set once, at
 * RUNNING). The job's own start counts as heard from, so a job that has just started is not silent.
 */
export async function findJobsOfSilentWorkers(
  q: Queryable,
  silentMs: number,
  limit: number,
): Promise<Array<{ jobId: string; attempt: number; workerId: string; silentMs: number }>> {
  const result = await q.query<{
    id: string;
    attempt: number;
    worker_id: string;
    silent_ms: number;
  }>(
    `SELECT j.id, j.attempt, j.worker_id,
       (extract(epoch FROM now() - s.heard) * 1000)::float8 AS silent_ms
     FROM jobs j
     LEFT JOIN workers w ON w.id = j.worker_id
     CROSS JOIN LATERAL (SELECT GREATEST(w.last_heartbeat_at, j.started_at, j.assigned_at) AS heard) s
     WHERE j.state = 'RUNNING' AND j.worker_id IS NOT NULL
       AND s.heard < now() - make_interval(secs => $1::double precision / 1000)
     ORDER BY s.heard LIMIT $2`,
    [silentMs, limit],
  );
  return result.rows.map((r) => ({
    jobId: r.id,
    attempt: r.attempt,
    workerId: r.worker_id,
    silentMs: Math.round(r.silent_ms),
  }));
}

/** Returns up to `limit` PENDING jobs unchanged for `quietMs`, oldest first, with the attempt they
 * wait at (the DatabaseReaper looks for those whose ExecutionSaga never started). */
export async function findQuietPendingJobs(
  q: Queryable,
  quietMs: number,
  limit: number,
): Promise<Array<{ jobId: string; attempt: number; correlationId: string }>> {
  const result = await q.query<{ id: string; attempt: number; correlation_id: string }>(
    `SELECT id, attempt, correlation_id FROM jobs
     WHERE state = 'PENDING'
       AND updated_at < now() - make_interval(secs => $1::double precision / 1000)
       AND (retry_at IS NULL OR retry_at < now() - make_interval(secs => $1::double precision / 1000))
     ORDER BY state, created_at LIMIT $2`,
    [quietMs, limit],
  );
  return result.rows.map((r) => ({
    jobId: r.id,
    attempt: r.attempt,
    correlationId: r.correlation_id,
  }));
}

/** Returns the jobs queued under a correlation id (for a trace), oldest first. */
export async function listJobsByCorrelation(
  q: Queryable,
  correlationId: string,
  limit: number,
): Promise<JobRecord[]> {
  const result = await q.query<JobRow>(
    `SELECT ${COLUMNS} FROM jobs WHERE correlation_id = $1 ORDER BY created_at, id LIMIT $2`,
    [correlationId, limit],
  );
  return result.rows.map(toJob);
}
