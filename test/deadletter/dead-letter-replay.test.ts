// Dead-letter replay and discard on every bus and database: JetStream (on PostgreSQL), the table
// bus on PostgreSQL and the table bus on PGlite. Dead letters are made the real way (a consumer
// whose handler fails max_deliver times), then replayed through the dead-letter operations after
// the cause is fixed. Replays happen seconds after the original publish, inside JetStream's 2 min
// duplicate window and after the table bus stored the original id for good: a replay under the
// original message id would never be delivered, and these tests would time out.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { createTestDatabase } from '../helpers/db.js';
import { NATS_URL, deleteStream } from '../helpers/env.js';
import { waitFor } from '../helpers/procs.js';
import { jobQueuedMessage } from '../helpers/events.js';
import type { Bus } from '../../src/bus/bus.js';
import { CORRELATION_HEADER } from '../../src/bus/bus.js';
import type { Db } from '../../src/db/db.js';
import { createJetStreamBus } from '../../src/bus/jetstream/jetstream-bus.js';
import { createPostgresBus } from '../../src/bus/postgres/postgres-bus.js';
import { createPgliteDb } from '../../src/db/pglite/pglite-db.js';
import { migrate } from '../../src/db/migrate.js';
import { consumeEvents } from '../../src/events/consume-events.js';
import type { DeliveredEvent } from '../../src/events/catalog.js';
import { createDeadLetters, type DeadLetters } from '../../src/deadletter/dead-letters.js';
import { countFailedEvents, insertFailedEvent } from '../../src/deadletter/failed-events-sql.js';
import { RELAY_DEAD_LETTER_CONSUMER } from '../../src/deadletter/replay-message.js';
import { DeadLetterNotPendingError, NotFoundError } from '../../src/shared/errors.js';
import { silentLogger } from '../../src/shared/logger.js';
import { newId } from '../../src/shared/ids.js';

const MAX_DELIVER = 3;
/** Longer than the ack wait (500 ms) and the longest nak backoff (800 ms): a delivery still to
 * come would have come by now. */
const QUIET_MS = 2000;

interface Kind {
  db: Db;
  /** A bus of its own (JetStream: its own stream), with a subject prefix no other test uses. */
  openBus(): Promise<{ bus: Bus; prefix: string; close(): Promise<void> }>;
  drop(): Promise<void>;
}

const kinds: Record<string, () => Promise<Kind>> = {
  'jetstream on postgres': async () => {
    const t = await createTestDatabase();
    return {
      db: t.db,
      async openBus() {
        const suffix = randomBytes(4).toString('hex');
        const streamName = `TDLR_${suffix}`;
        const prefix = `tdlr${suffix}.events`;
        const bus = createJetStreamBus({ url: NATS_URL, streamName, subjectPrefix: prefix });
        await bus.setup();
        return {
          bus,
          prefix,
          async close() {
            await bus.close();
            await deleteStream(streamName);
          },
        };
      },
      drop: () => t.drop(),
    };
  },
  'postgres tables on postgres': async () => {
    const t = await createTestDatabase();
    return { db: t.db, openBus: () => tableBus(t.db), drop: () => t.drop() };
  },
  'postgres tables on pglite': async () => {
    const db = await createPgliteDb({});
    await migrate(db);
    return { db, openBus: () => tableBus(db), drop: () => db.close() };
  },
};

async function tableBus(db: Db) {
  const bus = createPostgresBus({ db });
  await bus.setup();
  const prefix = `tdlr${randomBytes(4).toString('hex')}.events`;
  return { bus, prefix, close: () => bus.close() };
}

/** Publishes a JobQueued event as the relay would; returns its event id. */
async function publishJobQueued(bus: Bus, prefix: string): Promise<string> {
  const message = jobQueuedMessage(prefix);
  await bus.publish([message]);
  return message.id;
}

/** A consumer that records the event id of every call and fails while `broken()` says so. */
async function recordingConsumer(
  db: Db,
  bus: Bus,
  prefix: string,
  durable: string,
  broken: () => boolean,
) {
  const calls: string[] = [];
  const sub = await consumeEvents(
    {
      bus,
      db,
      logger: silentLogger(),
      durable,
      filterSubject: `${prefix}.job.*`,
      ackWaitMs: 500,
      maxDeliver: MAX_DELIVER,
    },
    (event: DeliveredEvent) => {
      calls.push(event.eventId);
      return broken() ? Promise.reject(new Error('downstream is broken')) : Promise.resolve();
    },
  );
  return { calls, stop: () => sub.stop() };
}

async function deadLetterOf(deadLetters: DeadLetters, durable: string) {
  return waitFor(
    `a dead letter of ${durable}`,
    async () =>
      (await deadLetters.list({ states: ['PENDING'], consumer: durable, limit: 10 }))
        .deadLetters[0],
    20_000,
  );
}

const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe.each(Object.keys(kinds))('dead letters on %s', (kindName) => {
  let kind: Kind;
  let deadLetters: DeadLetters;
  let bus: Bus;
  let prefix: string;
  let closeBus: () => Promise<void>;

  beforeAll(async () => {
    kind = await (kinds[kindName] as () => Promise<Kind>)();
  });
  afterAll(async () => {
    await kind?.drop();
  });

  async function freshBus(): Promise<void> {
    const opened = await kind.openBus();
    ({ bus, prefix } = opened);
    closeBus = () => opened.close();
    deadLetters = createDeadLetters({ db: kind.db, bus, logger: silentLogger() });
  }

  it('a dead letter replayed after the fix is handled once, by the consumer that failed it only', async () => {
    await freshBus();
    let broken = true;
    const failing = await recordingConsumer(kind.db, bus, prefix, 'fixable', () => broken);
    const healthy = await recordingConsumer(kind.db, bus, prefix, 'healthy', () => false);
    try {
      const eventId = await publishJobQueued(bus, prefix);
      const dead = await deadLetterOf(deadLetters, 'fixable');
      expect(dead).toMatchObject({
        eventId,
        consumer: 'fixable',
        eventType: 'JobQueued',
        error: 'downstream is broken',
        deliveryCount: MAX_DELIVER,
        state: 'PENDING',
        replayCount: 0,
      });
      expect(await countFailedEvents(kind.db)).toBe(1);
      await waitFor('the healthy consumer to handle it', () => healthy.calls.length === 1);

      broken = false;
      const replayed = await deadLetters.replay(dead.id);
      expect(replayed.deadLetter).toMatchObject({ id: dead.id, state: 'REPLAYED', replayCount: 1 });
      expect(replayed.messageId).not.toBe(eventId);
      await waitFor('the replay to be handled', () => failing.calls.length === MAX_DELIVER + 1);
      await pause(QUIET_MS);
      // Once more for the consumer that gave up, with the original event id; not at all for the
      // consumer that had handled it.
      expect(failing.calls).toEqual(Array<string>(MAX_DELIVER + 1).fill(eventId));
      expect(healthy.calls).toEqual([eventId]);
      expect(await countFailedEvents(kind.db)).toBe(0);
      expect(
        (await deadLetters.list({ states: ['PENDING'], consumer: '', limit: 10 })).deadLetters,
      ).toEqual([]);

      // Once only: a second replay and a discard after it are refused, and publish nothing.
      const again = await deadLetters.replay(dead.id).catch((e: unknown) => e);
      expect(again).toBeInstanceOf(DeadLetterNotPendingError);
      expect((again as Error).message).toMatch(
        new RegExp(`^dead letter ${dead.id} was already replayed at .*replayed or discarded once`),
      );
      await expect(deadLetters.discard(dead.id, 'late')).rejects.toBeInstanceOf(
        DeadLetterNotPendingError,
      );
      await pause(QUIET_MS);
      expect(failing.calls).toHaveLength(MAX_DELIVER + 1);
      expect((await deadLetters.get(dead.id)).state).toBe('REPLAYED');
    } finally {
      await failing.stop();
      await healthy.stop();
      await closeBus();
    }
  });

  it('a replay that fails again is the same dead letter, PENDING again and replayable once more', async () => {
    await freshBus();
    const failing = await recordingConsumer(kind.db, bus, prefix, 'still-broken', () => true);
    try {
      const eventId = await publishJobQueued(bus, prefix);
      const dead = await deadLetterOf(deadLetters, 'still-broken');
      const first = await deadLetters.replay(dead.id);
      const back = await deadLetterOf(deadLetters, 'still-broken');
      expect(back).toMatchObject({
        id: dead.id,
        eventId,
        state: 'PENDING',
        replayCount: 1,
        deliveryCount: MAX_DELIVER,
      });
      expect(failing.calls).toEqual(Array<string>(2 * MAX_DELIVER).fill(eventId));
      // The stored message is the original one, not the replay's.
      const stored = await deadLetters.get(dead.id);
      expect(Object.keys(stored.headers).filter((h) => h.startsWith('x-hodei-replay'))).toEqual([]);
      const second = await deadLetters.replay(dead.id);
      expect(second.messageId).not.toBe(first.messageId);
      await waitFor('the second replay', () => failing.calls.length === 3 * MAX_DELIVER);
    } finally {
      await failing.stop();
      await closeBus();
    }
  });

  it('an event the relay dead-lettered reaches every consumer once when replayed', async () => {
    await freshBus();
    const a = await recordingConsumer(kind.db, bus, prefix, 'reader-a', () => false);
    const b = await recordingConsumer(kind.db, bus, prefix, 'reader-b', () => false);
    try {
      const message = jobQueuedMessage(prefix);
      await insertFailedEvent(kind.db, {
        eventId: message.id,
        consumer: RELAY_DEAD_LETTER_CONSUMER,
        subject: message.subject,
        correlationId: message.headers[CORRELATION_HEADER] ?? '',
        headers: message.headers,
        payload: new TextDecoder().decode(message.data),
        error: "'payload' max_payload size exceeded",
        deliveryCount: 5,
      });
      const dead = await deadLetterOf(deadLetters, RELAY_DEAD_LETTER_CONSUMER);
      await deadLetters.replay(dead.id);
      await waitFor('both consumers', () => a.calls.length === 1 && b.calls.length === 1);
      await pause(QUIET_MS);
      expect(a.calls).toEqual([message.id]);
      expect(b.calls).toEqual([message.id]);
    } finally {
      await a.stop();
      await b.stop();
      await closeBus();
    }
  });

  it('a discarded dead letter is kept but hidden and uncounted, and cannot be replayed', async () => {
    await freshBus();
    const failing = await recordingConsumer(kind.db, bus, prefix, 'to-discard', () => true);
    try {
      await publishJobQueued(bus, prefix);
      const dead = await deadLetterOf(deadLetters, 'to-discard');
      const before = await countFailedEvents(kind.db);
      const discarded = await deadLetters.discard(dead.id, 'obsolete job');
      expect(discarded).toMatchObject({ state: 'DISCARDED', discardReason: 'obsolete job' });
      expect(await countFailedEvents(kind.db)).toBe(before - 1);
      const pending = await deadLetters.list({ states: ['PENDING'], consumer: '', limit: 50 });
      expect(pending.deadLetters.map((d) => d.id)).not.toContain(dead.id);
      const gone = await deadLetters.list({
        states: ['DISCARDED'],
        consumer: 'to-discard',
        limit: 50,
      });
      expect(gone.deadLetters.map((d) => d.id)).toEqual([dead.id]);

      const replay = await deadLetters.replay(dead.id).catch((e: unknown) => e);
      expect(replay).toBeInstanceOf(DeadLetterNotPendingError);
      expect((replay as Error).message).toMatch(/was already discarded at/);
      await expect(deadLetters.discard(dead.id, 'again')).rejects.toBeInstanceOf(
        DeadLetterNotPendingError,
      );
      await pause(QUIET_MS);
      expect(failing.calls).toHaveLength(MAX_DELIVER);
      await expect(deadLetters.replay(987_654_321)).rejects.toBeInstanceOf(NotFoundError);
      await expect(deadLetters.get(987_654_321)).rejects.toThrow('dead letter 987654321 not found');
    } finally {
      await failing.stop();
      await closeBus();
    }
  });

  it('lists newest first in pages and by consumer', async () => {
    await freshBus();
    const insert = (consumer: string) =>
      insertFailedEvent(kind.db, {
        eventId: newId(),
        consumer,
        subject: `${prefix}.job.JobQueued`,
        correlationId: '',
        headers: {},
        payload: '{}',
        error: 'x',
        deliveryCount: 3,
      });
    for (let i = 0; i < 5; i++) await insert('pager-1');
    await insert('pager-2');
    const all = await deadLetters.list({ states: ['PENDING'], consumer: 'pager-1', limit: 50 });
    expect(all.deadLetters).toHaveLength(5);
    expect(all.nextBeforeId).toBeUndefined();
    const ids = all.deadLetters.map((d) => d.id);
    expect(ids).toEqual([...ids].sort((x, y) => y - x));

    const seen: number[] = [];
    let beforeId: number | undefined;
    let pages = 0;
    do {
      const page = await deadLetters.list({
        states: ['PENDING'],
        consumer: 'pager-1',
        beforeId,
        limit: 2,
      });
      seen.push(...page.deadLetters.map((d) => d.id));
      beforeId = page.nextBeforeId;
      pages += 1;
    } while (beforeId !== undefined);
    expect(seen).toEqual(ids);
    expect(pages).toBe(3);
    const other = await deadLetters.list({ states: ['PENDING'], consumer: 'pager-2', limit: 50 });
    expect(other.deadLetters.map((d) => d.consumer)).toEqual(['pager-2']);
    await closeBus();
  });
});
