// The bus port. Adapters: bus/jetstream (NATS JetStream) and bus/postgres (tables in the same
// PostgreSQL database). Both keep one contract, checked by test/bus/bus-contract.ts:
// - publish is deduplicated by message id (a second publish of the same id stores nothing);
// - durable named consumers resume where they stopped after a restart;
// - delivery is at least once, with explicit ack; a nak or an ack that does not come within
//   `ackWaitMs` redelivers, and `deliveryCount` counts deliveries (1 on the first);
// - several consumers on one durable name compete: each message goes to one of them at a time;
// - headers (x-correlation-id, traceparent) arrive as they were published.
import type { Queryable } from '../db/db.js';

export interface BusMessage {
  /** Unique message id; the bus stores each id once (Nats-Msg-Id on JetStream). */
  id: string;
  subject: string;
  data: Uint8Array;
  headers: Record<string, string>;
}

export interface Delivery {
  id: string;
  subject: string;
  data: Uint8Array;
  headers: Record<string, string>;
  /** 1 on the first delivery, 2 on the first redelivery, … */
  deliveryCount: number;
  ack(): Promise<void>;
  /** Ask for redelivery, after `delayMs` when given. */
  nak(delayMs?: number): Promise<void>;
  /** Never deliver this message to this consumer again. */
  term(): Promise<void>;
}

export interface ConsumerOptions {
  /** Durable consumer name; consumers sharing it compete for messages. */
  durable: string;
  /** Subject filter, NATS-style wildcards (`hodei.events.>`). */
  filterSubject: string;
  ackWaitMs: number;
  maxDeliver: number;
  /** Messages handled at once by this consumer instance. */
  concurrency?: number;
}

export interface Subscription {
  /** Stops fetching; resolves when handlers in flight have finished. */
  stop(): Promise<void>;
}

export interface Bus {
  readonly kind: 'jetstream' | 'postgres';
  /** Creates or updates the stream / tables. Idempotent. */
  setup(): Promise<void>;
  /** Publishes all messages, resolving once every one is stored (acked by the bus). An adapter
   * living in the same database writes through `options.tx` when given, so the relay can publish
   * inside its claim transaction (required on PGlite, which is a single connection). */
  publish(messages: readonly BusMessage[], options?: { tx?: Queryable }): Promise<void>;
  /** Creates or updates the durable consumer and hands each delivery to `handler`. The handler
   * must ack, nak or term; an exception thrown by it counts as a nak. */
  consume(
    options: ConsumerOptions,
    handler: (delivery: Delivery) => Promise<void>,
  ): Promise<Subscription>;
  /** Why the bus cannot be used now (for /readyz), or undefined when it answers. */
  checkReady(): Promise<string | undefined>;
  close(): Promise<void>;
}

export const CORRELATION_HEADER = 'x-correlation-id';
export const TRACEPARENT_HEADER = 'traceparent';
export const EVENT_TYPE_HEADER = 'x-event-type';
