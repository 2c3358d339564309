// The outbox relay: the only publisher (invariant 1). Woken by LISTEN/NOTIFY after a commit
// (invariant 6); a slow poll is only a fallback. Each round claims a batch with
// FOR UPDATE SKIP LOCKED inside a transaction (marking it published in the same statement),
// publishes it with every ack in flight at once, and commits only after the acks came back, so
// several relays can run side by side. Each ack is looked at on its own: an event the bus refused
// is unmarked and waits a backoff while the rest of its batch and the events behind it go on; one
// refused for a reason retrying cannot fix is moved to failed_events after `maxAttempts` tries
// (relay-policy.ts). Only a round in which the bus took nothing because it is away fails as a
// whole; the relay then backs off and tries the same events again. Order across a refusal is not
// kept: consumers tolerate out-of-order delivery (invariant 3; decision 0009).
import type { Db } from '../db/db.js';
import { OUTBOX_CHANNEL } from '../db/db.js';
import type { Bus, BusMessage } from '../bus/bus.js';
import { CORRELATION_HEADER, EVENT_TYPE_HEADER, TRACEPARENT_HEADER } from '../bus/bus.js';
import type { Logger } from '../shared/logger.js';
import { ROOT_CONTEXT, SpanKind, context, trace, type Span } from '@opentelemetry/api';
import {
  activeTraceparent,
  contextFromTraceparent,
  endSpan,
  startSpan,
} from '../telemetry/tracing.js';
import { errorMessage } from '../shared/errors.js';
import type { Queryable } from '../db/db.js';
import { BusPublishError } from '../bus/bus.js';
import {
  claimOutboxBatch,
  recordOutboxFailure,
  settleOutboxFailures,
  type OutboxFailure,
  type OutboxRow,
} from './outbox-sql.js';
import { encodeEvent } from '../events/codec.js';
import { boundedText } from '../events/event-bounds.js';
import { insertFailedEvent } from '../deadletter/failed-events-sql.js';
import { RELAY_DEAD_LETTER_CONSUMER } from '../deadletter/replay-message.js';
import { relayDecision } from './relay-policy.js';

export interface RelayOptions {
  db: Db;
  bus: Bus;
  logger: Logger;
  batchSize?: number;
  fallbackPollMs?: number;
  /** Tries before an event refused for a reason retrying cannot fix (too large, an invalid
   * subject) is moved to failed_events (default 3; HODEI_RELAY_MAX_ATTEMPTS). */
  maxAttempts?: number;
  /** Called after each published batch (metrics). */
  onPublished?: (count: number) => void;
  /** Called with how many events a round dead-lettered (metrics). */
  onDeadLettered?: (count: number) => void;
  /** Called with the events a round published, once its transaction committed (metrics). */
  onEventsPublished?: (events: ReadonlyArray<Pick<OutboxRow, 'event_type' | 'payload'>>) => void;
}

/** What one round did. */
interface RoundResult {
  claimed: number;
  published: number;
  deadLettered: number;
  /** When the earliest event this round refused may be tried again. */
  retryInMs: number | undefined;
}

const EMPTY_ROUND: RoundResult = {
  claimed: 0,
  published: 0,
  deadLettered: 0,
  retryInMs: undefined,
};
const decoder = new TextDecoder();

export interface Relay {
  start(): Promise<void>;
  stop(): Promise<void>;
  /** Runs rounds until nothing is left to claim now (refused events waiting for their retry are
   * left for later); resolves with how many events were published. */
  drain(): Promise<number>;
}

/** The bus message of an outbox row; its traceparent the publish span's when there is one. */
function toMessage(row: OutboxRow, span?: Span): BusMessage {
  const traceparent = span ? activeTraceparent(trace.setSpan(context.active(), span)) : undefined;
  return {
    id: row.event_id,
    subject: row.subject,
    data: encodeEvent({
      eventId: row.event_id,
      type: row.event_type,
      aggregateType: row.aggregate_type,
      aggregateId: row.aggregate_id,
      correlationId: row.correlation_id,
      occurredAt: row.occurred_at.toISOString(),
      payload: row.payload,
    }),
    headers: {
      [CORRELATION_HEADER]: row.correlation_id,
      [TRACEPARENT_HEADER]: traceparent ?? row.traceparent,
      [EVENT_TYPE_HEADER]: row.event_type,
    },
  };
}

export function createRelay(options: RelayOptions): Relay {
  const { db, bus, logger } = options;
  const batchSize = options.batchSize ?? 256;
  const fallbackPollMs = options.fallbackPollMs ?? 2000;
  const maxAttempts = options.maxAttempts ?? 3;
  let running: Promise<number> | undefined;
  let again = false;
  let stopped = false;
  let unlisten: (() => Promise<void>) | undefined;
  let timer: NodeJS.Timeout | undefined;
  let failures = 0;
  let retryTimer: NodeJS.Timeout | undefined;
  let retryAt = 0;

  /** Within the claim's transaction: unmarks the events the bus refused, each to be tried again
   * after its backoff or, per the policy, moved to failed_events. */
  async function settleRefusals(
    tx: Queryable,
    rows: readonly OutboxRow[],
    messages: readonly BusMessage[],
    outcomes: ReadonlyArray<BusPublishError | undefined>,
  ): Promise<RoundResult> {
    const refused: OutboxFailure[] = [];
    let deadLettered = 0;
    let retryInMs: number | undefined;
    for (const [i, refusal] of outcomes.entries()) {
      const row = rows[i];
      const message = messages[i];
      if (!refusal || !row || !message) continue;
      const attempt = row.delivery_attempts + 1;
      const error = boundedText(`${refusal.kind}: ${refusal.message}`);
      const decision = relayDecision(refusal.kind, attempt, maxAttempts);
      if (decision.action === 'retry') {
        refused.push({ seq: row.seq, error, retryInMs: decision.inMs });
        retryInMs = Math.min(retryInMs ?? Infinity, decision.inMs);
        continue;
      }
      await insertFailedEvent(tx, {
        eventId: row.event_id,
        consumer: RELAY_DEAD_LETTER_CONSUMER,
        subject: row.subject,
        correlationId: row.correlation_id,
        headers: message.headers,
        payload: decoder.decode(message.data),
        error,
        deliveryCount: attempt,
      });
      refused.push({ seq: row.seq, error, retryInMs: undefined });
      deadLettered += 1;
      logger.error(
        {
          eventId: row.event_id,
          type: row.event_type,
          subject: row.subject,
          correlationId: row.correlation_id,
          bytes: message.data.byteLength,
          attempts: attempt,
          error,
        },
        'the bus refused an event for good; moved to failed_events (consumer outbox-relay)',
      );
    }
    await settleOutboxFailures(tx, refused);
    const retried = refused.filter((f) => f.retryInMs !== undefined);
    const first = retried[0];
    if (first) {
      logger.warn(
        { refused: retried.length, of: rows.length, error: first.error, retryInMs },
        'the bus refused events; they will be tried again, the others went on',
      );
    }
    return {
      claimed: rows.length,
      published: rows.length - refused.length,
      deadLettered,
      retryInMs,
    };
  }

  /** One round: claims a batch, publishes it and settles each event by its own ack. */
  async function round(): Promise<RoundResult> {
    let claimed: readonly OutboxRow[] = [];
    let published: readonly OutboxRow[] = [];
    try {
      const result = await db.transaction(async (tx) => {
        const rows = await claimOutboxBatch(tx, batchSize);
        if (rows.length === 0) return EMPTY_ROUND;
        claimed = rows;
        // A publish span per event, under the span that wrote it (the row's traceparent).
        const spans = rows.map((row) =>
          startSpan(`publish ${row.event_type}`, {
            kind: SpanKind.PRODUCER,
            parent: contextFromTraceparent(row.traceparent, ROOT_CONTEXT),
            attributes: {
              'hodei.event_type': row.event_type,
              'hodei.event_id': row.event_id,
              'hodei.correlation_id': row.correlation_id,
              'messaging.destination.name': row.subject,
            },
          }),
        );
        const messages = rows.map((row, i) => toMessage(row, spans[i]));
        const outcomes = await bus.publishEach(messages, { tx }).catch((error: unknown) => {
          for (const span of spans) endSpan(span, error);
          throw error;
        });
        spans.forEach((span, i) => endSpan(span, outcomes[i]));
        published = rows.filter((_, i) => outcomes[i] === undefined);
        const away = outcomes.every((o) => o?.kind === 'unavailable');
        // The bus took nothing and says it is away: not these events' fault. The round fails as
        // a whole (the claim rolls back) and the relay backs off, without a backoff per event.
        if (away) throw outcomes[0] as BusPublishError;
        return settleRefusals(tx, rows, messages, outcomes);
      });
      if (published.length > 0) options.onEventsPublished?.(published);
      return result;
    } catch (error) {
      if (claimed.length === 0) throw error;
      const message = boundedText(
        error instanceof BusPublishError ? `${error.kind}: ${error.message}` : errorMessage(error),
      );
      const seqs = claimed.map((r) => r.seq);
      await recordOutboxFailure(db, seqs, message).catch((recordError: unknown) =>
        logger.warn({ error: errorMessage(recordError) }, 'recording a failed publish failed'),
      );
      throw new Error(`publishing ${seqs.length} events failed: ${message}`, { cause: error });
    }
  }

  /** Wakes the relay when the earliest refused event may be tried again. */
  function wakeIn(ms: number): void {
    if (stopped) return;
    const at = Date.now() + ms;
    if (retryTimer && retryAt <= at) return;
    if (retryTimer) clearTimeout(retryTimer);
    retryAt = at;
    retryTimer = setTimeout(() => {
      retryTimer = undefined;
      void kick();
    }, ms + 5);
    retryTimer.unref();
  }

  /** Counts the round; `wake` arms the retry timer (the running relay only: a drain arms
   * nothing, else that timer's rounds would claim, under the drain's feet, events it counts). */
  function report(result: RoundResult, wake = true): void {
    if (result.published > 0) options.onPublished?.(result.published);
    if (result.deadLettered > 0) options.onDeadLettered?.(result.deadLettered);
    if (wake && result.retryInMs !== undefined) wakeIn(result.retryInMs);
  }

  async function loop(): Promise<number> {
    let total = 0;
    do {
      again = false;
      for (;;) {
        if (stopped) return total;
        const result = await round();
        total += result.published;
        report(result);
        // A full batch, published or not, means more may wait behind it: go on at once.
        if (result.claimed < batchSize) break;
      }
    } while (again);
    return total;
  }

  function kick(): Promise<number> {
    if (running) {
      again = true;
      return running;
    }
    running = loop()
      .then((n) => {
        failures = 0;
        return n;
      })
      .catch((error: unknown) => {
        failures += 1;
        logger.warn(
          { error: errorMessage(error), failures },
          'outbox relay round failed; will retry',
        );
        // Retry soon with backoff; events stay in the outbox meanwhile (nothing is lost).
        setTimeout(() => void kick(), Math.min(100 * 2 ** failures, fallbackPollMs)).unref();
        return 0;
      })
      .finally(() => {
        running = undefined;
      });
    return running;
  }

  return {
    async start() {
      stopped = false;
      unlisten = await db.listen(OUTBOX_CHANNEL, () => void kick());
      timer = setInterval(() => void kick(), fallbackPollMs);
      timer.unref();
      void kick();
    },
    async stop() {
      stopped = true;
      if (timer) clearInterval(timer);
      if (retryTimer) clearTimeout(retryTimer);
      await unlisten?.();
      await running;
    },
    async drain() {
      let total = 0;
      for (;;) {
        const result = await round();
        total += result.published;
        report(result, false);
        if (result.claimed === 0) return total;
      }
    },
  };
}
