// The wire form of an event on the bus: UTF-8 JSON of the envelope.
import { isEventType, type DeliveredEvent } from './catalog.js';

export interface EventEnvelope {
  eventId: string;
  type: string;
  aggregateType: string;
  aggregateId: string;
  correlationId: string;
  occurredAt: string;
  payload: unknown;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export function encodeEvent(envelope: EventEnvelope): Uint8Array {
  return encoder.encode(JSON.stringify(envelope));
}

/** Decodes a bus message body; throws a clear error when it is not a known event. */
export function decodeEvent(data: Uint8Array): DeliveredEvent {
  const parsed = JSON.parse(decoder.decode(data)) as Partial<EventEnvelope>;
  if (typeof parsed.type !== 'string' || !isEventType(parsed.type)) {
    throw new Error(`unknown event type ${JSON.stringify(parsed.type)}`);
  }
  if (typeof parsed.eventId !== 'string' || typeof parsed.correlationId !== 'string') {
    throw new Error('event envelope lacks eventId or correlationId');
  }
  return {
    eventId: parsed.eventId,
    type: parsed.type,
    correlationId: parsed.correlationId,
    payload: (parsed.payload ?? {}) as Record<string, unknown>,
  };
}
