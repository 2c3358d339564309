// SQL for outbox_events: append in the business transaction, claim and mark for the relay.
import type { Queryable } from '../db/db.js';
import { OUTBOX_CHANNEL } from '../db/db.js';

export interface OutboxRow {
  seq: number;
  event_id: string;
  event_type: string;
  subject: string;
  aggregate_type: string;
  aggregate_id: string;
  correlation_id: string;
  traceparent: string;
  payload: Record<string, unknown>;
  occurred_at: Date;
}

export interface OutboxInsert {
  eventId: string;
  eventType: string;
  subject: string;
  aggregateType: string;
  aggregateId: string;
  correlationId: string;
  traceparent: string;
  payload: unknown;
}

/** Inserts the rows and signals the relay (delivered when the transaction commits). */
export async function insertOutboxRows(q: Queryable, rows: readonly OutboxInsert[]): Promise<void> {
  if (rows.length === 0) return;
  await q.query(
    `INSERT INTO outbox_events (event_id, event_type, subject, aggregate_type, aggregate_id,
       correlation_id, traceparent, payload)
     SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[],
       $7::text[], $8::jsonb[])`,
    [
      rows.map((r) => r.eventId),
      rows.map((r) => r.eventType),
      rows.map((r) => r.subject),
      rows.map((r) => r.aggregateType),
      rows.map((r) => r.aggregateId),
      rows.map((r) => r.correlationId),
      rows.map((r) => r.traceparent),
      rows.map((r) => JSON.stringify(r.payload)),
    ],
  );
  await q.query(`SELECT pg_notify('${OUTBOX_CHANNEL}', '')`);
}

/** Locks and returns up to `limit` unpublished rows, oldest first, skipping rows others hold. */
export async function claimOutboxBatch(q: Queryable, limit: number): Promise<OutboxRow[]> {
  const result = await q.query<OutboxRow>(
    `SELECT seq, event_id, event_type, subject, aggregate_type, aggregate_id, correlation_id,
       traceparent, payload, occurred_at
     FROM outbox_events WHERE published_at IS NULL
     ORDER BY seq LIMIT $1 FOR UPDATE SKIP LOCKED`,
    [limit],
  );
  return result.rows;
}

/** Marks the rows published. */
export async function markOutboxPublished(q: Queryable, seqs: readonly number[]): Promise<void> {
  await q.query('UPDATE outbox_events SET published_at = now() WHERE seq = ANY($1::bigint[])', [
    seqs,
  ]);
}

/** Records a failed publish attempt on the rows. */
export async function recordOutboxFailure(
  q: Queryable,
  seqs: readonly number[],
  error: string,
): Promise<void> {
  await q.query(
    `UPDATE outbox_events SET delivery_attempts = delivery_attempts + 1, last_error = $2
     WHERE seq = ANY($1::bigint[])`,
    [seqs, error],
  );
}

/** Returns how many events wait to be published. */
export async function countUnpublished(q: Queryable): Promise<number> {
  const result = await q.query<{ n: number }>(
    'SELECT count(*)::int AS n FROM outbox_events WHERE published_at IS NULL',
  );
  return result.rows[0]?.n ?? 0;
}
