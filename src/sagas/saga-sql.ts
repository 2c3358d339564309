// SQL for saga_instances and saga_steps.
import type { Queryable } from '../db/db.js';
import { runStatement, type SqlCondition, type Statement } from '../db/statement.js';
import type { SagaContext, SagaState, SagaType } from './saga.js';

export interface SagaRow {
  id: string;
  saga_type: SagaType;
  state: SagaState;
  correlation_id: string;
  context: SagaContext;
  current_step: number;
  wait_key: string | null;
  error: string;
}

const COLUMNS = 'id, saga_type, state, correlation_id, context, current_step, wait_key, error';

/** A saga to create. */
export interface NewSaga {
  id: string;
  type: SagaType;
  correlationId: string;
  context: SagaContext;
  /** Woken before sagas of lower priority waiting on the same key (0 by default). */
  priority?: number;
}

/**
 * Inserts IN_PROGRESS sagas (their created_at in the order given, for who is woken first), in one statement however many; returns those inserted (a saga whose
 * id exists already — a redelivery — is not). With `parkBehind`, they are created WAITING on its
 * key (with its deadline) when other sagas wait on that key already and `onlyWhen` holds, both
 * looked at once for the whole statement, as for sagas inserted at the same instant.
 */
export function insertSagasStatement(
  sagas: readonly NewSaga[],
  parkBehind?: SagaParking,
): Statement<SagaRow> {
  return {
    text: insertSagasSql(parkBehind, COLUMNS),
    params: insertSagasParams(sagas, parkBehind),
    read: (row: SagaRow) => row,
  };
}

/** How sagas started behind others are parked (insertSagasStatement). */
export interface SagaParking {
  key: string;
  deadlineMs: number;
  onlyWhen?: string;
}

/** The saga row's columns (SagaRow), for statements that return sagas with more. */
export const SAGA_COLUMNS = COLUMNS;

/** insertSagasStatement's INSERT (parameters `$1…$3`, insertSagasParams), returning `returning`:
 * for a statement that embeds it as a CTE. */
export function insertSagasSql(parkBehind: SagaParking | undefined, returning: string): string {
  const waiting = parkBehind
    ? `EXISTS (SELECT 1 FROM saga_instances WHERE state = 'WAITING' AND wait_key = $2)
         AND (${parkBehind.onlyWhen ?? 'true'})`
    : 'false';
  return `INSERT INTO saga_instances (id, saga_type, state, correlation_id, context, priority,
         wait_key, wait_deadline, created_at)
       SELECT r.id, r.saga_type, CASE WHEN w.waiting THEN 'WAITING' ELSE 'IN_PROGRESS' END,
         r.correlation_id, r.context, r.priority, CASE WHEN w.waiting THEN $2 END,
         CASE WHEN w.waiting THEN now() + make_interval(secs => $3::double precision / 1000) END,
         clock_timestamp()
       FROM jsonb_to_recordset($1::jsonb) AS r(ord int, id uuid, saga_type text,
              correlation_id text, context jsonb, priority int),
            (SELECT ${waiting} AS waiting) AS w
       ORDER BY r.ord
       ON CONFLICT (id) DO NOTHING
       RETURNING ${returning}`;
}

/** The parameters of insertSagasSql. */
export function insertSagasParams(
  sagas: readonly NewSaga[],
  parkBehind: SagaParking | undefined,
): unknown[] {
  const rows = sagas.map((saga, ord) => ({
    ord,
    id: saga.id,
    saga_type: saga.type,
    correlation_id: saga.correlationId,
    context: saga.context,
    priority: saga.priority ?? 0,
  }));
  return [JSON.stringify(rows), parkBehind?.key ?? null, parkBehind?.deadlineMs ?? 0];
}

/** Returns the saga, or undefined. */
export async function findSaga(q: Queryable, id: string): Promise<SagaRow | undefined> {
  const result = await q.query<SagaRow>(`SELECT ${COLUMNS} FROM saga_instances WHERE id = $1`, [
    id,
  ]);
  return result.rows[0];
}

/** Records a step's final state, output and error (creating its row when needed). */
export async function finishStep(
  q: Queryable,
  step: {
    sagaId: string;
    index: number;
    name: string;
    correlationId: string;
    state: string;
    output?: unknown;
    error?: string;
  },
): Promise<void> {
  await q.query(
    `INSERT INTO saga_steps (saga_id, step_index, name, state, correlation_id, output, error, finished_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7, now())
     ON CONFLICT (saga_id, step_index) DO UPDATE
       SET state = $4, output = $6, error = $7, finished_at = now()`,
    [
      step.sagaId,
      step.index,
      step.name,
      step.state,
      step.correlationId,
      JSON.stringify(step.output ?? null),
      step.error ?? '',
    ],
  );
}

/** In one statement: records the step COMPLETED and moves the IN_PROGRESS saga to the next
 * step with its new context (one round trip per step on the hot path); returns whether the saga
 * was still IN_PROGRESS. */
export async function completeStepAndAdvance(
  q: Queryable,
  step: {
    sagaId: string;
    index: number;
    name: string;
    correlationId: string;
    output?: unknown;
    context: SagaContext;
  },
): Promise<boolean> {
  const result = await q.query<{ advanced: boolean }>(
    `WITH recorded AS (
       INSERT INTO saga_steps (saga_id, step_index, name, state, correlation_id, output, finished_at)
       VALUES ($1, $2, $3, 'COMPLETED', $4, $5, now())
       ON CONFLICT (saga_id, step_index) DO UPDATE SET state = 'COMPLETED', output = $5, error = '',
         finished_at = now()
     ), advanced AS (
       UPDATE saga_instances SET current_step = $2 + 1, context = $6, updated_at = now()
       WHERE id = $1 AND state = 'IN_PROGRESS'
       RETURNING 1
     )
     SELECT EXISTS (SELECT 1 FROM advanced) AS advanced`,
    [
      step.sagaId,
      step.index,
      step.name,
      step.correlationId,
      JSON.stringify(step.output ?? null),
      JSON.stringify(step.context),
    ],
  );
  return result.rows[0]?.advanced === true;
}

/** Returns the indexes of the saga's COMPLETED steps. */
export async function completedStepIndexes(q: Queryable, sagaId: string): Promise<Set<number>> {
  const result = await q.query<{ step_index: number }>(
    "SELECT step_index FROM saga_steps WHERE saga_id = $1 AND state = 'COMPLETED'",
    [sagaId],
  );
  return new Set(result.rows.map((r) => r.step_index));
}

interface SagaUpdate {
  id: string;
  from: SagaState;
  state: SagaState;
  currentStep: number;
  context: SagaContext;
  waitKey?: string | null;
  waitDeadline?: Date | null;
  error?: string;
}

/** Moves the saga on: new state, step, context and wait; guarded by the state it is in. Returns
 * the saga's id, or no row when it was not in `from`. */
export function updateSagaStatement(update: SagaUpdate): Statement<string> {
  const terminal = ['COMPLETED', 'COMPENSATED', 'FAILED', 'CANCELLED'].includes(update.state);
  return {
    text: `UPDATE saga_instances SET state = $3, current_step = $4, context = $5, wait_key = $6,
       wait_deadline = $7, error = $8, updated_at = now(),
       finished_at = CASE WHEN $9 THEN now() ELSE NULL END
     WHERE id = $1 AND state = $2
     RETURNING id`,
    params: [
      update.id,
      update.from,
      update.state,
      update.currentStep,
      JSON.stringify(update.context),
      update.waitKey ?? null,
      update.waitDeadline ?? null,
      update.error ?? '',
      terminal,
    ],
    read: (row: { id: string }) => row.id,
  };
}

/** A step's record: COMPLETED with its output. */
export interface CompletedStep {
  index: number;
  name: string;
  output?: unknown;
}

/** updateSagaStatement, recording completed steps in the same statement (written either way). */
export function updateSagaWithStepsStatement(
  update: SagaUpdate,
  correlationId: string,
  steps: readonly CompletedStep[],
): Statement<string> {
  const saga = updateSagaStatement(update);
  const n = saga.params.length;
  return {
    ...saga,
    ctes: `steps_recorded AS (
       INSERT INTO saga_steps (saga_id, step_index, name, state, correlation_id, output, finished_at)
       SELECT $1, r.step_index, r.name, 'COMPLETED', $${n + 1}, r.output, now()
       FROM jsonb_to_recordset($${n + 2}::jsonb) AS r(step_index int, name text, output jsonb)
       ON CONFLICT (saga_id, step_index) DO UPDATE
         SET state = 'COMPLETED', output = EXCLUDED.output, error = '', finished_at = now())`,
    params: [
      ...saga.params,
      correlationId,
      JSON.stringify(
        steps.map((step) => ({
          step_index: step.index,
          name: step.name,
          output: step.output ?? null,
        })),
      ),
    ],
  };
}

/** WAITING on `key` at `step` → COMPLETED with that step's record, in one statement (the record
 * only when the saga changed); returns the saga's id, or no row when it was not waiting there
 * (SagaStep.finishOnEvent). */
export function finishWaitingStatement(
  saga: { id: string; key: string; correlationId: string },
  step: CompletedStep,
): Statement<string> {
  return {
    ctes: `finished AS (
         UPDATE saga_instances SET state = 'COMPLETED', current_step = $3 + 1,
           wait_key = NULL, wait_deadline = NULL, updated_at = now(), finished_at = now()
         WHERE id = $1 AND state = 'WAITING' AND wait_key = $2 AND current_step = $3
         RETURNING id
       ), finished_step AS (
         INSERT INTO saga_steps (saga_id, step_index, name, state, correlation_id, output,
           finished_at)
         SELECT f.id, $3, $4, 'COMPLETED', $5, $6::jsonb, now() FROM finished f
         ON CONFLICT (saga_id, step_index) DO UPDATE
           SET state = 'COMPLETED', output = EXCLUDED.output, error = '', finished_at = now()
       )`,
    text: 'SELECT id FROM finished',
    params: [
      saga.id,
      saga.key,
      step.index,
      step.name,
      saga.correlationId,
      JSON.stringify(step.output ?? null),
    ],
    read: (row: { id: string }) => row.id,
  };
}

/**
 * updateSagaWithStepsStatement for a saga about to wait, with its step's recheck evaluated in
 * the same statement: when the condition holds the saga is not parked (it stays IN_PROGRESS, no
 * wait) and the row says `stayed`; otherwise it waits as `update` says. No row when the saga was
 * not in `update.from`.
 */
export function parkRecheckingStatement(
  update: SagaUpdate & { state: 'WAITING' },
  correlationId: string,
  steps: readonly CompletedStep[],
  recheck: SqlCondition,
): Statement<boolean> {
  const recorded = updateSagaWithStepsStatement(update, correlationId, steps);
  const n = recorded.params.length;
  const condition = recheck.sql(recheck.params.map((_, i) => `$${n + i + 1}`));
  return {
    ctes: recorded.ctes,
    text: `UPDATE saga_instances
       SET state = CASE WHEN r.found THEN 'IN_PROGRESS' ELSE $3 END, current_step = $4,
         context = $5, wait_key = CASE WHEN r.found THEN NULL ELSE $6 END,
         wait_deadline = CASE WHEN r.found THEN NULL ELSE $7::timestamptz END, error = $8,
         updated_at = now(), finished_at = CASE WHEN $9 THEN now() ELSE NULL END
     FROM (SELECT (${condition}) AS found) AS r
     WHERE id = $1 AND state = $2
     RETURNING r.found AS stayed`,
    params: [...recorded.params, ...recheck.params],
    read: (row: { stayed: boolean }) => row.stayed,
  };
}

/** Runs updateSagaStatement; returns whether the saga was in `from` (and so moved on). */
export async function updateSaga(q: Queryable, update: SagaUpdate): Promise<boolean> {
  return (await runStatement(q, updateSagaStatement(update))).length === 1;
}

/** WAITING → IN_PROGRESS for at most `limit` sagas waiting on `key` (only those whose deadline
 * has passed, when `deadlinePassed`), highest priority and oldest first (saga_waiting_idx);
 * returns them as they are now (so their run need not read them again). */
export async function claimWaitingByKey(
  q: Queryable,
  key: string,
  limit: number,
  deadlinePassed = false,
): Promise<SagaRow[]> {
  const result = await q.query<SagaRow>(
    `UPDATE saga_instances SET state = 'IN_PROGRESS', updated_at = now()
     WHERE id IN (SELECT id FROM saga_instances WHERE state = 'WAITING' AND wait_key = $1
                  ${deadlinePassed ? 'AND wait_deadline < now()' : ''}
                  ORDER BY priority DESC, created_at LIMIT $2 FOR UPDATE SKIP LOCKED)
     RETURNING ${COLUMNS}`,
    [key, limit],
  );
  return result.rows;
}

/** WAITING → IN_PROGRESS for this saga if it still waits; returns whether it did. */
export async function claimWaitingSaga(q: Queryable, id: string): Promise<boolean> {
  const result = await q.query(
    `UPDATE saga_instances SET state = 'IN_PROGRESS', updated_at = now()
     WHERE id = $1 AND state = 'WAITING'`,
    [id],
  );
  return result.rowCount === 1;
}

/** WAITING → IN_PROGRESS for sagas whose deadline has passed, except those waiting on
 * `skipKey`; returns them as they are now. */
export async function claimExpiredWaits(
  q: Queryable,
  limit: number,
  skipKey?: string,
): Promise<SagaRow[]> {
  // Two ranges of saga_waiting_idx (wait_key, …) rather than `<>`, which no index serves: the
  // sagas skipped may be a backlog of thousands, the others a few.
  const skip = skipKey === undefined ? '' : 'AND (wait_key < $2 OR wait_key > $2)';
  const result = await q.query<SagaRow>(
    `UPDATE saga_instances SET state = 'IN_PROGRESS', updated_at = now()
     WHERE id IN (SELECT id FROM saga_instances
                  WHERE state = 'WAITING' ${skip} AND wait_deadline < now()
                  ORDER BY wait_deadline LIMIT $1 FOR UPDATE SKIP LOCKED)
     RETURNING ${COLUMNS}`,
    skipKey === undefined ? [limit] : [limit, skipKey],
  );
  return result.rows;
}

/** The value of a constant integer SQL expression now. */
export async function countNow(q: Queryable, expression: string): Promise<number> {
  const result = await q.query<{ n: number | string | null }>(`SELECT (${expression}) AS n`);
  return Number(result.rows[0]?.n ?? 0);
}

/** Returns IN_PROGRESS/COMPENSATING sagas untouched for `staleMs` (all of them when 0). */
export async function findUnfinishedSagas(q: Queryable, staleMs: number): Promise<string[]> {
  const result = await q.query<{ id: string }>(
    `SELECT id FROM saga_instances WHERE state IN ('IN_PROGRESS', 'COMPENSATING')
       AND updated_at <= now() - make_interval(secs => $1::double precision / 1000)
     ORDER BY created_at`,
    [staleMs],
  );
  return result.rows.map((r) => r.id);
}

/** Counts WAITING sagas with this key. */
export async function countWaiting(q: Queryable, key: string): Promise<number> {
  const result = await q.query<{ n: number }>(
    "SELECT count(*)::int AS n FROM saga_instances WHERE state = 'WAITING' AND wait_key = $1",
    [key],
  );
  return result.rows[0]?.n ?? 0;
}

/** Deletes up to `limit` sagas that finished more than `olderThanMs` ago, with their steps
 * (ON DELETE CASCADE); returns how many sagas. Sagas still running or waiting stay. */
export async function deleteFinishedSagas(
  q: Queryable,
  olderThanMs: number,
  limit: number,
): Promise<number> {
  const result = await q.query(
    `DELETE FROM saga_instances WHERE id IN (
       SELECT id FROM saga_instances
       WHERE finished_at IS NOT NULL
         AND finished_at < now() - make_interval(secs => $1::double precision / 1000)
       LIMIT $2)`,
    [olderThanMs, limit],
  );
  return result.rowCount ?? 0;
}

/** Returns which of these saga ids exist. */
export async function existingSagaIds(q: Queryable, ids: readonly string[]): Promise<Set<string>> {
  if (ids.length === 0) return new Set();
  const result = await q.query<{ id: string }>(
    'SELECT id FROM saga_instances WHERE id = ANY($1::uuid[])',
    [ids],
  );
  return new Set(result.rows.map((r) => r.id));
}

/** A saga as a trace shows it, with the steps it recorded. */
export interface TracedSaga {
  id: string;
  type: SagaType;
  state: SagaState;
  currentStep: number;
  waitKey: string | null;
  waitDeadline: Date | null;
  error: string;
  createdAt: Date;
  finishedAt: Date | null;
  steps: Array<{
    index: number;
    name: string;
    state: string;
    error: string;
    finishedAt: Date | null;
  }>;
}

/** Returns the sagas of a correlation id, oldest first, each with its steps (one statement). */
export async function listSagasByCorrelation(
  q: Queryable,
  correlationId: string,
  limit: number,
): Promise<TracedSaga[]> {
  const result = await q.query<{
    id: string;
    saga_type: SagaType;
    state: SagaState;
    current_step: number;
    wait_key: string | null;
    wait_deadline: Date | null;
    error: string;
    created_at: Date;
    finished_at: Date | null;
    steps: Array<{
      index: number;
      name: string;
      state: string;
      error: string;
      finished_at: string | null;
    }>;
  }>(
    `SELECT s.id, s.saga_type, s.state, s.current_step, s.wait_key, s.wait_deadline, s.error,
       s.created_at, s.finished_at,
       coalesce((SELECT json_agg(json_build_object('index', st.step_index, 'name', st.name,
                   'state', st.state, 'error', st.error, 'finished_at', st.finished_at)
                 ORDER BY st.step_index)
                 FROM saga_steps st WHERE st.saga_id = s.id), '[]') AS steps
     FROM saga_instances s WHERE s.correlation_id = $1 ORDER BY s.created_at, s.id LIMIT $2`,
    [correlationId, limit],
  );
  return result.rows.map((r) => ({
    id: r.id,
    type: r.saga_type,
    state: r.state,
    currentStep: r.current_step,
    waitKey: r.wait_key,
    waitDeadline: r.wait_deadline,
    error: r.error,
    createdAt: r.created_at,
    finishedAt: r.finished_at,
    steps: r.steps.map((st) => ({
      index: st.index,
      name: st.name,
      state: st.state,
      error: st.error,
      finishedAt: st.finished_at ? new Date(st.finished_at) : null,
    })),
  }));
}
