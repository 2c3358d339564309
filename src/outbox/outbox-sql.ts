// SQL for outbox_events: append in the business transaction, claim and mark for the relay.
import type { Queryable } from '../db/db.js';
import { runStatement, type Statement } from '../db/statement.js';

export interface OutboxRow {
  seq: number;
  event_id: string;
  event_type: string;
  subject: string;
  aggregate_type: string;
  aggregate_id: string;
  correlation_id: string;
  traceparent: string;
  payload: Record<string, unknown>;
  occurred_at: Date;
  /** Failed publishes before this claim. */
  delivery_attempts: number;
}

export interface OutboxInsert {
  eventId: string;
  eventType: string;
  subject: string;
  aggregateType: string;
  aggregateId: string;
  correlationId: string;
  traceparent: string;
  payload: unknown;
}

const OUTBOX_INSERT_COLUMNS = `event_id, event_type, subject, aggregate_type, aggregate_id,
  correlation_id, traceparent, payload`;

/** `SELECT` of the rows as parameters `$first…$first+7` (one array per column). */
function selectRows(first: number): string {
  const types = ['uuid', 'text', 'text', 'text', 'text', 'text', 'text', 'jsonb'];
  return `SELECT * FROM unnest(${types.map((t, i) => `$${first + i}::${t}[]`).join(', ')})`;
}

function rowParams(rows: readonly OutboxInsert[]): unknown[] {
  return [
    rows.map((r) => r.eventId),
    rows.map((r) => r.eventType),
    rows.map((r) => r.subject),
    rows.map((r) => r.aggregateType),
    rows.map((r) => r.aggregateId),
    rows.map((r) => r.correlationId),
    rows.map((r) => r.traceparent),
    rows.map((r) => JSON.stringify(r.payload)),
  ];
}

/** Inserts the rows (the table's trigger signals the relays when the transaction commits). */
export async function insertOutboxRows(q: Queryable, rows: readonly OutboxInsert[]): Promise<void> {
  if (rows.length === 0) return;
  await q.query(
    `INSERT INTO outbox_events (${OUTBOX_INSERT_COLUMNS}) ${selectRows(1)}`,
    rowParams(rows),
  );
}

/** Which of the rows go into the outbox with a change (`changed` is the change's rows, `e` an
 * outbox row): all of them when the change returned a row; each whose aggregate is a returned
 * row's id; those of the event types the change's one row lists in its `emit` column. */
const WHEN = {
  changed: 'EXISTS (SELECT 1 FROM changed)',
  perRow: 'e.aggregate_id IN (SELECT id::text FROM changed)',
  chosen: 'e.event_type = ANY ((SELECT emit FROM changed LIMIT 1)::text[])',
} as const;

/** The change and the insert of those of `rows` that `when` selects, as one SQL statement. */
function withOutboxRows<T>(
  statement: Statement<T>,
  rows: readonly OutboxInsert[],
  when: keyof typeof WHEN,
): Statement<T> {
  return {
    text: `WITH ${statement.ctes ? `${statement.ctes},` : ''} changed AS (${statement.text}),
       appended AS (
         INSERT INTO outbox_events (${OUTBOX_INSERT_COLUMNS})
         SELECT * FROM (${selectRows(statement.params.length + 1)}) AS e(${OUTBOX_INSERT_COLUMNS})
         WHERE ${WHEN[when]})
       SELECT * FROM changed`,
    params: [...statement.params, ...rowParams(rows)],
    read: statement.read,
  };
}

/**
 * Runs `statement` (an INSERT/UPDATE … RETURNING) and, within the same SQL statement, inserts the
 * rows into the outbox if and only if it returned a row. One round trip, atomic on its own: the
 * state change and its events commit together without BEGIN/COMMIT. Returns the statement's rows.
 */
export async function runWithOutboxRows<T>(
  q: Queryable,
  statement: Statement<T>,
  rows: readonly OutboxInsert[],
): Promise<T[]> {
  if (rows.length === 0) return runStatement(q, statement);
  return runStatement(q, withOutboxRows(statement, rows, 'changed'));
}

/**
 * Like runWithOutboxRows, for a statement changing several rows: each event is added only when a
 * returned row's `id` is its aggregate id (a batch insert adds the events of the rows it inserted).
 */
export async function runWithOutboxRowsPerRow<T>(
  q: Queryable,
  statement: Statement<T>,
  rows: readonly OutboxInsert[],
): Promise<T[]> {
  if (rows.length === 0) return runStatement(q, statement);
  return runStatement(q, withOutboxRows(statement, rows, 'perRow'));
}

/**
 * Like runWithOutboxRows, for a change of several things at once (data-modifying `ctes`, then a
 * SELECT over them returning one row) whose row says in its `emit` column (text[]) which of the
 * events apply: only rows of those event types are added (a job finished, its worker released).
 * Returns the rows and the event types added.
 */
export async function runWithChosenOutboxRows<T>(
  q: Queryable,
  statement: Statement<T>,
  rows: readonly OutboxInsert[],
): Promise<{ rows: T[]; emitted: string[] }> {
  const read = statement.read as (row: { emit: string[] }) => T;
  const result = await runStatement(
    q,
    withOutboxRows(
      { ...statement, read: (row: { emit: string[] }) => ({ value: read(row), emit: row.emit }) },
      rows,
      'chosen',
    ),
  );
  return { rows: result.map((r) => r.value), emitted: result[0]?.emit ?? [] };
}

/** An outbox row that belongs to one row of a change (RowOutboxRows). */
export interface RowOutboxInsert extends OutboxInsert {
  /** The key of the change's row it belongs to. */
  row: string;
  /** Payload keys set from that row's columns (payload key → column name). */
  fill?: Readonly<Record<string, string>>;
}

/**
 * Like runWithOutboxRows, for a change returning rows, each with its key (the column `key`, `id`
 * by default) and, in its `emit` column (text[]), the types of the events that apply to it: each
 * outbox row is added when the changed row it belongs to lists its type, with its `fill` keys set
 * from that row's columns (sagas started together, each dispatching its own job; a job assigned
 * to the worker the statement chose), in the order given. Returns the rows and the outbox rows
 * added, filled.
 */
export async function runWithRowOutboxRows<T>(
  q: Queryable,
  statement: Statement<T>,
  rows: readonly RowOutboxInsert[],
  key = 'id',
): Promise<{ rows: T[]; added: OutboxInsert[] }> {
  identifier(key);
  for (const row of rows) for (const column of Object.values(row.fill ?? {})) identifier(column);
  const read = statement.read as (row: Record<string, unknown>) => T;
  const first = statement.params.length + 1;
  const types = ['uuid', 'text', 'text', 'text', 'text', 'text', 'text', 'jsonb', 'text', 'jsonb'];
  const result = await runStatement(q, {
    text: `WITH ${statement.ctes ? `${statement.ctes},` : ''} changed AS (${statement.text}),
       appended AS (
         INSERT INTO outbox_events (${OUTBOX_INSERT_COLUMNS})
         SELECT e.event_id, e.event_type, e.subject, e.aggregate_type, e.aggregate_id,
           e.correlation_id, e.traceparent,
           e.payload || COALESCE((SELECT jsonb_object_agg(f.key, to_jsonb(c) -> f.value)
                                  FROM jsonb_each_text(e.fill) AS f), '{}'::jsonb)
         FROM unnest(${types.map((t, i) => `$${first + i}::${t}[]`).join(', ')}) WITH ORDINALITY
                AS e(${OUTBOX_INSERT_COLUMNS}, row_key, fill, ord)
           JOIN changed c ON c.${key}::text = e.row_key
         WHERE e.event_type = ANY (c.emit)
         ORDER BY e.ord)
       SELECT * FROM changed`,
    params: [
      ...statement.params,
      ...rowParams(rows),
      rows.map((r) => r.row),
      rows.map((r) => JSON.stringify(r.fill ?? {})),
    ],
    read: (row: Record<string, unknown>) => ({ value: read(row), raw: row }),
  });
  const byKey = new Map(result.map((r) => [String(r.raw[key]), r.raw]));
  const added: OutboxInsert[] = [];
  for (const { row, fill, ...insert } of rows) {
    const changed = byKey.get(row);
    if (!changed || !(changed.emit as string[]).includes(insert.eventType)) continue;
    const filled = Object.entries(fill ?? {}).map(([k, column]) => [k, changed[column]]);
    added.push(
      filled.length
        ? {
            ...insert,
            payload: {
              ...(insert.payload as Record<string, unknown>),
              ...Object.fromEntries(filled),
            },
          }
        : insert,
    );
  }
  return { rows: result.map((r) => r.value), added };
}

/** An outbox row a change builds for some of the rows it returns (runWithBuiltOutboxRows). */
export interface BuiltOutboxRow {
  eventType: string;
  subject: string;
  aggregateType: string;
  /** The column of the changed row holding the aggregate id. */
  aggregate: string;
  /** Payload key → the column of the changed row holding its value (ids and numbers only: the
   * payload is not bounded in SQL). */
  payload: Readonly<Record<string, string>>;
  /** The traceparent of the span writing the rows: theirs when they belong to its trace. */
  traceparent?: string;
}

/** The `traceparent` of an event of the correlation id in `column`, in SQL: `active` (an SQL
 * text expression: the span writing it, or '') when that span is in the correlation id's trace
 * (the trace id traceIdFor derives), else one in that trace with a new span id — as
 * traceparentFor gives an event written outside its trace's spans. */
function traceparentSql(column: string, active: string): string {
  const traceId = `left(encode(sha256(convert_to(${column}, 'UTF8')), 'hex'), 32)`;
  return `CASE WHEN substr(${active}, 4, 32) = ${traceId} THEN ${active}
    ELSE '00-' || ${traceId} || '-' || left(replace(gen_random_uuid()::text, '-', ''), 16) || '-01'
    END`;
}

/**
 * Like runWithRowOutboxRows, for events whose rows are not known before the change (a hand-off
 * picks the sagas it wakes): each row the statement returns that lists `built.eventType` in its
 * `emit` column (text[]) gets one outbox row, built in the same SQL statement from its columns —
 * a new event id, its `correlation_id` and a traceparent in that correlation's trace (the
 * writing span's when it is in that trace), its aggregate and payload from the columns `built`
 * names. Returns the rows and the outbox rows added.
 */
export async function runWithBuiltOutboxRows<T>(
  q: Queryable,
  statement: Statement<T>,
  built: BuiltOutboxRow,
): Promise<{ rows: T[]; added: OutboxInsert[] }> {
  const aggregate = identifier(built.aggregate);
  const keys = Object.keys(built.payload);
  const payload = keys
    .map(
      (k, i) =>
        `$${statement.params.length + 5 + i}::text, c.${identifier(built.payload[k] ?? '')}`,
    )
    .join(', ');
  const type = `$${statement.params.length + 1}::text`;
  const read = statement.read as (row: Record<string, unknown>) => T;
  const result = await runStatement(q, {
    text: `WITH ${statement.ctes ? `${statement.ctes},` : ''} changed AS (${statement.text}),
       appended AS (
         INSERT INTO outbox_events (${OUTBOX_INSERT_COLUMNS})
         SELECT gen_random_uuid(), ${type}, $${statement.params.length + 2}::text,
           $${statement.params.length + 3}::text, c.${aggregate}::text, c.correlation_id,
           ${traceparentSql('c.correlation_id', `$${statement.params.length + 4}::text`)},
           jsonb_build_object(${payload})
         FROM changed c WHERE ${type} = ANY (c.emit)
         RETURNING event_id, aggregate_id, traceparent, payload
       )
       SELECT c.*, a.event_id AS built_event_id, a.traceparent AS built_traceparent,
         a.payload AS built_payload
       FROM changed c
         LEFT JOIN appended a ON ${type} = ANY (c.emit) AND a.aggregate_id = c.${aggregate}::text`,
    params: [
      ...statement.params,
      built.eventType,
      built.subject,
      built.aggregateType,
      built.traceparent ?? '',
      ...keys,
    ],
    read: (row: Record<string, unknown>) => ({ value: read(row), raw: row }),
  });
  // Keyed by event id: two changed rows of one aggregate would each be joined with both events.
  const added = new Map<string, OutboxInsert>();
  for (const { raw } of result)
    if (raw.built_event_id)
      added.set(raw.built_event_id as string, {
        eventId: raw.built_event_id as string,
        eventType: built.eventType,
        subject: built.subject,
        aggregateType: built.aggregateType,
        aggregateId: String(raw[aggregate]),
        correlationId: raw.correlation_id as string,
        traceparent: raw.built_traceparent as string,
        payload: raw.built_payload,
      });
  return { rows: result.map((r) => r.value), added: [...added.values()] };
}

/** A name written into SQL: letters, digits and underscores only (never from input). */
function identifier(name: string): string {
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) throw new Error(`not an SQL identifier: ${name}`);
  return name;
}

/**
 * Locks up to `limit` rows to send (oldest first; neither published nor dead-lettered, not waiting
 * for a retry; skipping rows other relays hold) and marks them published, in one statement: the
 * mark only shows once the caller's transaction commits, which it does after the publish (a
 * failed publish rolls it back, or settleOutboxFailures unmarks the rows the bus refused).
 * Returns the rows in outbox order.
 */
export async function claimOutboxBatch(q: Queryable, limit: number): Promise<OutboxRow[]> {
  const result = await q.query<OutboxRow>(
    `UPDATE outbox_events o SET published_at = now()
     FROM (SELECT seq FROM outbox_events
           WHERE published_at IS NULL AND dead_lettered_at IS NULL
             AND (next_attempt_at IS NULL OR next_attempt_at <= now())
           ORDER BY seq LIMIT $1 FOR UPDATE SKIP LOCKED) claimed
     WHERE o.seq = claimed.seq
     RETURNING o.seq, o.event_id, o.event_type, o.subject, o.aggregate_type, o.aggregate_id,
       o.correlation_id, o.traceparent, o.payload, o.occurred_at, o.delivery_attempts`,
    [limit],
  );
  return result.rows.sort((a, b) => a.seq - b.seq);
}

/** A claimed row the bus refused: tried again after `retryInMs`, or dead-lettered when
 * `retryInMs` is undefined (its dead letter written by the caller in the same transaction). */
export interface OutboxFailure {
  seq: number;
  error: string;
  retryInMs: number | undefined;
}

/** Within the claim's transaction, unmarks claimed rows the bus refused and counts the attempt:
 * each waits `retryInMs` before it can be claimed again, or leaves the queue as dead-lettered.
 * Returns nothing. */
export async function settleOutboxFailures(
  q: Queryable,
  failures: readonly OutboxFailure[],
): Promise<void> {
  if (failures.length === 0) return;
  await q.query(
    `UPDATE outbox_events o SET published_at = NULL,
       delivery_attempts = o.delivery_attempts + 1, last_error = f.error,
       next_attempt_at = CASE WHEN f.retry_ms IS NULL THEN NULL
         ELSE now() + make_interval(secs => f.retry_ms / 1000.0) END,
       dead_lettered_at = CASE WHEN f.retry_ms IS NULL THEN now() END
     FROM unnest($1::bigint[], $2::text[], $3::int[]) AS f(seq, error, retry_ms)
     WHERE o.seq = f.seq`,
    [
      failures.map((f) => f.seq),
      failures.map((f) => f.error),
      failures.map((f) => (f.retryInMs === undefined ? null : Math.round(f.retryInMs))),
    ],
  );
}

/** Records a failed publish attempt on the rows (a round that failed as a whole: the bus or the
 * database away); they stay first in line. */
export async function recordOutboxFailure(
  q: Queryable,
  seqs: readonly number[],
  error: string,
): Promise<void> {
  await q.query(
    `UPDATE outbox_events SET delivery_attempts = delivery_attempts + 1, last_error = $2
     WHERE seq = ANY($1::bigint[])`,
    [seqs, error],
  );
}

/** Returns how many events wait to be published (dead letters not counted). */
export async function countUnpublished(q: Queryable): Promise<number> {
  const result = await q.query<{ n: number }>(
    'SELECT count(*)::int AS n FROM outbox_events WHERE published_at IS NULL AND dead_lettered_at IS NULL',
  );
  return result.rows[0]?.n ?? 0;
}

/** Deletes up to `limit` events published more than `olderThanMs` ago (retention); returns how
 * many. Events never published (waiting, or dead-lettered: failed_events keeps those) stay. */
export async function deletePublishedEvents(
  q: Queryable,
  olderThanMs: number,
  limit: number,
): Promise<number> {
  const result = await q.query(
    `DELETE FROM outbox_events WHERE seq IN (
       SELECT seq FROM outbox_events
       WHERE published_at IS NOT NULL
         AND published_at < now() - make_interval(secs => $1::double precision / 1000)
       LIMIT $2)`,
    [olderThanMs, limit],
  );
  return result.rowCount ?? 0;
}

/** An event as a trace shows it. */
export interface TracedEvent {
  seq: number;
  eventId: string;
  eventType: string;
  aggregateId: string;
  payload: Record<string, unknown>;
  occurredAt: Date;
  publishedAt: Date | null;
  deliveryAttempts: number;
  deadLettered: boolean;
}

/** Returns the events of a correlation id still in the outbox, in the order they were written. */
export async function listEventsByCorrelation(
  q: Queryable,
  correlationId: string,
  limit: number,
): Promise<TracedEvent[]> {
  const result = await q.query<{
    seq: number | string;
    event_id: string;
    event_type: string;
    aggregate_id: string;
    payload: Record<string, unknown>;
    occurred_at: Date;
    published_at: Date | null;
    delivery_attempts: number;
    dead_lettered: boolean;
  }>(
    `SELECT seq, event_id, event_type, aggregate_id, payload, occurred_at, published_at,
       delivery_attempts, dead_lettered_at IS NOT NULL AS dead_lettered
     FROM outbox_events WHERE correlation_id = $1 ORDER BY seq LIMIT $2`,
    [correlationId, limit],
  );
  return result.rows.map((r) => ({
    seq: Number(r.seq),
    eventId: r.event_id,
    eventType: r.event_type,
    aggregateId: r.aggregate_id,
    payload: r.payload,
    occurredAt: r.occurred_at,
    publishedAt: r.published_at,
    deliveryAttempts: r.delivery_attempts,
    deadLettered: r.dead_lettered,
  }));
}

/** Returns the age in seconds of the oldest event waiting to be published, 0 when none. */
export async function oldestUnpublishedAgeSeconds(q: Queryable): Promise<number> {
  const result = await q.query<{ age: number | string | null }>(
    `SELECT extract(epoch FROM now() - min(occurred_at)) AS age FROM outbox_events
     WHERE published_at IS NULL AND dead_lettered_at IS NULL`,
  );
  return Math.max(0, Number(result.rows[0]?.age ?? 0));
}
