// Fixture, capabilities and helpers of the bus contract suite (bus-contract.ts): unique subjects
// per test, consumers that are stopped after the suite, and a recorder of deliveries.
import { afterAll, beforeAll } from 'vitest';
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
  /** A consumer's `ignoredSubjects` are left out of its deliveries (else delivered as any). */
  leavesOutIgnoredSubjects: boolean;
}

export interface ConsumeOpts {
  durable?: string;
  ackWaitMs?: number;
  maxDeliver?: number;
  ignoredSubjects?: readonly string[];
}

const enc = new TextEncoder();
const dec = new TextDecoder();
export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
export const body = (d: Delivery) => dec.decode(d.data);

/** Registers the fixture's set-up and teardown in the enclosing describe; returns the helpers. */
export function contractContext(factory: () => Promise<BusFixture>) {
  let fixture: BusFixture | undefined;
  const subs = new Set<Subscription>();
  let counter = 0;
  beforeAll(async () => {
    fixture = await factory();
    await fixture.bus.setup();
  });
  afterAll(async () => {
    await Promise.all([...subs].map((s) => s.stop()));
    await fixture?.cleanup();
  });
  const fx = (): BusFixture => {
    if (!fixture) throw new Error('bus fixture used outside a test');
    return fixture;
  };

  /** A subject (and durable name) no other test uses. */
  function topic(): string {
    counter += 1;
    return `${fx().prefix}.t${counter}${randomBytes(3).toString('hex')}`;
  }
  const msg = (subject: string, text: string, headers: Record<string, string> = {}) =>
    ({ id: `${subject}-${text}`, subject, data: enc.encode(text), headers }) as BusMessage;

  async function consume(
    filterSubject: string,
    handler: (d: Delivery) => Promise<void>,
    opts: ConsumeOpts = {},
  ): Promise<Subscription> {
    const sub = await fx().bus.consume(
      {
        durable: opts.durable ?? `c-${filterSubject.replace(/[.*>]/g, '_')}`,
        filterSubject,
        ackWaitMs: opts.ackWaitMs ?? 30_000,
        maxDeliver: opts.maxDeliver ?? 5,
        ignoredSubjects: opts.ignoredSubjects,
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
    opts: ConsumeOpts = {},
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

  return {
    get f() {
      return fx();
    },
    get counter() {
      return counter;
    },
    topic,
    msg,
    consume,
    record,
  };
}
