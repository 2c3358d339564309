// SQL that publishes on the table bus: a message is stored once per id and fanned out, in the
// publishing transaction, to one delivery row for every consumer whose filter matches it.
import type { Queryable } from '../../db/db.js';
import type { BusMessage } from '../bus.js';

/** NOTIFY channel that wakes consumers; the notification leaves when the publish commits. */
export const BUS_CHANNEL = 'hodei_bus';

/** Publishers take it shared, consumer creation exclusive, so a new consumer's backfill sees
 * every message committed before it and the fan-out reaches it for every message after. */
export const FANOUT_LOCK = 7_160_042_010;

/** Takes the shared fan-out lock until the transaction ends; returns nothing. */
export async function lockForPublish(q: Queryable): Promise<void> {
  await q.query('SELECT pg_advisory_xact_lock_shared($1)', [FANOUT_LOCK]);
}

/** Stores the messages whose id is new (ON CONFLICT DO NOTHING), fans them out to the matching
 * consumers and notifies BUS_CHANNEL; returns how many messages were new. */
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
     SELECT (SELECT count(*)::int FROM inserted) AS n,
            (SELECT count(*) FROM fanned) AS fanned,
            pg_notify('${BUS_CHANNEL}', '') AS notified`,
    [
      messages.map((m) => m.id),
      messages.map((m) => m.subject),
      messages.map((m) => Buffer.from(m.data).toString('hex')),
      messages.map((m) => JSON.stringify(m.headers)),
    ],
  );
  return result.rows[0]?.n ?? 0;
}
