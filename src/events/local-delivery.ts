// Local delivery: an event this process has just committed (in an autocommit statement, so it is
// in the outbox for good) is handed to this process's saga processor at once, without waiting for
// the relay and the bus to bring it back — a bus round trip less between a job queued and its
// saga, and between a worker freed and the next job's saga. The bus stays the durable record: the
// relay still publishes the event, and when its delivery reaches this process the consumer finds
// it handled here and acks it unread. Handling an event twice is always safe (handlers are
// idempotent: invariant 3), so whatever this misses — a delivery to another server, an event
// older than the memory kept, a local handling that failed — is handled from the bus as before.
import type { DeliveredEvent, EventType } from './catalog.js';
import type { Logger } from '../shared/logger.js';
import { errorMessage } from '../shared/errors.js';

/** How long a locally handled event is remembered for its bus delivery. */
export const LOCAL_MEMORY_MS = 120_000;
/** At most this many remembered (beyond: the oldest is forgotten and handled again). */
export const LOCAL_MEMORY_MAX = 100_000;
/** At most this many handled locally at once; beyond that (a burst, a batch of a thousand
 * jobs) events wait for the bus, whose consumer has its own bound. */
export const LOCAL_CONCURRENCY = 64;

export interface LocalDelivery {
  /** The events just committed; those of the local types are handled now, in the background. */
  committed(events: readonly DeliveredEvent[]): void;
  /** The handler the bus consumer runs: skips an event already handled here. */
  fromBus(
    handler: (event: DeliveredEvent) => Promise<void>,
  ): (event: DeliveredEvent) => Promise<void>;
  /** Starts local handling with this handler (until then, and after stop, events wait for the
   * bus). */
  attach(handler: (event: DeliveredEvent) => Promise<void>): void;
  /** Stops handling locally and waits for handlings in flight. */
  stop(): Promise<void>;
}

export function createLocalDelivery(options: {
  types: ReadonlySet<EventType>;
  logger: Logger;
  now?: () => number;
}): LocalDelivery {
  const now = options.now ?? Date.now;
  let handler: ((event: DeliveredEvent) => Promise<void>) | undefined;
  /** Event id → its local handling (true when it succeeded), in the order they were committed. */
  const handled = new Map<string, { at: number; done: Promise<boolean> }>();
  let inFlight = 0;

  function forgetOld(): void {
    const cutoff = now() - LOCAL_MEMORY_MS;
    for (const [id, entry] of handled) {
      if (entry.at >= cutoff && handled.size <= LOCAL_MEMORY_MAX) break;
      handled.delete(id);
    }
  }

  return {
    committed(events) {
      const run = handler;
      if (!run) return;
      for (const event of events) {
        if (!options.types.has(event.type) || inFlight >= LOCAL_CONCURRENCY) continue;
        inFlight += 1;
        const done = run(event)
          .then(
            () => true,
            (error: unknown) => {
              options.logger.warn(
                { eventId: event.eventId, type: event.type, error: errorMessage(error) },
                'local handling of an event failed; its bus delivery will handle it',
              );
              return false;
            },
          )
          .finally(() => (inFlight -= 1));
        handled.set(event.eventId, { at: now(), done });
      }
      forgetOld();
    },
    fromBus(next) {
      return async (event) => {
        const local = handled.get(event.eventId);
        if (local) {
          handled.delete(event.eventId);
          if (await local.done) return;
        }
        await next(event);
      };
    },
    attach(next) {
      handler = next;
    },
    async stop() {
      handler = undefined;
      await Promise.all([...handled.values()].map((entry) => entry.done));
    },
  };
}
