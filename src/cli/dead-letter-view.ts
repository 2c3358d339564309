// `hodei dlq`'s reading and writing of dead letters: ids and states as typed (bad ones are usage
// errors naming the argument), the JSON view (readable names, states without their enum prefix,
// ISO times) and the rows and fields of the text output.
import { DeadLetterState, type DeadLetter } from '../gen/hodei/v1/ops_pb.js';
import { usageError } from './cli-error.js';
import { isoTime } from './render.js';

const STATE_NAMES = ['PENDING', 'REPLAYED', 'DISCARDED'] as const;

/** A dead letter id as `hodei dlq list` shows it: a positive whole number. */
export function parseDeadLetterId(value: string): bigint {
  const trimmed = value.trim();
  if (!/^\d{1,15}$/.test(trimmed) || /^0+$/.test(trimmed)) {
    throw usageError(
      `<id> expects a dead letter id, a whole number as "hodei dlq list" shows it, got "${value}"`,
    );
  }
  return BigInt(trimmed);
}

/** States from repeated or comma-separated `--state` values, with or without DEAD_LETTER_STATE_. */
export function parseDeadLetterStates(values: readonly string[]): DeadLetterState[] {
  const states: DeadLetterState[] = [];
  for (const value of values.flatMap((v) => v.split(','))) {
    const name = value
      .trim()
      .toUpperCase()
      .replace(/^DEAD_LETTER_STATE_/, '');
    const known = STATE_NAMES.find((s) => s === name);
    if (!known) {
      throw usageError(
        `--state: unknown dead letter state "${value}" (one of ${STATE_NAMES.join(', ')})`,
      );
    }
    if (!states.includes(DeadLetterState[known])) states.push(DeadLetterState[known]);
  }
  return states;
}

export const ALL_DEAD_LETTER_STATES = STATE_NAMES.map((s) => DeadLetterState[s]);

export function deadLetterView(d: DeadLetter) {
  return {
    id: Number(d.id),
    state: DeadLetterState[d.state] ?? 'UNSPECIFIED',
    consumer: d.consumer,
    eventType: d.eventType || null,
    eventId: d.eventId,
    subject: d.subject,
    correlationId: d.correlationId || null,
    error: d.error,
    deliveryCount: d.deliveryCount,
    replayCount: d.replayCount,
    failedAt: isoTime(d.failedAt),
    replayedAt: isoTime(d.replayedAt),
    discardedAt: isoTime(d.discardedAt),
    discardReason: d.discardReason || null,
  };
}

export type DeadLetterView = ReturnType<typeof deadLetterView>;

/** `hodei dlq show --json`: the view plus the stored message. */
export function storedDeadLetterView(d: DeadLetter) {
  return { ...deadLetterView(d), headers: d.headers, payload: d.payload };
}

const MAX_ERROR_WIDTH = 60;

export const DEAD_LETTER_TABLE_HEADER = [
  'ID',
  'STATE',
  'CONSUMER',
  'EVENT',
  'DELIVERIES',
  'FAILED',
  'ERROR',
];

/** `hodei dlq list` without --json. */
export function deadLetterRow(view: DeadLetterView): string[] {
  const error = view.error.replace(/\s+/g, ' ');
  return [
    String(view.id),
    view.state,
    view.consumer,
    view.eventType ?? '-',
    String(view.deliveryCount),
    view.failedAt ?? '-',
    error.length > MAX_ERROR_WIDTH ? `${error.slice(0, MAX_ERROR_WIDTH - 1)}…` : error,
  ];
}

/** `hodei dlq show` without --json: the fields that have a value, in reading order. */
export function deadLetterFields(view: DeadLetterView): [string, string][] {
  const fields: [string, string | null][] = [
    ['id', String(view.id)],
    ['state', view.state],
    ['consumer', view.consumer],
    ['event type', view.eventType],
    ['event id', view.eventId],
    ['subject', view.subject],
    ['correlation id', view.correlationId],
    ['deliveries', String(view.deliveryCount)],
    ['failed', view.failedAt],
    ['replays', view.replayCount > 0 ? String(view.replayCount) : null],
    ['replayed', view.replayedAt],
    ['discarded', view.discardedAt],
    ['discard reason', view.discardReason],
    ['error', view.error],
  ];
  return fields.filter((f): f is [string, string] => f[1] !== null && f[1] !== '');
}

/** The stored payload for reading: indented when it is JSON (an event envelope), else as is. */
export function payloadText(payload: string): string {
  try {
    return JSON.stringify(JSON.parse(payload), null, 2);
  } catch {
    return payload;
  }
}
