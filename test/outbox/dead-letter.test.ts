// Dead letters end to end on both buses: outbox → relay → bus → consumeEvents with a handler that
// always fails. After max_deliver (3) deliveries the event is in failed_events with the error and
// its delivery count, and it is not delivered again.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { NATS_URL, deleteStream } from '../helpers/env.js';
import { waitFor } from '../helpers/procs.js';
import type { Bus } from '../../src/bus/bus.js';
import { createJetStreamBus } from '../../src/bus/jetstream/jetstream-bus.js';
import { createPostgresBus } from '../../src/bus/postgres/postgres-bus.js';
import { createRelay } from '../../src/outbox/relay.js';
import { createOutboxWriter } from '../../src/outbox/outbox-writer.js';
import { consumeEvents } from '../../src/events/consume-events.js';
import { silentLogger } from '../../src/shared/logger.js';
import { newId } from '../../src/shared/ids.js';

let t: TestDatabase;
const suffix = randomBytes(4).toString('hex');
const streamName = `TDLQ_${suffix}`;
const prefix = `tdlq${suffix}.events`;

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

describe.each(Object.keys(buses))('dead letters on %s', (kind) => {
  it('an event whose handler always throws lands in failed_events after 3 deliveries', async () => {
    const bus = (buses[kind] as () => Bus)();
    await bus.setup();
    const durable = `always-fails-${kind.replace(/\W/g, '-')}`;
    const jobId = newId();
    const correlationId = `c-${jobId}`;
    const outbox = createOutboxWriter({ subjectPrefix: prefix });
    await t.db.transaction((tx) =>
      outbox.append(tx, [
        { type: 'JobQueued', aggregateId: jobId, correlationId, payload: { jobId, attempt: 1 } },
      ]),
    );
    await createRelay({ db: t.db, bus, logger: silentLogger() }).drain();

    const calls: string[] = [];
    const sub = await consumeEvents(
      {
        bus,
        db: t.db,
        logger: silentLogger(),
        durable,
        filterSubject: `${prefix}.job.*`,
        ackWaitMs: 500,
        maxDeliver: 3,
      },
      (event) => {
        calls.push(event.eventId);
        return Promise.reject(new Error('handler exploded'));
      },
    );
    const row = await waitFor(
      'the dead letter',
      async () =>
        (
          await t.db.query<{ error: string; delivery_count: number; correlation_id: string }>(
            'SELECT error, delivery_count, correlation_id FROM failed_events WHERE consumer = $1',
            [durable],
          )
        ).rows[0],
      15_000,
    );
    // Longer than the ack wait and the nak backoff: a 4th delivery would have come by now.
    await new Promise((r) => setTimeout(r, 2000));
    await sub.stop();
    await bus.close();
    expect(row).toEqual({
      error: 'handler exploded',
      delivery_count: 3,
      correlation_id: correlationId,
    });
    expect(calls).toHaveLength(3);
    expect(new Set(calls).size).toBe(1);
  });
});
