// Bus adapter on NATS JetStream: one stream (file storage, 2 min duplicate window) over
// `<subjectPrefix>.>`, and durable pull consumers with explicit ack. The message id travels as
// Nats-Msg-Id, so a message published twice within the window is stored once. `publish` ignores
// `options.tx`: the stream is not in the database, which is why the outbox (not the stream) is
// the source of truth and the relay marks rows published only after every ack came back.
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { errors as natsErrors, headers as natsHeaders } from '@nats-io/nats-core';
import {
  AckPolicy,
  DeliverPolicy,
  JetStreamApiCodes,
  JetStreamApiError,
  StorageType,
  jetstream,
  jetstreamManager,
  type JsMsg,
} from '@nats-io/jetstream';
import {
  BusPublishError,
  subjectProblem,
  type Bus,
  type BusMessage,
  type ConsumerOptions,
  type Delivery,
  type PublishFailureKind,
  type Subscription,
} from '../bus.js';
import type { Logger } from '../../shared/logger.js';
import { errorMessage } from '../../shared/errors.js';
import { consumeWithConcurrency } from './consume-concurrently.js';

export interface JetStreamBusOptions {
  url: string;
  streamName: string;
  subjectPrefix: string;
  /** The stream's age and size limits, set when it is made and updated on an existing one; 0 or
   * absent means none. The outbox, not the stream, is the record: a message the stream drops
   * past a limit has been delivered to every consumer long before (days, gigabytes). */
  limits?: { maxAgeMs?: number; maxBytes?: number };
  logger?: Logger;
}

const MSG_ID = 'Nats-Msg-Id';
const DUPLICATE_WINDOW_NS = 2 * 60 * 1_000_000_000;
/** Unacked messages the server lets one durable have out at once (all its subscribers). */
const MAX_ACK_PENDING = 10_000;
const ns = (ms: number) => ms * 1_000_000;

function isApiError(error: unknown, code: number): boolean {
  return error instanceof JetStreamApiError && error.code === code;
}

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
    // Acks are fire-and-forget (ordered on the connection, flushed by drain): a lost ack only
    // means a redelivery, which every consumer tolerates.
    ack: () => Promise.resolve(m.ack()),
    nak: (delayMs?: number) => Promise.resolve(m.nak(delayMs)),
    term: () => Promise.resolve(m.term()),
  };
}

function toHeaders(message: BusMessage) {
  const h = natsHeaders();
  for (const [key, value] of Object.entries(message.headers)) h.set(key, value);
  return h;
}

/** JetStream API error: the stream's max_msg_size is smaller than the message. */
const MESSAGE_TOO_LARGE = 10054;

/** What a refused publish means (bus.ts, PublishFailureKind). The client checks the server's
 * max_payload itself ('payload' max_payload size exceeded) and the subject's characters; the
 * stream answers with an API error (its own size limit, or space and limits that pass); no
 * responders means no stream covers the subject yet or JetStream is starting; a timeout or a
 * closed connection means NATS is away. Anything else is a refusal of its own. */
function failureKind(error: unknown): PublishFailureKind {
  if (error instanceof natsErrors.InvalidArgumentError) {
    return /max_payload/.test(error.message) ? 'too-large' : 'refused';
  }
  if (error instanceof natsErrors.InvalidSubjectError) return 'invalid-subject';
  if (error instanceof JetStreamApiError) {
    return error.code === MESSAGE_TOO_LARGE ? 'too-large' : 'unavailable';
  }
  // The client's name for "no responders" on a JetStream request (the class is not exported).
  const noResponders = error instanceof Error && error.name === 'JetStreamNotEnabled';
  if (
    noResponders ||
    error instanceof natsErrors.TimeoutError ||
    error instanceof natsErrors.RequestError ||
    error instanceof natsErrors.ClosedConnectionError ||
    error instanceof natsErrors.DrainingConnectionError ||
    error instanceof natsErrors.ConnectionError
  ) {
    return 'unavailable';
  }
  return 'refused';
}

function publishError(message: BusMessage, error: unknown): BusPublishError {
  // The client says "jetstream is not enabled" for no responders; say what it means here.
  const text =
    error instanceof Error && error.name === 'JetStreamNotEnabled'
      ? `no JetStream stream takes subject ${message.subject}, or JetStream is not answering`
      : errorMessage(error);
  return new BusPublishError(failureKind(error), message.id, text, { cause: error });
}

/** How long /readyz waits for NATS to answer. */
const READY_TIMEOUT_MS = 1000;

export function createJetStreamBus(options: JetStreamBusOptions): Bus {
  const { streamName, logger } = options;
  let connection: Promise<NatsConnection> | undefined;
  const subscriptions = new Set<Subscription>();
  // No async traces: the client would otherwise capture two stack traces for every request (a
  // publish awaits its acknowledgement as one), ~3% of the server's CPU under load (decision
  // 0026); a failed publish still says what failed (BusPublishError, with the subject).
  const nc = () =>
    (connection ??= connect({
      servers: options.url,
      maxReconnectAttempts: -1,
      name: 'hodei',
      noAsyncTraces: true,
    }));

  /** Creates the durable pull consumer, or updates the settings it may change. */
  async function ensureConsumer(conn: NatsConnection, consumer: ConsumerOptions): Promise<void> {
    const jsm = await jetstreamManager(conn);
    const settings = {
      filter_subject: consumer.filterSubject,
      ack_wait: ns(consumer.ackWaitMs),
      max_deliver: consumer.maxDeliver,
      max_ack_pending: MAX_ACK_PENDING,
    };
    try {
      await jsm.consumers.info(streamName, consumer.durable);
    } catch (error) {
      if (!isApiError(error, JetStreamApiCodes.ConsumerNotFound)) throw error;
      await jsm.consumers.add(streamName, {
        durable_name: consumer.durable,
        ack_policy: AckPolicy.Explicit,
        deliver_policy: DeliverPolicy.All,
        ...settings,
      });
      return;
    }
    await jsm.consumers.update(streamName, consumer.durable, settings);
  }

  async function publishEach(
    messages: readonly BusMessage[],
  ): Promise<Array<BusPublishError | undefined>> {
    const js = jetstream(await nc());
    // Every ack in flight at once: one round trip for the batch, not one per message; each ack
    // is looked at on its own, so one refusal does not hide that the others were stored.
    const settled = await Promise.allSettled(
      messages.map((message) => {
        const problem = subjectProblem(message.subject);
        if (problem) {
          return Promise.reject(new BusPublishError('invalid-subject', message.id, problem));
        }
        return js.publish(message.subject, message.data, {
          msgID: message.id,
          headers: toHeaders(message),
        });
      }),
    );
    return settled.map((result, i) => {
      if (result.status === 'fulfilled') return undefined;
      const reason: unknown = result.reason;
      if (reason instanceof BusPublishError) return reason;
      return publishError(messages[i] as BusMessage, reason);
    });
  }

  return {
    kind: 'jetstream',

    async setup() {
      const jsm = await jetstreamManager(await nc());
      const maxAgeMs = options.limits?.maxAgeMs ?? 0;
      const maxBytes = options.limits?.maxBytes ?? 0;
      const config = {
        subjects: [`${options.subjectPrefix}.>`],
        // The duplicate window may not be longer than the age limit.
        duplicate_window:
          maxAgeMs > 0 ? Math.min(DUPLICATE_WINDOW_NS, ns(maxAgeMs)) : DUPLICATE_WINDOW_NS,
        max_age: maxAgeMs > 0 ? ns(maxAgeMs) : 0,
        max_bytes: maxBytes > 0 ? maxBytes : -1,
      };
      try {
        await jsm.streams.info(streamName);
      } catch (error) {
        if (!isApiError(error, JetStreamApiCodes.StreamNotFound)) throw error;
        await jsm.streams.add({ name: streamName, storage: StorageType.File, ...config });
        return;
      }
      await jsm.streams.update(streamName, config);
    },

    publishEach,

    async publish(messages) {
      const refused = (await publishEach(messages)).find((outcome) => outcome !== undefined);
      if (refused) throw refused;
    },

    async consume(consumer, handler) {
      const conn = await nc();
      await ensureConsumer(conn, consumer);
      const pull = await jetstream(conn).consumers.get(streamName, consumer.durable);
      const concurrency = consumer.concurrency ?? 16;
      const messages = await pull.consume({ max_messages: concurrency * 2 });
      const running = consumeWithConcurrency(
        messages,
        concurrency,
        async (m) => {
          const delivery = toDelivery(m);
          try {
            await handler(delivery);
          } catch (error) {
            logger?.warn(
              { error: errorMessage(error), subject: m.subject, consumer: consumer.durable },
              'bus handler failed; nak',
            );
            await delivery.nak();
          }
        },
        (error) =>
          logger?.error(
            { error: errorMessage(error), consumer: consumer.durable },
            'bus consume loop ended with an error',
          ),
      );
      const subscription: Subscription = {
        async stop() {
          subscriptions.delete(subscription);
          await messages.close();
          await running.finished();
        },
      };
      subscriptions.add(subscription);
      return subscription;
    },

    async checkReady() {
      if (!connection) return 'not connected to NATS yet';
      // One round trip to the server, bounded: while NATS is away the client keeps reconnecting
      // and a flush waits for it.
      const answered = await Promise.race([
        connection.then((conn) => (conn.isClosed() ? false : conn.flush().then(() => true))),
        new Promise<false>((resolve) => setTimeout(() => resolve(false), READY_TIMEOUT_MS).unref()),
      ]).catch(() => false);
      return answered ? undefined : `NATS at ${options.url} does not answer`;
    },

    async consumerLag(durable) {
      if (!connection) return undefined;
      const info = Promise.resolve(connection)
        .then(async (conn) => (await jetstreamManager(conn)).consumers.info(streamName, durable))
        .then((c) => c.num_pending + c.num_ack_pending);
      const timeout = new Promise<undefined>((resolve) =>
        setTimeout(() => resolve(undefined), READY_TIMEOUT_MS).unref(),
      );
      return Promise.race([info, timeout]).catch(() => undefined);
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
