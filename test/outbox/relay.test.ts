// The outbox relay against real PostgreSQL and NATS JetStream: several relays at once store each
// event once; and on embedded PGlite the relay publishes to the table bus inside its claim
// transaction without deadlocking its single connection.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { connect } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { NATS_URL, deleteStream } from '../helpers/env.js';
import { waitFor } from '../helpers/procs.js';
import { queuedEvents } from '../helpers/events.js';
import { createJetStreamBus } from '../../src/bus/jetstream/jetstream-bus.js';
import { createPostgresBus } from '../../src/bus/postgres/postgres-bus.js';
import { createPgliteDb } from '../../src/db/pglite/pglite-db.js';
import { migrate } from '../../src/db/migrate.js';
import type { Db } from '../../src/db/db.js';
import { createRelay } from '../../src/outbox/relay.js';
import { createOutboxWriter } from '../../src/outbox/outbox-writer.js';
import { silentLogger } from '../../src/shared/logger.js';
import type { NewEvent } from '../../src/events/catalog.js';

let t: TestDatabase;
const suffix = randomBytes(4).toString('hex');
const streamName = `TRELAY_${suffix}`;
const prefix = `trelay${suffix}.events`;

beforeAll(async () => {
  t = await createTestDatabase();
});
afterAll(async () => {
  await t.drop();
  await deleteStream(streamName);
});

async function appendInBatches(db: Db, subjectPrefix: string, events: NewEvent[], size: number) {
  const outbox = createOutboxWriter({ subjectPrefix });
  for (let i = 0; i < events.length; i += size) {
    await db.transaction((tx) => outbox.append(tx, events.slice(i, i + size)));
  }
}

async function unpublished(db: Db): Promise<number> {
  const r = await db.query<{ n: number }>(
    'SELECT count(*)::int AS n FROM outbox_events WHERE published_at IS NULL',
  );
  return r.rows[0]?.n ?? -1;
}

describe('outbox relay', () => {
  it('three concurrent relays publish 1,000 events, each stored once in the stream', async () => {
    const buses = [1, 2, 3].map(() =>
      createJetStreamBus({ url: NATS_URL, streamName, subjectPrefix: prefix }),
    );
    await buses[0]?.setup();
    // Each relay has its own pool, as three server replicas would; small batches so they race.
    const published = [0, 0, 0];
    const relays = buses.map((bus, i) =>
      createRelay({
        db: t.open(),
        bus,
        logger: silentLogger(),
        batchSize: 50,
        onPublished: (n) => (published[i] = (published[i] ?? 0) + n),
      }),
    );
    await Promise.all(relays.map((r) => r.start()));
    // Woken by NOTIFY as the events commit, while the other relays hold rows.
    await appendInBatches(t.db, prefix, queuedEvents(1000), 100);
    await waitFor('every outbox row published', async () =>
      (await unpublished(t.db)) === 0 ? true : undefined,
    );
    await Promise.all(relays.map((r) => r.stop()));
    await Promise.all(buses.map((b) => b.close()));

    const nc = await connect({ servers: NATS_URL });
    const info = await (await jetstreamManager(nc)).streams.info(streamName);
    await nc.close();
    expect(info.state.messages).toBe(1000);
    // No row was published by two relays: the claim skips rows another relay holds.
    expect(published.reduce((a, b) => a + b, 0)).toBe(1000);
    expect(await unpublished(t.db)).toBe(0);
    const total = await t.db.query<{ n: number }>(
      'SELECT count(*)::int AS n FROM outbox_events WHERE published_at IS NOT NULL',
    );
    expect(total.rows[0]?.n).toBe(1000);
  });

  it('a failed publish leaves the batch unpublished with its error, and a later round sends it', async () => {
    // Subjects no stream covers yet: JetStream refuses the publish.
    const orphanPrefix = `trelayorphan${suffix}.events`;
    const orphanStream = `TRELAYORPHAN_${suffix}`;
    const events = queuedEvents(5);
    await appendInBatches(t.db, orphanPrefix, events, 5);
    const ids = events.map((e) => e.aggregateId);
    const rows = async () =>
      (
        await t.db.query<{ published: boolean; delivery_attempts: number; last_error: string }>(
          `SELECT published_at IS NOT NULL AS published, delivery_attempts, last_error
           FROM outbox_events WHERE aggregate_id = ANY($1::text[])`,
          [ids],
        )
      ).rows;
    const bus = createJetStreamBus({ url: NATS_URL, streamName, subjectPrefix: prefix });
    const relay = createRelay({ db: t.db, bus, logger: silentLogger() });
    await expect(relay.drain()).rejects.toThrow('publishing 5 events failed');
    await bus.close();
    const failed = await rows();
    expect(failed).toHaveLength(5);
    expect(
      failed.every((r) => !r.published && r.delivery_attempts === 1 && r.last_error !== ''),
    ).toBe(true);

    // Once a stream covers them, the next round publishes the same rows.
    const covering = createJetStreamBus({
      url: NATS_URL,
      streamName: orphanStream,
      subjectPrefix: orphanPrefix,
    });
    try {
      await covering.setup();
      expect(await createRelay({ db: t.db, bus: covering, logger: silentLogger() }).drain()).toBe(
        5,
      );
      expect((await rows()).every((r) => r.published)).toBe(true);
    } finally {
      await covering.close();
      await deleteStream(orphanStream);
    }
  });

  it('on PGlite publishes to the table bus inside its claim transaction (one connection)', async () => {
    const db = await createPgliteDb({});
    try {
      await migrate(db);
      const bus = createPostgresBus({ db });
      await appendInBatches(db, 'hodei.events', queuedEvents(300), 100);
      const relay = createRelay({ db, bus, logger: silentLogger(), batchSize: 64 });
      expect(await relay.drain()).toBe(300);
      const stored = await db.query<{ n: number }>('SELECT count(*)::int AS n FROM bus_messages');
      expect(stored.rows[0]?.n).toBe(300);
      expect(await unpublished(db)).toBe(0);
      await bus.close();
    } finally {
      await db.close();
    }
  });
});
