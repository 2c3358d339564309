// `hodei run` exits as the command did, or by the shell's conventions when it did not run.
import { create } from '@bufbuild/protobuf';
import { describe, expect, it } from 'vitest';
import { JobSchema, JobState } from '../gen/hodei/v1/job_pb.js';
import { exitStatusOf, isTerminal } from './exit-status.js';

const job = (fields: Parameters<typeof create<typeof JobSchema>>[1]) =>
  create(JobSchema, { id: 'j1', ...fields });

describe('exitStatusOf', () => {
  it('SUCCEEDED exits 0 quietly', () => {
    expect(exitStatusOf(job({ state: JobState.SUCCEEDED, exitCode: 0 }))).toEqual({ code: 0 });
  });

  it("FAILED with an exit code exits with it, leaving the explaining to the command's stderr", () => {
    expect(
      exitStatusOf(job({ state: JobState.FAILED, exitCode: 3, error: 'exited with code 3' })),
    ).toEqual({ code: 3 });
  });

  it('FAILED because the command was not found exits 127 and says so', () => {
    const error = 'command not found: nope';
    expect(exitStatusOf(job({ state: JobState.FAILED, error }))).toEqual({
      code: 127,
      message: 'job j1 failed: command not found: nope',
    });
    // Also when the worker reported the shell's 127 with the reason.
    expect(exitStatusOf(job({ state: JobState.FAILED, exitCode: 127, error }))).toEqual({
      code: 127,
      message: 'job j1 failed: command not found: nope',
    });
  });

  it('FAILED without an exit code for another reason exits 1 with the reason', () => {
    expect(
      exitStatusOf(
        job({ state: JobState.FAILED, error: 'working directory /x: permission denied' }),
      ),
    ).toEqual({ code: 1, message: 'job j1 failed: working directory /x: permission denied' });
  });

  it('TIMED_OUT exits 124 and CANCELLED 130, each with a sentence', () => {
    const timedOut = job({
      state: JobState.TIMED_OUT,
      exitCode: 143,
      spec: { command: 'sleep', timeout: { seconds: 0n, nanos: 300_000_000 } },
    });
    expect(exitStatusOf(timedOut)).toEqual({ code: 124, message: 'job j1 timed out after 300ms' });
    expect(exitStatusOf(job({ state: JobState.CANCELLED }))).toEqual({
      code: 130,
      message: 'job j1 was cancelled',
    });
  });

  it('knows which states are terminal', () => {
    expect(
      [JobState.PENDING, JobState.ASSIGNED, JobState.RUNNING, JobState.SUCCEEDED].map(isTerminal),
    ).toEqual([false, false, false, true]);
    expect([JobState.FAILED, JobState.TIMED_OUT, JobState.CANCELLED].every(isTerminal)).toBe(true);
  });
});
