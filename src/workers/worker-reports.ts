// What the control plane does with what a worker reports over its stream (registration is in
// worker-registration.ts): run acknowledgements, results and output. Each state change commits
// with its events.
import type { Db, Queryable } from '../db/db.js';
import type { OutboxWriter } from '../outbox/outbox-writer.js';
import type { Logger } from '../shared/logger.js';
import type { Metrics } from '../metrics/metrics.js';
import { event, type NewEvent } from '../events/catalog.js';
import {
  findJob,
  finishJob,
  markJobRunningStatement,
  succeedJobReleasingWorkerStatement,
} from '../jobs/job-sql.js';
import { retryJob } from '../jobs/job-attempt-sql.js';
import { retryBackoffMs, shouldRetry, type RunOutcome } from '../jobs/retry-policy.js';
import type { JobRecord } from '../jobs/job.js';
import { appendOutput, type NumberedChunk } from '../jobs/job-output-sql.js';
import { activateWorker, releaseWorker } from './worker-sql.js';
import type { WorkerRecord } from './worker.js';
import type { JobWatch } from '../jobs/job-watch.js';
import { boundedText } from '../events/event-bounds.js';

export type { RunOutcome };

export interface RunReport {
  jobId: string;
  attempt: number;
  outcome: RunOutcome;
  exitCode: number | null;
  error: string;
  /** The job's correlation id, as sent with the RUN (lets a success be recorded in one
   * statement). */
  correlationId?: string;
}

export interface WorkerReportsDeps {
  db: Db;
  outbox: OutboxWriter;
  logger: Logger;
  jobWatch: JobWatch;
  metrics?: Metrics;
  /** This server process's id, recorded on the workers whose stream it holds. */
  serverInstance?: string;
}

export function createWorkerReports(deps: WorkerReportsDeps) {
  const { db, outbox, logger } = deps;

  /** The registered worker opened its stream: CREATING → READY, WorkerRegistered and WorkerReady
   * (the latter wakes a job waiting for a worker at once, one bus hop before the
   * ProvisioningSaga's own WorkerReady). */
  async function activate(workerId: string): Promise<WorkerRecord | undefined> {
    return db.transaction(async (tx) => {
      const worker = await activateWorker(tx, workerId, deps.serverInstance ?? null);
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
      const seconds = (from: Date, to: Date) => (to.getTime() - from.getTime()) / 1000;
      deps.metrics?.queueToStart.observe(seconds(job.createdAt, job.startedAt));
      // The first attempt's stages; a later attempt's queue time includes the earlier attempts.
      if (job.attempt === 1 && job.assignedAt) {
        deps.metrics?.jobStage.observe(
          { stage: 'queue_to_assigned' },
          seconds(job.createdAt, job.assignedAt),
        );
        deps.metrics?.jobStage.observe(
          { stage: 'assigned_to_started' },
          seconds(job.assignedAt, job.startedAt),
        );
      }
    }
  }

  /** A failed run the job's retry policy covers, while retries are left: the job back to PENDING
   * at the next attempt, held back by the backoff, with JobRetryScheduled (which starts the next
   * attempt's ExecutionSaga). Undefined when the run is not retried. */
  async function scheduleRetry(
    tx: Queryable,
    workerId: string,
    report: RunReport,
    failure: { state: 'FAILED' | 'TIMED_OUT'; error: string },
  ): Promise<{ job: JobRecord; events: NewEvent[] } | undefined> {
    const current = await findJob(tx, report.jobId);
    if (
      !current ||
      current.attempt !== report.attempt ||
      !shouldRetry(report.outcome, report.exitCode, current.retry, current.retriesUsed)
    ) {
      return undefined;
    }
    const retry = current.retriesUsed + 1;
    const delayMs = retryBackoffMs(current.retry, retry);
    const job = await retryJob(tx, {
      jobId: report.jobId,
      attempt: report.attempt,
      workerId,
      outcome: failure.state,
      exitCode: report.exitCode,
      error: failure.error,
      retriesUsed: current.retriesUsed,
      delayMs,
    });
    if (!job) return undefined;
    const payload = {
      jobId: job.id,
      attempt: job.attempt,
      failedAttempt: report.attempt,
      workerId,
      ...(report.exitCode === null ? {} : { exitCode: report.exitCode }),
      error: failure.error,
      retry,
      retries: job.retry.retries,
      delayMs,
      retryAt: (job.retryAt ?? new Date()).toISOString(),
    };
    return { job, events: [event('JobRetryScheduled', job.id, job.correlationId, payload)] };
  }

  /** A run that succeeded (never retried): the job SUCCEEDED, its worker READY and their
   * events, in one statement and one round trip — the common end of every run. */
  async function recordSuccess(
    workerId: string,
    report: RunReport,
    correlationId: string,
  ): Promise<{ job: JobRecord; retried: boolean } | undefined> {
    const ref = { jobId: report.jobId, attempt: report.attempt, workerId };
    const [result] = await outbox.changeWithChosenEvents(
      db,
      succeedJobReleasingWorkerStatement({ ...ref, exitCode: report.exitCode ?? 0 }),
      [
        event('JobSucceeded', report.jobId, correlationId, {
          ...ref,
          exitCode: report.exitCode ?? 0,
        }),
        event('WorkerReady', workerId, correlationId, { workerId }),
      ],
    );
    return result?.job && { job: result.job, retried: false };
  }

  /** The run ended: the job's terminal state (or its retry), the worker back to READY, their
   * events. */
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
    const finished =
      state === 'SUCCEEDED' && report.correlationId !== undefined
        ? await recordSuccess(workerId, report, report.correlationId)
        : await db.transaction(async (tx) => {
            const retried =
              state === 'SUCCEEDED'
                ? undefined
                : await scheduleRetry(tx, workerId, report, { state, error });
            const job =
              retried?.job ??
              (await finishJob(tx, {
                jobId: report.jobId,
                attempt: report.attempt,
                workerId,
                state,
                exitCode: report.exitCode,
                error,
              }));
            const events: NewEvent[] = retried?.events ?? [];
            if (job && !retried) {
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
            return job && { job, retried: retried !== undefined };
          });
    if (finished?.retried) {
      deps.metrics?.jobRetries.inc({ outcome: state });
      logger.info(
        {
          jobId: report.jobId,
          attempt: report.attempt,
          nextAttempt: finished.job.attempt,
          retryAt: finished.job.retryAt,
        },
        'job attempt failed; retry scheduled',
      );
    } else if (finished) {
      const { startedAt, finishedAt } = finished.job;
      logger.info(
        {
          jobId: report.jobId,
          attempt: report.attempt,
          workerId,
          state,
          exitCode: report.exitCode,
          error: error || undefined,
          durationMs:
            startedAt && finishedAt ? finishedAt.getTime() - startedAt.getTime() : undefined,
        },
        'job finished',
      );
      if (startedAt && finishedAt) {
        deps.metrics?.jobStage.observe(
          { stage: 'run' },
          (finishedAt.getTime() - startedAt.getTime()) / 1000,
        );
      }
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
