// Queueing and cancelling on a real PostgreSQL database: the job and its event commit together.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DB_KINDS, createAnyTestDatabase, type AnyTestDatabase } from '../helpers/databases.js';
import { createJobCommands } from '../../src/jobs/job-commands.js';
import { createOutboxWriter } from '../../src/outbox/outbox-writer.js';
import { insertJobStatement } from '../../src/jobs/job-sql.js';
import { runStatement } from '../../src/db/statement.js';
import { newId } from '../../src/shared/ids.js';
import { jobSpec } from '../helpers/job-spec.js';
import { testSecretBox } from '../helpers/secret-box.js';

const spec = jobSpec({ name: 'n', command: 'echo', args: ['hi'] });
const outbox = createOutboxWriter({ subjectPrefix: 'hodei.events' });

async function count(sql: string, params: unknown[] = []): Promise<number> {
  const r = await t.db.query<{ n: number }>(sql, params);
  return r.rows[0]?.n ?? -1;
}

// One database per adapter, in turn (the helpers above read the current one).
let t: AnyTestDatabase;

for (const kind of DB_KINDS) {
  describe.sequential(kind, () => {
    beforeAll(async () => {
      t = await createAnyTestDatabase(kind);
    });
    afterAll(async () => {
      await t.drop();
    });

    describe(`${kind}: job commands`, () => {
      it('a transaction that fails after the job insert leaves neither job nor event', async () => {
        const id = newId();
        await expect(
          t.db.transaction(async (tx) => {
            await runStatement(
              tx,
              insertJobStatement({ id, spec, idempotencyKey: null, correlationId: 'c-fail' }),
            );
            await outbox.append(tx, [
              {
                type: 'JobQueued',
                aggregateId: id,
                correlationId: 'c-fail',
                payload: { jobId: id, attempt: 1 },
              },
            ]);
            throw new Error('crash after insert');
          }),
        ).rejects.toThrow('crash after insert');
        expect(await count('SELECT count(*)::int AS n FROM jobs WHERE id = $1', [id])).toBe(0);
        expect(
          await count('SELECT count(*)::int AS n FROM outbox_events WHERE aggregate_id = $1', [id]),
        ).toBe(0);
      });

      it('queues a job with its JobQueued event, carrying the correlation id and trace headers', async () => {
        const commands = createJobCommands({ db: t.db, outbox, secretBox: testSecretBox() });
        const { job, created } = await commands.queue({
          spec,
          idempotencyKey: null,
          correlationId: 'c-1',
        });
        expect(created).toBe(true);
        expect(job.state).toBe('PENDING');
        const rows = await t.db.query<{
          event_type: string;
          subject: string;
          correlation_id: string;
          traceparent: string;
        }>(
          'SELECT event_type, subject, correlation_id, traceparent FROM outbox_events WHERE aggregate_id = $1',
          [job.id],
        );
        expect(rows.rows).toHaveLength(1);
        expect(rows.rows[0]).toMatchObject({
          event_type: 'JobQueued',
          subject: 'hodei.events.job.JobQueued',
          correlation_id: 'c-1',
        });
        expect(rows.rows[0]?.traceparent).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
      });

      it('the same idempotency key twice returns the same job and queues nothing new', async () => {
        const commands = createJobCommands({ db: t.db, outbox, secretBox: testSecretBox() });
        const key = `key-${newId()}`;
        const results = await Promise.all(
          [1, 2, 3].map(() => commands.queue({ spec, idempotencyKey: key, correlationId: 'c-2' })),
        );
        const ids = new Set(results.map((r) => r.job.id));
        expect(ids.size).toBe(1);
        expect(results.filter((r) => r.created)).toHaveLength(1);
        const [id] = [...ids];
        expect(
          await count('SELECT count(*)::int AS n FROM outbox_events WHERE aggregate_id = $1', [id]),
        ).toBe(1);
      });

      it('QueueJob calls made together are written in one statement, each with its own JobQueued', async () => {
        const commands = createJobCommands({ db: t.db, outbox, secretBox: testSecretBox() });
        const key = `key-${newId()}`;
        const results = await Promise.all(
          Array.from({ length: 40 }, (_, i) =>
            commands.queue({
              spec: jobSpec({ command: 'echo', args: [String(i)] }),
              idempotencyKey: i % 10 === 0 ? `${key}-${i}` : null,
              correlationId: `c-batch-${i}`,
            }),
          ),
        );
        expect(results.every((r) => r.created)).toBe(true);
        expect(results.map((r) => r.job.args[0])).toEqual(
          Array.from({ length: 40 }, (_, i) => String(i)),
        );
        const ids = results.map((r) => r.job.id);
        // One statement: every row written by the same transaction.
        expect(
          await count('SELECT count(DISTINCT xmin::text)::int AS n FROM jobs WHERE id = ANY($1)', [
            ids,
          ]),
        ).toBe(1);
        const events = await t.db.query<{ aggregate_id: string; correlation_id: string }>(
          `SELECT aggregate_id, correlation_id FROM outbox_events
           WHERE aggregate_id = ANY($1) AND event_type = 'JobQueued'`,
          [ids],
        );
        expect(events.rows).toHaveLength(40);
        const correlation = new Map(events.rows.map((e) => [e.aggregate_id, e.correlation_id]));
        results.forEach((r, i) => expect(correlation.get(r.job.id)).toBe(`c-batch-${i}`));
      });

      it('a job the database refuses fails only its own call when queued with others', async () => {
        const commands = createJobCommands({ db: t.db, outbox, secretBox: testSecretBox() });
        const calls = Array.from({ length: 6 }, (_, i) =>
          commands.queue({
            // A NUL the API would have refused: PostgreSQL cannot store it in text.
            spec: jobSpec({ command: i === 3 ? 'bad\u0000command' : 'echo', args: [String(i)] }),
            idempotencyKey: null,
            correlationId: `c-alone-${i}`,
          }),
        );
        const outcomes = await Promise.allSettled(calls);
        expect(outcomes.map((o) => o.status)).toEqual([
          'fulfilled',
          'fulfilled',
          'fulfilled',
          'rejected',
          'fulfilled',
          'fulfilled',
        ]);
        const queued = outcomes.flatMap((o) => (o.status === 'fulfilled' ? [o.value.job.id] : []));
        expect(
          await count(`SELECT count(*)::int AS n FROM outbox_events WHERE aggregate_id = ANY($1)`, [
            queued,
          ]),
        ).toBe(5);
      });

      it('cancels a pending job once, with one JobCancelled event', async () => {
        const commands = createJobCommands({ db: t.db, outbox, secretBox: testSecretBox() });
        const { job } = await commands.queue({ spec, idempotencyKey: null, correlationId: 'c-3' });
        const first = await commands.cancel(job.id);
        const second = await commands.cancel(job.id);
        expect(first.state).toBe('CANCELLED');
        expect(second.state).toBe('CANCELLED');
        expect(
          await count(
            "SELECT count(*)::int AS n FROM outbox_events WHERE aggregate_id = $1 AND event_type = 'JobCancelled'",
            [job.id],
          ),
        ).toBe(1);
      });

      it('cancelling an unknown job is NOT_FOUND', async () => {
        const commands = createJobCommands({ db: t.db, outbox, secretBox: testSecretBox() });
        await expect(commands.cancel(newId())).rejects.toMatchObject({ code: 'NOT_FOUND' });
      });
    });
  });
}
