// Bus adapter on PostgreSQL tables (migration 0002_bus.sql), with the same contract as JetStream:
// dedup by message id, durable competing consumers, explicit ack / nak / term, redelivery after
// the ack wait, max_deliver, headers. It uses only the Db port, so it runs on a PostgreSQL server
// and on embedded PGlite alike. PGlite is one connection: a publish given `{ tx }` runs entirely
// inside that transaction (a statement on `db` there would wait for the transaction to end).
import type { Db, Queryable } from '../../db/db.js';
import type { Bus, Subscription } from '../bus.js';
import type { Logger } from '../../shared/logger.js';
import { HodeiError } from '../../shared/errors.js';
import { filterToRegex } from './subject-filter.js';
import { BUS_CHANNEL, insertMessages, lockForPublish } from './publish-sql.js';
import { backfillConsumer, lockForConsumerChange, upsertConsumer } from './consumer-sql.js';
import { startConsumeLoop } from './consume-loop.js';

export interface PostgresBusOptions {
  db: Db;
  logger?: Logger;
  /** Fallback poll when no notification came (default 2 s); not on the hot path. */
  pollIntervalMs?: number;
}

export function createPostgresBus(options: PostgresBusOptions): Bus {
  const { db, logger } = options;
  const pollMs = options.pollIntervalMs ?? 2000;
  const subscriptions = new Set<Subscription>();

  async function publishIn(tx: Queryable, messages: Parameters<typeof insertMessages>[1]) {
    await lockForPublish(tx);
    await insertMessages(tx, messages);
  }

  return {
    kind: 'postgres',

    // The tables are in the database, which /readyz checks on its own.
    checkReady: () => Promise.resolve(undefined),

    async setup() {
      // The tables come with the migrations; check they are there.
      try {
        await db.query('SELECT 1 FROM bus_messages LIMIT 0');
      } catch (error) {
        throw new HodeiError(
          'UNAVAILABLE',
          'the bus tables are missing: run the database migrations',
          {},
          { cause: error },
        );
      }
    },

    async publish(messages, publishOptions) {
      if (messages.length === 0) return;
      const tx = publishOptions?.tx;
      if (tx) await publishIn(tx, messages);
      else await db.transaction((t) => publishIn(t, messages));
    },

    async consume(consumer, handler) {
      const filterRegex = filterToRegex(consumer.filterSubject);
      await db.transaction(async (tx) => {
        await lockForConsumerChange(tx);
        const created = await upsertConsumer(tx, {
          name: consumer.durable,
          filterSubject: consumer.filterSubject,
          filterRegex,
          ackWaitMs: consumer.ackWaitMs,
          maxDeliver: consumer.maxDeliver,
        });
        if (created) await backfillConsumer(tx, consumer.durable, filterRegex);
      });
      const loop = startConsumeLoop({ db, consumer, handler, logger, pollMs });
      const unlisten = await db.listen(BUS_CHANNEL, () => loop.kick());
      loop.kick();
      const subscription: Subscription = {
        async stop() {
          subscriptions.delete(subscription);
          await unlisten();
          await loop.stop();
        },
      };
      subscriptions.add(subscription);
      return subscription;
    },

    async close() {
      await Promise.allSettled([...subscriptions].map((s) => s.stop()));
    },
  };
}
