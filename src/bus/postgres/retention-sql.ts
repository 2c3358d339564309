// Retention of the bus on PostgreSQL tables: messages every consumer is done with are deleted
// once old enough (their delivery rows go with them, ON DELETE CASCADE).
import type { Queryable } from '../../db/db.js';

/** Deletes up to `limit` messages stored more than `olderThanMs` ago that no consumer may still
 * be delivered (no pending delivery: acked, terminated, or past max_deliver and so dead-lettered
 * by its consumer); returns how many. */
export async function deleteSettledMessages(
  q: Queryable,
  olderThanMs: number,
  limit: number,
): Promise<number> {
  const result = await q.query(
    `DELETE FROM bus_messages WHERE seq IN (
       SELECT m.seq FROM bus_messages m
       WHERE m.published_at < now() - make_interval(secs => $1::double precision / 1000)
         -- A correlated count runs per message on the seq index whatever the statistics say;
         -- NOT EXISTS let a planner without statistics pick an anti join scanning every delivery.
         AND (SELECT count(*) FROM bus_deliveries d WHERE d.seq = m.seq AND d.state = 'pending') = 0
       LIMIT $2)`,
    [olderThanMs, limit],
  );
  return result.rowCount ?? 0;
}
