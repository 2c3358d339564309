import { describe, expect, it } from 'vitest';
import { retryBackoffMs, shouldRetry } from './retry-policy.js';

const policy = { retries: 3, backoffMs: 1000, maxBackoffMs: 5000 };

describe('retryBackoffMs', () => {
  it('doubles from the base on each retry, between half and all of the step', () => {
    expect(retryBackoffMs(policy, 1, () => 0)).toBe(500);
    expect(retryBackoffMs(policy, 1, () => 0.999999)).toBe(1000);
    expect(retryBackoffMs(policy, 2, () => 0)).toBe(1000);
    expect(retryBackoffMs(policy, 3, () => 0.5)).toBe(3000);
  });

  it('never waits longer than the max backoff, however many retries', () => {
    expect(retryBackoffMs(policy, 4, () => 0.999999)).toBe(5000);
    expect(retryBackoffMs(policy, 1000, () => 0.999999)).toBe(5000);
  });

  it('spreads a burst of failures over the window (jitter)', () => {
    const delays = new Set(Array.from({ length: 50 }, () => retryBackoffMs(policy, 2)));
    expect(delays.size).toBeGreaterThan(10);
    for (const d of delays) {
      expect(d).toBeGreaterThanOrEqual(1000);
      expect(d).toBeLessThanOrEqual(2000);
    }
  });
});

describe('shouldRetry', () => {
  it('retries a non-zero exit and a timeout while retries are left', () => {
    expect(shouldRetry('EXITED', 1, policy, 0)).toBe(true);
    expect(shouldRetry('TIMED_OUT', null, policy, 2)).toBe(true);
    expect(shouldRetry('EXITED', 1, policy, 3)).toBe(false);
  });

  it('never retries a success, a command that could not start, or a cancelled run', () => {
    expect(shouldRetry('EXITED', 0, policy, 0)).toBe(false);
    expect(shouldRetry('START_FAILED', null, policy, 0)).toBe(false);
    expect(shouldRetry('CANCELLED', null, policy, 0)).toBe(false);
  });

  it('never retries without a policy', () => {
    expect(shouldRetry('EXITED', 1, { retries: 0 }, 0)).toBe(false);
  });
});
