// No poison event can stall the relay (issue 8, item 2), on JetStream over PostgreSQL and on the
// table bus over PostgreSQL and PGlite. A poison event is an outbox row bigger than the bus takes
// (2 MiB; NATS's max_payload and the table bus's limit are 1 MiB), inserted directly since the
// writer bounds every event it writes. The events around it are published in the same rounds, it
// lands in failed_events (consumer outbox-relay) with the reason after the bounded tries, and the
// relay goes on. A bus that is away dead-letters nothing; the writer cuts oversized text.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { NATS_URL, deleteStream } from '../helpers/env.js';
import { waitFor } from '../helpers/procs.js';
import { queuedEvents } from '../helpers/events.js';
import { createAnyTestDatabase, type AnyTestDatabase, type DbKind } from '../helpers/databases.js';
import { DB_KINDS } from '../helpers/databases.js';
import type { Bus } from '../../src/bus/bus.js';
import type { Db } from '../../src/db/db.js';
import { createJetStreamBus } from '../../src/bus/jetstream/jetstream-bus.js';
import { createPostgresBus } from '../../src/bus/postgres/postgres-bus.js';
import { createRelay, type RelayOptions } from '../../src/outbox/relay.js';
import { createOutboxWriter } from '../../src/outbox/outbox-writer.js';
import { insertOutboxRows } from '../../src/outbox/outbox-sql.js';
import { subjectFor, type NewEvent } from '../../src/events/catalog.js';
import { silentLogger } from '../../src/shared/logger.js';
import { newId } from '../../src/shared/ids.js';

const MiB = 1024 * 1024;
const decoder = new TextDecoder();

/** Writes events through the outbox writer; returns their event ids in outbox order. */
async function append(db: Db, prefix: string, events: NewEvent[]): Promise<string[]> {
  await db.transaction((tx) => createOutboxWriter({ subjectPrefix: prefix }).append(tx, events));
  const ids = events.map((e) => e.aggregateId);
  const rows = await db.query<{ event_id: string }>(
    'SELECT event_id FROM outbox_events WHERE aggregate_id = ANY($1::text[]) ORDER BY seq',
    [ids],
  );
  return rows.rows.map((r) => r.event_id);
}

/** Inserts an outbox row as it is, past the writer's bounds; returns its event id. */
async function insertRaw(
  db: Db,
  row: { subject: string; payload: Record<string, unknown> },
): Promise<string> {
  const eventId = newId();
  const jobId = newId();
  await insertOutboxRows(db, [
    {
      eventId,
      eventType: 'JobFailed',
      subject: row.subject,
      aggregateType: 'job',
      aggregateId: jobId,
      correlationId: `poison-${jobId}`,
      traceparent: '',
      payload: row.payload,
    },
  ]);
  return eventId;
}

interface OutboxState {
  published: boolean;
  dead_lettered: boolean;
  delivery_attempts: number;
  last_error: string;
}

async function outboxState(db: Db, eventId: string): Promise<OutboxState | undefined> {
  const r = await db.query<OutboxState>(
    `SELECT published_at IS NOT NULL AS published, dead_lettered_at IS NOT NULL AS dead_lettered,
       delivery_attempts, last_error FROM outbox_events WHERE event_id = $1`,
    [eventId],
  );
  return r.rows[0];
}

async function deadLetters(db: Db) {
  const r = await db.query<{
    event_id: string;
    subject: string;
    correlation_id: string;
    error: string;
    delivery_count: number;
    payload: string;
  }>(
    `SELECT event_id, subject, correlation_id, error, delivery_count, payload FROM failed_events
     WHERE consumer = 'outbox-relay' ORDER BY id`,
  );
  return r.rows;
}

/** The event ids the bus stored under `prefix`, read back by a consumer of its own. */
async function storedEventIds(bus: Bus, prefix: string, expected: number): Promise<string[]> {
  const ids: string[] = [];
  const sub = await bus.consume(
    {
      durable: `poison-check-${randomBytes(3).toString('hex')}`,
      filterSubject: `${prefix}.>`,
      ackWaitMs: 30_000,
      maxDeliver: 1,
    },
    async (d) => {
      ids.push((JSON.parse(decoder.decode(d.data)) as { eventId: string }).eventId);
      await d.ack();
    },
  );
  try {
    await waitFor(`${expected} stored events`, () => (ids.length >= expected ? true : undefined));
    await new Promise((r) => setTimeout(r, 300));
  } finally {
    await sub.stop();
  }
  return ids;
}

const CASES: Array<{ name: string; db: DbKind; bus: 'jetstream' | 'tables' }> = [
  { name: 'JetStream over PostgreSQL', db: 'postgres', bus: 'jetstream' },
  ...DB_KINDS.map((db) => ({ name: `the table bus over ${db}`, db, bus: 'tables' as const })),
];

describe.each(CASES)('a poison event on $name', ({ db: dbKind, bus: busKind }) => {
  const suffix = randomBytes(4).toString('hex');
  const prefix = `tpoison${suffix}.events`;
  const streamName = `TPOISON_${suffix}`;
  let t: AnyTestDatabase;
  let bus: Bus;

  beforeAll(async () => {
    t = await createAnyTestDatabase(dbKind);
    bus =
      busKind === 'jetstream'
        ? createJetStreamBus({ url: NATS_URL, streamName, subjectPrefix: prefix })
        : createPostgresBus({ db: t.db });
    await bus.setup();
  });
  afterAll(async () => {
    await bus.close();
    await t.drop();
    if (busKind === 'jetstream') await deleteStream(streamName);
  });

  it('the events around it go out at once, it is dead-lettered after 3 tries, the relay goes on', async () => {
    const before = await append(t.db, prefix, queuedEvents(3));
    const poison = await insertRaw(t.db, {
      subject: subjectFor(prefix, 'JobFailed'),
      payload: { jobId: 'j', attempt: 1, error: 'x'.repeat(2 * MiB) },
    });
    // More than a batch behind it: the relay stalled on the first batch for ever.
    const after = await append(t.db, prefix, queuedEvents(20));
    let deadLettered = 0;
    const options: RelayOptions = {
      db: t.db,
      bus,
      logger: silentLogger(),
      batchSize: 4,
      maxAttempts: 3,
      onDeadLettered: (n) => (deadLettered += n),
    };

    // One pass publishes everything but the poison: it waits for its retry meanwhile.
    expect(await createRelay(options).drain()).toBe(23);
    const first = await outboxState(t.db, poison);
    expect(first?.published).toBe(false);
    expect(first?.delivery_attempts).toBeGreaterThanOrEqual(1);
    expect(first?.last_error).toMatch(/^too-large: /);

    const relay = createRelay(options);
    await relay.start();
    try {
      const [letter] = await waitFor('the poison in failed_events', async () => {
        const rows = await deadLetters(t.db);
        return rows.length > 0 ? rows : undefined;
      });
      expect(letter?.event_id).toBe(poison);
      expect(letter?.delivery_count).toBe(3);
      expect(letter?.error).toMatch(/^too-large: /);
      expect(letter?.subject).toBe(subjectFor(prefix, 'JobFailed'));
      expect(letter?.correlation_id).toMatch(/^poison-/);
      // The event as it would have gone out, for an operator to look at.
      expect(letter?.payload.length).toBeGreaterThan(2 * MiB);
      expect((JSON.parse(letter?.payload ?? '{}') as { eventId?: string }).eventId).toBe(poison);
      expect(deadLettered).toBe(1);
      expect(await outboxState(t.db, poison)).toMatchObject({
        published: false,
        dead_lettered: true,
        delivery_attempts: 3,
      });

      // The relay goes on: new events are published, the dead letter is not claimed again.
      const later = await append(t.db, prefix, queuedEvents(5));
      await waitFor('the later events published', async () => {
        const states = await Promise.all(later.map((id) => outboxState(t.db, id)));
        return states.every((s) => s?.published) ? true : undefined;
      });
      await new Promise((r) => setTimeout(r, 500));
      expect((await outboxState(t.db, poison))?.delivery_attempts).toBe(3);
      expect(await deadLetters(t.db)).toHaveLength(1);

      const stored = await storedEventIds(bus, prefix, 28);
      expect(stored.sort()).toEqual([...before, ...after, ...later].sort());
    } finally {
      await relay.stop();
    }
  });

  it('the writer cuts an oversized error to 4 KiB with a marker (and a NUL to U+FFFD)', async () => {
    const jobId = newId();
    const error = `working directory not found: /${'w'.repeat(MiB)}\0`;
    const outbox = createOutboxWriter({ subjectPrefix: prefix });
    await t.db.transaction((tx) =>
      outbox.append(tx, [
        {
          type: 'JobFailed',
          aggregateId: jobId,
          correlationId: `c-${jobId}`,
          payload: { jobId, attempt: 1, error },
        },
      ]),
    );
    const row = (
      await t.db.query<{ error: string; bytes: number }>(
        `SELECT payload->>'error' AS error, octet_length(payload::text) AS bytes
         FROM outbox_events WHERE aggregate_id = $1`,
        [jobId],
      )
    ).rows[0];
    expect(row?.error.startsWith('working directory not found: /www')).toBe(true);
    expect(row?.error).toMatch(/… \(\d+ bytes cut\)$/);
    expect(Buffer.byteLength(row?.error ?? '')).toBeLessThanOrEqual(4096);
    expect(row?.bytes).toBeLessThan(4096 + 200);
  });
});

describe('the relay on JetStream when the bus, not the event, is the problem', () => {
  const suffix = randomBytes(4).toString('hex');
  const prefix = `tpoisonaway${suffix}.events`;
  const streamName = `TPOISONAWAY_${suffix}`;
  let t: AnyTestDatabase;
  let bus: Bus;

  beforeAll(async () => {
    t = await createAnyTestDatabase('postgres');
    bus = createJetStreamBus({ url: NATS_URL, streamName, subjectPrefix: prefix });
    await bus.setup();
  });
  afterAll(async () => {
    await bus.close();
    await t.drop();
    await deleteStream(streamName);
  });

  it('an event no stream takes is retried with backoff, never dead-lettered, and holds nothing back', async () => {
    const orphan = await insertRaw(t.db, {
      subject: `tnostream${suffix}.events.job.JobFailed`,
      payload: { jobId: 'j', attempt: 1, error: 'no stream covers my subject' },
    });
    const others = await append(t.db, prefix, queuedEvents(6));
    const relay = createRelay({
      db: t.db,
      bus,
      logger: silentLogger(),
      batchSize: 4,
      maxAttempts: 2,
    });
    await relay.start();
    try {
      await waitFor('the others published', async () => {
        const states = await Promise.all(others.map((id) => outboxState(t.db, id)));
        return states.every((s) => s?.published) ? true : undefined;
      });
      // Well past maxAttempts: a bus that cannot take it now is not a reason to give up on it.
      await waitFor('five tries of the orphan', async () =>
        ((await outboxState(t.db, orphan))?.delivery_attempts ?? 0) >= 5 ? true : undefined,
      );
      expect(await outboxState(t.db, orphan)).toMatchObject({
        published: false,
        dead_lettered: false,
      });
      expect((await outboxState(t.db, orphan))?.last_error).toMatch(/^unavailable: /);
      expect(await deadLetters(t.db)).toEqual([]);
    } finally {
      await relay.stop();
      await t.db.query('DELETE FROM outbox_events WHERE event_id = $1', [orphan]);
    }
  });

  it('with NATS unreachable every round fails as a whole, nothing is dead-lettered, all go out later', async () => {
    const ids = await append(t.db, prefix, queuedEvents(3));
    const down = createJetStreamBus({
      url: 'nats://127.0.0.1:1',
      streamName,
      subjectPrefix: prefix,
    });
    const relay = createRelay({ db: t.db, bus: down, logger: silentLogger(), maxAttempts: 1 });
    for (let i = 0; i < 4; i += 1) {
      await expect(relay.drain()).rejects.toThrow(/publishing 3 events failed/);
    }
    await down.close();
    const states = await Promise.all(ids.map((id) => outboxState(t.db, id)));
    expect(states.map((s) => [s?.published, s?.dead_lettered, s?.delivery_attempts])).toEqual([
      [false, false, 4],
      [false, false, 4],
      [false, false, 4],
    ]);
    expect(await deadLetters(t.db)).toEqual([]);
    expect(await createRelay({ db: t.db, bus, logger: silentLogger() }).drain()).toBe(3);
  });
});
