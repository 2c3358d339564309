// `hodei dlq list|show|replay|discard` as an operator runs them: the real CLI (dist/) against a
// real `hodei server` on PostgreSQL + NATS. The dead letters are real: a trigger makes the saga
// store refuse execution sagas, so the server's consumer dead-letters each JobQueued after
// HODEI_MAX_DELIVER (3) deliveries; the trigger also bumps a sequence on every try, which counts
// how often the event was handled.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, startTestServer, type TestServer } from '../helpers/server.js';
import { waitFor } from '../helpers/procs.js';
import type { Db } from '../../src/db/db.js';
import { executionSagaId } from '../../src/shared/ids.js';

interface DeadLetterJson {
  id: number;
  state: string;
  consumer: string;
  eventType: string | null;
  eventId: string;
  subject: string;
  correlationId: string | null;
  error: string;
  deliveryCount: number;
  replayCount: number;
  failedAt: string;
  replayedAt: string | null;
  discardedAt: string | null;
  discardReason: string | null;
}

const QUIET_MS = 2500;
const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

let server: TestServer;
let db: Db;

beforeAll(async () => {
  server = await startTestServer({
    env: { HODEI_MAX_DELIVER: '3', HODEI_ACK_WAIT: '1s' },
  });
  db = await server.openDb();
  await db.query(`
    CREATE TABLE dlq_switch (broken boolean NOT NULL);
    INSERT INTO dlq_switch VALUES (true);
    CREATE SEQUENCE dlq_tries;
    CREATE FUNCTION dlq_refuse() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      PERFORM nextval('dlq_tries');
      IF (SELECT broken FROM dlq_switch) THEN
        RAISE EXCEPTION 'saga store refused the insert (test)';
      END IF;
      RETURN NEW;
    END $$;
    CREATE TRIGGER dlq_refuse BEFORE INSERT ON saga_instances
      FOR EACH ROW WHEN (NEW.saga_type = 'execution') EXECUTE FUNCTION dlq_refuse();`);
});
afterAll(async () => {
  await db?.close();
  await server?.cleanup();
});

const hodei = (...args: string[]) => runCli(['--url', server.url, ...args]);

async function jsonOf<T>(...args: string[]): Promise<T> {
  const result = await hodei(...args);
  expect(result.stderr).toBe('');
  expect(result.code).toBe(0);
  return JSON.parse(result.stdout) as T;
}

const tries = async () =>
  Number((await db.query<{ n: string }>('SELECT last_value AS n FROM dlq_tries')).rows[0]?.n);

describe('hodei dlq', () => {
  it('lists, shows, replays once and discards once', async () => {
    const jobIds: string[] = [];
    for (const name of ['first', 'second']) {
      const { job } = await server.jobs.queueJob({ spec: { command: 'true', name } });
      jobIds.push(job?.id ?? '');
    }
    const listed = await waitFor(
      'two dead letters',
      async () => {
        const { deadLetters } = await jsonOf<{ deadLetters: DeadLetterJson[] }>(
          'dlq',
          'list',
          '--json',
        );
        return deadLetters.length === 2 ? deadLetters : undefined;
      },
      30_000,
      250,
    );
    for (const d of listed) {
      expect(d).toMatchObject({
        state: 'PENDING',
        consumer: expect.stringMatching(/^saga-processor-/) as string,
        eventType: 'JobQueued',
        deliveryCount: 3,
        replayCount: 0,
        replayedAt: null,
        discardedAt: null,
      });
      expect(d.error).toMatch(/saga store refused the insert \(test\)/);
    }
    const table = await hodei('dlq', 'list');
    expect(table.code).toBe(0);
    expect(table.stdout).toMatch(/^ID\s+STATE\s+CONSUMER\s+EVENT\s+DELIVERIES\s+FAILED\s+ERROR$/m);
    for (const d of listed) {
      expect(table.stdout).toMatch(
        new RegExp(`^${d.id}\\s+PENDING\\s+${d.consumer}\\s+JobQueued\\s+3\\s`, 'm'),
      );
    }

    // show: the error and the stored event, as text and as JSON.
    const [target, other] = listed as [DeadLetterJson, DeadLetterJson];
    const shown = await jsonOf<
      DeadLetterJson & { headers: Record<string, string>; payload: string }
    >('dlq', 'show', String(target.id), '--json');
    const envelope = JSON.parse(shown.payload) as { eventId: string; payload: { jobId: string } };
    expect(envelope.eventId).toBe(target.eventId);
    expect(jobIds).toContain(envelope.payload.jobId);
    expect(shown.headers['x-event-type']).toBe('JobQueued');
    const text = await hodei('dlq', 'show', String(target.id));
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(new RegExp(`^id: +${target.id}$`, 'm'));
    expect(text.stdout).toMatch(/^error: +saga store refused the insert \(test\)/m);
    expect(text.stdout).toMatch(/^payload:\n\{\n {2}"eventId": /m);
    expect(text.stdout).toContain(`"jobId": "${envelope.payload.jobId}"`);

    // replay after the fix: handled once, and only once.
    await db.query('UPDATE dlq_switch SET broken = false');
    // Each JobQueued was tried once in the server that queued it (local delivery), then
    // HODEI_MAX_DELIVER (3) times from the bus; deliveries handled together try their sagas as
    // one insert first, then one by one (decision 0020): at most one more try per round.
    const tried = await tries();
    expect(tried).toBeGreaterThanOrEqual(2 + 6);
    expect(tried).toBeLessThanOrEqual(2 + 6 + 3);
    const replay = await hodei('dlq', 'replay', String(target.id));
    expect(replay.stderr).toBe('');
    expect(replay.code).toBe(0);
    expect(replay.stdout).toBe(
      `dead letter ${target.id} replayed: JobQueued ${target.eventId} published again for ${target.consumer}\n`,
    );
    const sagaId = executionSagaId(envelope.payload.jobId, 1);
    await waitFor('the replayed job saga', async () => {
      const rows = await db.query('SELECT 1 FROM saga_instances WHERE id = $1', [sagaId]);
      return rows.rows.length === 1;
    });
    const again = await hodei('dlq', 'replay', String(target.id));
    expect(again.code).toBe(1);
    expect(again.stdout).toBe('');
    expect(again.stderr).toMatch(
      new RegExp(
        `^hodei: dead letter ${target.id} was already replayed at \\S+; a dead letter is replayed or discarded once\\n$`,
      ),
    );
    await pause(QUIET_MS);
    expect(await tries()).toBe(tried + 1);

    // discard: out of the default list, kept with its reason.
    const discarded = await jsonOf<DeadLetterJson>(
      'dlq',
      'discard',
      String(other.id),
      '--reason',
      'not needed',
      '--json',
    );
    expect(discarded).toMatchObject({
      id: other.id,
      state: 'DISCARDED',
      discardReason: 'not needed',
    });
    const empty = await hodei('dlq', 'list');
    expect(empty).toMatchObject({ code: 0, stdout: 'no dead letters\n' });
    const all = await jsonOf<{ deadLetters: DeadLetterJson[]; nextPageToken: string }>(
      'dlq',
      'list',
      '--all',
      '--json',
    );
    expect(all.deadLetters.map((d) => [d.id, d.state]).sort()).toEqual(
      [
        [target.id, 'REPLAYED'],
        [other.id, 'DISCARDED'],
      ].sort(),
    );
    expect(all.nextPageToken).toBe('');
    const onlyDiscarded = await jsonOf<{ deadLetters: DeadLetterJson[] }>(
      'dlq',
      'list',
      '--state',
      'discarded',
      '--consumer',
      other.consumer,
      '--json',
    );
    expect(onlyDiscarded.deadLetters.map((d) => d.id)).toEqual([other.id]);
    const replayDiscarded = await hodei('dlq', 'replay', String(other.id));
    expect(replayDiscarded.code).toBe(1);
    expect(replayDiscarded.stderr).toMatch(/was already discarded at/);
    const metrics = await (await fetch(`${server.url}/metrics`)).text();
    expect(metrics).toMatch(/^hodei_failed_events 0$/m);
  });

  it('pages with --limit and --page-token', async () => {
    const first = await jsonOf<{ deadLetters: DeadLetterJson[]; nextPageToken: string }>(
      'dlq',
      'list',
      '--all',
      '--limit',
      '1',
      '--json',
    );
    expect(first.deadLetters).toHaveLength(1);
    expect(first.nextPageToken).not.toBe('');
    const second = await jsonOf<{ deadLetters: DeadLetterJson[]; nextPageToken: string }>(
      'dlq',
      'list',
      '--all',
      '--limit',
      '1',
      '--page-token',
      first.nextPageToken,
      '--json',
    );
    expect(second.deadLetters).toHaveLength(1);
    expect(second.deadLetters[0]?.id).toBeLessThan(first.deadLetters[0]?.id ?? 0);
    const text = await hodei('dlq', 'list', '--all', '--limit', '1');
    expect(text.stderr).toBe(`hodei: more: --page-token ${first.nextPageToken}\n`);
  });

  it('an unknown id is one sentence, exit 1', async () => {
    const missing = await hodei('dlq', 'show', '987654321');
    expect(missing).toMatchObject({
      code: 1,
      stdout: '',
      stderr: 'hodei: dead letter 987654321 not found\n',
    });
  });
});
