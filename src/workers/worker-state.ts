// The worker state machine: exactly four states (crash-only: no reconnecting, no recovering).
import { IllegalTransitionError } from '../shared/errors.js';

export const WORKER_STATES = ['CREATING', 'READY', 'BUSY', 'TERMINATED'] as const;
export type WorkerState = (typeof WORKER_STATES)[number];

const ALLOWED: Record<WorkerState, readonly WorkerState[]> = {
  CREATING: ['READY', 'TERMINATED'],
  READY: ['BUSY', 'TERMINATED'],
  BUSY: ['READY', 'TERMINATED'],
  TERMINATED: [],
};

export function canTransitionWorker(from: WorkerState, to: WorkerState): boolean {
  return ALLOWED[from].includes(to);
}

export function workerStatesAllowedBefore(to: WorkerState): WorkerState[] {
  return WORKER_STATES.filter((from) => canTransitionWorker(from, to));
}

export function assertWorkerTransition(from: WorkerState, to: WorkerState): void {
  if (!canTransitionWorker(from, to)) {
    throw new IllegalTransitionError('WORKER_ILLEGAL_TRANSITION', from, to);
  }
}

export function isWorkerState(value: string): value is WorkerState {
  return (WORKER_STATES as readonly string[]).includes(value);
}
