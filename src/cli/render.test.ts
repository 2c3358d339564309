// What `--json` prints for a job: readable field names, states without JOB_STATE_, ISO times.
import { create } from '@bufbuild/protobuf';
import { timestampFromMs } from '@bufbuild/protobuf/wkt';
import { describe, expect, it } from 'vitest';
import { AttemptOutcome, JobSchema, JobState } from '../gen/hodei/v1/job_pb.js';
import { attemptRow, jobFields, jobRow, jobView, shellQuote } from './render.js';

const finished = create(JobSchema, {
  id: '6f1c',
  spec: {
    name: 'greet',
    command: 'sh',
    args: ['-c', "echo 'hi'"],
    env: { A: '1' },
    secrets: { TOKEN: '***' },
    labels: { team: 'core' },
    timeout: { seconds: 30n, nanos: 0 },
  },
  state: JobState.SUCCEEDED,
  attempt: 1,
  exitCode: 0,
  correlationId: 'c1',
  workerId: 'w1',
  createdAt: timestampFromMs(Date.UTC(2025, 0, 2, 3, 4, 5, 678)),
  finishedAt: timestampFromMs(Date.UTC(2025, 0, 2, 3, 4, 6, 0)),
});

describe('jobView', () => {
  it('renders a finished job as plain JSON', () => {
    expect(JSON.parse(JSON.stringify(jobView(finished)))).toEqual({
      id: '6f1c',
      name: 'greet',
      state: 'SUCCEEDED',
      command: 'sh',
      args: ['-c', "echo 'hi'"],
      env: { A: '1' },
      secrets: { TOKEN: '***' },
      workingDir: null,
      timeoutMs: 30_000,
      maxAttempts: 3,
      labels: { team: 'core' },
      provider: null,
      attempt: 1,
      exitCode: 0,
      error: null,
      workerId: 'w1',
      correlationId: 'c1',
      idempotencyKey: null,
      createdAt: '2025-01-02T03:04:05.678Z',
      assignedAt: null,
      startedAt: null,
      finishedAt: '2025-01-02T03:04:06.000Z',
      retry: null,
      retriesUsed: 0,
      retryAt: null,
      attempts: [],
      outputDeletedAt: null,
      queuedBy: null,
      cancelledBy: null,
    });
  });

  it('gives a pending job no exit code, worker or times it does not have', () => {
    const view = jobView(create(JobSchema, { id: 'p', state: JobState.PENDING }));
    expect(view).toMatchObject({
      state: 'PENDING',
      exitCode: null,
      workerId: null,
      startedAt: null,
    });
  });
});

describe('text output', () => {
  it('shows the command line as it would be typed', () => {
    expect(shellQuote("it's")).toBe(`'it'\\''s'`);
    expect(jobRow(jobView(finished))).toEqual([
      '6f1c',
      'SUCCEEDED',
      '1',
      '0',
      '2025-01-02T03:04:05.678Z',
      'greet',
      `sh -c 'echo '\\''hi'\\'''`,
    ]);
  });

  it('shows the retry policy, the next attempt and each ended attempt', () => {
    const retrying = create(JobSchema, {
      id: 'r',
      state: JobState.PENDING,
      attempt: 2,
      spec: {
        command: 'false',
        retry: { retries: 3, backoff: { seconds: 1n, nanos: 0 }, maxBackoff: { seconds: 300n } },
      },
      retriesUsed: 1,
      retryAt: timestampFromMs(Date.UTC(2025, 0, 2, 3, 4, 7, 0)),
      attempts: [
        {
          attempt: 1,
          outcome: AttemptOutcome.FAILED,
          exitCode: 3,
          error: 'exited with code 3',
          finishedAt: timestampFromMs(Date.UTC(2025, 0, 2, 3, 4, 6, 0)),
        },
      ],
    });
    const view = jobView(retrying);
    const fields = Object.fromEntries(jobFields(view));
    expect(fields.retries).toBe('1 of 3 used (backoff 1s doubling to 5m)');
    expect(fields['next attempt']).toContain('2025-01-02T03:04:07.000Z');
    expect(view.attempts.map(attemptRow)).toEqual([
      ['1', 'FAILED', '3', '-', '2025-01-02T03:04:06.000Z', 'exited with code 3'],
    ]);
  });

  it('lists only the fields that have a value', () => {
    const keys = jobFields(jobView(finished)).map(([key]) => key);
    expect(keys).toContain('exit code');
    expect(jobFields(jobView(finished))).toContainEqual(['secrets', 'TOKEN=***']);
    expect(keys).not.toContain('error');
    expect(keys).not.toContain('started');
  });
});
