// What an operator does with dead letters: list them, read one, replay it (publish the stored
// event again, once) or discard it (keep it, hidden from the default list and the metric; once).
// A replay marks the row and publishes in one transaction: on the table bus both commit together;
// on JetStream the mark commits only after the stream acked the message, so a failed publish
// leaves the dead letter PENDING, and the rare commit lost after an ack means one more delivery,
// which idempotent handlers absorb as they do any redelivery.
import type { Bus } from '../bus/bus.js';
import type { Db } from '../db/db.js';
import type { Logger } from '../shared/logger.js';
import { DeadLetterNotPendingError, NotFoundError } from '../shared/errors.js';
import {
  findFailedEvent,
  listFailedEvents,
  markFailedEventDiscarded,
  markFailedEventReplayed,
  type FailedEvent,
  type FailedEventState,
  type StoredFailedEvent,
} from './failed-events-sql.js';
import { replayMessage } from './replay-message.js';

export interface DeadLetterPage {
  deadLetters: FailedEvent[];
  /** The id the next page starts below; undefined on the last page. */
  nextBeforeId?: number;
}

export interface DeadLetters {
  list(filter: {
    states: readonly FailedEventState[];
    consumer: string;
    beforeId?: number;
    limit: number;
  }): Promise<DeadLetterPage>;
  /** Throws NotFoundError. */
  get(id: number): Promise<StoredFailedEvent>;
  /** Throws NotFoundError, or DeadLetterNotPendingError when it was replayed or discarded. */
  replay(id: number): Promise<{ deadLetter: StoredFailedEvent; messageId: string }>;
  /** Throws NotFoundError, or DeadLetterNotPendingError when it was replayed or discarded. */
  discard(id: number, reason: string): Promise<FailedEvent>;
}

export function createDeadLetters(deps: { db: Db; bus: Bus; logger: Logger }): DeadLetters {
  const { db, bus, logger } = deps;

  /** The error for a dead letter a guarded update did not change. */
  async function refusal(id: number): Promise<Error> {
    const found = await findFailedEvent(db, id);
    if (!found) return new NotFoundError('dead letter', String(id));
    if (found.state === 'PENDING') {
      // Replayed, failed again and back to PENDING between the update and this read.
      return new Error(`dead letter ${id} changed while being updated; try again`);
    }
    return new DeadLetterNotPendingError(
      id,
      found.state,
      found.state === 'REPLAYED' ? found.replayedAt : found.discardedAt,
    );
  }

  return {
    async list(filter) {
      const rows = await listFailedEvents(db, { ...filter, limit: filter.limit + 1 });
      const page = rows.slice(0, filter.limit);
      const last = page[page.length - 1];
      return {
        deadLetters: page,
        nextBeforeId: rows.length > filter.limit && last ? last.id : undefined,
      };
    },

    async get(id) {
      const found = await findFailedEvent(db, id);
      if (!found) throw new NotFoundError('dead letter', String(id));
      return found;
    },

    async replay(id) {
      const replayed = await db.transaction(async (tx) => {
        const marked = await markFailedEventReplayed(tx, id);
        if (!marked) return undefined;
        const message = replayMessage(marked);
        await bus.publish([message], { tx });
        return { deadLetter: marked, messageId: message.id };
      });
      if (!replayed) throw await refusal(id);
      const { deadLetter } = replayed;
      logger.info(
        {
          deadLetter: id,
          eventId: deadLetter.eventId,
          consumer: deadLetter.consumer,
          subject: deadLetter.subject,
          correlationId: deadLetter.correlationId,
          messageId: replayed.messageId,
        },
        'dead letter replayed',
      );
      return replayed;
    },

    async discard(id, reason) {
      const discarded = await markFailedEventDiscarded(db, id, reason);
      if (!discarded) throw await refusal(id);
      logger.info(
        {
          deadLetter: id,
          eventId: discarded.eventId,
          consumer: discarded.consumer,
          correlationId: discarded.correlationId,
          reason,
        },
        'dead letter discarded',
      );
      return discarded;
    },
  };
}
