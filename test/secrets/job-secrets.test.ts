// Job secrets on both databases: queued with the job in one transaction, stored only sealed (no
// stored byte of jobs, job_secrets or the outbox holds a value or its hex), opened for the run
// with the same key and refused with another, compared by digest for an idempotency key, and
// deleted by retention once the job has finished.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DB_KINDS, createAnyTestDatabase, type AnyTestDatabase } from '../helpers/databases.js';
import { createJobCommands } from '../../src/jobs/job-commands.js';
import { createOutboxWriter } from '../../src/outbox/outbox-writer.js';
import { findJob } from '../../src/jobs/job-sql.js';
import { openJobSecrets } from '../../src/secrets/job-secrets.js';
import { createRetention } from '../../src/safety/retention.js';
import { silentLogger } from '../../src/shared/logger.js';
import { SecretsUnreadableError } from '../../src/shared/errors.js';
import { jobSpec } from '../helpers/job-spec.js';
import { testSecretBox } from '../helpers/secret-box.js';

const VALUE = 'hunter22-the-value';
const outbox = createOutboxWriter({ subjectPrefix: 'hodei.events' });

for (const kind of DB_KINDS) {
  describe.sequential(`job secrets (${kind})`, () => {
    let t: AnyTestDatabase;
    const box = testSecretBox();
    beforeAll(async () => {
      t = await createAnyTestDatabase(kind);
    });
    afterAll(async () => {
      await t.drop();
    });

    const commands = () => createJobCommands({ db: t.db, outbox, secretBox: box });
    const queue = (secrets: Record<string, string>, idempotencyKey: string | null = null) =>
      commands().queue({
        spec: jobSpec({ command: 'sh', env: { PLAIN: 'shown' }, secrets }),
        idempotencyKey,
        correlationId: 'c',
      });

    /** Every stored row of the tables a job's data reaches, as text. */
    async function storedText(): Promise<string> {
      const tables = ['jobs', 'job_secrets', 'outbox_events'];
      const parts = await Promise.all(
        tables.map((table) =>
          t.db.query<{ row: string }>(`SELECT row_to_json(x)::text AS row FROM ${table} x`),
        ),
      );
      return parts.flatMap((p) => p.rows.map((r) => r.row)).join('\n');
    }

    it('stores the values sealed, with the job, and only names elsewhere', async () => {
      const { job } = await queue({ TOKEN: VALUE, OTHER: 'second-value' });
      expect(job.secretNames).toEqual(['OTHER', 'TOKEN']);
      expect(job.env).toEqual({ PLAIN: 'shown' });
      const stored = await storedText();
      expect(stored).toContain(job.id);
      for (const value of [VALUE, 'second-value']) {
        expect(stored).not.toContain(value);
        expect(stored).not.toContain(Buffer.from(value).toString('hex'));
        expect(stored).not.toContain(Buffer.from(value).toString('base64'));
      }
      const sealed = await t.db.query<{ key_id: string; n: number }>(
        'SELECT key_id, length(ciphertext)::int AS n FROM job_secrets WHERE job_id = $1',
        [job.id],
      );
      expect(sealed.rows).toEqual([{ key_id: box.keyId, n: expect.any(Number) as number }]);
      const event = await t.db.query<{ payload: Record<string, unknown> }>(
        "SELECT payload FROM outbox_events WHERE aggregate_id = $1 AND event_type = 'JobQueued'",
        [job.id],
      );
      expect(event.rows[0]?.payload).toMatchObject({ secrets: ['OTHER', 'TOKEN'] });
    });

    it('opens them for the run with the same key, and refuses another key by name', async () => {
      const { job } = await queue({ TOKEN: VALUE });
      expect(await openJobSecrets(t.db, box, job)).toEqual({ TOKEN: VALUE });
      const other = testSecretBox();
      const error = await openJobSecrets(t.db, other, job).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(SecretsUnreadableError);
      expect((error as SecretsUnreadableError).message).toMatch(
        new RegExp(
          `encrypted with secrets key ${box.keyId}, and this server has key ${other.keyId}`,
        ),
      );
      const { job: plain } = await queue({});
      expect(plain.secretNames).toEqual([]);
      expect(await openJobSecrets(t.db, other, plain)).toEqual({});
    });

    it('an idempotency key repeated with other secret values or names is ALREADY_EXISTS', async () => {
      const key = `deploy-${kind}`;
      const first = await queue({ TOKEN: VALUE }, key);
      const again = await queue({ TOKEN: VALUE }, key);
      expect(again).toMatchObject({ created: false, job: { id: first.job.id } });
      await expect(queue({ TOKEN: 'another-value' }, key)).rejects.toThrow(
        /whose spec differs in secrets/,
      );
      await expect(queue({ TOKEN: VALUE, MORE: 'x' }, key)).rejects.toThrow(
        /whose spec differs in secrets/,
      );
      await expect(queue({}, key)).rejects.toThrow(/whose spec differs in secrets/);
      // Only one job and one sealed row for the key.
      const rows = await t.db.query<{ n: number }>(
        'SELECT count(*)::int AS n FROM job_secrets WHERE job_id = $1',
        [first.job.id],
      );
      expect(rows.rows[0]?.n).toBe(1);
      expect((await storedText()).includes('another-value')).toBe(false);
    });

    it('retention deletes the secrets of finished jobs and keeps those still to run', async () => {
      const { job: done } = await queue({ TOKEN: VALUE });
      const { job: waiting } = await queue({ TOKEN: VALUE });
      await commands().cancel(done.id);
      const retention = createRetention({
        db: t.db,
        logger: silentLogger(),
        intervalMs: 0,
        eventsMs: 0,
        jobOutputMs: 0,
        tableBus: false,
      });
      const round = await retention.runRound();
      expect(round?.job_secrets).toBeGreaterThanOrEqual(1);
      const left = await t.db.query<{ job_id: string }>('SELECT job_id FROM job_secrets');
      const ids = left.rows.map((r) => r.job_id);
      expect(ids).toContain(waiting.id);
      expect(ids).not.toContain(done.id);
      // The finished job keeps its secret names; its values are gone for good.
      const after = await findJob(t.db, done.id);
      expect(after?.secretNames).toEqual(['TOKEN']);
      await expect(openJobSecrets(t.db, box, after!)).rejects.toThrow(/no longer stored/);
    });
  });
}
