// SQL for failed_events: the dead letters of every consumer.
import type { Queryable } from '../db/db.js';

/** PENDING until replayed or discarded (each at most once; see markFailedEvent*). */
export type FailedEventState = 'PENDING' | 'REPLAYED' | 'DISCARDED';

export interface FailedEvent {
  id: number;
  eventId: string;
  consumer: string;
  subject: string;
  /** The x-event-type header ('' when the message had none). */
  eventType: string;
  correlationId: string;
  error: string;
  deliveryCount: number;
  failedAt: Date;
  state: FailedEventState;
  replayedAt: Date | null;
  discardedAt: Date | null;
  discardReason: string;
  replayCount: number;
}

/** A dead letter with the bus message it stores. */
export interface StoredFailedEvent extends FailedEvent {
  headers: Record<string, string>;
  payload: string;
}

interface FailedEventRow {
  id: number | string;
  event_id: string;
  consumer: string;
  subject: string;
  event_type: string | null;
  correlation_id: string;
  error: string;
  delivery_count: number;
  failed_at: Date;
  replayed_at: Date | null;
  discarded_at: Date | null;
  discard_reason: string;
  replay_count: number;
}

const SUMMARY_COLUMNS = `id, event_id, consumer, subject, headers->>'x-event-type' AS event_type,
  correlation_id, error, delivery_count, failed_at, replayed_at, discarded_at, discard_reason,
  replay_count`;
const STORED_COLUMNS = `${SUMMARY_COLUMNS}, headers, payload`;
const STATE_OF_ROW = `CASE WHEN discarded_at IS NOT NULL THEN 'DISCARDED'
  WHEN replayed_at IS NOT NULL THEN 'REPLAYED' ELSE 'PENDING' END`;

function toFailedEvent(r: FailedEventRow): FailedEvent {
  return {
    id: Number(r.id),
    eventId: r.event_id,
    consumer: r.consumer,
    subject: r.subject,
    eventType: r.event_type ?? '',
    correlationId: r.correlation_id,
    error: r.error,
    deliveryCount: r.delivery_count,
    failedAt: r.failed_at,
    state: r.discarded_at ? 'DISCARDED' : r.replayed_at ? 'REPLAYED' : 'PENDING',
    replayedAt: r.replayed_at,
    discardedAt: r.discarded_at,
    discardReason: r.discard_reason,
    replayCount: r.replay_count,
  };
}

function toStoredFailedEvent(
  r: FailedEventRow & { headers: Record<string, string>; payload: string },
): StoredFailedEvent {
  return { ...toFailedEvent(r), headers: r.headers, payload: r.payload };
}

/** Stores a dead letter once per consumer and event; returns whether it was new. A dead letter
 * that was replayed and whose event failed again is PENDING again on the same row (with the new
 * error; replay_count kept); a PENDING or discarded one is left as it is. */
export async function insertFailedEvent(
  q: Queryable,
  failed: {
    eventId: string;
    consumer: string;
    subject: string;
    correlationId: string;
    headers: Record<string, string>;
    payload: string;
    error: string;
    deliveryCount: number;
  },
): Promise<boolean> {
  const result = await q.query(
    `INSERT INTO failed_events (event_id, consumer, subject, correlation_id, headers, payload, error,
       delivery_count)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
     ON CONFLICT (consumer, event_id) DO UPDATE SET subject = EXCLUDED.subject,
       correlation_id = EXCLUDED.correlation_id, headers = EXCLUDED.headers,
       payload = EXCLUDED.payload, error = EXCLUDED.error,
       delivery_count = EXCLUDED.delivery_count, failed_at = now(), replayed_at = NULL
     WHERE failed_events.replayed_at IS NOT NULL`,
    [
      failed.eventId,
      failed.consumer,
      failed.subject,
      failed.correlationId,
      JSON.stringify(failed.headers),
      failed.payload,
      failed.error,
      failed.deliveryCount,
    ],
  );
  return result.rowCount === 1;
}

/** Returns dead letters in the given states (of one consumer, unless ''), newest first, with ids
 * below `beforeId` when given; without their headers and payload. */
export async function listFailedEvents(
  q: Queryable,
  filter: {
    states: readonly FailedEventState[];
    consumer: string;
    beforeId?: number;
    limit: number;
  },
): Promise<FailedEvent[]> {
  const result = await q.query<FailedEventRow>(
    `SELECT ${SUMMARY_COLUMNS} FROM failed_events
     WHERE ${STATE_OF_ROW} = ANY($1::text[]) AND ($2::text = '' OR consumer = $2)
       AND ($3::bigint IS NULL OR id < $3)
     ORDER BY id DESC LIMIT $4`,
    [filter.states, filter.consumer, filter.beforeId ?? null, filter.limit],
  );
  return result.rows.map(toFailedEvent);
}

/** Returns one dead letter with its stored message, or undefined. */
export async function findFailedEvent(
  q: Queryable,
  id: number,
): Promise<StoredFailedEvent | undefined> {
  const result = await q.query<
    FailedEventRow & { headers: Record<string, string>; payload: string }
  >(`SELECT ${STORED_COLUMNS} FROM failed_events WHERE id = $1`, [id]);
  const row = result.rows[0];
  return row && toStoredFailedEvent(row);
}

/** Marks a PENDING dead letter replayed (replay_count + 1); returns it with its stored message,
 * or undefined when it does not exist or is not PENDING. */
export async function markFailedEventReplayed(
  q: Queryable,
  id: number,
): Promise<StoredFailedEvent | undefined> {
  const result = await q.query<
    FailedEventRow & { headers: Record<string, string>; payload: string }
  >(
    `UPDATE failed_events SET replayed_at = now(), replay_count = replay_count + 1
     WHERE id = $1 AND replayed_at IS NULL AND discarded_at IS NULL
     RETURNING ${STORED_COLUMNS}`,
    [id],
  );
  const row = result.rows[0];
  return row && toStoredFailedEvent(row);
}

/** Marks a PENDING dead letter discarded with a reason; returns it, or undefined when it does not
 * exist or is not PENDING. */
export async function markFailedEventDiscarded(
  q: Queryable,
  id: number,
  reason: string,
): Promise<FailedEvent | undefined> {
  const result = await q.query<FailedEventRow>(
    `UPDATE failed_events SET discarded_at = now(), discard_reason = $2
     WHERE id = $1 AND replayed_at IS NULL AND discarded_at IS NULL
     RETURNING ${SUMMARY_COLUMNS}`,
    [id, reason],
  );
  const row = result.rows[0];
  return row && toFailedEvent(row);
}

/** Counts PENDING dead letters (neither replayed nor discarded). */
export async function countFailedEvents(q: Queryable): Promise<number> {
  const result = await q.query<{ n: number }>(
    'SELECT count(*)::int AS n FROM failed_events WHERE replayed_at IS NULL AND discarded_at IS NULL',
  );
  return result.rows[0]?.n ?? 0;
}

/** Returns the dead letters of a correlation id, oldest first, without their message. */
export async function listFailedEventsByCorrelation(
  q: Queryable,
  correlationId: string,
  limit: number,
): Promise<FailedEvent[]> {
  const result = await q.query<FailedEventRow>(
    `SELECT ${SUMMARY_COLUMNS} FROM failed_events WHERE correlation_id = $1 ORDER BY id LIMIT $2`,
    [correlationId, limit],
  );
  return result.rows.map(toFailedEvent);
}
