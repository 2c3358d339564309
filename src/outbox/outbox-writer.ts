// Appends events to the outbox inside the caller's transaction (invariant 1: the state change and
// its events commit together). Nothing else writes events; only the relay publishes them. Every
// payload is bounded here (events/event-bounds.ts), so nothing oversized is ever stored. Each row
// carries the traceparent of the span writing it (or one in its correlation id's trace).
import type { Queryable } from '../db/db.js';
import type { Statement } from '../db/statement.js';
import { EVENT_AGGREGATES, subjectFor, type NewEvent } from '../events/catalog.js';
import { EVENT_LIMITS, boundEventPayload, type EventLimits } from '../events/event-bounds.js';
import { newId } from '../shared/ids.js';
import { traceparentFor } from '../telemetry/tracing.js';
import {
  insertOutboxRows,
  runWithChosenOutboxRows,
  runWithOutboxRows,
  type ChosenEventsStatement,
  type OutboxInsert,
} from './outbox-sql.js';

export interface OutboxWriter {
  /** Adds the events within the caller's transaction. */
  append(tx: Queryable, events: readonly NewEvent[]): Promise<void>;
  /**
   * Runs a state-changing statement and adds the events in the same SQL statement, only if it
   * returned a row: the whole change in one round trip, atomic without a transaction (QueueJob,
   * saga creation and ending, job assignment, the RUN acknowledgement). Returns the statement's
   * rows.
   */
  changeWithEvents<T>(
    q: Queryable,
    statement: Statement<T>,
    events: readonly NewEvent[],
  ): Promise<T[]>;
  /**
   * Runs a statement changing several things at once whose one row lists in its `emit` column
   * the types of the events that apply, and adds those events in the same SQL statement.
   */
  changeWithChosenEvents<T>(
    q: Queryable,
    statement: ChosenEventsStatement<T>,
    events: readonly NewEvent[],
  ): Promise<T[]>;
}

export function createOutboxWriter(options: {
  subjectPrefix: string;
  /** Bounds of every payload (default EVENT_LIMITS: 4 KiB a string, 64 KiB the whole). */
  limits?: EventLimits;
}): OutboxWriter {
  const limits = options.limits ?? EVENT_LIMITS;
  const toRow = (e: NewEvent): OutboxInsert => ({
    eventId: newId(),
    eventType: e.type,
    subject: subjectFor(options.subjectPrefix, e.type),
    aggregateType: EVENT_AGGREGATES[e.type],
    aggregateId: e.aggregateId,
    correlationId: e.correlationId,
    traceparent: traceparentFor(e.correlationId),
    payload: boundEventPayload(e.type, e.payload, limits),
  });
  return {
    append: (tx, events) => insertOutboxRows(tx, events.map(toRow)),
    changeWithEvents: (q, statement, events) => runWithOutboxRows(q, statement, events.map(toRow)),
    changeWithChosenEvents: (q, statement, events) =>
      runWithChosenOutboxRows(q, statement, events.map(toRow)),
  };
}
