// Appends events to the outbox inside the caller's transaction (invariant 1: the state change and
// its events commit together). Nothing else writes events; only the relay publishes them. Every
// payload is bounded here (events/event-bounds.ts), so nothing oversized is ever stored. Each row
// carries the traceparent of the span writing it (or one in its correlation id's trace).
import type { Queryable } from '../db/db.js';
import type { Statement } from '../db/statement.js';
import {
  EVENT_AGGREGATES,
  subjectFor,
  type DeliveredEvent,
  type EventType,
  type NewEvent,
} from '../events/catalog.js';
import { EVENT_LIMITS, boundEventPayload, type EventLimits } from '../events/event-bounds.js';
import { newId } from '../shared/ids.js';
import { activeTraceparent, traceparentFor } from '../telemetry/tracing.js';
import {
  insertOutboxRows,
  runWithBuiltOutboxRows,
  runWithChosenOutboxRows,
  runWithOutboxRows,
  runWithOutboxRowsPerRow,
  runWithRowOutboxRows,
  type OutboxInsert,
} from './outbox-sql.js';

export interface OutboxWriter {
  /** Adds the events within the caller's transaction (or, given the database itself, as one
   * statement of their own, committed as it returns). */
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
   * Runs a statement changing several rows and adds, in the same SQL statement, the events whose
   * aggregate id is the id of a row it returned (a batch of jobs, each with its JobQueued).
   */
  changeWithEventsPerRow<T>(
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
    statement: Statement<T>,
    events: readonly NewEvent[],
  ): Promise<T[]>;
  /**
   * Runs a statement changing rows, each returned with its key (the column `key`, `id` by
   * default) and, in its `emit` column (text[]), the types of the events that apply to it, and
   * adds in the same SQL statement each event whose `row` lists its type, with the payload keys
   * of its `fill` set from that row's columns (sagas started together, each dispatching its job;
   * a job assigned to the worker the statement itself chose).
   */
  changeWithRowEvents<T>(
    q: Queryable,
    statement: Statement<T>,
    events: ReadonlyArray<NewEvent & { row: string; fill?: Readonly<Record<string, string>> }>,
    key?: string,
  ): Promise<T[]>;
  /**
   * Runs a statement that picks the rows it changes itself (a hand-off), each returned with its
   * `correlation_id` and, in its `emit` column (text[]), the types of the events that apply to
   * it, and adds in the same SQL statement the event `built` describes for each row that lists
   * its type, built from that row's columns: its aggregate id and payload keys (ids and numbers
   * only, as they are not bounded) from the columns named, in its correlation id's trace (under
   * the active span when that span is in the same trace).
   */
  changeWithBuiltEvents<T>(q: Queryable, statement: Statement<T>, built: BuiltEvent): Promise<T[]>;
}

/** An event a statement builds for rows it picks (OutboxWriter.changeWithBuiltEvents). */
export interface BuiltEvent {
  type: EventType;
  /** The column holding the aggregate id. */
  aggregate: string;
  /** Payload key → the column holding its value. */
  payload: Readonly<Record<string, string>>;
}

/** The events with the span active now as theirs: for events written later, in a batch with
 * others' events (each keeps its own job's trace). */
export function tracedHere<T extends NewEvent>(events: readonly T[]): T[] {
  return events.map((e) => ({
    ...e,
    traceparent: e.traceparent ?? traceparentFor(e.correlationId),
  }));
}

export function createOutboxWriter(options: {
  subjectPrefix: string;
  /** Bounds of every payload (default EVENT_LIMITS: 4 KiB a string, 64 KiB the whole). */
  limits?: EventLimits;
  /** Told of the events a change on `db` itself committed (a statement outside a transaction
   * commits as it returns): local delivery (events/local-delivery.ts). */
  committed?: { db: Queryable; events: (events: DeliveredEvent[]) => void };
}): OutboxWriter {
  const limits = options.limits ?? EVENT_LIMITS;
  const toRow = (e: NewEvent): OutboxInsert => ({
    eventId: newId(),
    eventType: e.type,
    subject: subjectFor(options.subjectPrefix, e.type),
    aggregateType: EVENT_AGGREGATES[e.type],
    aggregateId: e.aggregateId,
    correlationId: e.correlationId,
    traceparent: e.traceparent ?? traceparentFor(e.correlationId),
    payload: boundEventPayload(e.type, e.payload, limits),
  });
  const delivered = (row: OutboxInsert): DeliveredEvent => ({
    eventId: row.eventId,
    type: row.eventType as EventType,
    correlationId: row.correlationId,
    payload: row.payload as Record<string, unknown>,
  });
  /** Hands the rows that were inserted by a committed change to `committed`. */
  const tell = (q: Queryable, rows: readonly OutboxInsert[]) => {
    if (options.committed && q === options.committed.db && rows.length > 0)
      options.committed.events(rows.map(delivered));
  };
  return {
    async append(tx, events) {
      const rows = events.map(toRow);
      await insertOutboxRows(tx, rows);
      tell(tx, rows);
    },
    async changeWithEvents(q, statement, events) {
      const rows = events.map(toRow);
      const changed = await runWithOutboxRows(q, statement, rows);
      if (changed.length > 0) tell(q, rows);
      return changed;
    },
    async changeWithEventsPerRow(q, statement, events) {
      const rows = events.map(toRow);
      const changed = await runWithOutboxRowsPerRow(q, statement, rows);
      const ids = new Set(changed.map((row) => (row as { id?: unknown }).id));
      tell(
        q,
        rows.filter((r) => ids.has(r.aggregateId)),
      );
      return changed;
    },
    async changeWithRowEvents(q, statement, events, key) {
      const changed = await runWithRowOutboxRows(
        q,
        statement,
        events.map((e) => ({ ...toRow(e), row: e.row, fill: e.fill })),
        key,
      );
      tell(q, changed.added);
      return changed.rows;
    },
    async changeWithBuiltEvents(q, statement, built) {
      const changed = await runWithBuiltOutboxRows(q, statement, {
        eventType: built.type,
        subject: subjectFor(options.subjectPrefix, built.type),
        aggregateType: EVENT_AGGREGATES[built.type],
        aggregate: built.aggregate,
        payload: built.payload,
        traceparent: activeTraceparent(),
      });
      tell(q, changed.added);
      return changed.rows;
    },
    async changeWithChosenEvents(q, statement, events) {
      const rows = events.map(toRow);
      const changed = await runWithChosenOutboxRows(q, statement, rows);
      tell(
        q,
        rows.filter((r) => changed.emitted.includes(r.eventType)),
      );
      return changed.rows;
    },
  };
}
