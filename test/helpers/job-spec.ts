// A job spec as the API stores it after validation, and a stored job, with every field at its
// default; tests override what they care about.
import {
  DEFAULT_MAX_ATTEMPTS,
  type JobRecord,
  type JobSpecInput,
  type StoredJobSpec,
} from '../../src/jobs/job.js';
import { NO_RETRIES } from '../../src/jobs/retry-policy.js';

/** Both as sent (secrets: values) and as stored (secretNames), so either kind of caller takes it;
 * the names follow the secrets unless overridden. */
export function jobSpec(
  overrides: Partial<JobSpecInput & StoredJobSpec> = {},
): JobSpecInput & StoredJobSpec {
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
    secrets: {},
    secretNames: Object.keys(overrides.secrets ?? {}).sort(),
    ...overrides,
  };
}

/** A stored job with every field at its default (PENDING, attempt 1, no worker); tests override
 * what they care about. */
export function jobRecord(overrides: Partial<JobRecord> = {}): JobRecord {
  const { secrets: _values, ...spec } = jobSpec();
  return {
    ...spec,
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
    secretsDigest: null,
    ...overrides,
  };
}
