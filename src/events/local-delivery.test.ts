import { describe, expect, it } from 'vitest';
import { createLocalDelivery, LOCAL_CONCURRENCY, LOCAL_MEMORY_MS } from './local-delivery.js';
import type { DeliveredEvent } from './catalog.js';
import { silentLogger } from '../shared/logger.js';

const ev = (eventId: string, type: DeliveredEvent['type'] = 'JobQueued'): DeliveredEvent => ({
  eventId,
  type,
  correlationId: 'c',
  payload: {},
});

function setup(now = () => 0) {
  const local = createLocalDelivery({
    types: new Set(['JobQueued']),
    logger: silentLogger(),
    now,
  });
  const handledLocally: string[] = [];
  const handledFromBus: string[] = [];
  let failNext = false;
  local.attach((e) => {
    handledLocally.push(e.eventId);
    if (failNext) {
      failNext = false;
      return Promise.reject(new Error('database went away'));
    }
    return Promise.resolve();
  });
  const fromBus = local.fromBus((e) => {
    handledFromBus.push(e.eventId);
    return Promise.resolve();
  });
  return { local, fromBus, handledLocally, handledFromBus, failNext: () => (failNext = true) };
}

describe('local delivery', () => {
  it('handles a committed event at once; its bus delivery is then acked unread', async () => {
    const t = setup();
    t.local.committed([ev('a')]);
    expect(t.handledLocally).toEqual(['a']);
    await t.fromBus(ev('a'));
    expect(t.handledFromBus).toEqual([]);
    // A second delivery of it (a redelivery) is handled as any: handlers are idempotent.
    await t.fromBus(ev('a'));
    expect(t.handledFromBus).toEqual(['a']);
  });

  it('leaves other types, and events committed elsewhere, to the bus', async () => {
    const t = setup();
    t.local.committed([ev('w', 'WorkerLost')]);
    await t.fromBus(ev('w', 'WorkerLost'));
    await t.fromBus(ev('other'));
    expect(t.handledLocally).toEqual([]);
    expect(t.handledFromBus).toEqual(['w', 'other']);
  });

  it('an event whose local handling failed is handled from the bus', async () => {
    const t = setup();
    t.failNext();
    t.local.committed([ev('f')]);
    await t.fromBus(ev('f'));
    expect(t.handledLocally).toEqual(['f']);
    expect(t.handledFromBus).toEqual(['f']);
  });

  it('a bus delivery arriving while the local handling runs waits for it, then skips', async () => {
    const local = createLocalDelivery({ types: new Set(['JobQueued']), logger: silentLogger() });
    let release: () => void = () => undefined;
    local.attach(() => new Promise<void>((r) => (release = r)));
    const fromBus: string[] = [];
    const handler = local.fromBus((e) => {
      fromBus.push(e.eventId);
      return Promise.resolve();
    });
    local.committed([ev('slow')]);
    const delivery = handler(ev('slow'));
    await new Promise((r) => setTimeout(r, 10));
    release();
    await delivery;
    expect(fromBus).toEqual([]);
  });

  it('forgets what it handled after a while (the bus delivery is then handled again)', async () => {
    let clock = 0;
    const t = setup(() => clock);
    t.local.committed([ev('old')]);
    clock = LOCAL_MEMORY_MS + 1;
    t.local.committed([ev('new')]);
    await t.fromBus(ev('old'));
    await t.fromBus(ev('new'));
    expect(t.handledFromBus).toEqual(['old']);
  });

  it('handles at most LOCAL_CONCURRENCY at once; the rest wait for the bus', async () => {
    const local = createLocalDelivery({ types: new Set(['JobQueued']), logger: silentLogger() });
    const releases: Array<() => void> = [];
    local.attach(() => new Promise<void>((r) => releases.push(r)));
    const fromBus: string[] = [];
    const handler = local.fromBus((e) => {
      fromBus.push(e.eventId);
      return Promise.resolve();
    });
    const burst = Array.from({ length: LOCAL_CONCURRENCY + 3 }, (_, i) => ev(`e${i}`));
    local.committed(burst);
    expect(releases).toHaveLength(LOCAL_CONCURRENCY);
    for (const release of releases) release();
    for (const e of burst) await handler(e);
    expect(fromBus).toEqual(burst.slice(LOCAL_CONCURRENCY).map((e) => e.eventId));
  });

  it('before attach and after stop, nothing is handled locally', async () => {
    const local = createLocalDelivery({ types: new Set(['JobQueued']), logger: silentLogger() });
    local.committed([ev('early')]);
    const seen: string[] = [];
    local.attach((e) => {
      seen.push(e.eventId);
      return Promise.resolve();
    });
    await local.stop();
    local.committed([ev('late')]);
    expect(seen).toEqual([]);
  });
});
