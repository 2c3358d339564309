// The DatabaseReaper (DESIGN §6), a safety net under the WorkerMonitor: every interval (60 s by
// default) and once at start, it looks in the database for what the event-driven paths missed.
// - A RUNNING job whose worker has been silent past `jobSilenceMs` (90 s): the kill-switch for
//   its worker, naming the job, so WorkerLost goes through the outbox and the RecoverySaga
//   requeues the job (attempt + 1) or fails it when its attempts are spent. Silence is read from
//   the worker's last_heartbeat_at (jobs/job-sql.ts, findJobsOfSilentWorkers, says why).
// - A CREATING worker that will never register: older than `creatingTimeoutMs`, or whose
//   infrastructure is gone, or whose infrastructure was started by a server process that is gone
//   (a crash left it behind). Kill-switch: TERMINATED, WorkerLost, destroyed. Its slot is free
//   at once, so after a crash the restarted server provisions without waiting out the deadline.
// - A PENDING job without the ExecutionSaga of its attempt, unchanged past `jobSilenceMs`: the
//   event that starts it (JobQueued or JobRequeued) was never handled — every delivery went to a
//   server killed before it acked, until the bus stopped redelivering (max_deliver) with nobody
//   left to dead-letter it. The reaper writes JobRequeued for that same attempt; its saga id is
//   derived from the job and the attempt, so the job starts once however often this happens.
// Invariant 2: the reaper only marks, destroys and emits events (through the kill-switch or the
// outbox); the sagas react. With several servers one reaper runs a round at a time (an advisory lock).
import type { Db } from '../db/db.js';
import type { Logger } from '../shared/logger.js';
import type { Metrics } from '../metrics/metrics.js';
import type { Provider, WorkerInfrastructure } from '../providers/provider.js';
import type { WorkerMonitor } from '../workers/worker-monitor.js';
import type { WorkerRecord } from '../workers/worker.js';
import { findJobsOfSilentWorkers, findQuietPendingJobs } from '../jobs/job-sql.js';
import { existingSagaIds } from '../sagas/saga-sql.js';
import { executionSagaId } from '../shared/ids.js';
import { event } from '../events/catalog.js';
import type { OutboxWriter } from '../outbox/outbox-writer.js';
import { findCreatingWorkers } from '../workers/worker-sql.js';
import { SINGLETON_LOCKS } from './singleton-round.js';
import { createSafetyLoop, type SafetyLoop } from './safety-loop.js';

export interface DatabaseReaperOptions {
  db: Db;
  provider: Provider;
  /** The kill-switch (workers/worker-monitor.ts). */
  monitor: Pick<WorkerMonitor, 'workerLost'>;
  /** Writes the event that starts a stranded PENDING job's saga. */
  outbox: OutboxWriter;
  logger: Logger;
  metrics?: Metrics;
  /** Between rounds (HODEI_REAPER_INTERVAL); 0: only the round at start. */
  intervalMs: number;
  /** HODEI_REAPER_JOB_SILENCE. */
  jobSilenceMs: number;
  /** HODEI_CREATING_TIMEOUT. */
  creatingTimeoutMs: number;
  /** Most jobs, and most workers, looked at per round (the rest wait for the next). */
  batchSize?: number;
}

/** What one round did, per action (the action names are the metric's labels). */
export interface ReaperRound {
  silent_job: number;
  creating_timed_out: number;
  creating_gone: number;
  creating_orphaned: number;
  stranded_pending: number;
}

export type DatabaseReaper = SafetyLoop<ReaperRound>;

const BATCH = 200;

export function createDatabaseReaper(options: DatabaseReaperOptions): DatabaseReaper {
  const { db, provider, monitor, logger, metrics } = options;
  const batch = options.batchSize ?? BATCH;

  function done(counts: ReaperRound, action: keyof ReaperRound, fields: object, msg: string): void {
    counts[action] += 1;
    metrics?.safetyNetActions.inc({ net: 'reaper', action });
    logger.warn({ net: 'reaper', action, ...fields }, msg);
  }

  async function silentJobs(counts: ReaperRound): Promise<void> {
    for (const job of await findJobsOfSilentWorkers(db, options.jobSilenceMs, batch)) {
      const seconds = Math.round(job.silentMs / 1000);
      const reason = `no word from the worker for ${seconds} s`;
      const ref = { jobId: job.jobId, attempt: job.attempt };
      if (await monitor.workerLost(job.workerId, reason, ref)) {
        done(
          counts,
          'silent_job',
          { ...ref, workerId: job.workerId, silentMs: job.silentMs },
          "RUNNING job's worker silent; worker lost, job left to the RecoverySaga",
        );
      }
    }
  }

  /** Why a CREATING worker will never register, or undefined while it still may. */
  function creatingVerdict(
    worker: WorkerRecord,
    ageMs: number,
    inventory: WorkerInfrastructure[] | undefined,
  ): { action: keyof ReaperRound; reason: string } | undefined {
    if (ageMs > options.creatingTimeoutMs) {
      const seconds = Math.round(options.creatingTimeoutMs / 1000);
      return { action: 'creating_timed_out', reason: `not registered after ${seconds} s` };
    }
    // No external id yet: its provisioning is creating it right now (or crashed doing so; the
    // timeout above takes it then).
    if (!inventory || !worker.externalId) return undefined;
    const found = inventory.find(
      (i) => i.externalId === worker.externalId && i.workerId === worker.id,
    );
    if (!found)
      return { action: 'creating_gone', reason: 'its infrastructure ended before it registered' };
    if (found.orphaned) {
      return { action: 'creating_orphaned', reason: 'the server that started it is gone' };
    }
    return undefined;
  }

  async function strandedPendingJobs(counts: ReaperRound): Promise<void> {
    const quiet = await findQuietPendingJobs(db, options.jobSilenceMs, batch);
    const sagaOf = (j: { jobId: string; attempt: number }) => executionSagaId(j.jobId, j.attempt);
    const existing = await existingSagaIds(db, quiet.map(sagaOf));
    for (const job of quiet.filter((j) => !existing.has(sagaOf(j)))) {
      const seconds = Math.round(options.jobSilenceMs / 1000);
      const reason = `stranded: PENDING for ${seconds} s without a saga for attempt ${job.attempt}`;
      const ref = { jobId: job.jobId, attempt: job.attempt };
      await db.transaction((tx) =>
        options.outbox.append(tx, [
          event('JobRequeued', job.jobId, job.correlationId, { ...ref, reason }),
        ]),
      );
      done(counts, 'stranded_pending', ref, 'PENDING job whose saga never started; started again');
    }
  }

  async function creatingWorkers(counts: ReaperRound): Promise<void> {
    const creating = (await findCreatingWorkers(db, batch)).filter(
      (c) => c.worker.provider === provider.name,
    );
    // Read after the rows: whatever a row read above points at and still runs is listed.
    const inventory = creating.some(
      (c) => c.worker.externalId && c.ageMs <= options.creatingTimeoutMs,
    )
      ? await provider.inventory()
      : undefined;
    for (const { worker, ageMs } of creating) {
      const verdict = creatingVerdict(worker, ageMs, inventory);
      if (!verdict) continue;
      if (await monitor.workerLost(worker.id, verdict.reason)) {
        done(
          counts,
          verdict.action,
          { workerId: worker.id, externalId: worker.externalId, ageMs },
          `CREATING worker will never register (${verdict.reason}); terminated`,
        );
      }
    }
  }

  return createSafetyLoop({
    net: 'reaper',
    db,
    lockKey: SINGLETON_LOCKS.reaper,
    intervalMs: options.intervalMs,
    logger,
    metrics,
    async round() {
      const counts: ReaperRound = {
        silent_job: 0,
        creating_timed_out: 0,
        creating_gone: 0,
        creating_orphaned: 0,
        stranded_pending: 0,
      };
      await silentJobs(counts);
      await strandedPendingJobs(counts);
      await creatingWorkers(counts);
      return counts;
    },
  });
}
