// The outbox relay and the dead-letter path against real PostgreSQL and NATS JetStream.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { connect } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { NATS_URL } from '../helpers/env.js';
import { waitFor } from '../helpers/procs.js';
import { createJetStreamBus } from '../../src/bus/jetstream/jetstream-bus.js';
import { createPostgresBus } from '../../src/bus/postgres/postgres-bus.js';
import { createRelay } from '../../src/outbox/relay.js';
import { createOutboxWriter } from '../../src/outbox/outbox-writer.js';
import { consumeEvents } from '../../src/events/consume-events.js';
import { silentLogger } from '../../src/shared/logger.js';
import { newId } from '../../src/shared/ids.js';
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
  const nc = await connect({ servers: NATS_URL });
  await (await jetstreamManager(nc)).streams.delete(streamName).catch(() => false);
  await nc.close();
});

function queued(n: number): NewEvent[] {
  return Array.from({ length: n }, () => {
    const jobId = newId();
    return {
      type: 'JobQueued',
      aggregateId: jobId,
      correlationId: `c-${jobId}`,
      payload: { jobId, attempt: 1 },
    };
  });
}

describe('outbox relay', () => {
  it('three concurrent relays publish 1,000 events, each stored once in the stream', async () => {
    const outbox = createOutboxWriter({ subjectPrefix: prefix });
    const events = queued(1000);
    for (let i = 0; i < events.length; i += 100) {
      await t.db.transaction((tx) => outbox.append(tx, events.slice(i, i + 100)));
    }
    const buses = [1, 2, 3].map(() =>
      createJetStreamBus({ url: NATS_URL, streamName, subjectPrefix: prefix }),
    );
    await buses[0]?.setup();
    const relays = buses.map((bus) =>
      createRelay({ db: t.open(), bus, logger: silentLogger(), batchSize: 50 }),
    );
    await Promise.all(relays.map((r) => r.drain()));
    await Promise.all(buses.map((b) => b.close()));

    const nc = await connect({ servers: NATS_URL });
    const info = await (await jetstreamManager(nc)).streams.info(streamName);
    await nc.close();
    expect(info.state.messages).toBe(1000);
    const pending = await t.db.query<{ n: number }>(
      'SELECT count(*)::int AS n FROM outbox_events WHERE published_at IS NULL',
    );
    expect(pending.rows[0]?.n).toBe(0);
  });

  it('publishes inside its claim transaction on the table bus: a rollback publishes nothing', async () => {
    const bus = createPostgresBus({ db: t.db });
    const id = newId();
    await expect(
      t.db.transaction(async (tx) => {
        await bus.publish(
          [{ id, subject: 'hodei.events.job.JobQueued', data: new Uint8Array([1]), headers: {} }],
          { tx },
        );
        throw new Error('rolled back');
      }),
    ).rejects.toThrow('rolled back');
    const rows = await t.db.query<{ n: number }>(
      'SELECT count(*)::int AS n FROM bus_messages WHERE id = $1',
      [id],
    );
    expect(rows.rows[0]?.n).toBe(0);
    await bus.close();
  });
});

describe('dead letters', () => {
  it('a failing consumer sends the event to failed_events after 3 deliveries', async () => {
    const bus = createPostgresBus({ db: t.db });
    const outbox = createOutboxWriter({ subjectPrefix: 'hodei.events' });
    const [event] = queued(1);
    if (!event) throw new Error('no event');
    await t.db.transaction((tx) => outbox.append(tx, [event]));
    await createRelay({ db: t.db, bus, logger: silentLogger() }).drain();
    let calls = 0;
    const sub = await consumeEvents(
      {
        bus,
        db: t.db,
        logger: silentLogger(),
        durable: 'always-fails',
        filterSubject: 'hodei.events.>',
        ackWaitMs: 1000,
        maxDeliver: 3,
      },
      () => {
        calls += 1;
        return Promise.reject(new Error('handler exploded'));
      },
    );
    const row = await waitFor(
      'the dead letter',
      async () =>
        (
          await t.db.query<{ error: string; delivery_count: number; correlation_id: string }>(
            "SELECT error, delivery_count, correlation_id FROM failed_events WHERE consumer = 'always-fails'",
          )
        ).rows[0],
      15_000,
    );
    await new Promise((r) => setTimeout(r, 1500));
    await sub.stop();
    await bus.close();
    expect(row).toEqual({
      error: 'handler exploded',
      delivery_count: 3,
      correlation_id: event.correlationId,
    });
    expect(calls).toBe(3);
  });
});
