// What the control plane does with what a worker reports over its stream (registration is in
// worker-registration.ts): run acknowledgements, results and output. Each state change commits
// with its events.
import type { Db } from '../db/db.js';
import type { OutboxWriter } from '../outbox/outbox-writer.js';
import type { Logger } from '../shared/logger.js';
import type { Metrics } from '../metrics/metrics.js';
import { event, type NewEvent } from '../events/catalog.js';
import { finishJob, markJobRunningStatement } from '../jobs/job-sql.js';
import { appendOutput, type NumberedChunk } from '../jobs/job-output-sql.js';
import { activateWorker, releaseWorker } from './worker-sql.js';
import type { WorkerRecord } from './worker.js';
import type { JobWatch } from '../jobs/job-watch.js';
import { boundedText } from '../events/event-bounds.js';

export type RunOutcome = 'EXITED' | 'TIMED_OUT' | 'CANCELLED' | 'START_FAILED';

export interface RunReport {
  jobId: string;
  attempt: number;
  outcome: RunOutcome;
  exitCode: number | null;
  error: string;
}

export interface WorkerReportsDeps {
  db: Db;
  outbox: OutboxWriter;
  logger: Logger;
  jobWatch: JobWatch;
  metrics?: Metrics;
}

export function createWorkerReports(deps: WorkerReportsDeps) {
  const { db, outbox, logger } = deps;

  /** The registered worker opened its stream: CREATING → READY, WorkerRegistered and WorkerReady
   * (the latter wakes a job waiting for a worker at once, one bus hop before the
   * ProvisioningSaga's own WorkerReady). */
  async function activate(workerId: string): Promise<WorkerRecord | undefined> {
    return db.transaction(async (tx) => {
      const worker = await activateWorker(tx, workerId);
      if (worker)
        await outbox.append(tx, [
          event('WorkerRegistered', workerId, worker.correlationId, { workerId }),
          event('WorkerReady', workerId, worker.correlationId, { workerId }),
        ]);
      return worker;
    });
  }

  /** The worker started the command: ASSIGNED → RUNNING with JobStarted, in one statement.
   * `correlationId` is the job's, as sent with the RUN command. */
  async function acknowledge(
    workerId: string,
    ref: { jobId: string; attempt: number; correlationId: string },
  ): Promise<void> {
    const { jobId, attempt, correlationId } = ref;
    const [job] = await outbox.changeWithEvents(
      db,
      markJobRunningStatement(jobId, attempt, workerId),
      [event('JobStarted', jobId, correlationId, { jobId, attempt, workerId })],
    );
    if (job?.startedAt) {
      deps.metrics?.queueToStart.observe(
        (job.startedAt.getTime() - job.createdAt.getTime()) / 1000,
      );
    }
  }

  /** The run ended: the job's terminal state, the worker back to READY, their events. */
  async function recordResult(workerId: string, report: RunReport): Promise<void> {
    const state =
      report.outcome === 'TIMED_OUT'
        ? 'TIMED_OUT'
        : report.outcome === 'EXITED' && report.exitCode === 0
          ? 'SUCCEEDED'
          : 'FAILED';
    const error =
      state === 'SUCCEEDED'
        ? ''
        : // A worker may send up to HODEI_MAX_MESSAGE_BYTES of error text, a NUL in it included.
          boundedText(report.error) ||
          (report.outcome === 'TIMED_OUT'
            ? 'timed out'
            : report.outcome === 'CANCELLED'
              ? 'cancelled on the worker'
              : `exited with code ${report.exitCode ?? 'unknown'}`);
    const finished = await db.transaction(async (tx) => {
      const job = await finishJob(tx, {
        jobId: report.jobId,
        attempt: report.attempt,
        workerId,
        state,
        exitCode: report.exitCode,
        error,
      });
      const events: NewEvent[] = [];
      if (job) {
        const ref = { jobId: job.id, attempt: job.attempt, workerId };
        events.push(
          state === 'SUCCEEDED'
            ? event('JobSucceeded', job.id, job.correlationId, {
                ...ref,
                exitCode: report.exitCode ?? 0,
              })
            : state === 'TIMED_OUT'
              ? event('JobTimedOut', job.id, job.correlationId, ref)
              : event('JobFailed', job.id, job.correlationId, {
                  ...ref,
                  error,
                  ...(report.exitCode === null ? {} : { exitCode: report.exitCode }),
                }),
        );
      }
      if (await releaseWorker(tx, workerId, report.jobId)) {
        events.push(event('WorkerReady', workerId, job?.correlationId ?? '', { workerId }));
      }
      await outbox.append(tx, events);
      return job;
    });
    if (finished) {
      deps.metrics?.jobsFinished.inc({ state });
    } else {
      logger.warn(
        { workerId, jobId: report.jobId, attempt: report.attempt, outcome: report.outcome },
        'ignored a result for an attempt that is no longer current (superseded, cancelled or late)',
      );
    }
  }

  /**
   * Stores output of the attempt the worker runs and wakes the job's watchers; returns false when
   * it was refused (the attempt is no longer RUNNING on this worker: requeued, cancelled, ended).
   * Storing the same parts again changes nothing, so a caller may retry.
   */
  async function storeOutput(
    workerId: string,
    run: { jobId: string; attempt: number },
    chunks: readonly NumberedChunk[],
    options: { fromPlatform?: boolean } = {},
  ): Promise<boolean> {
    const accepted = await appendOutput(db, { ...run, workerId, chunks, ...options });
    if (accepted) deps.jobWatch.notify(run.jobId);
    return accepted;
  }

  return { activate, acknowledge, recordResult, storeOutput };
}

export type WorkerReports = ReturnType<typeof createWorkerReports>;
