// The outbox writer on PostgreSQL and PGlite: a state change and its events in one statement
// (both or neither), and the NOTIFY that the outbox table's trigger raises at commit.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DB_KINDS, createAnyTestDatabase, type AnyTestDatabase } from '../helpers/databases.js';
import { createOutboxWriter } from '../../src/outbox/outbox-writer.js';
import {
  runWithBuiltOutboxRows,
  runWithOutboxRows,
  type OutboxRow,
} from '../../src/outbox/outbox-sql.js';
import { assignJobStatement, insertJobStatement } from '../../src/jobs/job-sql.js';
import { OUTBOX_CHANNEL } from '../../src/db/db.js';
import { newId } from '../../src/shared/ids.js';
import { event } from '../../src/events/catalog.js';
import { jobSpec } from '../helpers/job-spec.js';
import { traceIdFor } from '../../src/telemetry/tracing.js';

const spec = jobSpec();
const outbox = createOutboxWriter({ subjectPrefix: 'test.events' });

async function count(table: 'jobs' | 'outbox_events', column: string, value: string) {
  const r = await t.db.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM ${table} WHERE ${column} = $1`,
    [value],
  );
  return r.rows[0]?.n ?? -1;
}

const queued = (id: string) => event('JobQueued', id, `c-${id}`, { jobId: id, attempt: 1 });

let t: AnyTestDatabase;

for (const kind of DB_KINDS) {
  describe.sequential(`${kind}: outbox writer`, () => {
    beforeAll(async () => {
      t = await createAnyTestDatabase(kind);
    });
    afterAll(async () => {
      await t.drop();
    });

    it('changeWithEvents stores the change and its events together and returns the rows', async () => {
      const id = newId();
      const rows = await outbox.changeWithEvents(
        t.db,
        insertJobStatement({ id, spec, idempotencyKey: null, correlationId: `c-${id}` }),
        [queued(id)],
      );
      expect(rows.map((j) => [j.id, j.state])).toEqual([[id, 'PENDING']]);
      expect(await count('outbox_events', 'aggregate_id', id)).toBe(1);
    });

    it('changeWithEvents adds no event when the statement changed nothing', async () => {
      const id = newId();
      // Not PENDING: the job does not exist, so the guarded assignment returns no row.
      const rows = await outbox.changeWithEvents(t.db, assignJobStatement(id, 1, newId()), [
        event('JobAssigned', id, 'c', { jobId: id, attempt: 1, workerId: newId() }),
      ]);
      expect(rows).toEqual([]);
      expect(await count('outbox_events', 'aggregate_id', id)).toBe(0);
    });

    it('a statement whose event insert fails leaves neither the change nor any event', async () => {
      const first = newId();
      await outbox.changeWithEvents(
        t.db,
        insertJobStatement({ id: first, spec, idempotencyKey: null, correlationId: 'c' }),
        [queued(first)],
      );
      const stored = await t.db.query<{ event_id: string }>(
        'SELECT event_id FROM outbox_events WHERE aggregate_id = $1',
        [first],
      );
      const id = newId();
      const clashing = {
        eventId: stored.rows[0]?.event_id ?? '', // already in the outbox: unique violation
        eventType: 'JobQueued',
        subject: 'test.events.job.JobQueued',
        aggregateType: 'job',
        aggregateId: id,
        correlationId: 'c',
        traceparent: '',
        payload: { jobId: id, attempt: 1 },
      };
      await expect(
        runWithOutboxRows(
          t.db,
          insertJobStatement({ id, spec, idempotencyKey: null, correlationId: 'c' }),
          [clashing],
        ),
      ).rejects.toThrow();
      expect(await count('jobs', 'id', id)).toBe(0);
      expect(await count('outbox_events', 'aggregate_id', id)).toBe(0);
    });

    it('tells `committed` of the events a change or an append on the database itself committed, and of no others', async () => {
      const told: string[][] = [];
      const writer = createOutboxWriter({
        subjectPrefix: 'test.events',
        committed: { db: t.db, events: (events) => told.push(events.map((e) => e.type)) },
      });
      const id = newId();
      const insert = () =>
        insertJobStatement({ id, spec, idempotencyKey: null, correlationId: `c-${id}` });
      await writer.changeWithEvents(t.db, insert(), [queued(id)]);
      expect(told).toEqual([['JobQueued']]);
      // Changed nothing (the id exists): no event, nothing told.
      await writer.changeWithEvents(t.db, assignJobStatement(newId(), 1, newId()), [queued(id)]);
      // Inside a transaction: not committed when the call returns, so not told.
      const other = newId();
      await t.db.transaction((tx) =>
        writer.changeWithEvents(
          tx,
          insertJobStatement({ id: other, spec, idempotencyKey: null, correlationId: 'c' }),
          [queued(other)],
        ),
      );
      expect(told).toEqual([['JobQueued']]);
      // Events appended on their own: on the database, one statement, committed and told (a
      // provisioning request, decision 0024); in a transaction, not told.
      await writer.append(t.db, [queued(newId()), queued(newId())]);
      await t.db.transaction((tx) => writer.append(tx, [queued(newId())]));
      await writer.append(t.db, []);
      expect(told).toEqual([['JobQueued'], ['JobQueued', 'JobQueued']]);
    });

    it('changeWithRowEvents keyed by another column: the events of the one row, when it lists them, filled from it', async () => {
      const told: Array<Record<string, unknown>> = [];
      const writer = createOutboxWriter({
        subjectPrefix: 'test.events',
        committed: {
          db: t.db,
          events: (events) => told.push(...events.map((e) => e.payload)),
        },
      });
      const id = newId();
      const chosen = newId();
      // A statement that picks a value (here a literal) and lists the events that apply; its
      // `id` is what it picked, its key the job the events are about.
      const pick = (emit: string[]) => ({
        text: `SELECT $1::uuid AS id, $2::uuid AS job, $3::text[] AS emit`,
        params: [chosen, id, emit],
        read: (row: { id: string }) => row.id,
      });
      const assigned = {
        ...event('JobAssigned', id, 'c', { jobId: id, attempt: 1, workerId: '' }),
        row: id,
        fill: { workerId: 'id' },
      };
      expect(await writer.changeWithRowEvents(t.db, pick([]), [assigned], 'job')).toEqual([chosen]);
      expect(await count('outbox_events', 'aggregate_id', id)).toBe(0);
      expect(told).toEqual([]);
      await writer.changeWithRowEvents(t.db, pick(['JobAssigned']), [assigned], 'job');
      const stored = await t.db.query<{ payload: Record<string, unknown> }>(
        'SELECT payload FROM outbox_events WHERE aggregate_id = $1',
        [id],
      );
      const payload = { jobId: id, attempt: 1, workerId: chosen };
      expect(stored.rows.map((r) => r.payload)).toEqual([payload]);
      expect(told).toEqual([payload]);
      // The key's name is written into the SQL: anything but a plain name is refused.
      await expect(
        writer.changeWithRowEvents(t.db, pick(['JobAssigned']), [assigned], 'job; --'),
      ).rejects.toThrow(/not an SQL identifier/);
    });

    it('changeWithRowEvents adds the events of each row of the types it lists, filled from that row, and tells of them', async () => {
      const told: Array<{ type: string; payload: Record<string, unknown> }> = [];
      const writer = createOutboxWriter({
        subjectPrefix: 'test.events',
        committed: {
          db: t.db,
          events: (events) =>
            told.push(...events.map((e) => ({ type: e.type, payload: e.payload }))),
        },
      });
      const [a, b, gone] = [newId(), newId(), newId()];
      const [workerA, workerB] = [newId(), newId()];
      // Two rows (a third event's row is not returned): `a` lists both types, `b` only one.
      const rows = {
        text: `SELECT * FROM (VALUES ($1::uuid, $2::uuid, ARRAY['SagaStarted', 'JobAssigned']),
                                     ($3::uuid, $4::uuid, ARRAY['SagaStarted'])) AS v(id, picked, emit)`,
        params: [a, workerA, b, workerB],
        read: (row: { id: string }) => row.id,
      };
      const forRow = (row: string) => [
        { ...event('SagaStarted', row, 'c', { sagaId: row, sagaType: 'execution' }), row },
        {
          ...event('JobAssigned', row, 'c', { jobId: row, attempt: 1, workerId: '' }),
          row,
          fill: { workerId: 'picked' },
        },
      ];
      expect(
        await writer.changeWithRowEvents(t.db, rows, [...forRow(a), ...forRow(b), ...forRow(gone)]),
      ).toEqual([a, b]);
      const stored = await t.db.query<{
        event_type: string;
        aggregate_id: string;
        payload: Record<string, unknown>;
      }>(
        `SELECT event_type, aggregate_id, payload FROM outbox_events
         WHERE aggregate_id = ANY ($1::text[]) ORDER BY seq`,
        [[a, b, gone]],
      );
      const expected = [
        { type: 'SagaStarted', payload: { sagaId: a, sagaType: 'execution' } },
        { type: 'JobAssigned', payload: { jobId: a, attempt: 1, workerId: workerA } },
        { type: 'SagaStarted', payload: { sagaId: b, sagaType: 'execution' } },
      ];
      expect(stored.rows.map((r) => ({ type: r.event_type, payload: r.payload }))).toEqual(
        expected,
      );
      expect(told).toEqual(expected);
      // A column name is written into the SQL: anything but a plain name is refused.
      await expect(
        writer.changeWithRowEvents(t.db, rows, [
          { ...forRow(a)[1]!, fill: { workerId: 'picked; --' } },
        ]),
      ).rejects.toThrow(/not an SQL identifier/);
    });

    it('changeWithBuiltEvents builds the event of each row that lists it, from its columns, in its trace, and tells of them', async () => {
      const told: Array<{ type: string; eventId: string; payload: Record<string, unknown> }> = [];
      const writer = createOutboxWriter({
        subjectPrefix: 'test.events',
        committed: {
          db: t.db,
          events: (events) =>
            told.push(
              ...events.map((e) => ({ type: e.type, eventId: e.eventId, payload: e.payload })),
            ),
        },
      });
      const [a, b] = [newId(), newId()];
      const [workerA, workerB] = [newId(), newId()];
      // Two rows a statement picked: `a` lists JobAssigned, `b` nothing.
      const rows = {
        text: `SELECT * FROM (VALUES ($1::uuid, 2, $2::uuid, 'corr-a', ARRAY['JobAssigned']),
                 ($3::uuid, 1, $4::uuid, 'corr-b', '{}'::text[]))
               AS v(job, attempt, picked, correlation_id, emit)`,
        params: [a, workerA, b, workerB],
        read: (row: { job: string }) => row.job,
      };
      const built = {
        type: 'JobAssigned' as const,
        aggregate: 'job',
        payload: { jobId: 'job', attempt: 'attempt', workerId: 'picked' },
      };
      expect(await writer.changeWithBuiltEvents(t.db, rows, built)).toEqual([a, b]);
      const stored = await t.db.query<OutboxRow>(
        'SELECT * FROM outbox_events WHERE aggregate_id = ANY ($1::text[]) ORDER BY seq',
        [[a, b]],
      );
      const payload = { jobId: a, attempt: 2, workerId: workerA };
      expect(stored.rows).toHaveLength(1);
      const [row] = stored.rows;
      expect(row).toMatchObject({
        event_type: 'JobAssigned',
        subject: 'test.events.job.JobAssigned',
        aggregate_type: 'job',
        aggregate_id: a,
        correlation_id: 'corr-a',
        payload,
      });
      // The trace id is the one every other event of that correlation id gets.
      expect(row?.traceparent).toMatch(new RegExp(`^00-${traceIdFor('corr-a')}-[0-9a-f]{16}-01$`));
      expect(told).toEqual([{ type: 'JobAssigned', eventId: row?.event_id, payload }]);
      // Column names are written into the SQL: anything but a plain name is refused.
      await expect(
        writer.changeWithBuiltEvents(t.db, rows, { ...built, aggregate: 'job; --' }),
      ).rejects.toThrow(/not an SQL identifier/);
      await expect(
        writer.changeWithBuiltEvents(t.db, rows, {
          ...built,
          payload: { jobId: 'job) --' },
        }),
      ).rejects.toThrow(/not an SQL identifier/);
    });

    it('a built event is under the writing span when that span is in its trace, else in its own trace', async () => {
      const [a, b] = [newId(), newId()];
      const rows = {
        text: `SELECT * FROM (VALUES ($1::uuid, 'corr-a', ARRAY['JobAssigned']),
                 ($2::uuid, 'corr-b', ARRAY['JobAssigned'])) AS v(job, correlation_id, emit)`,
        params: [a, b],
        read: (row: { job: string }) => row.job,
      };
      // A span of corr-a's trace writes both rows.
      const writing = `00-${traceIdFor('corr-a')}-00f067aa0ba902b7-01`;
      const { added } = await runWithBuiltOutboxRows(t.db, rows, {
        eventType: 'JobAssigned',
        subject: 'test.events.job.JobAssigned',
        aggregateType: 'job',
        aggregate: 'job',
        payload: { jobId: 'job' },
        traceparent: writing,
      });
      const stored = await t.db.query<{ aggregate_id: string; traceparent: string }>(
        'SELECT aggregate_id, traceparent FROM outbox_events WHERE aggregate_id = ANY ($1::text[])',
        [[a, b]],
      );
      const byJob = new Map(stored.rows.map((r) => [r.aggregate_id, r.traceparent]));
      expect(byJob.get(a)).toBe(writing);
      expect(byJob.get(b)).toMatch(new RegExp(`^00-${traceIdFor('corr-b')}-[0-9a-f]{16}-01$`));
      expect(added.map((e) => [e.aggregateId, e.traceparent])).toEqual([
        [a, byJob.get(a)],
        [b, byJob.get(b)],
      ]);
    });

    it('adding events raises one NOTIFY at commit, none on rollback', async () => {
      const payloads: string[] = [];
      let fenced = (): void => undefined;
      const fence = new Promise<void>((resolve) => (fenced = resolve));
      const unlisten = await t.db.listen(OUTBOX_CHANNEL, (payload) => {
        if (payload === 'fence') fenced();
        else payloads.push(payload);
      });
      try {
        await expect(
          t.db.transaction(async (tx) => {
            await outbox.append(tx, [queued(newId())]);
            throw new Error('roll back');
          }),
        ).rejects.toThrow('roll back');
        await t.db.transaction((tx) => outbox.append(tx, [queued(newId()), queued(newId())]));
        // Notifications on one channel arrive in commit order: the fence comes after the others.
        await t.db.query('SELECT pg_notify($1, $2)', [OUTBOX_CHANNEL, 'fence']);
        await fence;
        expect(payloads).toEqual(['']);
      } finally {
        await unlisten();
      }
    });
  });
}
