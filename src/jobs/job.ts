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
}

export interface JobRecord extends JobSpecInput {
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
}

export const DEFAULT_MAX_ATTEMPTS = 3;
/** A new job's attempt (the jobs table's default); each requeue adds one. */
export const FIRST_ATTEMPT = 1;
