import { describe, expect, it } from 'vitest';
import { WORKER_WAIT_BACKOFF_LIMIT, workerWaitMs } from './execution-saga.js';

describe('workerWaitMs', () => {
  it('doubles with each wait that ran out, up to the limit', () => {
    expect([0, 1, 2, 3, 4, 10].map((n) => workerWaitMs(5000, n))).toEqual([
      5000, 10_000, 20_000, 40_000, 40_000, 40_000,
    ]);
    expect(WORKER_WAIT_BACKOFF_LIMIT).toBe(8);
  });
});
