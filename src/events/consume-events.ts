// Runs a durable consumer of catalog events: decodes each delivery, hands it to the handler, acks
// on success, naks on failure, and on the last allowed delivery (max_deliver) writes the event to
// failed_events with its error instead of retrying for ever. A body that is not an event at all is
// dead-lettered at once, kept as text PostgreSQL can store (a NUL or a lone surrogate in a foreign
// message becomes U+FFFD; the error is cut to 4 KiB), so no message can fail its own dead letter
// and be lost after max_deliver. A dead letter's replay (deadletter/replay-message.ts) is meant for the
// consumer that gave up on it: any other consumer acks it unread, having handled the event before.
import type { Bus, Delivery, Subscription } from '../bus/bus.js';
import { CORRELATION_HEADER, TRACEPARENT_HEADER } from '../bus/bus.js';
import { ROOT_CONTEXT, SpanKind } from '@opentelemetry/api';
import { contextFromTraceparent, inSpan } from '../telemetry/tracing.js';
import type { Db } from '../db/db.js';
import type { Logger } from '../shared/logger.js';
import type { Metrics } from '../metrics/metrics.js';
import { errorMessage } from '../shared/errors.js';
import { insertFailedEvent } from '../deadletter/failed-events-sql.js';
import {
  REPLAY_FOR_HEADER,
  REPLAY_OF_HEADER,
  withoutReplayHeaders,
} from '../deadletter/replay-message.js';
import { decodeEvent } from './codec.js';
import { boundedText } from './event-bounds.js';
import { storableText } from '../shared/text-bounds.js';
import { retryTransient } from '../db/transient-error.js';
import type { DeliveredEvent } from './catalog.js';

export interface ConsumeEventsOptions {
  bus: Bus;
  db: Db;
  logger: Logger;
  metrics?: Metrics;
  durable: string;
  filterSubject: string;
  /** Subjects the handler does nothing with (ConsumerOptions.ignoredSubjects). */
  ignoredSubjects?: readonly string[];
  ackWaitMs: number;
  maxDeliver: number;
  concurrency?: number;
}

const decoder = new TextDecoder();

export async function consumeEvents(
  options: ConsumeEventsOptions,
  handler: (event: DeliveredEvent) => Promise<void>,
): Promise<Subscription> {
  const { bus, db, logger, durable, maxDeliver } = options;
  // A handler that met the database going away (a killed connection, a restart) is run again in
  // place for up to half the ack wait, so a short outage does not spend deliveries and
  // dead-letter events that only needed a moment.
  const transientRetryMs = Math.min(options.ackWaitMs / 2, 15_000);

  async function deadLetter(delivery: Delivery, error: string): Promise<void> {
    // A replay that failed again is the same event: it goes back on its dead letter's row.
    const eventId = delivery.headers[REPLAY_OF_HEADER] ?? delivery.id;
    await retryTransient(
      () =>
        insertFailedEvent(db, {
          eventId,
          consumer: durable,
          subject: delivery.subject,
          correlationId: storableText(delivery.headers[CORRELATION_HEADER] ?? ''),
          headers: Object.fromEntries(
            Object.entries(withoutReplayHeaders(delivery.headers)).map(([k, v]) => [
              storableText(k),
              storableText(v),
            ]),
          ),
          payload: storableText(decoder.decode(delivery.data)),
          error: boundedText(error),
          deliveryCount: delivery.deliveryCount,
        }),
      transientRetryMs,
    );
    options.metrics?.deadLetters.inc({ consumer: durable });
    logger.error(
      {
        eventId,
        subject: delivery.subject,
        deliveries: delivery.deliveryCount,
        error,
      },
      'event dead-lettered into failed_events',
    );
    await delivery.term();
  }

  return bus.consume(
    {
      durable,
      filterSubject: options.filterSubject,
      ignoredSubjects: options.ignoredSubjects,
      ackWaitMs: options.ackWaitMs,
      maxDeliver,
      concurrency: options.concurrency,
    },
    async (delivery) => {
      const replayFor = delivery.headers[REPLAY_FOR_HEADER];
      if (replayFor !== undefined && replayFor !== durable) {
        await delivery.ack();
        return;
      }
      if (delivery.deliveryCount > 1) options.metrics?.redeliveries.inc({ consumer: durable });
      let decoded: DeliveredEvent;
      try {
        decoded = decodeEvent(delivery.data);
      } catch (error) {
        await deadLetter(delivery, `undecodable event: ${errorMessage(error)}`);
        return;
      }
      try {
        // A span per delivery, under the publish span (the message's traceparent): what the
        // handler writes to the outbox continues the job's trace from here.
        await inSpan(
          `consume ${decoded.type}`,
          {
            kind: SpanKind.CONSUMER,
            parent: contextFromTraceparent(delivery.headers[TRACEPARENT_HEADER], ROOT_CONTEXT),
            correlationId: decoded.correlationId,
            attributes: {
              'hodei.event_type': decoded.type,
              'hodei.event_id': decoded.eventId,
              'hodei.correlation_id': decoded.correlationId,
              'messaging.consumer.group.name': durable,
              'messaging.message.delivery_count': delivery.deliveryCount,
            },
          },
          () => retryTransient(() => handler(decoded), transientRetryMs),
        );
        await delivery.ack();
      } catch (error) {
        const message = errorMessage(error);
        if (delivery.deliveryCount >= maxDeliver) {
          await deadLetter(delivery, message);
          return;
        }
        logger.warn(
          {
            eventId: decoded.eventId,
            type: decoded.type,
            correlationId: decoded.correlationId,
            error: message,
          },
          'event handler failed; will be redelivered',
        );
        await delivery.nak(Math.min(200 * 2 ** delivery.deliveryCount, 5000));
      }
    },
  );
}
