// Bus adapter on PostgreSQL tables (migration 0002_bus.sql), with the same contract as JetStream:
// dedup by message id, durable competing consumers, explicit ack / nak / term, redelivery after
// the ack wait, max_deliver, headers. It uses only the Db port, so it runs on a PostgreSQL server
// and on embedded PGlite alike. PGlite is one connection: a publish given `{ tx }` runs entirely
// inside that transaction (a statement on `db` there would wait for the transaction to end).
// A message the tables cannot or must not hold (over `maxPayloadBytes`, an invalid subject, text
// PostgreSQL refuses) is refused on its own before anything is written, so one such message
// never fails the statement, nor the caller's transaction, for the others.
import type { Db, Queryable } from '../../db/db.js';
import {
  BusPublishError,
  subjectProblem,
  type Bus,
  type BusMessage,
  type Subscription,
} from '../bus.js';
import type { Logger } from '../../shared/logger.js';
import { HodeiError } from '../../shared/errors.js';
import { hasUnstorableText } from '../../shared/text-bounds.js';
import { filterToRegex } from './subject-filter.js';
import { BUS_CHANNEL, insertMessages, lockForPublish } from './publish-sql.js';
import { backfillConsumer, lockForConsumerChange, upsertConsumer } from './consumer-sql.js';
import { startConsumeLoop } from './consume-loop.js';
import { countUnsettled } from './delivery-sql.js';

export interface PostgresBusOptions {
  db: Db;
  logger?: Logger;
  /** Fallback poll when no notification came (default 2 s); not on the hot path. */
  pollIntervalMs?: number;
  /** Largest message (body plus headers as JSON) it stores; default 1 MiB, NATS's default
   * max_payload, so both buses refuse the same messages. */
  maxPayloadBytes?: number;
}

/** NATS's default max_payload. */
export const DEFAULT_TABLE_BUS_MAX_PAYLOAD = 1024 * 1024;

/** Why the tables will not hold `message`, or undefined. */
function refusal(message: BusMessage, maxPayloadBytes: number): BusPublishError | undefined {
  const problem = subjectProblem(message.subject);
  if (problem) return new BusPublishError('invalid-subject', message.id, problem);
  const headers = JSON.stringify(message.headers);
  const size = message.data.byteLength + Buffer.byteLength(headers, 'utf8');
  if (size > maxPayloadBytes) {
    return new BusPublishError(
      'too-large',
      message.id,
      `message of ${size} bytes is over the table bus's limit of ${maxPayloadBytes} bytes`,
    );
  }
  if (hasUnstorableText(message.id) || hasUnstorableText(headers)) {
    return new BusPublishError(
      'refused',
      message.id,
      'the message id or a header holds a NUL or a lone surrogate, which PostgreSQL cannot store',
    );
  }
  return undefined;
}

export function createPostgresBus(options: PostgresBusOptions): Bus {
  const { db, logger } = options;
  const pollMs = options.pollIntervalMs ?? 2000;
  const maxPayloadBytes = options.maxPayloadBytes ?? DEFAULT_TABLE_BUS_MAX_PAYLOAD;
  const subscriptions = new Set<Subscription>();

  async function publishIn(tx: Queryable, messages: readonly BusMessage[]) {
    await lockForPublish(tx);
    await insertMessages(tx, messages);
  }

  async function publishEach(
    messages: readonly BusMessage[],
    publishOptions?: { tx?: Queryable },
  ): Promise<Array<BusPublishError | undefined>> {
    const outcomes = messages.map((m) => refusal(m, maxPayloadBytes));
    const storable = messages.filter((_, i) => outcomes[i] === undefined);
    if (storable.length > 0) {
      const tx = publishOptions?.tx;
      if (tx) await publishIn(tx, storable);
      else await db.transaction((t) => publishIn(t, storable));
    }
    return outcomes;
  }

  return {
    kind: 'postgres',

    // The tables are in the database, which /readyz checks on its own.
    checkReady: () => Promise.resolve(undefined),

    consumerLag: (durable) => countUnsettled(db, durable),

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

    publishEach,

    async publish(messages, publishOptions) {
      if (messages.length === 0) return;
      const outcomes = await publishEach(messages, publishOptions);
      const refused = outcomes.find((outcome) => outcome !== undefined);
      if (refused) throw refused;
    },

    async consume(consumer, handler) {
      const filterRegex = filterToRegex(consumer.filterSubject, consumer.ignoredSubjects);
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
