// Every event is bounded when it is written (DESIGN §10): each string in its payload is cut to
// EVENT_LIMITS.fieldBytes with a marker, and the payload as a whole to EVENT_LIMITS.payloadBytes.
// An event carries references and reasons, not data: a reason that echoes its input (an error
// repeating a 1 MiB working directory) is cut, so no request can write an event the bus refuses
// (NATS max_payload is 1 MiB by default) or that stalls the relay. Strings are also made storable
// in jsonb (no NUL, no lone surrogate), so an event can never fail the transaction that writes it.
import { HodeiError } from '../shared/errors.js';
import { storableText, truncateUtf8 } from '../shared/text-bounds.js';

export interface EventLimits {
  /** Most UTF-8 bytes of one string in a payload (the marker included). */
  fieldBytes: number;
  /** Most bytes of a payload's JSON. */
  payloadBytes: number;
}

/** 4 KiB is 20 lines of error text; 64 KiB leaves the envelope and headers far below any bus
 * limit (JetStream's default max_payload is 1 MiB). */
export const EVENT_LIMITS: EventLimits = Object.freeze({
  fieldBytes: 4 * 1024,
  payloadBytes: 64 * 1024,
});

/** The smallest string budget the payload bound shrinks to (room for a marker and a hint). */
const MIN_FIELD_BYTES = 64;

/** A payload that stays over the bound with every string cut to MIN_FIELD_BYTES: a payload shape
 * with unbounded structure, which the catalog does not have (a bug, not an input). */
export class EventTooLargeError extends HodeiError {
  constructor(type: string, bytes: number, limit: number) {
    super(
      'INVALID_ARGUMENT',
      `event ${type} is ${bytes} bytes with every field cut; at most ${limit}`,
      {
        type,
        bytes,
        limit,
      },
    );
  }
}

/** A text as events and dead letters keep it: storable, at most `fieldBytes` bytes (4 KiB). */
export function boundedText(text: string, fieldBytes = EVENT_LIMITS.fieldBytes): string {
  return truncateUtf8(storableText(text), fieldBytes);
}

function boundValue(value: unknown, fieldBytes: number): unknown {
  if (typeof value === 'string') return boundedText(value, fieldBytes);
  if (Array.isArray(value)) return value.map((v) => boundValue(v, fieldBytes));
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(
      Object.entries(value).map(([k, v]) => [storableText(k), boundValue(v, fieldBytes)]),
    );
  }
  return value;
}

function jsonBytes(value: unknown): number {
  return Buffer.byteLength(JSON.stringify(value) ?? '', 'utf8');
}

/**
 * A copy of the payload with every string bounded (see the file header). When the whole is still over `limits.payloadBytes`, the string budget is halved until
 * it fits. Throws EventTooLargeError when even 64-byte strings do not fit.
 */
export function boundEventPayload<T>(type: string, payload: T, limits = EVENT_LIMITS): T {
  let fieldBytes = limits.fieldBytes;
  for (;;) {
    const bounded = boundValue(payload, fieldBytes) as T;
    const size = jsonBytes(bounded);
    if (size <= limits.payloadBytes) return bounded;
    if (fieldBytes <= MIN_FIELD_BYTES) {
      throw new EventTooLargeError(type, size, limits.payloadBytes);
    }
    fieldBytes = Math.max(MIN_FIELD_BYTES, Math.floor(fieldBytes / 2));
  }
}
