// SQL for failed_events: the dead letters of every consumer.
import type { Queryable } from '../db/db.js';

export interface FailedEvent {
  id: number;
  eventId: string;
  consumer: string;
  subject: string;
  correlationId: string;
  error: string;
  deliveryCount: number;
  failedAt: Date;
}

/** Stores a dead letter once per consumer and event; returns whether it was new. */
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
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (consumer, event_id) DO NOTHING`,
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

/** Returns dead letters not yet replayed, newest first. */
export async function listFailedEvents(q: Queryable, limit: number): Promise<FailedEvent[]> {
  const result = await q.query<{
    id: number;
    event_id: string;
    consumer: string;
    subject: string;
    correlation_id: string;
    error: string;
    delivery_count: number;
    failed_at: Date;
  }>(
    `SELECT id, event_id, consumer, subject, correlation_id, error, delivery_count, failed_at
     FROM failed_events WHERE replayed_at IS NULL ORDER BY id DESC LIMIT $1`,
    [limit],
  );
  return result.rows.map((r) => ({
    id: Number(r.id),
    eventId: r.event_id,
    consumer: r.consumer,
    subject: r.subject,
    correlationId: r.correlation_id,
    error: r.error,
    deliveryCount: r.delivery_count,
    failedAt: r.failed_at,
  }));
}

/** Counts dead letters not yet replayed. */
export async function countFailedEvents(q: Queryable): Promise<number> {
  const result = await q.query<{ n: number }>(
    'SELECT count(*)::int AS n FROM failed_events WHERE replayed_at IS NULL',
  );
  return result.rows[0]?.n ?? 0;
}
