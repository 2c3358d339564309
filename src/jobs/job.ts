// The job record as the control plane stores it.
import type { JobState } from './job-state.js';
import type { RetryPolicy } from './retry-policy.js';

export interface JobSpecInput {
  name: string;
  command: string;
  args: string[];
  env: Record<string, string>;
  workingDir: string;
  timeoutMs: number;
  maxAttempts: number;
  labels: Record<string, string>;
  provider: string;
  retry: RetryPolicy;
  /** Values the command sees as environment variables; sealed before they are stored, never read
   * back but for the run (src/secrets/). */
  secrets: Record<string, string>;
}

/** The spec as stored and shown: the secrets' names only (sorted), never their values. */
export type StoredJobSpec = Omit<JobSpecInput, 'secrets'> & { secretNames: string[] };

/** The stored spec of a spec a client sent. */
export function storedSpec(spec: JobSpecInput): StoredJobSpec {
  const { secrets, ...rest } = spec;
  return { ...rest, secretNames: Object.keys(secrets).sort() };
}

export interface JobRecord extends StoredJobSpec {
  id: string;
  state: JobState;
  attempt: number;
  idempotencyKey: string | null;
  correlationId: string;
  exitCode: number | null;
  error: string;
  workerId: string | null;
  createdAt: Date;
  assignedAt: Date | null;
  startedAt: Date | null;
  finishedAt: Date | null;
  /** Retries of a failed command spent so far (of retry.retries). */
  retriesUsed: number;
  /** A PENDING job waiting out a retry's backoff starts no earlier than this. */
  retryAt: Date | null;
  /** When the retention loop deleted the job's output. */
  outputDeletedAt: Date | null;
  /** The API token that queued the job, and the one that cancelled it (null with auth off). */
  queuedBy: string | null;
  cancelledBy: string | null;
  /** A keyed hash of the idempotency key and the secret values (jobs with both), to tell a
   * repeated request with other values (secret-box.ts, digest). */
  secretsDigest: string | null;
}

export const DEFAULT_MAX_ATTEMPTS = 3;
/** A new job's attempt (the jobs table's default); each requeue adds one. */
export const FIRST_ATTEMPT = 1;

function sameEntries(a: Record<string, string>, b: Record<string, string>): boolean {
  const keys = Object.keys(a);
  return keys.length === Object.keys(b).length && keys.every((k) => b[k] === a[k]);
}

/** The spec fields in which `a` and `b` differ (an idempotency key repeated with another spec);
 * secret values are compared apart, by digest (job-commands.ts). */
export function specDifferences(a: StoredJobSpec, b: StoredJobSpec): string[] {
  const differ: string[] = [];
  if (a.name !== b.name) differ.push('name');
  if (a.command !== b.command) differ.push('command');
  if (a.args.length !== b.args.length || a.args.some((arg, i) => arg !== b.args[i])) {
    differ.push('args');
  }
  if (!sameEntries(a.env, b.env)) differ.push('env');
  if (a.secretNames.join('\n') !== b.secretNames.join('\n')) differ.push('secrets');
  if (a.workingDir !== b.workingDir) differ.push('working_dir');
  if (a.timeoutMs !== b.timeoutMs) differ.push('timeout');
  if (a.maxAttempts !== b.maxAttempts) differ.push('max_attempts');
  if (!sameEntries(a.labels, b.labels)) differ.push('labels');
  if (a.provider !== b.provider) differ.push('provider');
  if (
    a.retry.retries !== b.retry.retries ||
    (a.retry.retries > 0 &&
      (a.retry.backoffMs !== b.retry.backoffMs || a.retry.maxBackoffMs !== b.retry.maxBackoffMs))
  ) {
    differ.push('retry');
  }
  return differ;
}
