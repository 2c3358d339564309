// Converts dead letters (failed_events rows) to and from hodei.v1 messages.
import { create } from '@bufbuild/protobuf';
import { timestampFromDate } from '@bufbuild/protobuf/wkt';
import {
  DeadLetterSchema,
  DeadLetterState as PbDeadLetterState,
  type DeadLetter,
} from '../gen/hodei/v1/ops_pb.js';
import type {
  FailedEvent,
  FailedEventState,
  StoredFailedEvent,
} from '../deadletter/failed-events-sql.js';
import { InvalidArgumentError } from '../shared/errors.js';

const STATE_TO_PB: Record<FailedEventState, PbDeadLetterState> = {
  PENDING: PbDeadLetterState.PENDING,
  REPLAYED: PbDeadLetterState.REPLAYED,
  DISCARDED: PbDeadLetterState.DISCARDED,
};

/** The stored state for a protobuf one; undefined for UNSPECIFIED or an unknown number. */
export function deadLetterStateFromPb(state: PbDeadLetterState): FailedEventState | undefined {
  return (Object.keys(STATE_TO_PB) as FailedEventState[]).find((s) => STATE_TO_PB[s] === state);
}

/** A dead letter's id from a request: a positive int64 that fits a JavaScript number. */
export function deadLetterIdFromPb(id: bigint): number {
  if (id <= 0n || id > BigInt(Number.MAX_SAFE_INTEGER)) {
    throw new InvalidArgumentError('id', 'must be the positive id of a dead letter');
  }
  return Number(id);
}

/** A dead letter; with its headers and payload when it is a stored one (GetDeadLetter). */
export function deadLetterToPb(d: FailedEvent | StoredFailedEvent): DeadLetter {
  return create(DeadLetterSchema, {
    id: BigInt(d.id),
    eventId: d.eventId,
    consumer: d.consumer,
    subject: d.subject,
    eventType: d.eventType,
    correlationId: d.correlationId,
    error: d.error,
    deliveryCount: d.deliveryCount,
    failedAt: timestampFromDate(d.failedAt),
    state: STATE_TO_PB[d.state],
    replayedAt: d.replayedAt ? timestampFromDate(d.replayedAt) : undefined,
    discardedAt: d.discardedAt ? timestampFromDate(d.discardedAt) : undefined,
    discardReason: d.discardReason,
    replayCount: d.replayCount,
    headers: 'headers' in d ? d.headers : {},
    payload: 'payload' in d ? d.payload : '',
  });
}
