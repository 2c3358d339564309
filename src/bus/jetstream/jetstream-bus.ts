// Bus adapter on NATS JetStream: stream HODEI_EVENTS (file storage, 2 min duplicate window) and
// durable pull consumers with explicit ack. The event id travels as Nats-Msg-Id, so a message
// published twice is stored once.
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { headers as natsHeaders } from '@nats-io/nats-core';
import {
  AckPolicy,
  DeliverPolicy,
  StorageType,
  jetstream,
  jetstreamManager,
  type JsMsg,
} from '@nats-io/jetstream';
import type { Bus, BusMessage, ConsumerOptions, Delivery, Subscription } from '../bus.js';
import type { Logger } from '../../shared/logger.js';
import { errorMessage } from '../../shared/errors.js';

export interface JetStreamBusOptions {
  url: string;
  streamName: string;
  subjectPrefix: string;
  logger?: Logger;
}

const MSG_ID = 'Nats-Msg-Id';
const DUPLICATE_WINDOW_NS = 2 * 60 * 1_000_000_000;
const ns = (ms: number) => ms * 1_000_000;

function toDelivery(m: JsMsg): Delivery {
  const headers: Record<string, string> = {};
  for (const key of m.headers?.keys() ?? []) {
    if (key !== MSG_ID) headers[key] = m.headers?.get(key) ?? '';
  }
  return {
    id: m.headers?.get(MSG_ID) ?? `${m.info.stream}:${m.seq}`,
    subject: m.subject,
    data: m.data,
    headers,
    deliveryCount: m.info.deliveryCount,
    ack: () => Promise.resolve(m.ack()),
    nak: (delayMs?: number) => Promise.resolve(m.nak(delayMs)),
    term: () => Promise.resolve(m.term()),
  };
}

export function createJetStreamBus(options: JetStreamBusOptions): Bus {
  const { streamName, logger } = options;
  let connection: Promise<NatsConnection> | undefined;
  const subscriptions = new Set<Subscription>();
  const nc = () =>
    (connection ??= connect({ servers: options.url, maxReconnectAttempts: -1, name: 'hodei' }));

  return {
    kind: 'jetstream',
    async setup() {
      const jsm = await jetstreamManager(await nc());
      const config = {
        subjects: [`${options.subjectPrefix}.>`],
        storage: StorageType.File,
        duplicate_window: DUPLICATE_WINDOW_NS,
      };
      try {
        await jsm.streams.info(streamName);
        await jsm.streams.update(streamName, {
          subjects: config.subjects,
          duplicate_window: DUPLICATE_WINDOW_NS,
        });
      } catch {
        await jsm.streams.add({ name: streamName, ...config });
      }
    },

    async publish(messages) {
      const js = jetstream(await nc());
      await Promise.all(
        messages.map((message: BusMessage) => {
          const h = natsHeaders();
          for (const [key, value] of Object.entries(message.headers)) h.set(key, value);
          return js.publish(message.subject, message.data, { msgID: message.id, headers: h });
        }),
      );
    },

    async consume(consumer: ConsumerOptions, handler) {
      const conn = await nc();
      const jsm = await jetstreamManager(conn);
      const config = {
        durable_name: consumer.durable,
        ack_policy: AckPolicy.Explicit,
        deliver_policy: DeliverPolicy.All,
        filter_subject: consumer.filterSubject,
        ack_wait: ns(consumer.ackWaitMs),
        max_deliver: consumer.maxDeliver,
        max_ack_pending: 10_000,
      };
      try {
        await jsm.consumers.info(streamName, consumer.durable);
        await jsm.consumers.update(streamName, consumer.durable, {
          ack_wait: config.ack_wait,
          max_deliver: config.max_deliver,
          filter_subject: config.filter_subject,
          max_ack_pending: config.max_ack_pending,
        });
      } catch {
        await jsm.consumers.add(streamName, config);
      }
      const js = jetstream(conn);
      const pull = await js.consumers.get(streamName, consumer.durable);
      const concurrency = consumer.concurrency ?? 16;
      const messages = await pull.consume({ max_messages: concurrency * 2 });
      const inFlight = new Set<Promise<void>>();
      const loop = (async () => {
        for await (const m of messages) {
          const delivery = toDelivery(m);
          const work = handler(delivery)
            .catch(async (error: unknown) => {
              logger?.warn(
                { error: errorMessage(error), subject: m.subject },
                'bus handler failed; nak',
              );
              await delivery.nak();
            })
            .finally(() => inFlight.delete(work));
          inFlight.add(work);
          if (inFlight.size >= concurrency) await Promise.race(inFlight);
        }
      })();
      const subscription: Subscription = {
        async stop() {
          subscriptions.delete(subscription);
          await messages.close();
          await loop.catch(() => undefined);
          await Promise.allSettled([...inFlight]);
        },
      };
      subscriptions.add(subscription);
      return subscription;
    },

    async close() {
      await Promise.allSettled([...subscriptions].map((s) => s.stop()));
      if (connection) {
        const conn = await connection.catch(() => undefined);
        await conn?.drain().catch(() => undefined);
      }
    },
  };
}
