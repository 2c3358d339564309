// Reads for the dispatch tests: where a job, its workers, its saga and its events stand, and the
// state a crash leaves when a step's record never landed (step records are written in the
// background, src/sagas/step-progress.ts).
import type { Db } from '../../src/db/db.js';

export async function jobRow(db: Db, jobId: string) {
  const r = await db.query<{ state: string; attempt: number; worker_id: string | null }>(
    'SELECT state, attempt, worker_id FROM jobs WHERE id = $1',
    [jobId],
  );
  return r.rows[0];
}

export async function workerRow(db: Db, workerId: string) {
  const r = await db.query<{ state: string; current_job_id: string | null }>(
    'SELECT state, current_job_id FROM workers WHERE id = $1',
    [workerId],
  );
  return r.rows[0];
}

/** Ids of the workers BUSY for the job. */
export async function busyFor(db: Db, jobId: string): Promise<string[]> {
  const r = await db.query<{ id: string }>(
    "SELECT id FROM workers WHERE state = 'BUSY' AND current_job_id = $1 ORDER BY id",
    [jobId],
  );
  return r.rows.map((row) => row.id);
}

export async function sagaRow(db: Db, sagaId: string) {
  const r = await db.query<{ state: string; current_step: number; wait_key: string | null }>(
    'SELECT state, current_step, wait_key FROM saga_instances WHERE id = $1',
    [sagaId],
  );
  return r.rows[0];
}

/** The job's or worker's events in the outbox, in order: type and payload. */
export async function eventsOf(db: Db, aggregateId: string) {
  const r = await db.query<{ event_type: string; payload: Record<string, unknown> }>(
    'SELECT event_type, payload FROM outbox_events WHERE aggregate_id = $1 ORDER BY seq',
    [aggregateId],
  );
  return r.rows.map((row) => ({ type: row.event_type, payload: row.payload }));
}

/** As if the records of steps `fromStep` and later never landed: their rows gone, the saga back at
 * `fromStep` with the context it had there (the keys later steps added removed). */
export async function loseStepRecords(
  db: Db,
  sagaId: string,
  fromStep: number,
  addedKeys: readonly string[],
): Promise<void> {
  await db.query('DELETE FROM saga_steps WHERE saga_id = $1 AND step_index >= $2', [
    sagaId,
    fromStep,
  ]);
  await db.query(
    `UPDATE saga_instances SET current_step = $2, context = context - $3::text[]
     WHERE id = $1 AND state = 'IN_PROGRESS'`,
    [sagaId, fromStep, addedKeys],
  );
}

/** Ends every unfinished saga and retires every worker, so one test's leftovers do not run in the
 * next one's engine (resumeAll and sweep take every saga of the database). */
export async function settleLeftovers(db: Db): Promise<void> {
  await db.query(
    `UPDATE saga_instances SET state = 'CANCELLED'
     WHERE state IN ('PENDING', 'IN_PROGRESS', 'WAITING', 'COMPENSATING')`,
  );
  await db.query("UPDATE workers SET state = 'TERMINATED' WHERE state <> 'TERMINATED'");
}
