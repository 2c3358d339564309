// When a failed command runs again, and after how long (issue 8, item 5). Pure: the decision is
// made where the result is recorded, in the transaction that records it.
//
// Retries are data: which outcomes a retry policy covers is one table, and the delay is one
// jittered exponential backoff. "Equal jitter": the n-th retry waits between half and all of
// min(max, base · 2^(n-1)), so a burst of jobs failing together (a dependency down) comes back
// spread over a window rather than all at once, and no retry comes sooner than half its step.

export interface RetryPolicy {
  /** How many times a failed command runs again; 0: never. */
  retries: number;
  /** Delay before the first retry. */
  backoffMs: number;
  /** Longest delay, whatever the doubling reaches. */
  maxBackoffMs: number;
}

export const DEFAULT_RETRY_BACKOFF_MS = 1000;
export const DEFAULT_RETRY_MAX_BACKOFF_MS = 5 * 60_000;
export const NO_RETRIES: RetryPolicy = Object.freeze({
  retries: 0,
  backoffMs: DEFAULT_RETRY_BACKOFF_MS,
  maxBackoffMs: DEFAULT_RETRY_MAX_BACKOFF_MS,
});

/** How a run on a worker ended, as the worker reported it. */
export type RunOutcome = 'EXITED' | 'TIMED_OUT' | 'CANCELLED' | 'START_FAILED';

/** Which failed runs a retry policy covers. */
export const RETRY_ON: Readonly<Record<RunOutcome, { retry: boolean; because: string }>> =
  Object.freeze({
    EXITED: { retry: true, because: 'a non-zero exit may be a passing failure' },
    TIMED_OUT: { retry: true, because: 'a slow dependency may be faster next time' },
    // A program that is not there, or a working directory that does not exist, stays so: the
    // retries would only delay the failure the user has to fix.
    START_FAILED: { retry: false, because: 'the command could not start at all' },
    CANCELLED: { retry: false, because: 'the run was stopped on purpose' },
  });

/** The delay before retry number `retry` (1 for the first), `random` in [0, 1). */
export function retryBackoffMs(
  policy: Pick<RetryPolicy, 'backoffMs' | 'maxBackoffMs'>,
  retry: number,
  random: () => number = Math.random,
): number {
  const step = Math.min(
    policy.maxBackoffMs,
    policy.backoffMs * 2 ** Math.min(Math.max(0, retry - 1), 40),
  );
  return Math.round(step / 2 + (random() * step) / 2);
}

/** Whether a failed run is retried: its outcome is one retries cover and retries are left. */
export function shouldRetry(
  outcome: RunOutcome,
  exitCode: number | null,
  policy: Pick<RetryPolicy, 'retries'>,
  retriesUsed: number,
): boolean {
  if (outcome === 'EXITED' && exitCode === 0) return false;
  return RETRY_ON[outcome].retry && retriesUsed < policy.retries;
}
