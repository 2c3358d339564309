// The event catalog: every event type, its aggregate, its subject and its payload. The outbox
// writer, the relay and every consumer go through this file.

export interface JobRef {
  jobId: string;
  attempt: number;
}

export interface EventPayloads {
  /** `queuedBy`: the API token that queued it (absent with auth off); `secrets`: the names of
   * its secrets (never their values), absent when it has none. */
  JobQueued: JobRef & { queuedBy?: string; secrets?: string[] };
  JobRequeued: JobRef & { reason: string };
  /** A failed run is retried: `attempt` is the next one, which starts no earlier than retryAt. */
  JobRetryScheduled: JobRef & {
    failedAttempt: number;
    workerId: string;
    exitCode?: number;
    error: string;
    retry: number;
    retries: number;
    delayMs: number;
    retryAt: string;
  };
  JobAssigned: JobRef & { workerId: string };
  JobStarted: JobRef & { workerId: string };
  JobSucceeded: JobRef & { workerId: string; exitCode: number };
  JobFailed: JobRef & { workerId?: string; exitCode?: number; error: string };
  JobTimedOut: JobRef & { workerId: string };
  JobCancelled: JobRef & { workerId?: string; cancelledBy?: string };
  WorkerProvisioningRequested: { requestId: string; provider: string; jobId?: string };
  WorkerCreated: { workerId: string; provider: string; externalId: string };
  WorkerRegistered: { workerId: string };
  WorkerReady: { workerId: string };
  /** `serverGone`: the server holding the worker's stream went away (a crash), and the worker
   * with it; the job's next attempt is not charged to max_attempts. */
  WorkerLost: {
    workerId: string;
    reason: string;
    jobId?: string;
    attempt?: number;
    serverGone?: boolean;
  };
  WorkerTerminated: { workerId: string; reason: string };
  SagaStarted: SagaRef;
  SagaStepCompleted: SagaRef & { step: string };
  SagaCompleted: SagaRef;
  SagaCompensated: SagaRef & { error: string };
  SagaFailed: SagaRef & { error: string };
}

export interface SagaRef {
  sagaId: string;
  sagaType: string;
}

export type EventType = keyof EventPayloads;

export const EVENT_AGGREGATES = {
  JobQueued: 'job',
  JobRequeued: 'job',
  JobRetryScheduled: 'job',
  JobAssigned: 'job',
  JobStarted: 'job',
  JobSucceeded: 'job',
  JobFailed: 'job',
  JobTimedOut: 'job',
  JobCancelled: 'job',
  WorkerProvisioningRequested: 'worker',
  WorkerCreated: 'worker',
  WorkerRegistered: 'worker',
  WorkerReady: 'worker',
  WorkerLost: 'worker',
  WorkerTerminated: 'worker',
  SagaStarted: 'saga',
  SagaStepCompleted: 'saga',
  SagaCompleted: 'saga',
  SagaCompensated: 'saga',
  SagaFailed: 'saga',
} as const satisfies Record<EventType, 'job' | 'worker' | 'saga'>;

export const EVENT_TYPES = Object.keys(EVENT_AGGREGATES) as EventType[];

export function isEventType(value: string): value is EventType {
  return Object.hasOwn(EVENT_AGGREGATES, value);
}

/** `<prefix>.<aggregate>.<EventType>`, e.g. `hodei.events.job.JobQueued`. */
export function subjectFor(prefix: string, type: EventType): string {
  return `${prefix}.${EVENT_AGGREGATES[type]}.${type}`;
}

/** The event type named by a subject's last token, if it is one. */
export function eventTypeOfSubject(subject: string): EventType | undefined {
  const last = subject.slice(subject.lastIndexOf('.') + 1);
  return isEventType(last) ? last : undefined;
}

/** An event about to be written to the outbox. */
export interface NewEvent<T extends EventType = EventType> {
  type: T;
  aggregateId: string;
  correlationId: string;
  payload: EventPayloads[T];
  /** The span the event was made under, when it is written elsewhere (in a batch with others'
   * events); otherwise the active span's when it is written. */
  traceparent?: string;
}

export function event<T extends EventType>(
  type: T,
  aggregateId: string,
  correlationId: string,
  payload: EventPayloads[T],
): NewEvent<T> {
  return { type, aggregateId, correlationId, payload };
}

/** An event as a consumer receives it. */
export interface DeliveredEvent {
  eventId: string;
  type: EventType;
  correlationId: string;
  payload: Record<string, unknown>;
}
