// The fetch loop of one table-bus subscription. It claims deliveries while fewer than
// `concurrency` handlers run, and sleeps otherwise. Wake-ups: a NOTIFY from a publish (via
// `kick`), a handler finishing, a timer at the earliest pending redelivery (nak delay or an
// expired lease), and a slow poll only as the fallback (another process's lease expiring, a lost
// notification).
import type { Db } from '../../db/db.js';
import type { ConsumerOptions, Delivery } from '../bus.js';
import type { Logger } from '../../shared/logger.js';
import { errorMessage } from '../../shared/errors.js';
import {
  claimDeliveries,
  msUntilNextVisible,
  releaseDelivery,
  settleDelivery,
  type ClaimedRow,
} from './delivery-sql.js';

export interface ConsumeLoopOptions {
  db: Db;
  consumer: ConsumerOptions;
  handler: (delivery: Delivery) => Promise<void>;
  logger?: Logger;
  pollMs: number;
}

export interface ConsumeLoop {
  /** Asks for a fetch round soon (coalesced with one already running). */
  kick(): void;
  /** Stops fetching; resolves when the handlers in flight have finished. */
  stop(): Promise<void>;
}

/** Timers never fire sooner than this after a redelivery is due, so a burst coalesces. */
const TIMER_SLACK_MS = 5;

export function startConsumeLoop(options: ConsumeLoopOptions): ConsumeLoop {
  const { db, consumer, handler, logger, pollMs } = options;
  const name = consumer.durable;
  const concurrency = consumer.concurrency ?? 16;
  const inFlight = new Set<Promise<void>>();
  let stopped = false;
  let wanted = false;
  let pumping: Promise<void> | undefined;
  let timer: NodeJS.Timeout | undefined;
  let timerAt = 0;

  function toDelivery(row: ClaimedRow): Delivery {
    let settled = false;
    const once = async (action: () => Promise<unknown>): Promise<void> => {
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
      ack: () => once(() => settleDelivery(db, name, row.seq, 'acked')),
      term: () => once(() => settleDelivery(db, name, row.seq, 'terminated')),
      nak: (delayMs = 0) =>
        once(async () => {
          await releaseDelivery(db, name, row.seq, row.delivery_count, delayMs);
          // Our own nak is the earliest redelivery we know of: wake up for it.
          arm(delayMs + TIMER_SLACK_MS);
        }),
    };
  }

  function dispatch(row: ClaimedRow): void {
    const delivery = toDelivery(row);
    const work = Promise.resolve()
      .then(() => handler(delivery))
      .catch(async (error: unknown) => {
        logger?.warn(
          { error: errorMessage(error), subject: row.subject, consumer: name },
          'bus handler failed; nak',
        );
        await delivery.nak();
      })
      .catch((error: unknown) => {
        // The lease expires and the message comes back: nothing is lost.
        logger?.warn({ error: errorMessage(error), consumer: name }, 'bus settle failed');
      })
      .finally(() => {
        inFlight.delete(work);
        kick();
      });
    inFlight.add(work);
  }

  /** Wakes up in `ms` (bounded by the poll), unless a wake-up is already due sooner: a nak's
   * long delay must not postpone another delivery's lease expiring. */
  function arm(ms: number): void {
    if (stopped) return;
    const delay = Math.max(TIMER_SLACK_MS, Math.min(pollMs, ms));
    const at = Date.now() + delay;
    if (timer && timerAt <= at) return;
    if (timer) clearTimeout(timer);
    timerAt = at;
    timer = setTimeout(() => {
      timer = undefined;
      kick();
    }, delay);
    timer.unref();
  }

  /** Claims until the handlers are full or nothing is visible; then arms the timer. */
  async function round(): Promise<void> {
    while (!stopped && inFlight.size < concurrency) {
      const capacity = concurrency - inFlight.size;
      const rows = await claimDeliveries(
        db,
        name,
        capacity,
        consumer.ackWaitMs,
        consumer.maxDeliver,
      );
      for (const row of rows) dispatch(row);
      if (rows.length < capacity) break;
    }
    if (stopped) return;
    const next = await msUntilNextVisible(db, name);
    arm(next === null ? pollMs : next + TIMER_SLACK_MS);
  }

  async function pump(): Promise<void> {
    while (wanted && !stopped) {
      wanted = false;
      try {
        await round();
      } catch (error) {
        logger?.warn({ error: errorMessage(error), consumer: name }, 'bus fetch failed; retrying');
        arm(Math.min(pollMs, 500));
        return;
      }
    }
  }

  function kick(): void {
    if (stopped) return;
    wanted = true;
    pumping ??= pump().finally(() => {
      pumping = undefined;
      // A kick that landed after the last round checked `wanted` would otherwise be lost.
      if (wanted) kick();
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
