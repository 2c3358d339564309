// Events as the tests need them: JobQueued events for the outbox writer, and the same event as
// the relay publishes it (a bus message with its envelope and headers).
import type { BusMessage } from '../../src/bus/bus.js';
import { CORRELATION_HEADER, EVENT_TYPE_HEADER } from '../../src/bus/bus.js';
import { encodeEvent } from '../../src/events/codec.js';
import { subjectFor, type NewEvent } from '../../src/events/catalog.js';
import { newId } from '../../src/shared/ids.js';

/** `n` JobQueued events of new jobs, each correlated as `c-<jobId>`. */
export function queuedEvents(n: number): NewEvent[] {
  return Array.from({ length: n }, () => {
    const jobId = newId();
    return {
      type: 'JobQueued',
      aggregateId: jobId,
      correlationId: `c-${jobId}`,
      payload: { jobId, attempt: 1 },
    };
  });
}

/** A JobQueued event of `jobId` (a new job by default) as the relay publishes it under `prefix`. */
export function jobQueuedMessage(prefix: string, jobId = newId()): BusMessage {
  const eventId = newId();
  return {
    id: eventId,
    subject: subjectFor(prefix, 'JobQueued'),
    data: encodeEvent({
      eventId,
      type: 'JobQueued',
      aggregateType: 'job',
      aggregateId: jobId,
      correlationId: `c-${jobId}`,
      occurredAt: new Date().toISOString(),
      payload: { jobId, attempt: 1 },
    }),
    headers: { [CORRELATION_HEADER]: `c-${jobId}`, [EVENT_TYPE_HEADER]: 'JobQueued' },
  };
}
