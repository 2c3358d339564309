// `hodei dlq` input and output: ids and states as typed (bad ones name the argument), and the JSON
// view of a dead letter.
import { create } from '@bufbuild/protobuf';
import { timestampFromMs } from '@bufbuild/protobuf/wkt';
import { describe, expect, it } from 'vitest';
import { DeadLetterSchema, DeadLetterState } from '../gen/hodei/v1/ops_pb.js';
import {
  deadLetterFields,
  deadLetterView,
  parseDeadLetterId,
  parseDeadLetterStates,
  payloadText,
} from './dead-letter-view.js';

describe('parseDeadLetterId', () => {
  it('takes a positive whole number', () => {
    expect(parseDeadLetterId('42')).toBe(42n);
    expect(parseDeadLetterId(' 7 ')).toBe(7n);
  });
  it.each(['0', '-1', 'abc', '1.5', '', '1234567890123456'])('refuses "%s" naming <id>', (v) => {
    expect(() => parseDeadLetterId(v)).toThrow(/^<id> expects a dead letter id/);
  });
});

describe('parseDeadLetterStates', () => {
  it('reads names in any case, comma-separated or repeated, once each', () => {
    expect(parseDeadLetterStates(['pending,Replayed', 'DEAD_LETTER_STATE_PENDING'])).toEqual([
      DeadLetterState.PENDING,
      DeadLetterState.REPLAYED,
    ]);
  });
  it('names --state and the choices for an unknown one', () => {
    expect(() => parseDeadLetterStates(['gone'])).toThrow(
      '--state: unknown dead letter state "gone" (one of PENDING, REPLAYED, DISCARDED)',
    );
  });
});

describe('deadLetterView', () => {
  it('renders readable names, ISO times and nulls for what is absent', () => {
    const view = deadLetterView(
      create(DeadLetterSchema, {
        id: 3n,
        eventId: 'e',
        consumer: 'saga-processor',
        subject: 's',
        eventType: 'JobQueued',
        error: 'boom',
        deliveryCount: 3,
        failedAt: timestampFromMs(Date.UTC(2025, 0, 2, 3, 4, 5)),
        state: DeadLetterState.PENDING,
      }),
    );
    expect(view).toEqual({
      id: 3,
      state: 'PENDING',
      consumer: 'saga-processor',
      eventType: 'JobQueued',
      eventId: 'e',
      subject: 's',
      correlationId: null,
      error: 'boom',
      deliveryCount: 3,
      replayCount: 0,
      failedAt: '2025-01-02T03:04:05.000Z',
      replayedAt: null,
      discardedAt: null,
      discardReason: null,
    });
    expect(deadLetterFields(view).map(([k]) => k)).toEqual([
      'id',
      'state',
      'consumer',
      'event type',
      'event id',
      'subject',
      'deliveries',
      'failed',
      'error',
    ]);
  });
  it('indents a JSON payload and leaves anything else as it is', () => {
    expect(payloadText('{"a":1}')).toBe('{\n  "a": 1\n}');
    expect(payloadText('not json')).toBe('not json');
  });
});
