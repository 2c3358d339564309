// QueueJob calls written together while PostgreSQL is cut off: every caller is told (the batch's
// one statement failed, so nothing of it is stored), and once the database is back the next calls
// are queued, each with its one JobQueued. The outage is a TCP proxy the test cuts.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { startTcpProxy, type TcpProxy } from '../helpers/tcp-proxy.js';
import { createPgDb } from '../../src/db/pg/pg-db.js';
import type { Db } from '../../src/db/db.js';
import { createJobCommands } from '../../src/jobs/job-commands.js';
import { createOutboxWriter } from '../../src/outbox/outbox-writer.js';
import { jobSpec } from '../helpers/job-spec.js';
import { testSecretBox } from '../helpers/secret-box.js';

let t: TestDatabase;
let proxy: TcpProxy;
let viaProxy: Db;

beforeAll(async () => {
  t = await createTestDatabase();
  const url = new URL(t.url);
  proxy = await startTcpProxy({ host: url.hostname, port: Number(url.port || 5432) });
  url.host = `127.0.0.1:${proxy.port}`;
  viaProxy = createPgDb({ connectionString: url.toString() });
});
afterAll(async () => {
  await viaProxy?.close();
  await proxy?.close();
  await t?.drop();
});

it('every QueueJob of a batch cut off from PostgreSQL fails and stores nothing; after the outage they queue', async () => {
  const outbox = createOutboxWriter({ subjectPrefix: 'hodei.events' });
  const commands = createJobCommands({ db: viaProxy, outbox, secretBox: testSecretBox() });
  const queue = (i: number) =>
    commands.queue({
      spec: jobSpec({ command: 'echo', args: [String(i)] }),
      idempotencyKey: null,
      correlationId: `outage-${i}`,
    });
  await queue(0); // the pool's connection is open
  proxy.cut();
  const during = await Promise.allSettled([1, 2, 3, 4, 5].map(queue));
  expect(during.map((o) => o.status)).toEqual(Array(5).fill('rejected'));
  proxy.restore();
  const after = await Promise.all([6, 7, 8].map(queue));
  const count = async (sql: string) =>
    Number((await t.db.query<{ n: number }>(sql)).rows[0]?.n ?? -1);
  expect(await count('SELECT count(*)::int AS n FROM jobs')).toBe(4);
  expect(
    await count("SELECT count(*)::int AS n FROM outbox_events WHERE event_type = 'JobQueued'"),
  ).toBe(4);
  expect(after.every((r) => r.created)).toBe(true);
});
