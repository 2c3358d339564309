// How jobs, workers and log lines look to a reader: JSON views with readable field names, states
// without their enum prefix and ISO timestamps, plus the rows and fields of the text output.
import { timestampDate, type Duration, type Timestamp } from '@bufbuild/protobuf/wkt';
import {
  AttemptOutcome,
  JobState,
  LogStream,
  type Job,
  type JobAttempt,
} from '../gen/hodei/v1/job_pb.js';
import { WorkerState, type Worker } from '../gen/hodei/v1/worker_pb.js';
import { formatDuration } from '../shared/duration.js';

/** The proto says zero or absent max_attempts means 3. */
const DEFAULT_MAX_ATTEMPTS = 3;

export function jobStateName(state: JobState): string {
  return JobState[state] ?? 'UNSPECIFIED';
}

export function workerStateName(state: WorkerState): string {
  return WorkerState[state] ?? 'UNSPECIFIED';
}

export function isoTime(ts: Timestamp | undefined): string | null {
  return ts ? timestampDate(ts).toISOString() : null;
}

function durationMs(d: Duration | undefined): number | null {
  if (!d) return null;
  const ms = Number(d.seconds) * 1000 + Math.round(d.nanos / 1_000_000);
  return ms > 0 ? ms : null;
}

const orNull = (text: string): string | null => (text === '' ? null : text);

function attemptView(attempt: JobAttempt) {
  return {
    attempt: attempt.attempt,
    outcome: AttemptOutcome[attempt.outcome] ?? 'UNSPECIFIED',
    exitCode: attempt.exitCode ?? null,
    error: orNull(attempt.error),
    workerId: orNull(attempt.workerId),
    assignedAt: isoTime(attempt.assignedAt),
    startedAt: isoTime(attempt.startedAt),
    finishedAt: isoTime(attempt.finishedAt),
    retryAt: isoTime(attempt.retryAt),
  };
}

export type AttemptView = ReturnType<typeof attemptView>;

export function jobView(job: Job) {
  const spec = job.spec;
  return {
    id: job.id,
    name: orNull(spec?.name ?? ''),
    state: jobStateName(job.state),
    command: spec?.command ?? '',
    args: spec?.args ?? [],
    env: spec?.env ?? {},
    // Names only: the server shows "***" for every value.
    secrets: spec?.secrets ?? {},
    workingDir: orNull(spec?.workingDir ?? ''),
    timeoutMs: durationMs(spec?.timeout),
    maxAttempts: spec?.maxAttempts || DEFAULT_MAX_ATTEMPTS,
    labels: spec?.labels ?? {},
    provider: orNull(spec?.provider ?? ''),
    attempt: job.attempt,
    exitCode: job.exitCode ?? null,
    error: orNull(job.error),
    workerId: orNull(job.workerId),
    correlationId: job.correlationId,
    idempotencyKey: orNull(job.idempotencyKey),
    createdAt: isoTime(job.createdAt),
    assignedAt: isoTime(job.assignedAt),
    startedAt: isoTime(job.startedAt),
    finishedAt: isoTime(job.finishedAt),
    retry: spec?.retry?.retries
      ? {
          retries: spec.retry.retries,
          backoffMs: durationMs(spec.retry.backoff),
          maxBackoffMs: durationMs(spec.retry.maxBackoff),
        }
      : null,
    retriesUsed: job.retriesUsed,
    retryAt: isoTime(job.retryAt),
    attempts: job.attempts.map(attemptView),
    outputDeletedAt: isoTime(job.outputDeletedAt),
    queuedBy: orNull(job.queuedBy),
    cancelledBy: orNull(job.cancelledBy),
  };
}

export type JobView = ReturnType<typeof jobView>;

export function workerView(worker: Worker) {
  return {
    id: worker.id,
    state: workerStateName(worker.state),
    provider: worker.provider,
    externalId: orNull(worker.externalId),
    currentJobId: orNull(worker.currentJobId),
    jobsRun: worker.jobsRun,
    createdAt: isoTime(worker.createdAt),
    registeredAt: isoTime(worker.registeredAt),
    lastHeartbeatAt: isoTime(worker.lastHeartbeatAt),
    terminatedAt: isoTime(worker.terminatedAt),
    terminationReason: orNull(worker.terminationReason),
  };
}

export function logStreamName(stream: LogStream): 'stdout' | 'stderr' {
  return stream === LogStream.STDERR ? 'stderr' : 'stdout';
}

/** An argument as a shell would need it typed, for showing command lines. */
export function shellQuote(arg: string): string {
  return /^[\w@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replaceAll("'", `'\\''`)}'`;
}

export function commandLine(view: Pick<JobView, 'command' | 'args'>): string {
  return [view.command, ...view.args].map(shellQuote).join(' ');
}

const pairs = (record: Record<string, string>) =>
  Object.entries(record)
    .map(([k, v]) => `${k}=${v}`)
    .join(', ');

/** `hodei job get` without --json: the fields that have a value, in reading order. */
export function jobFields(view: JobView): [string, string][] {
  const fields: [string, string | null][] = [
    ['id', view.id],
    ['name', view.name],
    ['state', view.state],
    ['command', commandLine(view)],
    ['exit code', view.exitCode === null ? null : String(view.exitCode)],
    ['error', view.error],
    ['attempt', String(view.attempt)],
    ['retries', retriesText(view)],
    ['next attempt', view.retryAt && `not before ${view.retryAt} (retry backoff)`],
    ['max attempts', `${view.maxAttempts} (runs cut short by a lost worker)`],
    ['timeout', view.timeoutMs === null ? null : `${view.timeoutMs}ms`],
    ['working dir', view.workingDir],
    ['env', pairs(view.env) || null],
    ['secrets', pairs(view.secrets) || null],
    ['labels', pairs(view.labels) || null],
    ['provider', view.provider],
    ['worker', view.workerId],
    ['correlation id', view.correlationId],
    ['idempotency key', view.idempotencyKey],
    ['queued by', view.queuedBy && `token ${view.queuedBy}`],
    ['cancelled by', view.cancelledBy && `token ${view.cancelledBy}`],
    ['created', view.createdAt],
    ['assigned', view.assignedAt],
    ['started', view.startedAt],
    ['finished', view.finishedAt],
    ['output deleted', view.outputDeletedAt && `${view.outputDeletedAt} (retention)`],
  ];
  return fields.filter((f): f is [string, string] => f[1] !== null && f[1] !== '');
}

const MAX_COMMAND_WIDTH = 60;

/** `hodei job list` without --json. */
export function jobRow(view: JobView): string[] {
  const command = commandLine(view);
  return [
    view.id,
    view.state,
    String(view.attempt),
    view.exitCode === null ? '-' : String(view.exitCode),
    view.createdAt ?? '-',
    view.name ?? '',
    command.length > MAX_COMMAND_WIDTH ? `${command.slice(0, MAX_COMMAND_WIDTH - 1)}…` : command,
  ];
}

export const JOB_TABLE_HEADER = ['ID', 'STATE', 'ATTEMPT', 'EXIT', 'CREATED', 'NAME', 'COMMAND'];

function retriesText(view: JobView): string | null {
  if (!view.retry) return null;
  const { retries, backoffMs, maxBackoffMs } = view.retry;
  const backoff = formatDuration(backoffMs ?? 0);
  return `${view.retriesUsed} of ${retries} used (backoff ${backoff} doubling to ${formatDuration(maxBackoffMs ?? 0)})`;
}

export const ATTEMPT_TABLE_HEADER = ['ATTEMPT', 'OUTCOME', 'EXIT', 'STARTED', 'FINISHED', 'ERROR'];

/** `hodei job get` without --json: one row per ended attempt, below the job's fields. */
export function attemptRow(attempt: AttemptView): string[] {
  const error = attempt.error ?? '';
  return [
    String(attempt.attempt),
    attempt.outcome,
    attempt.exitCode === null ? '-' : String(attempt.exitCode),
    attempt.startedAt ?? '-',
    attempt.finishedAt ?? '-',
    error.length > MAX_COMMAND_WIDTH ? `${error.slice(0, MAX_COMMAND_WIDTH - 1)}…` : error,
  ];
}
