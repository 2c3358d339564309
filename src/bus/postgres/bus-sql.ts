// SQL for the PostgreSQL bus. Publishing fans a message out to every consumer whose filter it
// matches, in the publishing transaction; consumers claim their deliveries with SKIP LOCKED.
import type { Queryable } from '../../db/db.js';
import type { BusMessage } from '../bus.js';

export const BUS_CHANNEL = 'hodei_bus';
/** Publishers take it shared, consumer creation exclusive, so a new consumer's backfill sees
 * every message committed before it and fan-out reaches it for every message after. */
const FANOUT_LOCK = 7_160_042_010;

export interface ClaimedRow {
  seq: number;
  delivery_count: number;
  id: string;
  subject: string;
  data: Uint8Array;
  headers: Record<string, string>;
}

/** Takes the shared fan-out lock for the rest of the transaction. */
export async function lockForPublish(q: Queryable): Promise<void> {
  await q.query('SELECT pg_advisory_xact_lock_shared($1)', [FANOUT_LOCK]);
}

/** Stores new messages (ids seen before are skipped), fans them out and wakes consumers;
 * returns how many messages were new. */
export async function insertMessages(
  q: Queryable,
  messages: readonly BusMessage[],
): Promise<number> {
  const result = await q.query<{ n: number }>(
    `WITH inserted AS (
       INSERT INTO bus_messages (id, subject, data, headers)
       SELECT i, s, decode(d, 'hex'), h
       FROM unnest($1::text[], $2::text[], $3::text[], $4::jsonb[]) AS t(i, s, d, h)
       ON CONFLICT (id) DO NOTHING
       RETURNING seq, subject
     ), fanned AS (
       INSERT INTO bus_deliveries (consumer, seq)
       SELECT c.name, i.seq FROM inserted i JOIN bus_consumers c ON i.subject ~ c.filter_regex
       RETURNING 1
     )
     SELECT (SELECT count(*)::int FROM inserted) AS n, pg_notify('${BUS_CHANNEL}', '') AS notified`,
    [
      messages.map((m) => m.id),
      messages.map((m) => m.subject),
      messages.map((m) => Buffer.from(m.data).toString('hex')),
      messages.map((m) => JSON.stringify(m.headers)),
    ],
  );
  return result.rows[0]?.n ?? 0;
}

/** Creates or updates a durable consumer; a new one is given every stored matching message. */
export async function upsertConsumer(
  q: Queryable,
  consumer: { name: string; filterSubject: string; filterRegex: string },
): Promise<void> {
  await q.query('SELECT pg_advisory_xact_lock($1)', [FANOUT_LOCK]);
  const result = await q.query<{ created: boolean }>(
    `INSERT INTO bus_consumers (name, filter_subject, filter_regex) VALUES ($1, $2, $3)
     ON CONFLICT (name) DO UPDATE SET filter_subject = $2, filter_regex = $3
     RETURNING (xmax = 0) AS created`,
    [consumer.name, consumer.filterSubject, consumer.filterRegex],
  );
  if (result.rows[0]?.created) {
    await q.query(
      `INSERT INTO bus_deliveries (consumer, seq)
       SELECT $1, seq FROM bus_messages WHERE subject ~ $2 ON CONFLICT DO NOTHING`,
      [consumer.name, consumer.filterRegex],
    );
  }
}

/** Claims up to `limit` visible deliveries of the consumer, oldest first, hiding each for
 * `ackWaitMs`; returns them with their message. */
export async function claimDeliveries(
  q: Queryable,
  consumer: string,
  limit: number,
  ackWaitMs: number,
  maxDeliver: number,
): Promise<ClaimedRow[]> {
  const result = await q.query<ClaimedRow>(
    `WITH claimed AS (
       UPDATE bus_deliveries d
       SET delivery_count = d.delivery_count + 1,
           visible_at = now() + make_interval(secs => $3::double precision / 1000)
       WHERE (d.consumer, d.seq) IN (
         SELECT consumer, seq FROM bus_deliveries
         WHERE consumer = $1 AND visible_at <= now() AND delivery_count < $4
         ORDER BY visible_at, seq LIMIT $2 FOR UPDATE SKIP LOCKED)
       RETURNING d.seq, d.delivery_count
     )
     SELECT c.seq, c.delivery_count, m.id, m.subject, m.data, m.headers
     FROM claimed c JOIN bus_messages m ON m.seq = c.seq ORDER BY c.seq`,
    [consumer, limit, ackWaitMs, maxDeliver],
  );
  return result.rows.map((r) => ({ ...r, seq: Number(r.seq) }));
}

/** Removes a delivery (ack or term). */
export async function deleteDelivery(q: Queryable, consumer: string, seq: number): Promise<void> {
  await q.query('DELETE FROM bus_deliveries WHERE consumer = $1 AND seq = $2', [consumer, seq]);
}

/** Makes a delivery visible again after `delayMs`. */
export async function releaseDelivery(
  q: Queryable,
  consumer: string,
  seq: number,
  delayMs: number,
): Promise<void> {
  await q.query(
    `UPDATE bus_deliveries SET visible_at = now() + make_interval(secs => $3::double precision / 1000)
     WHERE consumer = $1 AND seq = $2`,
    [consumer, seq, delayMs],
  );
}

/** Milliseconds until the consumer's next delivery becomes visible, or null when none waits. */
export async function msUntilNextVisible(
  q: Queryable,
  consumer: string,
  maxDeliver: number,
): Promise<number | null> {
  const result = await q.query<{ ms: number | null }>(
    `SELECT (extract(epoch FROM min(visible_at) - now()) * 1000)::float8 AS ms
     FROM bus_deliveries WHERE consumer = $1 AND delivery_count < $2`,
    [consumer, maxDeliver],
  );
  const ms = result.rows[0]?.ms;
  return ms === null || ms === undefined ? null : Number(ms);
}
