// The bus contract, registered once per adapter: dedup by id, ack, nak (with and without delay),
// term, redelivery after the ack wait (not postponed by another message's long nak delay),
// max_deliver, a throwing handler, stop waiting for handlers in flight, durable resume, competing
// consumers, subject wildcards, headers, a 1,000-message publish, publishing inside a
// transaction, and refusals one message at a time (too large, an invalid subject). What an adapter cannot do is a capability: the suite names it in a test that
// documents the other behaviour, so nothing is silently skipped.
import { describe, expect, it } from 'vitest';
import { waitFor } from '../helpers/procs.js';
import { BusPublishError } from '../../src/bus/bus.js';
import {
  body,
  contractContext,
  sleep,
  type BusCapabilities,
  type BusFixture,
} from './bus-contract-context.js';

export type { BusCapabilities, BusFixture } from './bus-contract-context.js';

export function busContract(
  name: string,
  factory: () => Promise<BusFixture>,
  capabilities: BusCapabilities,
): void {
  describe(`bus contract: ${name}`, () => {
    const ctx = contractContext(factory);
    const { topic, msg, consume, record } = ctx;

    it('stores a message id once: publishing it twice delivers it once', async () => {
      const s = topic();
      await ctx.f.bus.publish([msg(s, 'a'), msg(s, 'a')]);
      await ctx.f.bus.publish([msg(s, 'a'), msg(s, 'b')]);
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
      await ctx.f.bus.publish([msg(s, 'ping')]);
      await r.until(1, 'the delivery');
      // The table bus's fallback poll is 2 s; a NOTIFY wake-up takes a few milliseconds.
      expect((r.seen[0]?.at ?? Infinity) - sent).toBeLessThan(750);
    });

    it("a consumer's lag counts the messages it has not acked, in flight ones included", async () => {
      const s = topic();
      const durable = `lag-${s.replace(/[.*>]/g, '_')}`;
      expect(await ctx.f.bus.consumerLag(durable)).toBeUndefined();
      let release: () => void = () => undefined;
      const held = new Promise<void>((resolve) => (release = resolve));
      const r = await record(
        s,
        async (d) => {
          if (body(d) === 'held') await held;
          await d.ack();
        },
        { durable },
      );
      await ctx.f.bus.publish([msg(s, 'quick'), msg(s, 'held')]);
      await r.until(2, 'both deliveries');
      await waitFor(
        'a lag of 1',
        async () => (await ctx.f.bus.consumerLag(durable)) === 1 || undefined,
      );
      release();
      await waitFor(
        'a lag of 0',
        async () => (await ctx.f.bus.consumerLag(durable)) === 0 || undefined,
      );
    });

    it('an acked message is not delivered again, even after the ack wait', async () => {
      const s = topic();
      await ctx.f.bus.publish([msg(s, 'once')]);
      const r = await record(s, (d) => d.ack(), { ackWaitMs: 500 });
      await r.until(1, 'the delivery');
      await sleep(1500);
      expect(r.seen.map((x) => x.d.deliveryCount)).toEqual([1]);
    });

    it('a nak redelivers with deliveryCount 2, headers and id intact', async () => {
      const s = topic();
      const headers = { 'x-correlation-id': 'corr-9', traceparent: '00-abc-def-01' };
      await ctx.f.bus.publish([msg(s, 'x', headers)]);
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
      await ctx.f.bus.publish([msg(s, 'later')]);
      const r = await record(s, (d) => (d.deliveryCount === 1 ? d.nak(600) : d.ack()));
      await r.until(2, 'the delayed redelivery');
      expect((r.seen[1]?.at ?? 0) - (r.seen[0]?.at ?? 0)).toBeGreaterThanOrEqual(500);
    });

    it('a handler that throws counts as a nak', async () => {
      const s = topic();
      await ctx.f.bus.publish([msg(s, 'boom')]);
      const r = await record(s, async (d) => {
        if (d.deliveryCount === 1) throw new Error('handler failed');
        await d.ack();
      });
      await r.until(2, 'the redelivery after a throw');
      expect(r.seen.map((x) => x.d.deliveryCount)).toEqual([1, 2]);
    });

    it('a term is never delivered again', async () => {
      const s = topic();
      await ctx.f.bus.publish([msg(s, 'poison')]);
      const r = await record(s, (d) => d.term(), { ackWaitMs: 500 });
      await r.until(1, 'the delivery');
      await sleep(1500);
      expect(r.seen).toHaveLength(1);
    });

    it('redelivers a message not acked within the ack wait', async () => {
      const s = topic();
      await ctx.f.bus.publish([msg(s, 'slow')]);
      const r = await record(s, (d) => (d.deliveryCount >= 2 ? d.ack() : Promise.resolve()), {
        ackWaitMs: 500,
      });
      await r.until(2, 'the redelivery after the ack wait', 10_000);
      expect(r.seen.map((x) => x.d.deliveryCount)).toEqual([1, 2]);
      expect((r.seen[1]?.at ?? 0) - (r.seen[0]?.at ?? 0)).toBeGreaterThanOrEqual(400);
    });

    it("a long nak delay does not postpone another message's redelivery", async () => {
      const s = topic();
      await ctx.f.bus.publish([msg(s, 'lease'), msg(s, 'nak')]);
      const r = await record(
        s,
        async (d) => {
          if (d.deliveryCount >= 2) return d.ack();
          if (body(d) === 'lease') return; // left to time out after the 400 ms ack wait
          await sleep(50);
          await d.nak(5000);
          await sleep(1500); // the handler keeps its slot well past the other lease
        },
        { ackWaitMs: 400 },
      );
      await r.until(3, "'lease' redelivered", 10_000);
      const lease = r.seen.filter((x) => body(x.d) === 'lease').map((x) => x.at);
      expect(lease).toHaveLength(2);
      expect((lease[1] ?? 0) - (lease[0] ?? 0)).toBeLessThan(1300);
    });

    it('stops delivering after max_deliver, whether naked or left to time out', async () => {
      const s = topic();
      await ctx.f.bus.publish([msg(s, 'nak'), msg(s, 'silent')]);
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
      const durable = `resume-${ctx.counter}`;
      await ctx.f.bus.publish([msg(s, '1'), msg(s, '2')]);
      // '2' is left unacked when the first subscription stops.
      const first = await record(s, (d) => (body(d) === '1' ? d.ack() : Promise.resolve()), {
        durable,
        ackWaitMs: 500,
      });
      await first.until(2, 'the first two');
      await first.sub.stop();
      await ctx.f.bus.publish([msg(s, '3')]);
      const second = await record(s, (d) => d.ack(), { durable, ackWaitMs: 500 });
      await second.until(2, "'2' again and '3'");
      await sleep(1000);
      // '2' may have been redelivered to the first subscription before it stopped (its ack wait is
      // short), so only "again" is certain, not how many times.
      const got = second.seen.map((x) => body(x.d)).sort();
      expect(got).toEqual(['2', '3']);
      const two = second.seen.find((x) => body(x.d) === '2');
      const three = second.seen.find((x) => body(x.d) === '3');
      expect(two?.d.deliveryCount).toBeGreaterThanOrEqual(2);
      expect(three?.d.deliveryCount).toBe(1);
    });

    it('stop waits for the handlers in flight, whose acks still count', async () => {
      const s = topic();
      const durable = `stop-${ctx.counter}`;
      let started = false;
      let finished = false;
      const first = await consume(
        s,
        async (d) => {
          started = true;
          await sleep(400);
          await d.ack();
          finished = true;
        },
        { durable, ackWaitMs: 500 },
      );
      await ctx.f.bus.publish([msg(s, 'slow')]);
      await waitFor('the handler to start', () => (started ? true : undefined), 10_000);
      await first.stop();
      expect(finished).toBe(true);
      const again = await record(s, (d) => d.ack(), { durable, ackWaitMs: 500 });
      await sleep(1500);
      expect(again.seen).toHaveLength(0);
    });

    it('competing consumers on one durable name each handle a message once, both get some', async () => {
      const s = topic();
      const durable = `compete-${ctx.counter}`;
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
      await ctx.f.bus.publish(Array.from({ length: 200 }, (_, i) => msg(s, String(i))));
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
      await ctx.f.bus.publish([msg(`${s}.a.x`, '1'), msg(`${s}.a.x.y`, '2'), msg(`${s}.b`, '3')]);
      await rest.until(3, 'all three on >');
      await one.until(1, 'one on *');
      await sleep(500);
      expect(one.seen.map((x) => x.d.subject)).toEqual([`${s}.a.x`]);
      expect(rest.seen.map((x) => body(x.d)).sort()).toEqual(['1', '2', '3']);
    });

    it(
      capabilities.leavesOutIgnoredSubjects
        ? "leaves a consumer's ignored subjects out of its deliveries, and only those"
        : "lacks ignored subjects: a consumer's are delivered as any other (its handler acks them)",
      async () => {
        const s = topic();
        const r = await record(`${s}.>`, (d) => d.ack(), {
          ignoredSubjects: [`${s}.saga.*`, `${s}.worker.Gone`],
        });
        await ctx.f.bus.publish([
          msg(`${s}.saga.Started`, '1'),
          msg(`${s}.job.Queued`, '2'),
          msg(`${s}.worker.Gone`, '3'),
          msg(`${s}.worker.GoneToo`, '4'),
          msg(`${s}.saga.a.b`, '5'),
        ]);
        const expected = capabilities.leavesOutIgnoredSubjects
          ? ['2', '4', '5']
          : ['1', '2', '3', '4', '5'];
        await r.until(expected.length, 'the deliveries');
        await sleep(500);
        expect(r.seen.map((x) => body(x.d)).sort()).toEqual(expected);
      },
    );

    it('delivers all of 1,000 messages published in one call', async () => {
      const s = topic();
      await ctx.f.bus.publish(Array.from({ length: 1000 }, (_, i) => msg(s, String(i))));
      const got = new Set<string>();
      await consume(s, async (d) => {
        got.add(body(d));
        await d.ack();
      });
      await waitFor('1000 deliveries', () => (got.size >= 1000 ? true : undefined), 30_000);
      expect(got.size).toBe(1000);
    });

    it('publishEach refuses an oversized message and invalid subjects one by one, stores the rest', async () => {
      const s = topic();
      const r = await record(`${s}.>`, (d) => d.ack());
      // Over NATS's default max_payload (1 MiB) and the table bus's default limit alike.
      const big = { ...msg(`${s}.x`, 'big'), data: new Uint8Array(1024 * 1024 + 1) };
      const outcomes = await ctx.f.bus.publishEach([
        msg(`${s}.x`, 'before'),
        big,
        msg(`${s}..x`, 'empty-token'),
        msg(`${s}.*`, 'wildcard'),
        msg(`${s}.x y`, 'space'),
        msg(`${s}.x`, 'after'),
      ]);
      expect(outcomes.map((o) => o?.kind)).toEqual([
        undefined,
        'too-large',
        'invalid-subject',
        'invalid-subject',
        'invalid-subject',
        undefined,
      ]);
      expect(outcomes[1]).toBeInstanceOf(BusPublishError);
      expect(outcomes[1]?.messageId).toBe(big.id);
      await r.until(2, 'the two storable messages');
      await sleep(500);
      expect(r.seen.map((x) => body(x.d)).sort()).toEqual(['after', 'before']);
      await expect(ctx.f.bus.publish([big])).rejects.toMatchObject({ kind: 'too-large' });
    });

    async function publishAndRollBack(s: string): Promise<void> {
      await expect(
        ctx.f.txDb.transaction(async (tx) => {
          await ctx.f.bus.publish([msg(s, 'rolled-back')], { tx });
          throw new Error('roll back');
        }),
      ).rejects.toThrow('roll back');
    }

    if (capabilities.transactionalPublish) {
      it('publish with { tx } commits with the transaction: a rollback delivers nothing', async () => {
        const s = topic();
        const r = await record(s, (d) => d.ack());
        await publishAndRollBack(s);
        await ctx.f.txDb.transaction((tx) => ctx.f.bus.publish([msg(s, 'committed')], { tx }));
        await r.until(1, 'the committed message');
        await sleep(500);
        expect(r.seen.map((x) => body(x.d))).toEqual(['committed']);
      });

      it('a refused message leaves the transaction usable: the others commit with it', async () => {
        const s = topic();
        const r = await record(s, (d) => d.ack());
        const big = { ...msg(s, 'big'), data: new Uint8Array(1024 * 1024 + 1) };
        const outcomes = await ctx.f.txDb.transaction(async (tx) => {
          const result = await ctx.f.bus.publishEach([big, msg(s, 'kept')], { tx });
          await tx.query('SELECT 1');
          return result;
        });
        expect(outcomes.map((o) => o?.kind)).toEqual(['too-large', undefined]);
        await r.until(1, 'the committed message');
        await sleep(300);
        expect(r.seen.map((x) => body(x.d))).toEqual(['kept']);
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
