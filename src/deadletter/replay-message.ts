// The bus message a dead-letter replay publishes: the stored event exactly as it was (subject,
// body with the event id consumers dedupe on, headers), under a bus message id of its own. The
// original id cannot be reused: JetStream drops a second message with the same Nats-Msg-Id inside
// its duplicate window (2 min) and the table bus stores each id once for ever, so a replay under
// it would be swallowed. The replay id is derived from the dead letter's row and replay count, so
// each replay is stored once, and a retried replay RPC cannot publish the same replay twice.
import type { BusMessage } from '../bus/bus.js';
import type { StoredFailedEvent } from './failed-events-sql.js';

/** The event id a replayed message carries (its envelope keeps it too); a consumer that fails it
 * again dead-letters it under this id, so it comes back on the same row. */
export const REPLAY_OF_HEADER = 'x-hodei-replay-of';
/** The consumer a replay is meant for: every other consumer acks it unread, since it had handled
 * the event already. Absent when the event never reached the bus (relay dead letters). */
export const REPLAY_FOR_HEADER = 'x-hodei-replay-for';

/** The consumer name of dead letters the outbox relay writes: events the bus refused, which no
 * consumer has seen, so their replay goes to every consumer. */
export const RELAY_DEAD_LETTER_CONSUMER = 'outbox-relay';

const encoder = new TextEncoder();

/** The headers of a stored message without any replay marks (they are set afresh per replay). */
export function withoutReplayHeaders(headers: Record<string, string>): Record<string, string> {
  const { [REPLAY_OF_HEADER]: _of, [REPLAY_FOR_HEADER]: _for, ...rest } = headers;
  return rest;
}

/** The bus message id of the dead letter's replay number `replayCount` (1 for the first). */
export function replayMessageId(deadLetter: { id: number; eventId: string; replayCount: number }) {
  return `${deadLetter.eventId}/replay-${deadLetter.id}-${deadLetter.replayCount}`;
}

/** The message that replays a dead letter already marked replayed (its replayCount counted). */
export function replayMessage(deadLetter: StoredFailedEvent): BusMessage {
  const headers = withoutReplayHeaders(deadLetter.headers);
  headers[REPLAY_OF_HEADER] = deadLetter.eventId;
  if (deadLetter.consumer !== RELAY_DEAD_LETTER_CONSUMER) {
    headers[REPLAY_FOR_HEADER] = deadLetter.consumer;
  }
  return {
    id: replayMessageId(deadLetter),
    subject: deadLetter.subject,
    data: encoder.encode(deadLetter.payload),
    headers,
  };
}
