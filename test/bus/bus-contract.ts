// The bus contract, registered once per adapter: dedup by id, ack, nak and redelivery, ack wait,
// max_deliver, durable resume, competing consumers, headers, and large publishes.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import type { Bus, BusMessage, Delivery, Subscription } from '../../src/bus/bus.js';
import { waitFor } from '../helpers/procs.js';

export interface BusFixture {
  bus: Bus;
  /** Subject prefix the adapter's stream accepts. */
  prefix: string;
  cleanup(): Promise<void>;
}

const enc = new TextEncoder();
const dec = new TextDecoder();

export function busContract(name: string, factory: () => Promise<BusFixture>): void {
  describe(`bus contract: ${name}`, () => {
    let f: BusFixture;
    const subs: Subscription[] = [];
    beforeAll(async () => {
      f = await factory();
      await f.bus.setup();
    });
    afterAll(async () => {
      await Promise.all(subs.map((s) => s.stop()));
      await f.cleanup();
    });

    let counter = 0;
    function topic() {
      counter += 1;
      return `${f.prefix}.t${counter}${randomBytes(2).toString('hex')}`;
    }
    const msg = (
      subject: string,
      body: string,
      headers: Record<string, string> = {},
    ): BusMessage => ({
      id: `${subject}-${body}`,
      subject,
      data: enc.encode(body),
      headers,
    });
    async function consume(
      subject: string,
      handler: (d: Delivery) => Promise<void>,
      opts: { durable?: string; ackWaitMs?: number; maxDeliver?: number } = {},
    ) {
      const sub = await f.bus.consume(
        {
          durable: opts.durable ?? `c-${subject.replace(/\./g, '_')}`,
          filterSubject: subject,
          ackWaitMs: opts.ackWaitMs ?? 30_000,
          maxDeliver: opts.maxDeliver ?? 5,
        },
        handler,
      );
      subs.push(sub);
      return sub;
    }

    it('stores a message id once: publishing it twice delivers it once', async () => {
      const s = topic();
      await f.bus.publish([msg(s, 'a')]);
      await f.bus.publish([msg(s, 'a'), msg(s, 'b')]);
      const got: string[] = [];
      await consume(s, async (d) => {
        got.push(dec.decode(d.data));
        await d.ack();
      });
      await waitFor('two deliveries', () => (got.length >= 2 ? true : undefined));
      await new Promise((r) => setTimeout(r, 300));
      expect(got.sort()).toEqual(['a', 'b']);
    });

    it('keeps headers and counts deliveries; a nak redelivers', async () => {
      const s = topic();
      await f.bus.publish([
        msg(s, 'x', { 'x-correlation-id': 'corr-9', traceparent: '00-abc-def-01' }),
      ]);
      const seen: Delivery[] = [];
      await consume(s, async (d) => {
        seen.push(d);
        if (d.deliveryCount === 1) await d.nak();
        else await d.ack();
      });
      await waitFor('redelivery', () => (seen.length >= 2 ? true : undefined));
      expect(seen.map((d) => d.deliveryCount)).toEqual([1, 2]);
      expect(seen[0]?.headers['x-correlation-id']).toBe('corr-9');
      expect(seen[1]?.headers.traceparent).toBe('00-abc-def-01');
      expect(seen[0]?.id).toBe(`${s}-x`);
    });

    it('redelivers a message not acked within the ack wait', async () => {
      const s = topic();
      await f.bus.publish([msg(s, 'slow')]);
      const at: number[] = [];
      await consume(
        s,
        async (d) => {
          at.push(Date.now());
          if (d.deliveryCount >= 2) await d.ack();
        },
        { ackWaitMs: 500 },
      );
      await waitFor(
        'redelivery after the ack wait',
        () => (at.length >= 2 ? true : undefined),
        10_000,
      );
      expect((at[1] ?? 0) - (at[0] ?? 0)).toBeGreaterThanOrEqual(400);
    });

    it('stops delivering after max_deliver', async () => {
      const s = topic();
      await f.bus.publish([msg(s, 'poison')]);
      let deliveries = 0;
      await consume(
        s,
        async (d) => {
          deliveries += 1;
          await d.nak();
        },
        { maxDeliver: 3 },
      );
      await waitFor('three deliveries', () => (deliveries >= 3 ? true : undefined));
      await new Promise((r) => setTimeout(r, 1000));
      expect(deliveries).toBe(3);
    });

    it('a durable consumer resumes after a restart: nothing lost, nothing acked comes back', async () => {
      const s = topic();
      const durable = `resume-${counter}`;
      await f.bus.publish([msg(s, '1'), msg(s, '2')]);
      const first: string[] = [];
      const sub = await consume(
        s,
        async (d) => {
          first.push(dec.decode(d.data));
          await d.ack();
        },
        { durable },
      );
      await waitFor('first two', () => (first.length >= 2 ? true : undefined));
      await sub.stop();
      await f.bus.publish([msg(s, '3')]);
      const second: string[] = [];
      await consume(
        s,
        async (d) => {
          second.push(dec.decode(d.data));
          await d.ack();
        },
        { durable },
      );
      await waitFor('the third', () => (second.length >= 1 ? true : undefined));
      await new Promise((r) => setTimeout(r, 300));
      expect(second).toEqual(['3']);
    });

    it('competing consumers on one durable name each handle a message once', async () => {
      const s = topic();
      const durable = `compete-${counter}`;
      const handled = new Map<string, number>();
      const per = [0, 0];
      for (const i of [0, 1]) {
        await consume(
          s,
          async (d) => {
            const body = dec.decode(d.data);
            handled.set(body, (handled.get(body) ?? 0) + 1);
            per[i] = (per[i] ?? 0) + 1;
            await new Promise((r) => setTimeout(r, 2));
            await d.ack();
          },
          { durable },
        );
      }
      await f.bus.publish(Array.from({ length: 200 }, (_, i) => msg(s, String(i))));
      await waitFor('200 handled', () => (handled.size >= 200 ? true : undefined), 20_000);
      await new Promise((r) => setTimeout(r, 300));
      expect([...handled.values()].every((n) => n === 1)).toBe(true);
      expect(per[0]).toBeGreaterThan(0);
      expect(per[1]).toBeGreaterThan(0);
    });

    it('delivers all of 1,000 messages published in one call', async () => {
      const s = topic();
      await f.bus.publish(Array.from({ length: 1000 }, (_, i) => msg(s, String(i))));
      const got = new Set<string>();
      await consume(s, async (d) => {
        got.add(dec.decode(d.data));
        await d.ack();
      });
      await waitFor('1000 deliveries', () => (got.size >= 1000 ? true : undefined), 30_000);
      expect(got.size).toBe(1000);
    });
  });
}
