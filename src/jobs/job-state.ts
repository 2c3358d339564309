// The job state machine: one pure function decides every transition.
import { IllegalTransitionError } from '../shared/errors.js';

export const JOB_STATES = [
  'PENDING',
  'ASSIGNED',
  'RUNNING',
  'SUCCEEDED',
  'FAILED',
  'TIMED_OUT',
  'CANCELLED',
] as const;
export type JobState = (typeof JOB_STATES)[number];

export const TERMINAL_JOB_STATES: readonly JobState[] = [
  'SUCCEEDED',
  'FAILED',
  'TIMED_OUT',
  'CANCELLED',
];

const ALLOWED: Record<JobState, readonly JobState[]> = {
  PENDING: ['ASSIGNED', 'CANCELLED', 'FAILED'],
  ASSIGNED: ['RUNNING', 'PENDING', 'FAILED', 'CANCELLED', 'SUCCEEDED', 'TIMED_OUT'],
  RUNNING: ['SUCCEEDED', 'FAILED', 'TIMED_OUT', 'CANCELLED', 'PENDING'],
  SUCCEEDED: [],
  FAILED: [],
  TIMED_OUT: [],
  CANCELLED: [],
};

export function isTerminalJobState(state: JobState): boolean {
  return TERMINAL_JOB_STATES.includes(state);
}

export function canTransitionJob(from: JobState, to: JobState): boolean {
  return ALLOWED[from].includes(to);
}

/** Returns the states a job may be in for it to move to `to` (used to guard UPDATEs). */
export function jobStatesAllowedBefore(to: JobState): JobState[] {
  return JOB_STATES.filter((from) => canTransitionJob(from, to));
}

/** Throws a typed error unless `from -> to` is a legal job transition. */
export function assertJobTransition(from: JobState, to: JobState): void {
  if (!canTransitionJob(from, to))
    throw new IllegalTransitionError('JOB_ILLEGAL_TRANSITION', from, to);
}

export function isJobState(value: string): value is JobState {
  return (JOB_STATES as readonly string[]).includes(value);
}
