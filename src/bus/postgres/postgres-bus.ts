// Bus adapter on PostgreSQL tables, with the same contract as JetStream: dedup by message id,
// durable competing consumers, explicit ack / nak / term, redelivery after the ack wait,
// max_deliver, headers. Consumers are woken by LISTEN/NOTIFY when something is published and by
// a timer at the next pending redelivery; a slow poll is only the fallback.
import type { Db } from '../../db/db.js';
import type { Bus, ConsumerOptions, Delivery, Subscription } from '../bus.js';
import type { Logger } from '../../shared/logger.js';
import { errorMessage } from '../../shared/errors.js';
import { filterToRegex } from './subject-filter.js';
import {
  BUS_CHANNEL,
  claimDeliveries,
  deleteDelivery,
  insertMessages,
  lockForPublish,
  msUntilNextVisible,
  releaseDelivery,
  upsertConsumer,
  type ClaimedRow,
} from './bus-sql.js';

export interface PostgresBusOptions {
  db: Db;
  logger?: Logger;
  /** Fallback poll when no notification came (default 2 s). */
  pollIntervalMs?: number;
}

export function createPostgresBus(options: PostgresBusOptions): Bus {
  const { db, logger } = options;
  const pollMs = options.pollIntervalMs ?? 2000;
  const subscriptions = new Set<Subscription>();

  function consumeLoop(consumer: ConsumerOptions, handler: (d: Delivery) => Promise<void>) {
    const concurrency = consumer.concurrency ?? 16;
    const inFlight = new Set<Promise<void>>();
    let stopped = false;
    let pumping: Promise<void> | undefined;
    let again = false;
    let timer: NodeJS.Timeout | undefined;

    const toDelivery = (row: ClaimedRow): Delivery => {
      let settled = false;
      const settle = async (action: () => Promise<void>) => {
        if (settled) return;
        settled = true;
        await action();
      };
      return {
        id: row.id,
        subject: row.subject,
        data: row.data,
        headers: row.headers,
        deliveryCount: row.delivery_count,
        ack: () => settle(() => deleteDelivery(db, consumer.durable, row.seq)),
        term: () => settle(() => deleteDelivery(db, consumer.durable, row.seq)),
        nak: (delayMs = 0) => settle(() => releaseDelivery(db, consumer.durable, row.seq, delayMs)),
      };
    };

    const dispatch = (row: ClaimedRow) => {
      const delivery = toDelivery(row);
      const work = handler(delivery)
        .catch(async (error: unknown) => {
          logger?.warn(
            { error: errorMessage(error), subject: row.subject },
            'bus handler failed; nak',
          );
          await delivery.nak();
        })
        .catch((error: unknown) => logger?.warn({ error: errorMessage(error) }, 'nak failed'))
        .finally(() => {
          inFlight.delete(work);
          kick();
        });
      inFlight.add(work);
    };

    const schedule = async () => {
      if (timer) clearTimeout(timer);
      if (stopped) return;
      const next = await msUntilNextVisible(db, consumer.durable, consumer.maxDeliver);
      const wait = next === null ? pollMs : Math.min(pollMs, Math.max(5, next + 5));
      if (!stopped) {
        timer = setTimeout(kick, wait);
        timer.unref();
      }
    };

    const pump = async () => {
      do {
        again = false;
        while (!stopped && inFlight.size < concurrency) {
          const capacity = concurrency - inFlight.size;
          const rows = await claimDeliveries(
            db,
            consumer.durable,
            capacity,
            consumer.ackWaitMs,
            consumer.maxDeliver,
          );
          for (const row of rows) dispatch(row);
          if (rows.length < capacity) break;
        }
      } while (again && !stopped);
      await schedule();
    };

    function kick(): void {
      if (stopped) return;
      if (pumping) {
        again = true;
        return;
      }
      pumping = pump()
        .catch((error: unknown) => {
          logger?.warn(
            { error: errorMessage(error), consumer: consumer.durable },
            'bus fetch failed; retrying',
          );
          timer = setTimeout(kick, Math.min(pollMs, 500));
          timer.unref();
        })
        .finally(() => {
          pumping = undefined;
        });
    }

    return {
      kick,
      async stop() {
        stopped = true;
        if (timer) clearTimeout(timer);
        await pumping;
        await Promise.allSettled([...inFlight]);
      },
    };
  }

  return {
    kind: 'postgres',
    async setup() {
      // The tables come with the migrations; nothing else to create.
      await db.query('SELECT 1 FROM bus_messages LIMIT 0');
    },

    async publish(messages, publishOptions) {
      if (messages.length === 0) return;
      const tx = publishOptions?.tx;
      if (tx) {
        await lockForPublish(tx);
        await insertMessages(tx, messages);
        return;
      }
      await db.transaction(async (t) => {
        await lockForPublish(t);
        await insertMessages(t, messages);
      });
    },

    async consume(consumer, handler) {
      await db.transaction((tx) =>
        upsertConsumer(tx, {
          name: consumer.durable,
          filterSubject: consumer.filterSubject,
          filterRegex: filterToRegex(consumer.filterSubject),
        }),
      );
      const loop = consumeLoop(consumer, handler);
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
