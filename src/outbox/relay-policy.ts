// What the relay does with an event the bus did not store, by kind of reason: one table
// (conventions: retries are data). An event is tried again after a jittered backoff, during which
// the relay goes on with the events behind it; one refused for a reason retrying cannot fix is
// dead-lettered once it has been tried `maxAttempts` times. A few tries rather than one guard
// against a refusal that was in fact passing (a stream's size limit being changed, a cluster node
// with another max_payload); at the default of 3 they cost about 0.3 s.
import type { PublishFailureKind } from '../bus/bus.js';
import { retryDelayMs } from '../db/transient-error.js';

export const RELAY_FAILURE_POLICY: Readonly<
  Record<PublishFailureKind, { deadLetter: boolean; because: string }>
> = Object.freeze({
  'too-large': { deadLetter: true, because: 'an event never shrinks' },
  'invalid-subject': { deadLetter: true, because: 'a stored subject never changes' },
  refused: { deadLetter: true, because: 'the bus answered and said no' },
  // NATS down or reconnecting, no stream over the subject yet, a full stream: the outbox is the
  // source of truth and keeps the event until the bus takes it, however long that is.
  unavailable: { deadLetter: false, because: 'the bus comes back' },
});

export type RelayDecision = { action: 'dead-letter' } | { action: 'retry'; inMs: number };

/** What to do with an event refused for `kind` on its try number `attempt` (1 for the first). */
export function relayDecision(
  kind: PublishFailureKind,
  attempt: number,
  maxAttempts: number,
): RelayDecision {
  if (RELAY_FAILURE_POLICY[kind].deadLetter && attempt >= maxAttempts) {
    return { action: 'dead-letter' };
  }
  return { action: 'retry', inMs: retryDelayMs(attempt) };
}
