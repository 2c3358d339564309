// The retention loop against a real database (PostgreSQL and PGlite): what is old and done is
// deleted in bounded batches — published events, table-bus messages every consumer settled,
// finished sagas with their steps, the output of jobs finished long ago (the job marked) — and
// everything else stays: events not yet published or dead-lettered, messages a consumer may
// still be delivered, sagas running or waiting, output of running and recent jobs, the jobs.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DB_KINDS, createAnyTestDatabase, type AnyTestDatabase } from '../helpers/databases.js';
import { createRetention } from '../../src/safety/retention.js';
import { createOutboxWriter } from '../../src/outbox/outbox-writer.js';
import { insertJobStatement, findJob } from '../../src/jobs/job-sql.js';
import { runStatement } from '../../src/db/statement.js';
import { newId } from '../../src/shared/ids.js';
import { silentLogger } from '../../src/shared/logger.js';
import { createMetrics } from '../../src/metrics/metrics.js';
import { jobSpec } from '../helpers/job-spec.js';
import { queuedEvents } from '../helpers/events.js';

const DAY = 86_400_000;
const outbox = createOutboxWriter({ subjectPrefix: 'hodei.events' });

for (const kind of DB_KINDS) {
  describe(`retention (${kind})`, () => {
    let t: AnyTestDatabase;
    beforeEach(async () => {
      t = await createAnyTestDatabase(kind);
    });
    afterEach(async () => {
      await t.drop();
    });

    const count = async (sql: string, params: unknown[] = []) =>
      (await t.db.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${sql}`, params)).rows[0]?.n;

    function retention(overrides: Partial<Parameters<typeof createRetention>[0]> = {}) {
      return createRetention({
        db: t.db,
        logger: silentLogger(),
        intervalMs: 0,
        eventsMs: 7 * DAY,
        jobOutputMs: 30 * DAY,
        tableBus: true,
        ...overrides,
      });
    }

    /** `n` outbox events, aged `ageDays`, published or not, dead-lettered or not. */
    async function events(n: number, ageDays: number, state: 'published' | 'waiting' | 'dead') {
      const written = queuedEvents(n);
      await t.db.transaction((tx) => outbox.append(tx, written));
      const ids = written.map((e) => e.aggregateId);
      await t.db.query(
        `UPDATE outbox_events SET occurred_at = now() - make_interval(days => $2),
           published_at = CASE WHEN $3 = 'published' THEN now() - make_interval(days => $2) END,
           dead_lettered_at = CASE WHEN $3 = 'dead' THEN now() - make_interval(days => $2) END
         WHERE aggregate_id = ANY($1::text[])`,
        [ids, ageDays, state],
      );
      return ids;
    }

    async function saga(state: string, finishedDaysAgo: number | null): Promise<string> {
      const id = newId();
      await t.db.query(
        `INSERT INTO saga_instances (id, saga_type, state, correlation_id, finished_at)
         VALUES ($1, 'execution', $2, 'c', now() - make_interval(days => $3))`,
        [id, state, finishedDaysAgo ?? 0],
      );
      if (finishedDaysAgo === null) {
        await t.db.query('UPDATE saga_instances SET finished_at = NULL WHERE id = $1', [id]);
      }
      await t.db.query(
        `INSERT INTO saga_steps (saga_id, step_index, name, state, correlation_id)
         VALUES ($1, 0, 'ValidateJobState', 'COMPLETED', 'c'), ($1, 1, 'ReserveWorker', 'COMPLETED', 'c')`,
        [id],
      );
      return id;
    }

    /** A bus message aged `ageDays` with one delivery per state given. */
    async function busMessage(ageDays: number, deliveries: string[]): Promise<number> {
      await t.db.query(
        `INSERT INTO bus_consumers (name, filter_subject, filter_regex, ack_wait_ms, max_deliver)
         VALUES ('a', '>', '.*', 1000, 3), ('b', '>', '.*', 1000, 3) ON CONFLICT DO NOTHING`,
      );
      const r = await t.db.query<{ seq: string }>(
        `INSERT INTO bus_messages (id, subject, data, published_at)
         VALUES ($1, 'hodei.events.job.JobQueued', '\\x00', now() - make_interval(days => $2))
         RETURNING seq`,
        [newId(), ageDays],
      );
      const seq = Number(r.rows[0]?.seq);
      for (const [i, state] of deliveries.entries()) {
        await t.db.query('INSERT INTO bus_deliveries (consumer, seq, state) VALUES ($1, $2, $3)', [
          i === 0 ? 'a' : 'b',
          seq,
          state,
        ]);
      }
      return seq;
    }

    /** A job in `state`, finished `finishedDaysAgo` (null: not finished), with `chunks` of output. */
    async function jobWithOutput(
      state: string,
      finishedDaysAgo: number | null,
      chunks = 3,
    ): Promise<string> {
      const id = newId();
      await runStatement(
        t.db,
        insertJobStatement({ id, spec: jobSpec(), idempotencyKey: null, correlationId: 'c' }),
      );
      await t.db.query(
        `UPDATE jobs SET state = $2,
           finished_at = CASE WHEN $3::int IS NULL THEN NULL ELSE now() - make_interval(days => $3::int) END
         WHERE id = $1`,
        [id, state, finishedDaysAgo],
      );
      for (let part = 0; part < chunks; part += 1) {
        await t.db.query(
          `INSERT INTO job_output (job_id, attempt, part, stream, data, correlation_id)
           VALUES ($1, 1, $2, 'stdout', $3, 'c')`,
          [id, part, Buffer.from(`line ${part}\n`)],
        );
      }
      return id;
    }

    it('deletes events published long ago, keeps unpublished, dead-lettered and recent ones', async () => {
      const old = await events(5, 8, 'published');
      const recent = await events(2, 1, 'published');
      const waiting = await events(2, 8, 'waiting');
      const dead = await events(2, 8, 'dead');
      const metrics = createMetrics();
      const round = await retention({ metrics }).runRound();
      expect(round?.outbox_events).toBe(5);
      const left = async (ids: string[]) =>
        count('outbox_events WHERE aggregate_id = ANY($1::text[])', [ids]);
      expect(await left(old)).toBe(0);
      expect(await left(recent)).toBe(2);
      expect(await left(waiting)).toBe(2);
      expect(await left(dead)).toBe(2);
      expect(await metrics.registry.metrics()).toMatch(
        /hodei_retention_deleted_rows_total\{table="outbox_events"\} 5/,
      );
      // The space of the deleted rows is made reusable at once (no autovacuum needed).
      const vacuumed = await t.db.query<{ n: number }>(
        `SELECT vacuum_count::int AS n FROM pg_stat_all_tables WHERE relname = 'outbox_events'`,
      );
      expect(vacuumed.rows[0]?.n).toBeGreaterThan(0);
    });

    it('deletes sagas finished long ago with their steps, keeps running and recent ones', async () => {
      const old = [await saga('COMPLETED', 10), await saga('COMPENSATED', 8)];
      const recent = await saga('COMPLETED', 1);
      const waiting = await saga('WAITING', null);
      const round = await retention().runRound();
      expect(round?.saga_instances).toBe(2);
      expect(await count('saga_instances WHERE id = ANY($1::uuid[])', [old])).toBe(0);
      expect(await count('saga_steps WHERE saga_id = ANY($1::uuid[])', [old])).toBe(0);
      expect(await count('saga_instances WHERE id = ANY($1::uuid[])', [[recent, waiting]])).toBe(2);
      expect(await count('saga_steps WHERE saga_id = $1', [waiting])).toBe(2);
    });

    it('deletes table-bus messages every consumer settled, keeps those still deliverable', async () => {
      const settled = await busMessage(8, ['acked', 'terminated']);
      const final = await busMessage(8, ['acked', 'final']);
      const unrouted = await busMessage(8, []);
      const pending = await busMessage(8, ['acked', 'pending']);
      const recent = await busMessage(1, ['acked', 'acked']);
      const round = await retention().runRound();
      expect(round?.bus_messages).toBe(3);
      const left = await t.db.query<{ seq: string }>('SELECT seq FROM bus_messages ORDER BY seq');
      expect(left.rows.map((r) => Number(r.seq))).toEqual([pending, recent]);
      expect(
        await count('bus_deliveries WHERE seq = ANY($1::bigint[])', [[settled, final, unrouted]]),
      ).toBe(0);
      // With JetStream the tables are not in use: nothing is looked at there.
      await busMessage(8, ['acked']);
      expect((await retention({ tableBus: false }).runRound())?.bus_messages).toBe(0);
    });

    it('deletes the output of jobs finished long ago and marks them; keeps running and recent output', async () => {
      const old = await jobWithOutput('SUCCEEDED', 31);
      const oldFailed = await jobWithOutput('FAILED', 40, 2);
      const recent = await jobWithOutput('SUCCEEDED', 2);
      const running = await jobWithOutput('RUNNING', null);
      const round = await retention().runRound();
      expect(round?.job_output).toBe(5);
      expect(await count('job_output WHERE job_id = ANY($1::uuid[])', [[old, oldFailed]])).toBe(0);
      expect(await count('job_output WHERE job_id = $1', [recent])).toBe(3);
      expect(await count('job_output WHERE job_id = $1', [running])).toBe(3);
      expect((await findJob(t.db, old))?.outputDeletedAt).toBeInstanceOf(Date);
      expect((await findJob(t.db, recent))?.outputDeletedAt).toBeNull();
      // The jobs are the record: all still there.
      expect(await count('jobs')).toBe(4);
      expect((await retention().runRound())?.job_output).toBe(0);
    });

    it('a round deletes at most its batches; the next round goes on', async () => {
      await events(7, 8, 'published');
      const small = retention({ batchSize: 2, maxBatches: 2 });
      expect((await small.runRound())?.outbox_events).toBe(4);
      expect((await small.runRound())?.outbox_events).toBe(3);
      expect(await count('outbox_events')).toBe(0);
    });

    it('keeps everything when retention is off (0)', async () => {
      await events(3, 400, 'published');
      await saga('COMPLETED', 400);
      await jobWithOutput('SUCCEEDED', 400);
      const round = await retention({ eventsMs: 0, jobOutputMs: 0 }).runRound();
      expect(round).toEqual({
        outbox_events: 0,
        bus_messages: 0,
        saga_instances: 0,
        job_output: 0,
        job_secrets: 0,
      });
      expect(await count('outbox_events')).toBe(3);
      expect(await count('job_output')).toBe(3);
    });
  });
}
