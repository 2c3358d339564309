// SQL for the workers table: one function per statement, every state change guarded.
import type { Queryable } from '../db/db.js';
import type { WorkerRecord } from './worker.js';
import type { WorkerState } from './worker-state.js';
import type { JobRecord } from '../jobs/job.js';
import { COLUMNS as JOB_COLUMNS, jobColumnsPrefixed, jobFromPrefixed } from '../jobs/job-row.js';
import { assignJobSql } from '../jobs/job-sql.js';
import type { Statement } from '../db/statement.js';
import {
  SAGA_COLUMNS,
  insertSagasParams,
  insertSagasSql,
  type NewSaga,
  type SagaParking,
  type SagaRow,
} from '../sagas/saga-sql.js';

interface WorkerRow {
  id: string;
  provider: string;
  external_id: string;
  state: WorkerState;
  current_job_id: string | null;
  correlation_id: string;
  jobs_run: number;
  created_at: Date;
  registered_at: Date | null;
  last_heartbeat_at: Date | null;
  ready_since: Date | null;
  server_instance: string | null;
  terminated_at: Date | null;
  termination_reason: string;
}

const COLUMNS = `id, provider, external_id, state, current_job_id, correlation_id, jobs_run,
  created_at, registered_at, last_heartbeat_at, ready_since, server_instance, terminated_at,
  termination_reason`;

function toWorker(row: WorkerRow): WorkerRecord {
  return {
    id: row.id,
    provider: row.provider,
    externalId: row.external_id,
    state: row.state,
    currentJobId: row.current_job_id,
    correlationId: row.correlation_id,
    jobsRun: row.jobs_run,
    createdAt: row.created_at,
    registeredAt: row.registered_at,
    lastHeartbeatAt: row.last_heartbeat_at,
    readySince: row.ready_since,
    serverInstance: row.server_instance,
    terminatedAt: row.terminated_at,
    terminationReason: row.termination_reason,
  };
}

function first(rows: WorkerRow[]): WorkerRecord | undefined {
  return rows[0] ? toWorker(rows[0]) : undefined;
}

/** Serialises capacity decisions across transactions (and servers). */
export async function lockWorkerCapacity(q: Queryable): Promise<void> {
  await q.query('SELECT pg_advisory_xact_lock(7160042002)');
}

/** How many workers are not TERMINATED (an SQL integer expression). */
const LIVE_WORKERS = "(SELECT count(*)::int FROM workers WHERE state <> 'TERMINATED')";

/** Returns how many workers are not TERMINATED. */
export async function countLiveWorkers(q: Queryable): Promise<number> {
  const result = await q.query<{ n: number }>(`SELECT ${LIVE_WORKERS} AS n`);
  return result.rows[0]?.n ?? 0;
}

/** The worker cap as SQL text (it is written into statements, so it must be an integer). */
function capSql(maxWorkers: number): string {
  if (!Number.isSafeInteger(maxWorkers))
    throw new Error(`maxWorkers ${maxWorkers} is not an integer`);
  return String(maxWorkers);
}

/** A constant SQL condition: as many workers alive as `maxWorkers` allows, or more. */
export function atWorkerCap(maxWorkers: number): string {
  return `${LIVE_WORKERS} >= ${capSql(maxWorkers)}`;
}

/** How many sagas waiting for a worker could be served now: one per READY worker and one per
 * worker that may still be made under the cap (an SQL integer expression). */
export function usefulWorkerWaits(maxWorkers: number): string {
  return `(SELECT count(*) FROM workers WHERE state = 'READY')
    + GREATEST(0, ${capSql(maxWorkers)} - ${LIVE_WORKERS})`;
}

/** Whether any worker is READY now (a saga waiting for one looks once more with this). */
export async function anyReadyWorker(q: Queryable): Promise<boolean> {
  const result = await q.query<{ ready: boolean }>(
    "SELECT EXISTS (SELECT 1 FROM workers WHERE state = 'READY') AS ready",
  );
  return result.rows[0]?.ready === true;
}

/** Inserts a CREATING worker; returns false if the id exists already. */
export async function insertWorker(
  q: Queryable,
  worker: { id: string; provider: string; otpHash: string; correlationId: string },
): Promise<boolean> {
  const result = await q.query(
    `INSERT INTO workers (id, provider, state, otp_hash, correlation_id)
     VALUES ($1, $2, 'CREATING', $3, $4) ON CONFLICT (id) DO NOTHING`,
    [worker.id, worker.provider, worker.otpHash, worker.correlationId],
  );
  return result.rowCount === 1;
}

/** Records the provider's id for the worker's infrastructure. */
export async function setWorkerExternalId(
  q: Queryable,
  id: string,
  externalId: string,
): Promise<void> {
  await q.query('UPDATE workers SET external_id = $2 WHERE id = $1', [id, externalId]);
}

/** Returns the worker, or undefined. */
export async function findWorker(q: Queryable, id: string): Promise<WorkerRecord | undefined> {
  const result = await q.query<WorkerRow>(`SELECT ${COLUMNS} FROM workers WHERE id = $1`, [id]);
  return first(result.rows);
}

/** CREATING → READY once the registered worker has opened its stream; returns it or undefined. */
export async function activateWorker(
  q: Queryable,
  id: string,
  serverInstance: string | null = null,
): Promise<WorkerRecord | undefined> {
  const result = await q.query<WorkerRow>(
    `UPDATE workers SET state = 'READY', last_heartbeat_at = now(), ready_since = now(),
       server_instance = $2
     WHERE id = $1 AND state = 'CREATING' AND otp_used
     RETURNING ${COLUMNS}`,
    [id, serverInstance],
  );
  return first(result.rows);
}

/**
 * Reserves a worker for the job: returns the worker already BUSY for it (reserved by an earlier
 * run of the step whose record was lost), else makes the longest-idle READY worker BUSY for it and
 * returns that one, else none and how many workers are alive (for the decision to provision).
 * One statement, one round trip.
 *
 * Why it is safe. Sagas of different jobs: the READY row is taken with FOR UPDATE SKIP LOCKED,
 * which re-checks `state = 'READY'` on the row's latest version once locked, so each claim gets
 * its own worker and none waits for another. When a worker is held for the job the claim does not
 * run at all (a one-time filter gates it), so nothing is locked. Runs of the same job's saga one
 * after the other (a crash lost the step's record, a redelivery, a stale-saga resume) see the
 * held worker: the claim committed before the next statement took its snapshot. Two runs whose
 * statements overlap cannot see each other's uncommitted claim (READ COMMITTED, one snapshot per
 * statement), so both may claim; closing that here would take a lock before the snapshot, i.e. a
 * transaction and three more round trips on every dispatch. It is closed one step later: the job
 * row goes PENDING → ASSIGNED once (assignJobStatement), and the run that finds it assigned to
 * another worker gives its own back (releaseWorker / terminateReservedWorker, guarded by this job)
 * and stops. So at most one worker ends up reserved for a job.
 */
export async function claimWorkerForJob(
  q: Queryable,
  jobId: string,
): Promise<{ worker: WorkerRecord | undefined; liveWorkers: number }> {
  const result = await q.query<WorkerRow & { live_workers: number | null }>(
    `WITH ${reserveForJob('true')}
     SELECT got.*, CASE WHEN got.id IS NULL THEN ${LIVE_WORKERS} END AS live_workers
     FROM (SELECT 1) AS one LEFT JOIN got ON true`,
    [jobId],
  );
  return reservation(result.rows[0]);
}

/** The CTEs of claimWorkerForJob, ending in `got` (the worker held for job $1 or the one just
 * claimed for it; none when `allowed`, an SQL condition, is false: then nothing is locked). */
function reserveForJob(allowed: string): string {
  return `held AS (
       SELECT ${COLUMNS} FROM workers WHERE ${allowed} AND state = 'BUSY' AND current_job_id = $1
       ORDER BY created_at LIMIT 1
     ), claimed AS (
       UPDATE workers SET state = 'BUSY', current_job_id = $1, ready_since = NULL
       WHERE ${allowed} AND NOT EXISTS (SELECT 1 FROM held)
         AND id = (SELECT id FROM workers WHERE state = 'READY'
                   ORDER BY ready_since LIMIT 1 FOR UPDATE SKIP LOCKED)
       RETURNING ${COLUMNS}
     ), got AS (
       SELECT * FROM held UNION ALL SELECT * FROM claimed
     )`;
}

function reservation(row: (WorkerRow & { live_workers: number | null }) | undefined): {
  worker: WorkerRecord | undefined;
  liveWorkers: number;
} {
  return {
    worker: row?.id ? first([row]) : undefined,
    liveWorkers: row?.live_workers ?? 0,
  };
}

/** A job's first look by its saga (readJobAssigningWorker). */
export interface FirstLook {
  job: JobRecord | undefined;
  /** Undefined when the job is not this attempt's, PENDING and due (nothing was claimed). */
  reservation?: { worker: WorkerRecord | undefined; liveWorkers: number };
  /** The job was assigned to the reserved worker by this statement (its JobAssigned with it). */
  assigned: boolean;
}

/**
 * A saga's first look at its job, dispatching it when it can, in one statement (decision 0026):
 * the job; when it is at `attempt`, PENDING and due (no retry backoff left by the database's
 * clock), a worker reserved for it as claimWorkerForJob does; and when one was, the job ASSIGNED
 * to it as assignJobStatement does. Run with changeWithRowEvents keyed by `job_id`: the row's
 * `emit` lists JobAssigned when the job was assigned, and its `id` is the worker (JobAssigned's
 * workerId). The job
 * returned is as the statement left it. Overlapping runs: as claimWorkerForJob says, both may
 * reserve a worker, and the assignment's guard lets one of them assign.
 */
export function readJobAssigningWorker(jobId: string, attempt: number): Statement<FirstLook> {
  const due = `EXISTS (SELECT 1 FROM job WHERE state = 'PENDING' AND attempt = $2
                 AND (retry_at IS NULL OR retry_at <= now()))`;
  return {
    ctes: `job AS (SELECT ${JOB_COLUMNS} FROM jobs WHERE id = $1), ${reserveForJob(due)},
       assigned AS (
         ${assignJobSql('(SELECT id FROM got)')} AND EXISTS (SELECT 1 FROM got)
         RETURNING ${JOB_COLUMNS}
       ), now_job AS (
         SELECT * FROM assigned UNION ALL SELECT * FROM job WHERE NOT EXISTS (SELECT 1 FROM assigned)
       )`,
    text: `SELECT got.*, ${jobColumnsPrefixed('now_job')},
       ${due} AS due,
       CASE WHEN EXISTS (SELECT 1 FROM assigned) THEN ARRAY['JobAssigned'] ELSE '{}' END AS emit,
       CASE WHEN got.id IS NULL AND ${due} THEN ${LIVE_WORKERS} END AS live_workers
     FROM (SELECT 1) AS one LEFT JOIN now_job ON true LEFT JOIN got ON true`,
    params: [jobId, attempt],
    read: (
      row: WorkerRow & { live_workers: number | null; due: boolean; emit: string[] } & Record<
          string,
          unknown
        >,
    ): FirstLook => {
      const job = jobFromPrefixed(row);
      if (!job) return { job: undefined, assigned: false };
      return row.due
        ? { job, reservation: reservation(row), assigned: row.emit.length > 0 }
        : { job, assigned: false };
    },
  };
}

/** `LEFT JOIN` of `now_job`: the job of saga `sagaId` (an SQL expression) as the statement left
 * it — its row from the `assigned` CTE (saga_id, the job's columns) when the statement assigned
 * it, else job `jobId` as it was read. */
function jobAsLeft(sagaId: string, jobId: string): string {
  return `LEFT JOIN LATERAL (
         SELECT ${JOB_COLUMNS} FROM assigned WHERE assigned.saga_id = ${sagaId}
         UNION ALL
         SELECT ${JOB_COLUMNS} FROM jobs
         WHERE jobs.id = ${jobId}
           AND NOT EXISTS (SELECT 1 FROM assigned WHERE assigned.saga_id = ${sagaId})
       ) AS now_job ON true`;
}

/** What an ExecutionSaga started with its first look found (insertSagasDispatchingStatement). */
export interface StartedExecution {
  saga: SagaRow;
  /** Its job as the statement left it (none when the saga was parked, or the job is gone), and
   * when the job was this attempt's, PENDING and due with no worker held for it: the worker
   * reserved (and the job assigned to it, if that held) or none and how many are alive. */
  memo?: {
    job: JobRecord;
    reservation?: { worker: WorkerRecord | undefined; liveWorkers: number };
  };
}

/**
 * ExecutionSagas inserted as insertSagasStatement does, each created IN_PROGRESS taking its first
 * look in the same statement (decision 0027), as readJobAssigningWorker does for one: its job
 * read and, when it is at the saga's attempt, PENDING and due, a READY worker reserved for it —
 * the due jobs in the order of their sagas paired with the longest-idle READY workers — and the
 * job ASSIGNED to it (the same guard: PENDING at that attempt). A job some worker is BUSY for
 * already is left to the saga's steps (they find that worker, as claimWorkerForJob does); a new
 * saga has had no run that could have reserved one, so this is a guard, not a path. Each row: the
 * saga, `emit` (SagaStarted, and JobAssigned when its job was assigned here) and `worker_id`
 * (JobAssigned's workerId).
 */
export function insertSagasDispatchingStatement(
  sagas: readonly NewSaga[],
  parking: SagaParking | undefined,
): Statement<StartedExecution> {
  const workerCols = COLUMNS.split(',').map((c) => c.trim());
  const sagaCols = SAGA_COLUMNS.split(',').map((c) => c.trim());
  return {
    ctes: `inserted AS (${insertSagasSql(parking, SAGA_COLUMNS)}),
       look AS (
         SELECT i.id AS saga_id, r.ord, j.id AS job_id,
           (i.context->>'attempt')::int AS attempt,
           j.attempt = (i.context->>'attempt')::int AND j.state = 'PENDING'
             AND (j.retry_at IS NULL OR j.retry_at <= now())
             AND NOT EXISTS (SELECT 1 FROM workers h WHERE h.state = 'BUSY'
                             AND h.current_job_id = j.id) AS due
         FROM inserted i JOIN jobs j ON j.id = (i.context->>'jobId')::uuid
           JOIN (SELECT DISTINCT ON (id) id, ord
                 FROM jsonb_to_recordset($1::jsonb) AS r(ord int, id uuid) ORDER BY id, ord) AS r
             ON r.id = i.id
         WHERE i.state = 'IN_PROGRESS'
       ), wanted AS (
         SELECT saga_id, job_id, row_number() OVER (ORDER BY ord) AS n
         FROM look WHERE due
       ), ready AS (
         SELECT id, row_number() OVER (ORDER BY ready_since, id) AS n
         FROM (SELECT id, ready_since FROM workers WHERE state = 'READY'
               ORDER BY ready_since LIMIT (SELECT count(*) FROM wanted)
               FOR UPDATE SKIP LOCKED) AS w
       ), reserved AS (
         UPDATE workers SET state = 'BUSY', current_job_id = wanted.job_id, ready_since = NULL
         FROM wanted JOIN ready USING (n)
         WHERE workers.id = ready.id
         RETURNING wanted.saga_id, ${workerCols.map((c) => `workers.${c} AS worker_${c}`).join(', ')}
       ), assigned AS (
         UPDATE jobs SET state = 'ASSIGNED', worker_id = reserved.worker_id, assigned_at = now(),
           updated_at = now()
         FROM reserved JOIN look USING (saga_id)
         WHERE jobs.id = look.job_id AND jobs.attempt = look.attempt AND jobs.state = 'PENDING'
         RETURNING reserved.saga_id, jobs.*
       )`,
    text: `SELECT ${sagaCols.map((c) => `i.${c}`).join(', ')},
       ${jobColumnsPrefixed('now_job')}, r.*, l.due,
       CASE WHEN l.due AND r.saga_id IS NULL THEN ${LIVE_WORKERS} END AS live_workers,
       CASE WHEN a.saga_id IS NULL THEN ARRAY['SagaStarted']
            ELSE ARRAY['SagaStarted', 'JobAssigned'] END AS emit
     FROM inserted i
       LEFT JOIN look l ON l.saga_id = i.id
       LEFT JOIN reserved r ON r.saga_id = i.id
       LEFT JOIN assigned a ON a.saga_id = i.id
       ${jobAsLeft('i.id', 'l.job_id')}`,
    params: insertSagasParams(sagas, parking),
    read: (row: Record<string, unknown>): StartedExecution => {
      const saga = Object.fromEntries(sagaCols.map((c) => [c, row[c]])) as unknown as SagaRow;
      const job = jobFromPrefixed(row);
      if (!job) return { saga };
      if (row.due !== true) return { saga, memo: { job } };
      const worker =
        row.worker_id === null || row.worker_id === undefined
          ? undefined
          : toWorker(
              Object.fromEntries(
                workerCols.map((c) => [c, row[`worker_${c}`]]),
              ) as unknown as WorkerRow,
            );
      return {
        saga,
        memo: {
          job,
          reservation: { worker, liveWorkers: (row.live_workers as number | null) ?? 0 },
        },
      };
    },
  };
}

/** What a hand-off gave one ExecutionSaga (handOffReadyWorkersStatement). */
export interface HandedExecution {
  saga: SagaRow;
  /** The worker reserved for its job. */
  given: string;
  /** Its job as the statement left it (ASSIGNED to `given` when the statement assigned it);
   * none when the job is gone. */
  memo?: { job: JobRecord };
}

/**
 * The ExecutionSaga's hand-off (decisions 0020 and 0028): the oldest sagas waiting on `key`
 * (priority first) paired with the READY workers that have waited longest, at most `limit`
 * pairs; each worker BUSY for its saga's job, each saga WAITING → IN_PROGRESS, and each job that
 * is at its saga's attempt, PENDING and due (no retry backoff left by the database's clock)
 * ASSIGNED to its worker — the guard of assignJobStatement and of the saga's first look — in one
 * statement. Run with OutboxWriter.changeWithBuiltEvents: a row's `emit` lists JobAssigned when
 * its job was assigned here, and its `job_id`, `job_attempt` and `given` are that event's
 * payload. Returns the sagas with the worker each was given and its job as the statement left it
 * (the saga's memo: its steps find the dispatch done, or give the worker back when the job is no
 * longer waiting for one); none when no worker or no saga is free.
 */
export function handOffReadyWorkersStatement(
  key: string,
  limit: number,
): Statement<HandedExecution> {
  const sagaCols = SAGA_COLUMNS.split(',').map((c) => c.trim());
  return {
    ctes: `waiting AS (
         SELECT id, context, row_number() OVER (ORDER BY priority DESC, created_at) AS n
         FROM (SELECT id, context, priority, created_at FROM saga_instances
               WHERE state = 'WAITING' AND wait_key = $1
               ORDER BY priority DESC, created_at LIMIT $2 FOR UPDATE SKIP LOCKED) AS s
       ), ready AS (
         SELECT id, row_number() OVER (ORDER BY ready_since) AS n
         FROM (SELECT id, ready_since FROM workers WHERE state = 'READY'
               ORDER BY ready_since LIMIT $2 FOR UPDATE SKIP LOCKED) AS w
       ), reserved AS (
         UPDATE workers SET state = 'BUSY', current_job_id = (waiting.context->>'jobId')::uuid,
           ready_since = NULL
         FROM waiting JOIN ready USING (n)
         WHERE workers.id = ready.id
         RETURNING workers.id AS worker_id, waiting.id AS saga_id, workers.current_job_id AS job_id,
           (waiting.context->>'attempt')::int AS attempt
       ), assigned AS (
         UPDATE jobs SET state = 'ASSIGNED', worker_id = reserved.worker_id, assigned_at = now(),
           updated_at = now()
         FROM reserved
         WHERE jobs.id = reserved.job_id AND jobs.attempt = reserved.attempt
           AND jobs.state = 'PENDING' AND (jobs.retry_at IS NULL OR jobs.retry_at <= now())
         RETURNING reserved.saga_id, jobs.*
       ), woken AS (
         UPDATE saga_instances s SET state = 'IN_PROGRESS', updated_at = now()
         FROM reserved
         WHERE s.id = reserved.saga_id
         RETURNING ${sagaCols.map((c) => `s.${c}`).join(', ')}, reserved.worker_id AS given,
           reserved.job_id AS reserved_job_id
       )`,
    text: `SELECT ${sagaCols.map((c) => `w.${c}`).join(', ')}, w.given,
       ${jobColumnsPrefixed('now_job')},
       CASE WHEN EXISTS (SELECT 1 FROM assigned a WHERE a.saga_id = w.id)
            THEN ARRAY['JobAssigned'] ELSE '{}'::text[] END AS emit
     FROM woken w
       ${jobAsLeft('w.id', 'w.reserved_job_id')}`,
    params: [key, limit],
    read: (row: Record<string, unknown>): HandedExecution => {
      const saga = Object.fromEntries(sagaCols.map((c) => [c, row[c]])) as unknown as SagaRow;
      const job = jobFromPrefixed(row);
      return { saga, given: row.given as string, ...(job ? { memo: { job } } : {}) };
    },
  };
}

/** BUSY for the job → TERMINATED (a dispatch undone); returns the worker, or undefined when it
 * is not BUSY for that job any more (released, terminated, or reserved for another job). */
export async function terminateReservedWorker(
  q: Queryable,
  id: string,
  jobId: string,
  reason: string,
): Promise<WorkerRecord | undefined> {
  const result = await q.query<WorkerRow>(
    `UPDATE workers SET state = 'TERMINATED', terminated_at = now(), termination_reason = $3
     WHERE id = $1 AND state = 'BUSY' AND current_job_id = $2
     RETURNING ${COLUMNS}`,
    [id, jobId, reason],
  );
  return first(result.rows);
}

/** BUSY → READY once its job is over; returns whether it changed. */
export async function releaseWorker(q: Queryable, id: string, jobId: string): Promise<boolean> {
  const result = await q.query(
    `UPDATE workers SET state = 'READY', current_job_id = NULL, ready_since = now(),
       jobs_run = jobs_run + 1
     WHERE id = $1 AND state = 'BUSY' AND current_job_id = $2`,
    [id, jobId],
  );
  return result.rowCount === 1;
}

/** Any live state → TERMINATED; returns the worker as it was before, or undefined. */
export async function terminateWorker(
  q: Queryable,
  id: string,
  reason: string,
): Promise<WorkerRecord | undefined> {
  const result = await q.query<WorkerRow>(
    `UPDATE workers w SET state = 'TERMINATED', terminated_at = now(), termination_reason = $2
     FROM (SELECT ${COLUMNS} FROM workers WHERE id = $1 FOR UPDATE) before
     WHERE w.id = before.id AND before.state <> 'TERMINATED'
     RETURNING ${COLUMNS.split(',')
       .map((c) => `before.${c.trim()}`)
       .join(', ')}`,
    [id, reason],
  );
  return first(result.rows);
}

/** Records when each live worker was last heard from (one statement for them all). */
export async function recordLastSeen(
  q: Queryable,
  seen: ReadonlyArray<{ workerId: string; lastSeen: Date }>,
): Promise<void> {
  if (seen.length === 0) return;
  await q.query(
    `UPDATE workers w SET last_heartbeat_at = GREATEST(w.last_heartbeat_at, v.at)
     FROM unnest($1::uuid[], $2::timestamptz[]) AS v(id, at)
     WHERE w.id = v.id AND w.state <> 'TERMINATED'`,
    [seen.map((s) => s.workerId), seen.map((s) => s.lastSeen.toISOString())],
  );
}

/** Returns READY workers idle since before `idleMs` ago. */
export async function findIdleWorkers(q: Queryable, idleMs: number): Promise<WorkerRecord[]> {
  const result = await q.query<WorkerRow>(
    `SELECT ${COLUMNS} FROM workers
     WHERE state = 'READY' AND ready_since < now() - make_interval(secs => $1::double precision / 1000)`,
    [idleMs],
  );
  return result.rows.map(toWorker);
}

/** Returns READY/BUSY workers whose last heartbeat is older than `silentMs`. */
export async function findSilentWorkers(q: Queryable, silentMs: number): Promise<WorkerRecord[]> {
  const result = await q.query<WorkerRow>(
    `SELECT ${COLUMNS} FROM workers
     WHERE state IN ('READY', 'BUSY')
       AND last_heartbeat_at < now() - make_interval(secs => $1::double precision / 1000)`,
    [silentMs],
  );
  return result.rows.map(toWorker);
}

/** Returns every worker not TERMINATED, oldest first. */
export async function listLiveWorkers(q: Queryable): Promise<WorkerRecord[]> {
  const result = await q.query<WorkerRow>(
    `SELECT ${COLUMNS} FROM workers WHERE state <> 'TERMINATED' ORDER BY created_at`,
  );
  return result.rows.map(toWorker);
}

/** Returns the most recent workers, live first, up to `limit`. */
export async function listWorkers(q: Queryable, limit: number): Promise<WorkerRecord[]> {
  const result = await q.query<WorkerRow>(
    `SELECT ${COLUMNS} FROM workers
     ORDER BY (state = 'TERMINATED'), created_at DESC LIMIT $1`,
    [limit],
  );
  return result.rows.map(toWorker);
}

/** Counts workers per state (for metrics). */
export async function countWorkersByState(
  q: Queryable,
): Promise<Array<{ state: WorkerState; count: number }>> {
  const result = await q.query<{ state: WorkerState; count: number }>(
    'SELECT state, count(*)::int AS count FROM workers GROUP BY state',
  );
  return result.rows;
}

/** READY → TERMINATED if still idle since before `idleMs` ago; returns the worker or undefined. */
export async function retireIdleWorker(
  q: Queryable,
  id: string,
  idleMs: number,
): Promise<WorkerRecord | undefined> {
  const result = await q.query<WorkerRow>(
    `UPDATE workers SET state = 'TERMINATED', terminated_at = now(), termination_reason = 'idle'
     WHERE id = $1 AND state = 'READY'
       AND ready_since < now() - make_interval(secs => $2::double precision / 1000)
     RETURNING ${COLUMNS}`,
    [id, idleMs],
  );
  return first(result.rows);
}

/** Returns the live worker running on this external id, or undefined. */
export async function findLiveWorkerByExternalId(
  q: Queryable,
  provider: string,
  externalId: string,
): Promise<WorkerRecord | undefined> {
  const result = await q.query<WorkerRow>(
    `SELECT ${COLUMNS} FROM workers
     WHERE provider = $1 AND external_id = $2 AND state <> 'TERMINATED'`,
    [provider, externalId],
  );
  return first(result.rows);
}

/** Returns CREATING workers with their age by the database's clock, oldest first (the reaper). */
export async function findCreatingWorkers(
  q: Queryable,
  limit: number,
): Promise<Array<{ worker: WorkerRecord; ageMs: number }>> {
  const result = await q.query<WorkerRow & { age_ms: number }>(
    `SELECT ${COLUMNS}, (extract(epoch FROM now() - created_at) * 1000)::float8 AS age_ms
     FROM workers WHERE state = 'CREATING' ORDER BY created_at LIMIT $1`,
    [limit],
  );
  return result.rows.map((row) => ({ worker: toWorker(row), ageMs: Math.round(row.age_ms) }));
}

/** Returns the workers with these ids that exist (the reconciler's look-up of an inventory). */
export async function findWorkersByIds(
  q: Queryable,
  ids: readonly string[],
): Promise<WorkerRecord[]> {
  if (ids.length === 0) return [];
  const result = await q.query<WorkerRow>(
    `SELECT ${COLUMNS} FROM workers WHERE id = ANY($1::uuid[])`,
    [ids],
  );
  return result.rows.map(toWorker);
}

/** Returns the workers provisioned under a correlation id (for a trace), oldest first. */
export async function listWorkersByCorrelation(
  q: Queryable,
  correlationId: string,
  limit: number,
): Promise<WorkerRecord[]> {
  const result = await q.query<WorkerRow>(
    `SELECT ${COLUMNS} FROM workers WHERE correlation_id = $1 ORDER BY created_at LIMIT $2`,
    [correlationId, limit],
  );
  return result.rows.map(toWorker);
}
