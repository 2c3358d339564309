import { describe, expect, it } from 'vitest';
import {
  WORKER_STATES,
  assertWorkerTransition,
  canTransitionWorker,
  type WorkerState,
} from './worker-state.js';
import { IllegalTransitionError } from '../shared/errors.js';

const LEGAL: Array<[WorkerState, WorkerState]> = [
  ['CREATING', 'READY'],
  ['CREATING', 'TERMINATED'],
  ['READY', 'BUSY'],
  ['READY', 'TERMINATED'],
  ['BUSY', 'READY'],
  ['BUSY', 'TERMINATED'],
];

describe('worker state machine', () => {
  it('has exactly four states', () => {
    expect(WORKER_STATES).toEqual(['CREATING', 'READY', 'BUSY', 'TERMINATED']);
  });

  it('allows the documented transitions and rejects every other one', () => {
    for (const from of WORKER_STATES) {
      for (const to of WORKER_STATES) {
        const legal = LEGAL.some(([f, t]) => f === from && t === to);
        expect(canTransitionWorker(from, to), `${from} -> ${to}`).toBe(legal);
        if (!legal) expect(() => assertWorkerTransition(from, to)).toThrow(IllegalTransitionError);
      }
    }
  });

  it('never leaves TERMINATED (crash-only: no reconnection)', () => {
    expect(WORKER_STATES.some((to) => canTransitionWorker('TERMINATED', to))).toBe(false);
  });
});
