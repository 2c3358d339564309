// The outbox relay: the only publisher (invariant 1). Woken by LISTEN/NOTIFY after a commit
// (invariant 6); a slow poll is only a fallback. Each round claims a batch with
// FOR UPDATE SKIP LOCKED inside a transaction (marking it published in the same statement),
// publishes it with every ack in flight at once, and commits only after the publish succeeded,
// so several relays can run side by side.
import type { Db } from '../db/db.js';
import { OUTBOX_CHANNEL } from '../db/db.js';
import type { Bus, BusMessage } from '../bus/bus.js';
import { CORRELATION_HEADER, EVENT_TYPE_HEADER, TRACEPARENT_HEADER } from '../bus/bus.js';
import type { Logger } from '../shared/logger.js';
import { errorMessage } from '../shared/errors.js';
import { claimOutboxBatch, recordOutboxFailure, type OutboxRow } from './outbox-sql.js';
import { encodeEvent } from '../events/codec.js';

export interface RelayOptions {
  db: Db;
  bus: Bus;
  logger: Logger;
  batchSize?: number;
  fallbackPollMs?: number;
  /** Called after each published batch (metrics). */
  onPublished?: (count: number) => void;
}

export interface Relay {
  start(): Promise<void>;
  stop(): Promise<void>;
  /** Runs rounds until the outbox is empty; resolves with how many events were published. */
  drain(): Promise<number>;
}

function toMessage(row: OutboxRow): BusMessage {
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
      [TRACEPARENT_HEADER]: row.traceparent,
      [EVENT_TYPE_HEADER]: row.event_type,
    },
  };
}

export function createRelay(options: RelayOptions): Relay {
  const { db, bus, logger } = options;
  const batchSize = options.batchSize ?? 256;
  const fallbackPollMs = options.fallbackPollMs ?? 2000;
  let running: Promise<number> | undefined;
  let again = false;
  let stopped = false;
  let unlisten: (() => Promise<void>) | undefined;
  let timer: NodeJS.Timeout | undefined;
  let failures = 0;

  /** One round: returns how many rows it published (0 when the outbox is empty). */
  async function round(): Promise<number> {
    let failed: { seqs: number[]; error: string } | undefined;
    try {
      return await db.transaction(async (tx) => {
        const rows = await claimOutboxBatch(tx, batchSize);
        if (rows.length === 0) return 0;
        try {
          await bus.publish(rows.map(toMessage), { tx });
        } catch (error) {
          failed = { seqs: rows.map((r) => r.seq), error: errorMessage(error) };
          throw error; // rolls the claim (and its published mark) back
        }
        return rows.length;
      });
    } catch (error) {
      if (!failed) throw error;
      await recordOutboxFailure(db, failed.seqs, failed.error);
      throw new Error(`publishing ${failed.seqs.length} events failed: ${failed.error}`);
    }
  }

  async function loop(): Promise<number> {
    let total = 0;
    do {
      again = false;
      for (;;) {
        if (stopped) return total;
        const n = await round();
        total += n;
        if (n > 0) options.onPublished?.(n);
        if (n < batchSize) break;
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
      await unlisten?.();
      await running;
    },
    async drain() {
      let total = 0;
      for (;;) {
        const n = await round();
        total += n;
        if (n === 0) return total;
      }
    },
  };
}
