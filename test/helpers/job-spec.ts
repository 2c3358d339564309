// A job spec as the API stores it after validation, and a stored job, with every field at its
// default; tests override what they care about.
import { DEFAULT_MAX_ATTEMPTS, type JobRecord, type JobSpecInput } from '../../src/jobs/job.js';
import { NO_RETRIES } from '../../src/jobs/retry-policy.js';

export function jobSpec(overrides: Partial<JobSpecInput> = {}): JobSpecInput {
  return {
    name: '',
    command: 'true',
    args: [],
    env: {},
    workingDir: '',
    timeoutMs: 0,
    maxAttempts: DEFAULT_MAX_ATTEMPTS,
    labels: {},
    provider: '',
    retry: NO_RETRIES,
    ...overrides,
  };
}

/** A stored job with every field at its default (PENDING, attempt 1, no worker); tests override
 * what they care about. */
export function jobRecord(overrides: Partial<JobRecord> = {}): JobRecord {
  return {
    ...jobSpec(),
    id: 'j',
    state: 'PENDING',
    attempt: 1,
    idempotencyKey: null,
    correlationId: 'c',
    exitCode: null,
    error: '',
    workerId: null,
    createdAt: new Date(0),
    assignedAt: null,
    startedAt: null,
    finishedAt: null,
    retriesUsed: 0,
    retryAt: null,
    outputDeletedAt: null,
    queuedBy: null,
    cancelledBy: null,
    ...overrides,
  };
}
