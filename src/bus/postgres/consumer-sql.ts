// SQL for the durable consumers of the table bus: the registry row and, when a consumer is new,
// its backfill with every stored message its filter matches (JetStream's DeliverPolicy.All).
import type { Queryable } from '../../db/db.js';
import { FANOUT_LOCK } from './publish-sql.js';

export interface ConsumerRow {
  name: string;
  filterSubject: string;
  filterRegex: string;
  ackWaitMs: number;
  maxDeliver: number;
}

/** Waits for publishers in flight and keeps new ones out until the transaction ends; returns
 * nothing. */
export async function lockForConsumerChange(q: Queryable): Promise<void> {
  await q.query('SELECT pg_advisory_xact_lock($1)', [FANOUT_LOCK]);
}

/** Creates the consumer or updates its settings; returns true when it was created. */
export async function upsertConsumer(q: Queryable, consumer: ConsumerRow): Promise<boolean> {
  const result = await q.query<{ created: boolean }>(
    `INSERT INTO bus_consumers (name, filter_subject, filter_regex, ack_wait_ms, max_deliver)
     VALUES ($1, $2, $3, $4, $5)
     ON CONFLICT (name) DO UPDATE
       SET filter_subject = $2, filter_regex = $3, ack_wait_ms = $4, max_deliver = $5
     RETURNING (xmax = 0) AS created`,
    [
      consumer.name,
      consumer.filterSubject,
      consumer.filterRegex,
      consumer.ackWaitMs,
      consumer.maxDeliver,
    ],
  );
  return result.rows[0]?.created ?? false;
}

/** Gives a new consumer every stored message its filter matches; returns how many. */
export async function backfillConsumer(
  q: Queryable,
  name: string,
  filterRegex: string,
): Promise<number> {
  const result = await q.query(
    `INSERT INTO bus_deliveries (consumer, seq)
     SELECT $1, seq FROM bus_messages WHERE subject ~ $2 ON CONFLICT DO NOTHING`,
    [name, filterRegex],
  );
  return result.rowCount;
}
