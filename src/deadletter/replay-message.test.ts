// The message a replay publishes: the stored event unchanged, under a message id of its own per
// replay, marked for the consumer that gave up on it (none for the relay's dead letters).
import { describe, expect, it } from 'vitest';
import type { StoredFailedEvent } from './failed-events-sql.js';
import {
  REPLAY_FOR_HEADER,
  REPLAY_OF_HEADER,
  RELAY_DEAD_LETTER_CONSUMER,
  replayMessage,
  withoutReplayHeaders,
} from './replay-message.js';

const stored: StoredFailedEvent = {
  id: 17,
  eventId: 'e-1',
  consumer: 'saga-processor',
  subject: 'hodei.events.job.JobQueued',
  eventType: 'JobQueued',
  correlationId: 'c-1',
  error: 'boom',
  deliveryCount: 3,
  failedAt: new Date(0),
  state: 'REPLAYED',
  replayedAt: new Date(1),
  discardedAt: null,
  discardReason: '',
  replayCount: 1,
  headers: { 'x-correlation-id': 'c-1', [REPLAY_OF_HEADER]: 'stale', [REPLAY_FOR_HEADER]: 'old' },
  payload: '{"eventId":"e-1","type":"JobQueued"}',
};

describe('replayMessage', () => {
  it('publishes the stored body and subject under a new id, marked for its consumer', () => {
    const message = replayMessage(stored);
    expect(message.id).toBe('e-1/replay-17-1');
    expect(message.subject).toBe(stored.subject);
    expect(new TextDecoder().decode(message.data)).toBe(stored.payload);
    expect(message.headers).toEqual({
      'x-correlation-id': 'c-1',
      [REPLAY_OF_HEADER]: 'e-1',
      [REPLAY_FOR_HEADER]: 'saga-processor',
    });
  });

  it('gives each replay of a dead letter, and each dead letter, an id of its own', () => {
    const ids = [
      replayMessage(stored).id,
      replayMessage({ ...stored, replayCount: 2 }).id,
      replayMessage({ ...stored, id: 18, consumer: 'other' }).id,
    ];
    expect(new Set(ids).size).toBe(3);
    expect(ids).not.toContain(stored.eventId);
  });

  it('sends a relay dead letter to every consumer', () => {
    const message = replayMessage({ ...stored, consumer: RELAY_DEAD_LETTER_CONSUMER });
    expect(message.headers[REPLAY_FOR_HEADER]).toBeUndefined();
    expect(message.headers[REPLAY_OF_HEADER]).toBe('e-1');
  });

  it('withoutReplayHeaders keeps every other header', () => {
    expect(withoutReplayHeaders(stored.headers)).toEqual({ 'x-correlation-id': 'c-1' });
  });
});
