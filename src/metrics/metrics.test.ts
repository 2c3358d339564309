import { describe, expect, it } from 'vitest';
import { finishedJobLabels, workerLossCause } from './metrics.js';

describe('worker loss causes', () => {
  it('maps every reason the kill-switch is given to a bounded label', () => {
    expect(
      [
        'missed 3 heartbeats',
        'no word from the worker for 90 s',
        'stream closed',
        'worker process exited (signal SIGKILL)',
        '3 refused registrations',
        'not registered after 60 s',
        'its infrastructure ended before it registered',
        'the server that started it is gone',
        'its infrastructure is gone',
        'server shutting down',
        'something new',
      ].map(workerLossCause),
    ).toEqual([
      'silent',
      'silent',
      'stream_closed',
      'process_exited',
      'registration_refused',
      'never_registered',
      'never_registered',
      'never_registered',
      'infrastructure_gone',
      'server_shutdown',
      'other',
    ]);
  });
});

describe('finished job labels', () => {
  it('labels every terminal event with its state and a bounded reason', () => {
    expect(
      [
        ['JobSucceeded', { exitCode: 0 }],
        ['JobFailed', { exitCode: 3, error: 'exited with code 3' }],
        ['JobFailed', { exitCode: 127, error: 'command not found: nope' }],
        ['JobFailed', { error: 'worker lost: missed 3 heartbeats' }],
        ['JobFailed', { error: 'dispatch to the worker failed' }],
        ['JobFailed', { error: "the job's secrets were encrypted with secrets key a" }],
        ['JobFailed', { error: 'cancelled on the worker' }],
        ['JobTimedOut', {}],
        ['JobCancelled', {}],
        ['JobQueued', {}],
      ].map(([type, payload]) =>
        finishedJobLabels(type as string, payload as Record<string, unknown>),
      ),
    ).toEqual([
      { state: 'SUCCEEDED', reason: 'exited' },
      { state: 'FAILED', reason: 'exit_code' },
      { state: 'FAILED', reason: 'start_failed' },
      { state: 'FAILED', reason: 'worker_lost' },
      { state: 'FAILED', reason: 'dispatch_failed' },
      { state: 'FAILED', reason: 'secrets_unreadable' },
      { state: 'FAILED', reason: 'other' },
      { state: 'TIMED_OUT', reason: 'timeout' },
      { state: 'CANCELLED', reason: 'cancelled' },
      undefined,
    ]);
  });
});
