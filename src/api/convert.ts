// Converts between stored records and hodei.v1 messages.
import { create } from '@bufbuild/protobuf';
import { timestampFromDate, type Duration } from '@bufbuild/protobuf/wkt';
import {
  AttemptOutcome as PbAttemptOutcome,
  JobAttemptSchema,
  JobSchema,
  JobSpecSchema,
  JobState as PbJobState,
  LogStream,
  OutputChunkSchema,
  type Job,
  type JobAttempt,
  type JobSpec,
  type OutputChunk,
} from '../gen/hodei/v1/job_pb.js';
import {
  WorkerSchema,
  WorkerState as PbWorkerState,
  type Worker,
} from '../gen/hodei/v1/worker_pb.js';
import type { JobRecord } from '../jobs/job.js';
import type { AttemptOutcome, JobAttemptRecord } from '../jobs/job-attempt-sql.js';
import type { JobState } from '../jobs/job-state.js';
import type { StoredChunk } from '../jobs/job-output-sql.js';
import type { WorkerRecord } from '../workers/worker.js';
import type { RawJobSpec } from '../jobs/validate-job-spec.js';

const JOB_STATE_TO_PB: Record<JobState, PbJobState> = {
  PENDING: PbJobState.PENDING,
  ASSIGNED: PbJobState.ASSIGNED,
  RUNNING: PbJobState.RUNNING,
  SUCCEEDED: PbJobState.SUCCEEDED,
  FAILED: PbJobState.FAILED,
  TIMED_OUT: PbJobState.TIMED_OUT,
  CANCELLED: PbJobState.CANCELLED,
};

export function jobStateToPb(state: JobState): PbJobState {
  return JOB_STATE_TO_PB[state];
}

/** The stored state for a protobuf one; undefined for UNSPECIFIED or an unknown number. */
export function jobStateFromPb(state: PbJobState): JobState | undefined {
  return (Object.keys(JOB_STATE_TO_PB) as JobState[]).find((s) => JOB_STATE_TO_PB[s] === state);
}

export function durationToMs(duration: Duration | undefined): number {
  if (!duration) return 0;
  return Number(duration.seconds) * 1000 + duration.nanos / 1e6;
}

export function msToDuration(ms: number): { seconds: bigint; nanos: number } {
  const seconds = Math.floor(ms / 1000);
  return { seconds: BigInt(seconds), nanos: Math.round((ms - seconds * 1000) * 1e6) };
}

export function specFromPb(spec: JobSpec | undefined): RawJobSpec {
  return {
    name: spec?.name ?? '',
    command: spec?.command ?? '',
    args: spec?.args ?? [],
    env: spec?.env ?? {},
    workingDir: spec?.workingDir ?? '',
    timeoutMs: durationToMs(spec?.timeout),
    maxAttempts: spec?.maxAttempts ?? 0,
    labels: spec?.labels ?? {},
    provider: spec?.provider ?? '',
    retry: {
      retries: spec?.retry?.retries ?? 0,
      backoffMs: durationToMs(spec?.retry?.backoff),
      maxBackoffMs: durationToMs(spec?.retry?.maxBackoff),
    },
    secrets: spec?.secrets ?? {},
  };
}

/** What every read shows for a secret's value. */
export const SECRET_MASK = '***';

/** The job's spec as the API shows it: each secret's name with "***" for its value. Only the RUN
 * sent to the worker carries the values (`secretValues`, opened for that run). */
export function specToPb(job: JobRecord, secretValues?: Readonly<Record<string, string>>): JobSpec {
  const secrets: Record<string, string> = { ...secretValues };
  if (!secretValues) for (const name of job.secretNames) secrets[name] = SECRET_MASK;
  return create(JobSpecSchema, {
    secrets,
    name: job.name,
    command: job.command,
    args: job.args,
    env: job.env,
    workingDir: job.workingDir,
    timeout: job.timeoutMs > 0 ? msToDuration(job.timeoutMs) : undefined,
    maxAttempts: job.maxAttempts,
    labels: job.labels,
    provider: job.provider,
    retry:
      job.retry.retries > 0
        ? {
            retries: job.retry.retries,
            backoff: msToDuration(job.retry.backoffMs),
            maxBackoff: msToDuration(job.retry.maxBackoffMs),
          }
        : undefined,
  });
}

function ts(date: Date | null) {
  return date ? timestampFromDate(date) : undefined;
}

const OUTCOME_TO_PB: Record<AttemptOutcome, PbAttemptOutcome> = {
  SUCCEEDED: PbAttemptOutcome.SUCCEEDED,
  FAILED: PbAttemptOutcome.FAILED,
  TIMED_OUT: PbAttemptOutcome.TIMED_OUT,
  CANCELLED: PbAttemptOutcome.CANCELLED,
  WORKER_LOST: PbAttemptOutcome.WORKER_LOST,
  DISPATCH_FAILED: PbAttemptOutcome.DISPATCH_FAILED,
  SERVER_LOST: PbAttemptOutcome.SERVER_LOST,
};

export function attemptToPb(attempt: JobAttemptRecord): JobAttempt {
  return create(JobAttemptSchema, {
    attempt: attempt.attempt,
    outcome: OUTCOME_TO_PB[attempt.outcome] ?? PbAttemptOutcome.UNSPECIFIED,
    exitCode: attempt.exitCode ?? undefined,
    error: attempt.error,
    workerId: attempt.workerId ?? '',
    assignedAt: ts(attempt.assignedAt),
    startedAt: ts(attempt.startedAt),
    finishedAt: ts(attempt.finishedAt),
    retryAt: ts(attempt.retryAt),
  });
}

/** The job as the API shows it; `attempts` (its ended attempts) only where they were read. */
export function jobToPb(job: JobRecord, attempts: readonly JobAttemptRecord[] = []): Job {
  return create(JobSchema, {
    id: job.id,
    spec: specToPb(job),
    state: jobStateToPb(job.state),
    attempt: job.attempt,
    exitCode: job.exitCode ?? undefined,
    error: job.error,
    correlationId: job.correlationId,
    workerId: job.workerId ?? '',
    createdAt: ts(job.createdAt),
    assignedAt: ts(job.assignedAt),
    startedAt: ts(job.startedAt),
    finishedAt: ts(job.finishedAt),
    idempotencyKey: job.idempotencyKey ?? '',
    attempts: attempts.map(attemptToPb),
    retryAt: job.state === 'PENDING' ? ts(job.retryAt) : undefined,
    retriesUsed: job.retriesUsed,
    outputDeletedAt: ts(job.outputDeletedAt),
    queuedBy: job.queuedBy ?? '',
    cancelledBy: job.cancelledBy ?? '',
  });
}

export function chunkToPb(chunk: StoredChunk): OutputChunk {
  return create(OutputChunkSchema, {
    seq: BigInt(chunk.seq),
    attempt: chunk.attempt,
    stream: chunk.stream === 'stderr' ? LogStream.STDERR : LogStream.STDOUT,
    data: chunk.data,
    at: timestampFromDate(chunk.at),
  });
}

const WORKER_STATE_TO_PB = {
  CREATING: PbWorkerState.CREATING,
  READY: PbWorkerState.READY,
  BUSY: PbWorkerState.BUSY,
  TERMINATED: PbWorkerState.TERMINATED,
} as const;

export function workerToPb(worker: WorkerRecord): Worker {
  return create(WorkerSchema, {
    id: worker.id,
    provider: worker.provider,
    externalId: worker.externalId,
    state: WORKER_STATE_TO_PB[worker.state],
    currentJobId: worker.currentJobId ?? '',
    createdAt: ts(worker.createdAt),
    registeredAt: ts(worker.registeredAt),
    lastHeartbeatAt: ts(worker.lastHeartbeatAt),
    jobsRun: worker.jobsRun,
    correlationId: worker.correlationId,
    terminatedAt: ts(worker.terminatedAt),
    terminationReason: worker.terminationReason,
  });
}
