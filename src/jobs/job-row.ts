// How a jobs row maps to a JobRecord: the columns every job statement returns, and the mapping.
import type { JobRecord } from './job.js';
import type { JobState } from './job-state.js';

export interface JobRow {
  id: string;
  name: string;
  command: string;
  args: string[];
  env: Record<string, string>;
  working_dir: string;
  timeout_ms: number;
  max_attempts: number;
  attempt: number;
  labels: Record<string, string>;
  provider: string;
  idempotency_key: string | null;
  correlation_id: string;
  state: JobState;
  exit_code: number | null;
  error: string;
  worker_id: string | null;
  created_at: Date;
  assigned_at: Date | null;
  started_at: Date | null;
  finished_at: Date | null;
  retries: number;
  retry_backoff_ms: string | number;
  retry_max_backoff_ms: string | number;
  retries_used: number;
  retry_at: Date | null;
  output_deleted_at: Date | null;
  queued_by: string | null;
  cancelled_by: string | null;
  secret_names: string[];
  secrets_digest: string | null;
}

export const COLUMNS = `id, name, command, args, env, working_dir, timeout_ms, max_attempts, attempt, labels,
  provider, idempotency_key, correlation_id, state, exit_code, error, worker_id, created_at,
  assigned_at, started_at, finished_at, retries, retry_backoff_ms, retry_max_backoff_ms, retries_used,
  retry_at, output_deleted_at, queued_by, cancelled_by, secret_names, secrets_digest`;

const COLUMN_LIST = COLUMNS.split(',').map((c) => c.trim());

/** The job's columns of `alias` named `job_<column>`, for a statement returning a job beside
 * other rows' columns; read back with jobFromPrefixed. */
export function jobColumnsPrefixed(alias: string): string {
  return COLUMN_LIST.map((c) => `${alias}.${c} AS job_${c}`).join(', ');
}

/** The job of a row returned with jobColumnsPrefixed, or undefined when it had none. */
export function jobFromPrefixed(row: Record<string, unknown>): JobRecord | undefined {
  if (row.job_id === null || row.job_id === undefined) return undefined;
  return toJob(
    Object.fromEntries(COLUMN_LIST.map((c) => [c, row[`job_${c}`]])) as unknown as JobRow,
  );
}

export function toJob(row: JobRow): JobRecord {
  return {
    id: row.id,
    name: row.name,
    command: row.command,
    args: row.args,
    env: row.env,
    workingDir: row.working_dir,
    timeoutMs: Number(row.timeout_ms),
    maxAttempts: row.max_attempts,
    attempt: row.attempt,
    labels: row.labels,
    provider: row.provider,
    idempotencyKey: row.idempotency_key,
    correlationId: row.correlation_id,
    state: row.state,
    exitCode: row.exit_code,
    error: row.error,
    workerId: row.worker_id,
    createdAt: row.created_at,
    assignedAt: row.assigned_at,
    startedAt: row.started_at,
    finishedAt: row.finished_at,
    retry: {
      retries: row.retries,
      backoffMs: Number(row.retry_backoff_ms),
      maxBackoffMs: Number(row.retry_max_backoff_ms),
    },
    retriesUsed: row.retries_used,
    retryAt: row.retry_at,
    outputDeletedAt: row.output_deleted_at,
    queuedBy: row.queued_by,
    cancelledBy: row.cancelled_by,
    secretNames: row.secret_names,
    secretsDigest: row.secrets_digest,
  };
}

/** COLUMNS qualified by a table alias, for statements that join the jobs row with another. */
export function columnsOf(alias: string): string {
  return COLUMNS.split(',')
    .map((c) => `${alias}.${c.trim()}`)
    .join(', ');
}
