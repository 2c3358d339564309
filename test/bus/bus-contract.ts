// The bus contract, registered once per adapter: dedup by id, ack, nak (with and without delay),
// term, redelivery after the ack wait, max_deliver, a throwing handler, durable resume, competing
// consumers, subject wildcards, headers, a 1,000-message publish, and publishing inside a
// transaction. What an adapter cannot do is a capability: the suite names it in a test that
// documents the other behaviour, so nothing is silently skipped.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import type { Bus, BusMessage, Delivery, Subscription } from '../../src/bus/bus.js';
import type { Db } from '../../src/db/db.js';
import { waitFor } from '../helpers/procs.js';

export interface BusFixture {
  bus: Bus;
  /** Subject prefix the adapter accepts (the stream's subjects on JetStream). */
  prefix: string;
  /** A database to open transactions in for `publish(…, { tx })`. */
  txDb: Db;
  cleanup(): Promise<void>;
}

export interface BusCapabilities {
  /** `publish(…, { tx })` commits and rolls back with the transaction (same-database adapters). */
  transactionalPublish: boolean;
}

const enc = new TextEncoder();
const dec = new TextDecoder();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const body = (d: Delivery) => dec.decode(d.data);

export function busContract(
  name: string,
  factory: () => Promise<BusFixture>,
  capabilities: BusCapabilities,
): void {
  describe(`bus contract: ${name}`, () => {
    let f: BusFixture;
    const subs = new Set<Subscription>();
    beforeAll(async () => {
      f = await factory();
      await f.bus.setup();
    });
    afterAll(async () => {
      await Promise.all([...subs].map((s) => s.stop()));
      await f.cleanup();
    });

    let counter = 0;
    /** A subject (and durable name) no other test uses. */
    function topic(): string {
      counter += 1;
      return `${f.prefix}.t${counter}${randomBytes(3).toString('hex')}`;
    }
    const msg = (subject: string, text: string, headers: Record<string, string> = {}) =>
      ({ id: `${subject}-${text}`, subject, data: enc.encode(text), headers }) as BusMessage;

    async function consume(
      filterSubject: string,
      handler: (d: Delivery) => Promise<void>,
      opts: { durable?: string; ackWaitMs?: number; maxDeliver?: number } = {},
    ): Promise<Subscription> {
      const sub = await f.bus.consume(
        {
          durable: opts.durable ?? `c-${filterSubject.replace(/[.*>]/g, '_')}`,
          filterSubject,
          ackWaitMs: opts.ackWaitMs ?? 30_000,
          maxDeliver: opts.maxDeliver ?? 5,
        },
        handler,
      );
      subs.add(sub);
      return {
        async stop() {
          subs.delete(sub);
          await sub.stop();
        },
      };
    }

    /** Consumes `subject`, recording every delivery and settling it with `settle`. */
    async function record(
      subject: string,
      settle: (d: Delivery) => Promise<void>,
      opts: { durable?: string; ackWaitMs?: number; maxDeliver?: number } = {},
    ) {
      const seen: { d: Delivery; at: number }[] = [];
      const sub = await consume(
        subject,
        async (d) => {
          seen.push({ d, at: Date.now() });
          await settle(d);
        },
        opts,
      );
      const until = (n: number, what: string, ms = 15_000) =>
        waitFor(what, () => (seen.length >= n ? true : undefined), ms);
      return { seen, sub, until };
    }

    it('stores a message id once: publishing it twice delivers it once', async () => {
      const s = topic();
      await f.bus.publish([msg(s, 'a'), msg(s, 'a')]);
      await f.bus.publish([msg(s, 'a'), msg(s, 'b')]);
      const r = await record(s, (d) => d.ack());
      await r.until(2, 'two deliveries');
      await sleep(500);
      expect(r.seen.map((x) => body(x.d)).sort()).toEqual(['a', 'b']);
    });

    it('a publish wakes an idle consumer at once, not at the next poll', async () => {
      const s = topic();
      const r = await record(s, (d) => d.ack());
      await sleep(300);
      const sent = Date.now();
      await f.bus.publish([msg(s, 'ping')]);
      await r.until(1, 'the delivery');
      // The table bus's fallback poll is 2 s; a NOTIFY wake-up takes a few milliseconds.
      expect((r.seen[0]?.at ?? Infinity) - sent).toBeLessThan(250);
    });

    it('an acked message is not delivered again, even after the ack wait', async () => {
      const s = topic();
      await f.bus.publish([msg(s, 'once')]);
      const r = await record(s, (d) => d.ack(), { ackWaitMs: 500 });
      await r.until(1, 'the delivery');
      await sleep(1500);
      expect(r.seen.map((x) => x.d.deliveryCount)).toEqual([1]);
    });

    it('a nak redelivers with deliveryCount 2, headers and id intact', async () => {
      const s = topic();
      const headers = { 'x-correlation-id': 'corr-9', traceparent: '00-abc-def-01' };
      await f.bus.publish([msg(s, 'x', headers)]);
      const r = await record(s, (d) => (d.deliveryCount === 1 ? d.nak() : d.ack()));
      await r.until(2, 'the redelivery');
      expect(r.seen.map((x) => x.d.deliveryCount)).toEqual([1, 2]);
      for (const { d } of r.seen) {
        expect(d.headers).toMatchObject(headers);
        expect(d.id).toBe(`${s}-x`);
        expect(d.subject).toBe(s);
      }
    });

    it('a nak with a delay redelivers no sooner than the delay', async () => {
      const s = topic();
      await f.bus.publish([msg(s, 'later')]);
      const r = await record(s, (d) => (d.deliveryCount === 1 ? d.nak(600) : d.ack()));
      await r.until(2, 'the delayed redelivery');
      expect((r.seen[1]?.at ?? 0) - (r.seen[0]?.at ?? 0)).toBeGreaterThanOrEqual(500);
    });

    it('a handler that throws counts as a nak', async () => {
      const s = topic();
      await f.bus.publish([msg(s, 'boom')]);
      const r = await record(s, async (d) => {
        if (d.deliveryCount === 1) throw new Error('handler failed');
        await d.ack();
      });
      await r.until(2, 'the redelivery after a throw');
      expect(r.seen.map((x) => x.d.deliveryCount)).toEqual([1, 2]);
    });

    it('a term is never delivered again', async () => {
      const s = topic();
      await f.bus.publish([msg(s, 'poison')]);
      const r = await record(s, (d) => d.term(), { ackWaitMs: 500 });
      await r.until(1, 'the delivery');
      await sleep(1500);
      expect(r.seen).toHaveLength(1);
    });

    it('redelivers a message not acked within the ack wait', async () => {
      const s = topic();
      await f.bus.publish([msg(s, 'slow')]);
      const r = await record(s, (d) => (d.deliveryCount >= 2 ? d.ack() : Promise.resolve()), {
        ackWaitMs: 500,
      });
      await r.until(2, 'the redelivery after the ack wait', 10_000);
      expect(r.seen.map((x) => x.d.deliveryCount)).toEqual([1, 2]);
      expect((r.seen[1]?.at ?? 0) - (r.seen[0]?.at ?? 0)).toBeGreaterThanOrEqual(400);
    });

    it('stops delivering after max_deliver, whether naked or left to time out', async () => {
      const s = topic();
      await f.bus.publish([msg(s, 'nak'), msg(s, 'silent')]);
      const r = await record(s, (d) => (body(d) === 'nak' ? d.nak() : Promise.resolve()), {
        ackWaitMs: 300,
        maxDeliver: 3,
      });
      await r.until(6, 'three deliveries of each');
      await sleep(1500);
      for (const text of ['nak', 'silent']) {
        const counts = r.seen.filter((x) => body(x.d) === text).map((x) => x.d.deliveryCount);
        expect(counts).toEqual([1, 2, 3]);
      }
    });

    it('a durable consumer resumes after a restart: nothing lost, nothing acked comes back', async () => {
      const s = topic();
      const durable = `resume-${counter}`;
      await f.bus.publish([msg(s, '1'), msg(s, '2')]);
      // '2' is left unacked when the first subscription stops.
      const first = await record(s, (d) => (body(d) === '1' ? d.ack() : Promise.resolve()), {
        durable,
        ackWaitMs: 500,
      });
      await first.until(2, 'the first two');
      await first.sub.stop();
      await f.bus.publish([msg(s, '3')]);
      const second = await record(s, (d) => d.ack(), { durable, ackWaitMs: 500 });
      await second.until(2, "'2' again and '3'");
      await sleep(1000);
      const got = second.seen.map((x) => `${body(x.d)}#${x.d.deliveryCount}`).sort();
      expect(got).toEqual(['2#2', '3#1']);
    });

    it('competing consumers on one durable name each handle a message once, both get some', async () => {
      const s = topic();
      const durable = `compete-${counter}`;
      const handled = new Map<string, number>();
      const per = [0, 0];
      for (const i of [0, 1]) {
        await consume(
          s,
          async (d) => {
            handled.set(body(d), (handled.get(body(d)) ?? 0) + 1);
            per[i] = (per[i] ?? 0) + 1;
            await sleep(2);
            await d.ack();
          },
          { durable },
        );
      }
      await f.bus.publish(Array.from({ length: 200 }, (_, i) => msg(s, String(i))));
      await waitFor('200 handled', () => (handled.size >= 200 ? true : undefined), 20_000);
      await sleep(500);
      expect(handled.size).toBe(200);
      expect([...handled.values()].every((n) => n === 1)).toBe(true);
      expect(per[0]).toBeGreaterThan(0);
      expect(per[1]).toBeGreaterThan(0);
    });

    it('filters follow NATS wildcards, and every durable gets its own copy', async () => {
      const s = topic();
      const one = await record(`${s}.a.*`, (d) => d.ack());
      const rest = await record(`${s}.>`, (d) => d.ack());
      await f.bus.publish([msg(`${s}.a.x`, '1'), msg(`${s}.a.x.y`, '2'), msg(`${s}.b`, '3')]);
      await rest.until(3, 'all three on >');
      await one.until(1, 'one on *');
      await sleep(500);
      expect(one.seen.map((x) => x.d.subject)).toEqual([`${s}.a.x`]);
      expect(rest.seen.map((x) => body(x.d)).sort()).toEqual(['1', '2', '3']);
    });

    it('delivers all of 1,000 messages published in one call', async () => {
      const s = topic();
      await f.bus.publish(Array.from({ length: 1000 }, (_, i) => msg(s, String(i))));
      const got = new Set<string>();
      await consume(s, async (d) => {
        got.add(body(d));
        await d.ack();
      });
      await waitFor('1000 deliveries', () => (got.size >= 1000 ? true : undefined), 30_000);
      expect(got.size).toBe(1000);
    });

    async function publishAndRollBack(s: string): Promise<void> {
      await expect(
        f.txDb.transaction(async (tx) => {
          await f.bus.publish([msg(s, 'rolled-back')], { tx });
          throw new Error('roll back');
        }),
      ).rejects.toThrow('roll back');
    }

    if (capabilities.transactionalPublish) {
      it('publish with { tx } commits with the transaction: a rollback delivers nothing', async () => {
        const s = topic();
        const r = await record(s, (d) => d.ack());
        await publishAndRollBack(s);
        await f.txDb.transaction((tx) => f.bus.publish([msg(s, 'committed')], { tx }));
        await r.until(1, 'the committed message');
        await sleep(500);
        expect(r.seen.map((x) => body(x.d))).toEqual(['committed']);
      });
    } else {
      it('lacks transactional publish: { tx } is ignored, a rolled-back publish is delivered', async () => {
        const s = topic();
        const r = await record(s, (d) => d.ack());
        await publishAndRollBack(s);
        await r.until(1, 'the message despite the rollback');
        expect(r.seen.map((x) => body(x.d))).toEqual(['rolled-back']);
      });
    }
  });
}
