// SQL for the jobs table: one function per statement. State changes are guarded by the expected
// state (and attempt), and report whether they changed a row.
import type { Queryable } from '../db/db.js';
import type { Statement } from '../db/statement.js';
import type { JobRecord, JobSpecInput } from './job.js';
import type { JobState } from './job-state.js';

interface JobRow {
  id: string;
  name: string;
  command: string;
  args: string[];
  env: Record<string, string>;
  working_dir: string;
  timeout_ms: number;
  max_attempts: number;
  attempt: number;
  labels: Record<string, string>;
  provider: string;
  idempotency_key: string | null;
  correlation_id: string;
  state: JobState;
  exit_code: number | null;
  error: string;
  worker_id: string | null;
  created_at: Date;
  assigned_at: Date | null;
  started_at: Date | null;
  finished_at: Date | null;
}

const COLUMNS = `id, name, command, args, env, working_dir, timeout_ms, max_attempts, attempt, labels,
  provider, idempotency_key, correlation_id, state, exit_code, error, worker_id, created_at,
  assigned_at, started_at, finished_at`;

function toJob(row: JobRow): JobRecord {
  return {
    id: row.id,
    name: row.name,
    command: row.command,
    args: row.args,
    env: row.env,
    workingDir: row.working_dir,
    timeoutMs: Number(row.timeout_ms),
    maxAttempts: row.max_attempts,
    attempt: row.attempt,
    labels: row.labels,
    provider: row.provider,
    idempotencyKey: row.idempotency_key,
    correlationId: row.correlation_id,
    state: row.state,
    exitCode: row.exit_code,
    error: row.error,
    workerId: row.worker_id,
    createdAt: row.created_at,
    assignedAt: row.assigned_at,
    startedAt: row.started_at,
    finishedAt: row.finished_at,
  };
}

/** Inserts a PENDING job; returns it, or no row when the idempotency key is already taken. */
export function insertJobStatement(job: {
  id: string;
  spec: JobSpecInput;
  idempotencyKey: string | null;
  correlationId: string;
}): Statement<JobRecord> {
  const s = job.spec;
  return {
    text: `INSERT INTO jobs (id, name, command, args, env, working_dir, timeout_ms, max_attempts,
       labels, provider, idempotency_key, correlation_id, state)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, 'PENDING')
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
    ],
    read: toJob,
  };
}

/** Returns the job with this id, or undefined. */
export async function findJob(q: Queryable, id: string): Promise<JobRecord | undefined> {
  const result = await q.query<JobRow>(`SELECT ${COLUMNS} FROM jobs WHERE id = $1`, [id]);
  const row = result.rows[0];
  return row ? toJob(row) : undefined;
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
  options: { states: JobState[]; limit: number; afterId?: string },
): Promise<JobRecord[]> {
  const result = await q.query<JobRow>(
    `SELECT ${COLUMNS} FROM jobs
     WHERE (cardinality($1::text[]) = 0 OR state = ANY($1::text[]))
       AND ($2::uuid IS NULL OR (created_at, id) < (SELECT created_at, id FROM jobs WHERE id = $2))
     ORDER BY created_at DESC, id DESC
     LIMIT $3`,
    [options.states, options.afterId ?? null, options.limit],
  );
  return result.rows.map(toJob);
}

/** PENDING → ASSIGNED for this attempt; returns the job, or no row if it was not PENDING. */
export function assignJobStatement(
  jobId: string,
  attempt: number,
  workerId: string,
): Statement<JobRecord> {
  return {
    text: `UPDATE jobs SET state = 'ASSIGNED', worker_id = $3, assigned_at = now(), updated_at = now()
     WHERE id = $1 AND attempt = $2 AND state = 'PENDING'
     RETURNING ${COLUMNS}`,
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

/** ASSIGNED/RUNNING → a terminal state for this attempt and worker; returns the job or undefined. */
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
    `UPDATE jobs SET state = $4, exit_code = $5, error = $6, finished_at = now(), updated_at = now(),
       started_at = COALESCE(started_at, now())
     WHERE id = $1 AND attempt = $2 AND worker_id = $3 AND state IN ('ASSIGNED', 'RUNNING')
     RETURNING ${COLUMNS}`,
    [update.jobId, update.attempt, update.workerId, update.state, update.exitCode, update.error],
  );
  const row = result.rows[0];
  return row ? toJob(row) : undefined;
}

/** Any non-terminal state → CANCELLED; returns the cancelled job and the state it was in. */
export async function cancelJob(
  q: Queryable,
  jobId: string,
): Promise<{ job: JobRecord; previousState: JobState } | undefined> {
  const result = await q.query<JobRow & { previous_state: JobState }>(
    `UPDATE jobs j SET state = 'CANCELLED', finished_at = now(), updated_at = now(),
       error = 'cancelled by request'
     FROM (SELECT id, state AS previous_state FROM jobs WHERE id = $1 FOR UPDATE) before
     WHERE j.id = before.id AND before.previous_state IN ('PENDING', 'ASSIGNED', 'RUNNING')
     RETURNING ${COLUMNS.split(',')
       .map((c) => `j.${c.trim()}`)
       .join(', ')}, before.previous_state`,
    [jobId],
  );
  const row = result.rows[0];
  return row ? { job: toJob(row), previousState: row.previous_state } : undefined;
}

/**
 * Takes a job of this attempt off its worker: back to PENDING with attempt + 1 while attempts
 * remain, otherwise FAILED. Returns the job after the change, or undefined if it had moved on.
 */
export async function requeueJob(
  q: Queryable,
  jobId: string,
  attempt: number,
  error: string,
): Promise<JobRecord | undefined> {
  const result = await q.query<JobRow>(
    `UPDATE jobs SET
       state = CASE WHEN attempt < max_attempts THEN 'PENDING' ELSE 'FAILED' END,
       attempt = CASE WHEN attempt < max_attempts THEN attempt + 1 ELSE attempt END,
       worker_id = CASE WHEN attempt < max_attempts THEN NULL ELSE worker_id END,
       assigned_at = CASE WHEN attempt < max_attempts THEN NULL ELSE assigned_at END,
       started_at = CASE WHEN attempt < max_attempts THEN NULL ELSE started_at END,
       finished_at = CASE WHEN attempt < max_attempts THEN NULL ELSE now() END,
       error = $3, updated_at = now()
     WHERE id = $1 AND attempt = $2 AND state IN ('ASSIGNED', 'RUNNING')
     RETURNING ${COLUMNS}`,
    [jobId, attempt, error],
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
