// Prometheus metrics, one registry per server (no module singletons). Gauges that mirror table
// contents (jobs by state, workers by state, outbox pending) are read at scrape time.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export interface MetricsSources {
  jobsByState(): Promise<Array<{ state: string; count: number }>>;
  workersByState(): Promise<Array<{ state: string; count: number }>>;
  outboxPending(): Promise<number>;
  /** Age in seconds of the oldest event waiting to be published (0 when none). */
  outboxOldestAgeSeconds(): Promise<number>;
  /** Unacked messages per durable consumer of this server (undefined: not known now). */
  consumerLags(): Promise<Array<{ consumer: string; lag: number | undefined }>>;
  failedEvents(): Promise<number>;
  /** Whether the server can take work now (what /readyz answers). */
  ready(): Promise<boolean>;
}

/** The bounded set of reasons a worker is lost for, as a metric label (no ids, no numbers). */
export function workerLossCause(reason: string): string {
  if (/heartbeat|no word from the worker/.test(reason)) return 'silent';
  if (/stream closed/.test(reason)) return 'stream_closed';
  if (/process exited/.test(reason)) return 'process_exited';
  if (/refused registrations/.test(reason)) return 'registration_refused';
  if (
    /not registered after|infrastructure ended before|server that started it is gone/.test(reason)
  )
    return 'never_registered';
  if (/infrastructure is gone/.test(reason)) return 'infrastructure_gone';
  if (/shutting down/.test(reason)) return 'server_shutdown';
  return 'other';
}

export interface Metrics {
  readonly registry: Registry;
  readonly jobsQueued: Counter;
  /** Jobs that reached a terminal state, by state and reason (counted from the published
   * events, so every path that ends a job is counted once). */
  readonly jobsFinished: Counter<'state' | 'reason'>;
  readonly jobRetries: Counter<'outcome'>;
  readonly retentionDeletedRows: Counter<'table'>;
  readonly queueToStart: Histogram;
  readonly sagas: Counter<'type' | 'outcome'>;
  readonly eventsPublished: Counter;
  readonly deadLetters: Counter<'consumer'>;
  readonly outputStoredBytes: Counter;
  readonly outputDroppedBytes: Counter;
  /** Rounds of the safety nets (reaper, reconciler): done, skipped (another server holds the
   * lock) or failed. */
  readonly safetyNetRounds: Counter<'net' | 'outcome'>;
  /** What the safety nets did, one count per action (labels bounded, no ids). */
  readonly safetyNetActions: Counter<'net' | 'action'>;
  /** Per stage of a job: queue_to_assigned and assigned_to_started (first attempt), run (every
   * attempt, from its start to its result). */
  readonly jobStage: Histogram<'stage'>;
  /** Time a saga step's execute took (waits for an event not included), by saga and step. */
  readonly sagaStep: Histogram<'type' | 'step'>;
  /** Saga steps compensated, by saga and step. */
  readonly compensations: Counter<'type' | 'step'>;
  /** Workers lost (the kill-switch fired), by cause (workerLossCause). */
  readonly workersLost: Counter<'cause'>;
  /** Deliveries after the first, by consumer. */
  readonly redeliveries: Counter<'consumer'>;
  /** Wires the scrape-time gauges to their sources. */
  bindSources(sources: MetricsSources): void;
}

export function createMetrics(): Metrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'hodei_process_' });
  let sources: MetricsSources | undefined;
  /** A source that fails (the database away) leaves its gauge empty instead of failing the whole
   * scrape: hodei_ready says why, and every other series still comes through. */
  const read = async <T>(
    get: ((s: MetricsSources) => Promise<T>) | undefined,
  ): Promise<T | undefined> => {
    if (!sources || !get) return undefined;
    try {
      return await get(sources);
    } catch {
      return undefined;
    }
  };

  const jobsQueued = new Counter({
    name: 'hodei_jobs_queued_total',
    help: 'Jobs accepted by QueueJob (idempotent repeats not counted).',
    registers: [registry],
  });
  const jobsFinished = new Counter({
    name: 'hodei_jobs_finished_total',
    help: 'Jobs that reached a terminal state, by state and reason (exited, exit_code, start_failed, timeout, cancelled, worker_lost, dispatch_failed, secrets_unreadable, other).',
    labelNames: ['state', 'reason'] as const,
    registers: [registry],
  });
  const jobRetries = new Counter({
    name: 'hodei_job_retries_total',
    help: "Failed runs retried by their job's retry policy, by how the run ended (FAILED, TIMED_OUT).",
    labelNames: ['outcome'] as const,
    registers: [registry],
  });
  const retentionDeletedRows = new Counter({
    name: 'hodei_retention_deleted_rows_total',
    help: 'Rows deleted by the retention loop, by table (outbox_events, bus_messages, saga_instances, job_output, job_secrets).',
    labelNames: ['table'] as const,
    registers: [registry],
  });
  const queueToStart = new Histogram({
    name: 'hodei_job_queue_to_start_seconds',
    help: 'Time from QueueJob to the worker acknowledging the run.',
    buckets: [0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
    registers: [registry],
  });
  const sagas = new Counter({
    name: 'hodei_sagas_total',
    help: 'Sagas by type and outcome (started, completed, compensated, failed).',
    labelNames: ['type', 'outcome'] as const,
    registers: [registry],
  });
  const eventsPublished = new Counter({
    name: 'hodei_outbox_published_total',
    help: 'Events the outbox relay published to the bus.',
    registers: [registry],
  });
  const deadLetters = new Counter({
    name: 'hodei_dead_letters_total',
    help: 'Events written to failed_events: by a consumer after their last delivery failed, or by the outbox relay (consumer outbox-relay) when the bus refused them for good.',
    labelNames: ['consumer'] as const,
    registers: [registry],
  });
  const outputStoredBytes = new Counter({
    name: 'hodei_job_output_stored_bytes_total',
    help: 'Bytes of job output stored.',
    registers: [registry],
  });
  const outputDroppedBytes = new Counter({
    name: 'hodei_job_output_dropped_bytes_total',
    help: 'Bytes of job output dropped because an attempt passed its output limit.',
    registers: [registry],
  });
  const safetyNetRounds = new Counter({
    name: 'hodei_safety_net_rounds_total',
    help: 'Rounds of the DatabaseReaper and InfrastructureReconciler, by net and outcome (done, skipped: another server held the lock, failed).',
    labelNames: ['net', 'outcome'] as const,
    registers: [registry],
  });
  const safetyNetActions = new Counter({
    name: 'hodei_safety_net_actions_total',
    help: 'Actions of the DatabaseReaper and InfrastructureReconciler, by net and action (docs/operations.md).',
    labelNames: ['net', 'action'] as const,
    registers: [registry],
  });
  const jobStage = new Histogram({
    name: 'hodei_job_stage_seconds',
    help: 'Time a job spends in each stage: queue_to_assigned and assigned_to_started (first attempt), run (each attempt, start to result).',
    labelNames: ['stage'] as const,
    buckets: [0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300],
    registers: [registry],
  });
  const sagaStep = new Histogram({
    name: 'hodei_saga_step_seconds',
    help: "Time a saga step's execution took (waits for events not included), by saga type and step.",
    labelNames: ['type', 'step'] as const,
    buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [registry],
  });
  const compensations = new Counter({
    name: 'hodei_saga_compensations_total',
    help: 'Saga steps compensated, by saga type and step.',
    labelNames: ['type', 'step'] as const,
    registers: [registry],
  });
  const workersLost = new Counter({
    name: 'hodei_workers_lost_total',
    help: 'Workers the kill-switch terminated, by cause (silent, stream_closed, process_exited, registration_refused, never_registered, infrastructure_gone, server_shutdown, other).',
    labelNames: ['cause'] as const,
    registers: [registry],
  });
  const redeliveries = new Counter({
    name: 'hodei_bus_redeliveries_total',
    help: 'Bus deliveries after the first (a nak, an ack that did not come in time), by consumer.',
    labelNames: ['consumer'] as const,
    registers: [registry],
  });
  new Gauge({
    name: 'hodei_outbox_oldest_pending_age_seconds',
    help: 'Age of the oldest outbox event not yet published (0 when none): the relay lag.',
    registers: [registry],
    async collect() {
      const age = await read((src) => src.outboxOldestAgeSeconds());
      if (age !== undefined) this.set(age);
    },
  });
  new Gauge({
    name: 'hodei_bus_consumer_lag',
    help: 'Messages a durable consumer has not acked yet (waiting or in flight).',
    labelNames: ['consumer'] as const,
    registers: [registry],
    async collect() {
      this.reset();
      for (const row of (await read((src) => src.consumerLags())) ?? []) {
        if (row.lag !== undefined) this.set({ consumer: row.consumer }, row.lag);
      }
    },
  });
  new Gauge({
    name: 'hodei_ready',
    help: 'Whether the server can take work now: 1, or 0 while its database or bus does not answer (/readyz says which).',
    registers: [registry],
    async collect() {
      this.set((await read((src) => src.ready())) ? 1 : 0);
    },
  });
  new Gauge({
    name: 'hodei_jobs',
    help: 'Jobs by state.',
    labelNames: ['state'] as const,
    registers: [registry],
    async collect() {
      this.reset();
      for (const row of (await read((src) => src.jobsByState())) ?? [])
        this.set({ state: row.state }, row.count);
    },
  });
  new Gauge({
    name: 'hodei_workers',
    help: 'Workers by state.',
    labelNames: ['state'] as const,
    registers: [registry],
    async collect() {
      this.reset();
      for (const row of (await read((src) => src.workersByState())) ?? [])
        this.set({ state: row.state }, row.count);
    },
  });
  new Gauge({
    name: 'hodei_outbox_pending',
    help: 'Outbox events not yet published.',
    registers: [registry],
    async collect() {
      const pending = await read((src) => src.outboxPending());
      if (pending !== undefined) this.set(pending);
    },
  });
  new Gauge({
    name: 'hodei_failed_events',
    help: 'Dead letters in failed_events neither replayed nor discarded (hodei dlq list).',
    registers: [registry],
    async collect() {
      const failed = await read((src) => src.failedEvents());
      if (failed !== undefined) this.set(failed);
    },
  });

  return {
    registry,
    jobsQueued,
    jobsFinished,
    jobRetries,
    retentionDeletedRows,
    queueToStart,
    sagas,
    eventsPublished,
    deadLetters,
    outputStoredBytes,
    outputDroppedBytes,
    safetyNetRounds,
    safetyNetActions,
    jobStage,
    sagaStep,
    compensations,
    workersLost,
    redeliveries,
    bindSources(next) {
      sources = next;
    },
  };
}

/** Terminal job events, as jobs_finished_total labels: the state and a bounded reason. */
export function finishedJobLabels(
  type: string,
  payload: Record<string, unknown>,
): { state: string; reason: string } | undefined {
  if (type === 'JobSucceeded') return { state: 'SUCCEEDED', reason: 'exited' };
  if (type === 'JobTimedOut') return { state: 'TIMED_OUT', reason: 'timeout' };
  if (type === 'JobCancelled') return { state: 'CANCELLED', reason: 'cancelled' };
  if (type !== 'JobFailed') return undefined;
  const error = typeof payload.error === 'string' ? payload.error : '';
  if (/^worker lost/.test(error)) return { state: 'FAILED', reason: 'worker_lost' };
  if (/dispatch to the worker failed/.test(error))
    return { state: 'FAILED', reason: 'dispatch_failed' };
  if (/secrets/.test(error)) return { state: 'FAILED', reason: 'secrets_unreadable' };
  if (/not found|could not start|cannot (start|run)|permission denied/i.test(error)) {
    return { state: 'FAILED', reason: 'start_failed' };
  }
  if (typeof payload.exitCode === 'number') return { state: 'FAILED', reason: 'exit_code' };
  return { state: 'FAILED', reason: 'other' };
}
