// Following a job survives a broken WatchJob stream (server restart) without printing a line
// twice, and gives up on answers no retry will change.
import { create } from '@bufbuild/protobuf';
import { Code, ConnectError } from '@connectrpc/connect';
import { describe, expect, it } from 'vitest';
import {
  JobSchema,
  JobState,
  WatchJobResponseSchema,
  type WatchJobResponse,
} from '../../gen/hodei/v1/job_pb.js';
import type { JobClient } from '../client.js';
import { followJob } from './follow-job.js';

const jobMsg = (state: JobState) =>
  create(WatchJobResponseSchema, {
    event: { case: 'job', value: create(JobSchema, { id: 'j1', state }) },
  });
const logMsg = (seq: number, line: string) =>
  create(WatchJobResponseSchema, {
    event: {
      case: 'output',
      value: { seq: BigInt(seq), data: Buffer.from(`${line}\n`), attempt: 1 },
    },
  });

/** A JobClient whose WatchJob plays one scripted stream per call; an Error ends it badly. */
function fakeJobs(streams: (WatchJobResponse | Error)[][]): {
  jobs: JobClient;
  opened: () => number;
} {
  let calls = 0;
  const jobs = {
    async *watchJob() {
      const script = streams[Math.min(calls, streams.length - 1)] ?? [];
      calls += 1;
      for (const item of script) {
        if (item instanceof Error) throw item;
        yield item;
      }
    },
  } as unknown as JobClient;
  return { jobs, opened: () => calls };
}

const noSleep = async () => {};

describe('followJob', () => {
  it('re-opens a broken stream and skips lines already handed over', async () => {
    const { jobs, opened } = fakeJobs([
      [
        jobMsg(JobState.RUNNING),
        logMsg(1, 'a'),
        logMsg(2, 'b'),
        new ConnectError('gone', Code.Unavailable),
      ],
      [
        jobMsg(JobState.RUNNING),
        logMsg(1, 'a'),
        logMsg(2, 'b'),
        logMsg(3, 'c'),
        jobMsg(JobState.SUCCEEDED),
      ],
    ]);
    const lines: string[] = [];
    const done = await followJob(jobs, 'j1', {
      onOutput: (c) => void lines.push(Buffer.from(c.data).toString().trimEnd()),
      sleep: noSleep,
    });
    expect(done.state).toBe(JobState.SUCCEEDED);
    expect(lines).toEqual(['a', 'b', 'c']);
    expect(opened()).toBe(2);
  });

  it('re-opens a stream that ended before the job did', async () => {
    const { jobs, opened } = fakeJobs([
      [jobMsg(JobState.RUNNING)],
      [jobMsg(JobState.FAILED), logMsg(1, 'late')],
    ]);
    const lines: string[] = [];
    const done = await followJob(jobs, 'j1', {
      onOutput: (c) => void lines.push(Buffer.from(c.data).toString().trimEnd()),
      sleep: noSleep,
    });
    expect(done.state).toBe(JobState.FAILED);
    expect(lines).toEqual(['late']);
    expect(opened()).toBe(2);
  });

  it('fails at once when the job does not exist', async () => {
    const { jobs, opened } = fakeJobs([[new ConnectError('job j1 not found', Code.NotFound)]]);
    await expect(followJob(jobs, 'j1', { onOutput: () => {}, sleep: noSleep })).rejects.toThrow(
      /not found/,
    );
    expect(opened()).toBe(1);
  });

  it('gives up once the server has been out of reach longer than maxOutageMs', async () => {
    const { jobs, opened } = fakeJobs([
      [new ConnectError('connect ECONNREFUSED', Code.Unavailable)],
    ]);
    const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms / 20));
    await expect(
      followJob(jobs, 'j1', { onOutput: () => {}, sleep, maxOutageMs: 50, serverSeen: true }),
    ).rejects.toThrow(/ECONNREFUSED/);
    expect(opened()).toBeGreaterThan(1);
  });

  it('fails at once when the server never answered (it is not running)', async () => {
    const { jobs, opened } = fakeJobs([
      [new ConnectError('connect ECONNREFUSED', Code.Unavailable)],
    ]);
    await expect(followJob(jobs, 'j1', { onOutput: () => {}, sleep: noSleep })).rejects.toThrow(
      /ECONNREFUSED/,
    );
    expect(opened()).toBe(1);
  });
});
