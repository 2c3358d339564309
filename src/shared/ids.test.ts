import { describe, expect, it } from 'vitest';
import { executionSagaId, isUuid, newId, provisioningSagaId, recoverySagaId } from './ids.js';

describe('id derivation', () => {
  it('derives the same execution saga id for the same job and attempt', () => {
    const job = newId();
    expect(executionSagaId(job, 1)).toBe(executionSagaId(job, 1));
    expect(isUuid(executionSagaId(job, 1))).toBe(true);
  });

  it('derives different ids for another attempt, job or saga type', () => {
    const job = newId();
    const ids = new Set([
      executionSagaId(job, 1),
      executionSagaId(job, 2),
      executionSagaId(newId(), 1),
      provisioningSagaId(job),
      recoverySagaId(job),
    ]);
    expect(ids.size).toBe(5);
  });

  it('is a UUID version 5', () => {
    expect(executionSagaId('00000000-0000-0000-0000-000000000000', 1)[14]).toBe('5');
  });
});
