// Appends events to the outbox inside the caller's transaction (invariant 1: the state change and
// its events commit together). Nothing else writes events; only the relay publishes them.
import { randomBytes, createHash } from 'node:crypto';
import type { Queryable } from '../db/db.js';
import { EVENT_AGGREGATES, subjectFor, type NewEvent } from '../events/catalog.js';
import { newId } from '../shared/ids.js';
import { insertOutboxRows } from './outbox-sql.js';

export interface OutboxWriter {
  append(tx: Queryable, events: readonly NewEvent[]): Promise<void>;
}

/** W3C traceparent whose trace id is derived from the correlation id, so one job is one trace. */
export function traceparentFor(correlationId: string): string {
  const traceId = createHash('sha256').update(correlationId).digest('hex').slice(0, 32);
  const spanId = randomBytes(8).toString('hex');
  return `00-${traceId}-${spanId}-01`;
}

export function createOutboxWriter(options: { subjectPrefix: string }): OutboxWriter {
  return {
    async append(tx, events) {
      await insertOutboxRows(
        tx,
        events.map((e) => ({
          eventId: newId(),
          eventType: e.type,
          subject: subjectFor(options.subjectPrefix, e.type),
          aggregateType: EVENT_AGGREGATES[e.type],
          aggregateId: e.aggregateId,
          correlationId: e.correlationId,
          traceparent: traceparentFor(e.correlationId),
          payload: e.payload,
        })),
      );
    },
  };
}
