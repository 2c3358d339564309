import { describe, expect, it } from 'vitest';
import {
  JOB_STATES,
  assertJobTransition,
  canTransitionJob,
  isTerminalJobState,
  jobStatesAllowedBefore,
  type JobState,
} from './job-state.js';
import { IllegalTransitionError } from '../shared/errors.js';

const LEGAL: Array<[JobState, JobState]> = [
  ['PENDING', 'ASSIGNED'],
  ['PENDING', 'CANCELLED'],
  ['PENDING', 'FAILED'],
  ['ASSIGNED', 'RUNNING'],
  ['ASSIGNED', 'PENDING'],
  ['ASSIGNED', 'FAILED'],
  ['ASSIGNED', 'CANCELLED'],
  ['ASSIGNED', 'SUCCEEDED'],
  ['ASSIGNED', 'TIMED_OUT'],
  ['RUNNING', 'SUCCEEDED'],
  ['RUNNING', 'FAILED'],
  ['RUNNING', 'TIMED_OUT'],
  ['RUNNING', 'CANCELLED'],
  ['RUNNING', 'PENDING'],
];

describe('job state machine', () => {
  it('allows exactly the documented transitions', () => {
    for (const from of JOB_STATES) {
      for (const to of JOB_STATES) {
        const legal = LEGAL.some(([f, t]) => f === from && t === to);
        expect(canTransitionJob(from, to), `${from} -> ${to}`).toBe(legal);
      }
    }
  });

  it('rejects every illegal transition with a typed error', () => {
    for (const from of JOB_STATES) {
      for (const to of JOB_STATES) {
        if (LEGAL.some(([f, t]) => f === from && t === to)) continue;
        expect(() => assertJobTransition(from, to)).toThrow(IllegalTransitionError);
      }
    }
  });

  it('terminal states have no way out', () => {
    for (const state of JOB_STATES.filter(isTerminalJobState)) {
      expect(JOB_STATES.some((to) => canTransitionJob(state, to))).toBe(false);
    }
  });

  it('lists the states a guarded update may start from', () => {
    expect(jobStatesAllowedBefore('RUNNING')).toEqual(['ASSIGNED']);
    expect(jobStatesAllowedBefore('CANCELLED')).toEqual(['PENDING', 'ASSIGNED', 'RUNNING']);
  });
});
