// OpsService's dead-letter calls against a real control plane (in this process; JetStream and the
// table bus, on PostgreSQL). The dead letters are real: a trigger makes the saga store refuse new
// execution sagas, so the server's own consumer fails every JobQueued HODEI_MAX_DELIVER (3) times
// and dead-letters it. Once the trigger lets inserts through, a replay starts the job's saga, and
// a sequence the trigger bumps on every try (rolled-back tries too) counts how often the consumer
// handled the event.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Code, createClient, type Client } from '@connectrpc/connect';
import { createGrpcTransport } from '@connectrpc/connect-node';
import { waitFor } from '../helpers/procs.js';
import { startInProcessServer, type InProcessServer } from '../helpers/in-process-server.js';
import { JobService } from '../../src/gen/hodei/v1/job_pb.js';
import { DeadLetterState, OpsService, type DeadLetter } from '../../src/gen/hodei/v1/ops_pb.js';
import { executionSagaId } from '../../src/shared/ids.js';
import { rpcError } from '../helpers/rpc-error.js';

const QUIET_MS = 2500;
const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

const BREAK_SAGA_STORE = `
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
    FOR EACH ROW WHEN (NEW.saga_type = 'execution') EXECUTE FUNCTION dlq_refuse();`;

describe.each(['jetstream', 'tables'] as const)('dead letters over RPC on %s', (bus) => {
  let s: InProcessServer;
  let ops: Client<typeof OpsService>;
  let jobs: Client<typeof JobService>;

  beforeAll(async () => {
    s = await startInProcessServer({
      bus,
      env: { HODEI_MAX_DELIVER: '3', HODEI_ACK_WAIT: '1s' },
    });
    await s.t.db.query(BREAK_SAGA_STORE);
    const transport = createGrpcTransport({ baseUrl: s.server.url });
    ops = createClient(OpsService, transport);
    jobs = createClient(JobService, transport);
  });
  afterAll(async () => {
    await s?.stop();
  });

  const tries = async () =>
    Number((await s.t.db.query<{ n: string }>('SELECT last_value AS n FROM dlq_tries')).rows[0]?.n);
  const executionSagas = async (jobId: string) =>
    (
      await s.t.db.query<{ id: string }>('SELECT id FROM saga_instances WHERE id = $1', [
        executionSagaId(jobId, 1),
      ])
    ).rows.length;
  async function failedEventsGauge(): Promise<number> {
    const text = await (await fetch(`${s.server.url}/metrics`)).text();
    const match = /^hodei_failed_events (\d+)$/m.exec(text);
    if (!match?.[1]) throw new Error('no hodei_failed_events in /metrics');
    return Number(match[1]);
  }

  it('lists, shows, replays once and discards once', async () => {
    const queued: string[] = [];
    for (const name of ['a', 'b', 'c']) {
      const { job } = await jobs.queueJob({
        spec: { command: 'true', name },
        correlationId: `dlq-${name}`,
      });
      queued.push(job?.id ?? '');
    }
    const [jobA, jobB, jobC] = queued as [string, string, string];
    const pending = await waitFor(
      'three dead letters',
      async () => {
        const { deadLetters } = await ops.listDeadLetters({});
        return deadLetters.length === 3 ? deadLetters : undefined;
      },
      30_000,
    );
    // Each JobQueued was tried once in the process that queued it (local delivery), then
    // HODEI_MAX_DELIVER (3) times from the bus; deliveries handled together try their sagas as
    // one insert first, then one by one (decision 0020): at most one more try per round.
    const tried = await tries();
    expect(tried).toBeGreaterThanOrEqual(3 + 9);
    expect(tried).toBeLessThanOrEqual(3 + 9 + 3);
    const byJob = new Map<string, DeadLetter>();
    for (const d of pending) {
      const { deadLetter } = await ops.getDeadLetter({ id: d.id });
      const envelope = JSON.parse(deadLetter?.payload ?? '') as {
        eventId: string;
        type: string;
        payload: { jobId: string };
      };
      expect(envelope).toMatchObject({ eventId: d.eventId, type: 'JobQueued' });
      expect(deadLetter?.headers['x-correlation-id']).toBe(d.correlationId);
      expect(deadLetter?.error).toBe(d.error);
      byJob.set(envelope.payload.jobId, d);
    }
    const a = byJob.get(jobA) as DeadLetter;
    const b = byJob.get(jobB) as DeadLetter;
    const c = byJob.get(jobC) as DeadLetter;
    for (const d of [a, b, c]) {
      expect(d).toMatchObject({
        consumer: expect.stringMatching(/^tapi-/) as string,
        eventType: 'JobQueued',
        deliveryCount: 3,
        state: DeadLetterState.PENDING,
        replayCount: 0,
        payload: '',
      });
      expect(d.error).toMatch(/saga store refused the insert \(test\)/);
    }
    expect(a.correlationId).toBe('dlq-a');
    // Newest first (the consumer handles events concurrently, so not in queueing order), in
    // pages, and by consumer.
    const newestFirst = (ids: bigint[]) => [...ids].sort((x, y) => (x > y ? -1 : x < y ? 1 : 0));
    const ids = pending.map((d) => d.id);
    expect(ids).toEqual(newestFirst([a.id, b.id, c.id]));
    const first = await ops.listDeadLetters({ pageSize: 2 });
    expect(first.deadLetters.map((d) => d.id)).toEqual(ids.slice(0, 2));
    expect(first.nextPageToken).not.toBe('');
    const second = await ops.listDeadLetters({ pageSize: 2, pageToken: first.nextPageToken });
    expect(second.deadLetters.map((d) => d.id)).toEqual(ids.slice(2));
    expect(second.nextPageToken).toBe('');
    expect((await ops.listDeadLetters({ consumer: a.consumer })).deadLetters).toHaveLength(3);
    expect((await ops.listDeadLetters({ consumer: 'nobody' })).deadLetters).toEqual([]);
    expect(await failedEventsGauge()).toBe(3);

    // The cause is fixed: the replay is handled once and starts the job's saga.
    await s.t.db.query('UPDATE dlq_switch SET broken = false');
    const replayed = await ops.replayDeadLetter({ id: a.id });
    expect(replayed.deadLetter).toMatchObject({
      id: a.id,
      state: DeadLetterState.REPLAYED,
      replayCount: 1,
    });
    expect(replayed.messageId).not.toBe(a.eventId);
    await waitFor('the execution saga of job a', async () => (await executionSagas(jobA)) === 1);
    await pause(QUIET_MS);
    expect(await tries()).toBe(tried + 1);
    expect(await executionSagas(jobA)).toBe(1);
    expect(await failedEventsGauge()).toBe(2);

    const twice = await rpcError(ops.replayDeadLetter({ id: a.id }));
    expect(twice.code).toBe(Code.FailedPrecondition);
    expect(twice.rawMessage).toMatch(
      new RegExp(
        `^dead letter ${a.id} was already replayed at .*; a dead letter is replayed or discarded once$`,
      ),
    );
    await pause(QUIET_MS);
    expect(await tries()).toBe(tried + 1);

    // Discard: kept with its reason, out of the default list and the gauge, never replayed.
    const discarded = await ops.discardDeadLetter({ id: b.id, reason: 'job b is obsolete' });
    expect(discarded.deadLetter).toMatchObject({
      state: DeadLetterState.DISCARDED,
      discardReason: 'job b is obsolete',
    });
    expect((await ops.listDeadLetters({})).deadLetters.map((d) => d.id)).toEqual([c.id]);
    const gone = await ops.listDeadLetters({ states: [DeadLetterState.DISCARDED] });
    expect(gone.deadLetters.map((d) => [d.id, d.discardReason])).toEqual([
      [b.id, 'job b is obsolete'],
    ]);
    const done = await ops.listDeadLetters({
      states: [DeadLetterState.REPLAYED, DeadLetterState.DISCARDED],
    });
    expect(done.deadLetters.map((d) => d.id)).toEqual(newestFirst([a.id, b.id]));
    expect(await failedEventsGauge()).toBe(1);
    const replayDiscarded = await rpcError(ops.replayDeadLetter({ id: b.id }));
    expect(replayDiscarded.code).toBe(Code.FailedPrecondition);
    expect(replayDiscarded.rawMessage).toMatch(/was already discarded at/);
    expect((await rpcError(ops.discardDeadLetter({ id: b.id }))).code).toBe(
      Code.FailedPrecondition,
    );
    await pause(QUIET_MS);
    expect(await executionSagas(jobB)).toBe(0);
    expect(await tries()).toBe(tried + 1);
  });

  it('refuses bad input naming the field, and unknown ids with NOT_FOUND', async () => {
    const missing = await rpcError(ops.replayDeadLetter({ id: 987_654_321n }));
    expect(missing.code).toBe(Code.NotFound);
    expect(missing.rawMessage).toBe('dead letter 987654321 not found');
    expect((await rpcError(ops.getDeadLetter({ id: 987_654_321n }))).code).toBe(Code.NotFound);
    for (const [call, field] of [
      [() => ops.getDeadLetter({ id: 0n }), 'id'],
      [() => ops.replayDeadLetter({ id: -4n }), 'id'],
      [() => ops.discardDeadLetter({ id: 1n, reason: 'x'.repeat(1001) }), 'reason'],
      [() => ops.listDeadLetters({ pageSize: 501 }), 'page_size'],
      [() => ops.listDeadLetters({ pageToken: 'not-a-token' }), 'page_token'],
      [() => ops.listDeadLetters({ states: [42 as DeadLetterState] }), 'states'],
    ] as const) {
      const error = await rpcError(call());
      expect(error.code).toBe(Code.InvalidArgument);
      expect(error.rawMessage).toMatch(new RegExp(`^${field}: `));
    }
  });
});
