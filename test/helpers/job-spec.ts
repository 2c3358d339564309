// A job spec as the API stores it after validation, with every field at its default; tests
// override what they care about.
import { DEFAULT_MAX_ATTEMPTS, type JobSpecInput } from '../../src/jobs/job.js';
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
