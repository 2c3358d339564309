// No poison message stalls a consumer either (issue 8, item 2), on both buses: among ordinary
// events, one whose handler always fails and one that is not an event at all (bytes with a NUL
// and invalid UTF-8, as a foreign publisher could send) land in failed_events — the first after
// max_deliver deliveries, the second at once — while every ordinary event is handled once.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { NATS_URL, deleteStream } from '../helpers/env.js';
import { waitFor } from '../helpers/procs.js';
import { jobQueuedMessage } from '../helpers/events.js';
import type { Bus, BusMessage } from '../../src/bus/bus.js';
import { CORRELATION_HEADER } from '../../src/bus/bus.js';
import { createJetStreamBus } from '../../src/bus/jetstream/jetstream-bus.js';
import { createPostgresBus } from '../../src/bus/postgres/postgres-bus.js';
import { consumeEvents } from '../../src/events/consume-events.js';
import { subjectFor } from '../../src/events/catalog.js';
import { silentLogger } from '../../src/shared/logger.js';
import { newId } from '../../src/shared/ids.js';

let t: TestDatabase;
const suffix = randomBytes(4).toString('hex');
const streamName = `TCPOISON_${suffix}`;
const prefix = `tcpoison${suffix}.events`;

beforeAll(async () => {
  t = await createTestDatabase();
});
afterAll(async () => {
  await t.drop();
  await deleteStream(streamName);
});

const buses: Record<string, () => Bus> = {
  jetstream: () => createJetStreamBus({ url: NATS_URL, streamName, subjectPrefix: prefix }),
  'postgres tables': () => createPostgresBus({ db: t.db }),
};

describe.each(Object.keys(buses))('poison messages for a consumer on %s', (kind) => {
  it('are dead-lettered while every ordinary event is handled once', async () => {
    const bus = (buses[kind] as () => Bus)();
    await bus.setup();
    const durable = `poison-consumer-${kind.replace(/\W/g, '-')}`;
    const poisonJob = newId();
    const ordinary = Array.from({ length: 20 }, () => newId());
    const garbage: BusMessage = {
      id: newId(),
      subject: subjectFor(prefix, 'JobQueued'),
      data: new Uint8Array([0x7b, 0x00, 0xff, 0xfe, 0x22]),
      headers: { [CORRELATION_HEADER]: 'c-garbage' },
    };
    await bus.publish([
      ...ordinary.slice(0, 10).map((id) => jobQueuedMessage(prefix, id)),
      jobQueuedMessage(prefix, poisonJob),
      garbage,
      ...ordinary.slice(10).map((id) => jobQueuedMessage(prefix, id)),
    ]);

    const handled = new Map<string, number>();
    const sub = await consumeEvents(
      {
        bus,
        db: t.db,
        logger: silentLogger(),
        durable,
        filterSubject: `${prefix}.job.*`,
        ackWaitMs: 5_000,
        maxDeliver: 3,
        concurrency: 4,
      },
      (event) => {
        const jobId = String(event.payload.jobId);
        if (jobId === poisonJob) return Promise.reject(new Error('handler exploded'));
        handled.set(jobId, (handled.get(jobId) ?? 0) + 1);
        return Promise.resolve();
      },
    );
    try {
      const letters = await waitFor(
        'both dead letters',
        async () => {
          const rows = (
            await t.db.query<{ event_id: string; error: string; delivery_count: number }>(
              'SELECT event_id, error, delivery_count FROM failed_events WHERE consumer = $1 ORDER BY delivery_count',
              [durable],
            )
          ).rows;
          return rows.length >= 2 ? rows : undefined;
        },
        15_000,
      );
      expect(letters[0]).toMatchObject({ event_id: garbage.id, delivery_count: 1 });
      expect(letters[0]?.error).toMatch(/^undecodable event/);
      expect(letters[1]).toMatchObject({ error: 'handler exploded', delivery_count: 3 });
      await waitFor('every ordinary event handled', () =>
        handled.size === ordinary.length ? true : undefined,
      );
      await new Promise((r) => setTimeout(r, 500));
      expect([...handled.values()].every((n) => n === 1)).toBe(true);
      expect([...handled.keys()].sort()).toEqual([...ordinary].sort());
    } finally {
      await sub.stop();
      await bus.close();
    }
  });
});
