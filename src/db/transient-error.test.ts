import { describe, expect, it } from 'vitest';
import { isTransientDbError, retryDelayMs } from './transient-error.js';

describe('isTransientDbError', () => {
  it('knows the database going away from a statement that is wrong', () => {
    expect(isTransientDbError(Object.assign(new Error('terminating'), { code: '57P01' }))).toBe(
      true,
    );
    expect(isTransientDbError(Object.assign(new Error('x'), { code: '08006' }))).toBe(true);
    expect(isTransientDbError(new Error('connect ECONNREFUSED 127.0.0.1:5432'))).toBe(true);
    expect(isTransientDbError(new Error('Connection terminated unexpectedly'))).toBe(true);
    expect(isTransientDbError(Object.assign(new Error('dup'), { code: '23505' }))).toBe(false);
    expect(isTransientDbError(new Error('syntax error at or near "x"'))).toBe(false);
    expect(isTransientDbError(undefined)).toBe(false);
  });
});

describe('retryDelayMs', () => {
  it('grows from about 100 ms to at most 2.5 s', () => {
    expect(retryDelayMs(1)).toBeGreaterThanOrEqual(75);
    expect(retryDelayMs(1)).toBeLessThanOrEqual(125);
    for (let i = 1; i < 30; i += 1) expect(retryDelayMs(i)).toBeLessThanOrEqual(2500);
  });
});
