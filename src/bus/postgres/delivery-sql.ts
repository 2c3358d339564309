// SQL for one consumer's deliveries on the table bus: claim (competing consumers skip each other's
// locked rows), ack, term, nak, and when the next pending delivery becomes visible. Every query on
// the hot path reads the partial index bus_deliveries_claim_idx (consumer, visible_at, seq) WHERE
// state = 'pending' in its order.
import type { Queryable } from '../../db/db.js';

export interface ClaimedRow {
  seq: number;
  delivery_count: number;
  id: string;
  subject: string;
  data: Uint8Array;
  headers: Record<string, string>;
}

/** Claims up to `limit` pending deliveries visible now, oldest first, hides each for `ackWaitMs`
 * (a claim reaching `maxDeliver` turns `final`: never claimed again); returns them with their
 * message, in publish order. */
export async function claimDeliveries(
  q: Queryable,
  consumer: string,
  limit: number,
  ackWaitMs: number,
  maxDeliver: number,
): Promise<ClaimedRow[]> {
  const result = await q.query<ClaimedRow>(
    `WITH picked AS (
       SELECT seq FROM bus_deliveries
       WHERE consumer = $1 AND state = 'pending' AND visible_at <= now()
       ORDER BY visible_at, seq
       LIMIT $2
       FOR UPDATE SKIP LOCKED
     ), claimed AS (
       UPDATE bus_deliveries d
       SET delivery_count = d.delivery_count + 1,
           visible_at = now() + make_interval(secs => $3::double precision / 1000),
           state = CASE WHEN d.delivery_count + 1 >= $4::int THEN 'final' ELSE 'pending' END
       FROM picked p
       WHERE d.consumer = $1 AND d.seq = p.seq
       RETURNING d.seq, d.delivery_count
     )
     SELECT c.seq, c.delivery_count, m.id, m.subject, m.data, m.headers
     FROM claimed c JOIN bus_messages m ON m.seq = c.seq
     ORDER BY c.seq`,
    [consumer, limit, ackWaitMs, maxDeliver],
  );
  return result.rows.map((r) => ({ ...r, seq: Number(r.seq) }));
}

/** Settles a delivery as acked or terminated (never delivered to this consumer again); returns
 * whether it was still unsettled. */
export async function settleDelivery(
  q: Queryable,
  consumer: string,
  seq: number,
  state: 'acked' | 'terminated',
): Promise<boolean> {
  const result = await q.query(
    `UPDATE bus_deliveries SET state = $3, settled_at = now()
     WHERE consumer = $1 AND seq = $2 AND state IN ('pending', 'final')`,
    [consumer, seq, state],
  );
  return result.rowCount === 1;
}

/** Makes a delivery visible again after `delayMs`, only while it is pending and still the
 * delivery numbered `deliveryCount` (a nak after the lease expired and someone else claimed it
 * changes nothing); returns whether it did. */
export async function releaseDelivery(
  q: Queryable,
  consumer: string,
  seq: number,
  deliveryCount: number,
  delayMs: number,
): Promise<boolean> {
  const result = await q.query(
    `UPDATE bus_deliveries
     SET visible_at = now() + make_interval(secs => $4::double precision / 1000)
     WHERE consumer = $1 AND seq = $2 AND delivery_count = $3 AND state = 'pending'`,
    [consumer, seq, deliveryCount, delayMs],
  );
  return result.rowCount === 1;
}

/** Returns the milliseconds until the consumer's earliest pending delivery becomes visible
 * (≤ 0 when one is visible now), or null when none is pending. */
export async function msUntilNextVisible(q: Queryable, consumer: string): Promise<number | null> {
  const result = await q.query<{ ms: number }>(
    `SELECT (extract(epoch FROM visible_at - now()) * 1000)::float8 AS ms
     FROM bus_deliveries
     WHERE consumer = $1 AND state = 'pending'
     ORDER BY visible_at, seq
     LIMIT 1`,
    [consumer],
  );
  const row = result.rows[0];
  return row === undefined ? null : Number(row.ms);
}

/** Returns the deliveries of a consumer not settled yet (waiting or in flight), or undefined
 * when there is no such consumer. */
export async function countUnsettled(q: Queryable, consumer: string): Promise<number | undefined> {
  const result = await q.query<{ n: number | null }>(
    `SELECT (SELECT count(*)::int FROM bus_deliveries d
             WHERE d.consumer = c.name AND d.state IN ('pending', 'final')) AS n
     FROM bus_consumers c WHERE c.name = $1`,
    [consumer],
  );
  return result.rows[0]?.n ?? undefined;
}
