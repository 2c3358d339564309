import { describe, expect, it } from 'vitest';
import { compensationOrder } from './saga.js';

describe('compensationOrder', () => {
  const steps = [{ compensate: 1 }, {}, { compensate: 1 }, { compensate: 1 }];

  it('compensates completed steps before the failed one, last first', () => {
    expect(compensationOrder(steps, 3, new Set([0, 1, 2]))).toEqual([2, 0]);
  });

  it('skips steps without a compensation and steps that did not complete', () => {
    expect(compensationOrder(steps, 3, new Set([0, 1]))).toEqual([0]);
  });

  it('compensates nothing when the first step fails', () => {
    expect(compensationOrder(steps, 0, new Set())).toEqual([]);
  });

  it('never compensates the failed step or later ones', () => {
    expect(compensationOrder(steps, 2, new Set([0, 1, 2, 3]))).toEqual([0]);
  });
});
