// Pure parsing and rendering for the CLI: flags, exit codes, JSON views of jobs and workers.
import type { Job } from '../gen/hodei/v1/job_pb.js';
import { JobState } from '../gen/hodei/v1/job_pb.js';
import { WorkerState, type Worker } from '../gen/hodei/v1/worker_pb.js';
import type { Timestamp } from '@bufbuild/protobuf/wkt';
import { parseDuration } from '../shared/duration.js';
import { CliError } from './output.js';

/** Parses repeated `K=V` flags; names the flag in the error. */
export function parsePairs(flag: string, values: readonly string[]): Record<string, string> {
  const result: Record<string, string> = {};
  for (const value of values) {
    const eq = value.indexOf('=');
    if (eq <= 0) throw new CliError(`${flag} expects KEY=VALUE, got "${value}"`, 2);
    result[value.slice(0, eq)] = value.slice(eq + 1);
  }
  return result;
}

export function parseTimeoutFlag(
  value: string | undefined,
): { seconds: bigint; nanos: number } | undefined {
  if (value === undefined) return undefined;
  const ms = parseDuration(value);
  if (ms === undefined)
    throw new CliError(`--timeout expects a duration such as 500ms, 30s or 2m, got "${value}"`, 2);
  const seconds = Math.floor(ms / 1000);
  return { seconds: BigInt(seconds), nanos: (ms - seconds * 1000) * 1_000_000 };
}

export function parseIntFlag(
  flag: string,
  value: string | undefined,
  min: number,
): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < min)
    throw new CliError(`${flag} expects an integer >= ${min}, got "${value}"`, 2);
  return n;
}

export function stateName(state: JobState): string {
  return JobState[state] ?? 'UNSPECIFIED';
}

export function parseStateFlag(value: string): JobState {
  const key = value.toUpperCase().replace(/^JOB_STATE_/, '') as keyof typeof JobState;
  const state = JobState[key] as JobState | undefined;
  if (state === undefined || state === JobState.UNSPECIFIED || typeof state !== 'number') {
    throw new CliError(`--state: unknown job state "${value}"`, 2);
  }
  return state;
}

export function isTerminal(state: JobState): boolean {
  return [JobState.SUCCEEDED, JobState.FAILED, JobState.TIMED_OUT, JobState.CANCELLED].includes(
    state,
  );
}

/** The exit code of `hodei run` for a finished job, and what to say on stderr (if anything). */
export function exitFor(job: Job): { code: number; message?: string } {
  switch (job.state) {
    case JobState.SUCCEEDED:
      return { code: job.exitCode ?? 0 };
    case JobState.TIMED_OUT:
      return { code: 124, message: `hodei: job ${job.id} timed out` };
    case JobState.CANCELLED:
      return { code: 130, message: `hodei: job ${job.id} was cancelled` };
    case JobState.FAILED:
      if (
        job.exitCode !== undefined &&
        job.exitCode !== 0 &&
        !/not found|permission denied/.test(job.error)
      ) {
        return { code: job.exitCode };
      }
      return {
        code: /not found/.test(job.error) ? 127 : job.exitCode || 1,
        message: `hodei: job ${job.id} failed: ${job.error || 'unknown error'}`,
      };
    default:
      return { code: 1, message: `hodei: job ${job.id} ended in state ${stateName(job.state)}` };
  }
}

function iso(ts: Timestamp | undefined): string | null {
  return ts ? new Date(Number(ts.seconds) * 1000 + Math.floor(ts.nanos / 1e6)).toISOString() : null;
}

export function jobView(job: Job) {
  return {
    id: job.id,
    name: job.spec?.name ?? '',
    command: job.spec?.command ?? '',
    args: job.spec?.args ?? [],
    state: stateName(job.state),
    attempt: job.attempt,
    maxAttempts: job.spec?.maxAttempts ?? 0,
    exitCode: job.exitCode ?? null,
    error: job.error,
    correlationId: job.correlationId,
    workerId: job.workerId || null,
    labels: job.spec?.labels ?? {},
    createdAt: iso(job.createdAt),
    assignedAt: iso(job.assignedAt),
    startedAt: iso(job.startedAt),
    finishedAt: iso(job.finishedAt),
  };
}

export function workerView(worker: Worker) {
  return {
    id: worker.id,
    provider: worker.provider,
    externalId: worker.externalId,
    state: WorkerState[worker.state] ?? 'UNSPECIFIED',
    currentJobId: worker.currentJobId || null,
    jobsRun: worker.jobsRun,
    createdAt: iso(worker.createdAt),
    registeredAt: iso(worker.registeredAt),
    lastHeartbeatAt: iso(worker.lastHeartbeatAt),
  };
}
