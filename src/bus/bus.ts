// The bus port. Adapters: bus/jetstream (NATS JetStream) and bus/postgres (tables in the same
// PostgreSQL database). Both keep one contract, checked by test/bus/bus-contract.ts:
// - publish is deduplicated by message id (a second publish of the same id stores nothing);
// - durable named consumers resume where they stopped after a restart;
// - delivery is at least once, with explicit ack; a nak or an ack that does not come within
//   `ackWaitMs` redelivers, and `deliveryCount` counts deliveries (1 on the first);
// - several consumers on one durable name compete: each message goes to one of them at a time;
// - headers (x-correlation-id, traceparent) arrive as they were published.
import type { Queryable } from '../db/db.js';
import { HodeiError } from '../shared/errors.js';

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
  /** Subjects within the filter (same wildcards) that the consumer does nothing with. A bus that
   * can leave them out of the consumer's deliveries does (the table bus: each delivery is rows
   * and statements); JetStream, one filter per consumer on the servers we support, delivers them
   * and the handler acks them unread. */
  ignoredSubjects?: readonly string[];
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
  /** Publishes all messages, resolving once every one is stored (acked by the bus); rejects with
   * the first message's BusPublishError otherwise (the others may be stored). An adapter living
   * in the same database writes through `options.tx` when given, so the relay can publish inside
   * its claim transaction (required on PGlite, which is a single connection). */
  publish(messages: readonly BusMessage[], options?: { tx?: Queryable }): Promise<void>;
  /** Publishes each message on its own, every ack in flight at once, and resolves with one
   * outcome per message, in order: undefined when it is stored, else a BusPublishError saying
   * why not. A refused message never keeps the others out. Rejects only when the bus could not be
   * asked at all (no connection, the table bus's database failing); then, with `tx`, nothing is
   * stored. `options.tx` as for `publish`. */
  publishEach(
    messages: readonly BusMessage[],
    options?: { tx?: Queryable },
  ): Promise<Array<BusPublishError | undefined>>;
  /** Creates or updates the durable consumer and hands each delivery to `handler`. The handler
   * must ack, nak or term; an exception thrown by it counts as a nak. */
  consume(
    options: ConsumerOptions,
    handler: (delivery: Delivery) => Promise<void>,
  ): Promise<Subscription>;
  /** Why the bus cannot be used now (for /readyz), or undefined when it answers. */
  checkReady(): Promise<string | undefined>;
  /** Messages the durable consumer has not acked yet (waiting or in flight), for the lag metric;
   * undefined when the consumer does not exist or the bus does not answer in time. */
  consumerLag(durable: string): Promise<number | undefined>;
  close(): Promise<void>;
}

export const CORRELATION_HEADER = 'x-correlation-id';
export const TRACEPARENT_HEADER = 'traceparent';
export const EVENT_TYPE_HEADER = 'x-event-type';

/**
 * Why a bus did not store a message, as far as a publisher needs to know:
 * - `too-large`: over the bus's message size limit (NATS `max_payload`, a stream's
 *   `max_msg_size`, the table bus's `maxPayloadBytes`): it will never fit;
 * - `invalid-subject`: not a subject a message can be published on (see subjectProblem);
 * - `unavailable`: the bus did not answer or cannot store now (down, reconnecting, no stream
 *   covering the subject yet, a stream full): trying again later can succeed;
 * - `refused`: any other refusal by the bus.
 * What a publisher does with each kind is its policy (the relay's: outbox/relay-policy.ts).
 */
export type PublishFailureKind = 'too-large' | 'invalid-subject' | 'unavailable' | 'refused';

/** One message the bus did not store, with the kind of reason. */
export class BusPublishError extends HodeiError {
  constructor(
    readonly kind: PublishFailureKind,
    readonly messageId: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(
      kind === 'unavailable' ? 'UNAVAILABLE' : 'BUS_REFUSED',
      message,
      { kind, messageId },
      options,
    );
  }
}

/** Why `subject` cannot be published on (both adapters refuse it), or undefined: it must be
 * non-empty, of non-empty tokens separated by dots, without whitespace or control characters, and
 * without wildcard tokens (`*`, `>`), which NATS would store as if they were literal. */
export function subjectProblem(subject: string): string | undefined {
  if (subject === '') return 'the subject is empty';
  if (/[\s\p{Cc}]/u.test(subject)) return 'the subject contains whitespace or a control character';
  const tokens = subject.split('.');
  if (tokens.some((t) => t === '')) return 'the subject has an empty token';
  if (tokens.some((t) => t === '*' || t === '>')) return 'the subject has a wildcard token';
  return undefined;
}
