import { describe, expect, it } from 'vitest';
import { workerLossCause } from './metrics.js';

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
