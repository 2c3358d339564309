// Retries end to end, on both deployments: real server, workers and commands, through the CLI and
// the API. A failing command runs again after its backoff until it succeeds or its retries are
// spent; each attempt's exit code is kept and shown by `hodei job get`.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { timestampDate } from '@bufbuild/protobuf/wkt';
import { AttemptOutcome, JobState } from '../../src/gen/hodei/v1/job_pb.js';
import { runCli, startTestServer, type Deployment, type TestServer } from '../helpers/server.js';
import { waitFor } from '../helpers/procs.js';

for (const deployment of ['embedded', 'postgres+nats'] as Deployment[]) {
  describe(`retries (${deployment})`, () => {
    let server: TestServer;
    let dir: string;
    const cli = (args: string[]) => runCli(['--url', server.url, ...args]);

    beforeAll(async () => {
      server = await startTestServer({ deployment });
      dir = await mkdtemp(path.join(tmpdir(), 'hodei-retries-'));
    });
    afterAll(async () => {
      await server?.cleanup();
      await rm(dir, { recursive: true, force: true });
    });

    it('hodei run --retries 2 runs a failing command three times, says so, and exits with its code', async () => {
      const result = await cli([
        'run',
        '--retries',
        '2',
        '--backoff',
        '100ms',
        '--',
        'sh',
        '-c',
        'echo try; exit 3',
      ]);
      expect(result.code).toBe(3);
      expect(result.stdout).toBe('try\ntry\ntry\n');
      expect(result.stderr).toMatch(/attempt 2 starts \(retry 1 of 2 after: exited with code 3/);
      expect(result.stderr).toMatch(/attempt 3 starts \(retry 2 of 2 after: exited with code 3/);
      const id = /job ([0-9a-f-]{36})/.exec(result.stderr)?.[1] ?? '';
      const shown = await cli(['job', 'get', id]);
      expect(shown.code).toBe(0);
      expect(shown.stdout).toMatch(/retries:\s+2 of 2 used \(backoff 100ms doubling to 5m\)/);
      const rows = shown.stdout.split('\n').filter((line) => /^\d+\s+FAILED\s+3\s/.test(line));
      expect(rows).toHaveLength(3);
      const json = JSON.parse((await cli(['job', 'get', id, '--json'])).stdout) as {
        attempts: Array<{ attempt: number; outcome: string; exitCode: number }>;
      };
      expect(json.attempts.map((a) => [a.attempt, a.outcome, a.exitCode])).toEqual([
        [1, 'FAILED', 3],
        [2, 'FAILED', 3],
        [3, 'FAILED', 3],
      ]);
    });

    it('a command that fails once succeeds on its retry, no sooner than half the backoff', async () => {
      const marker = path.join(dir, `m-${deployment}`);
      const { job } = await server.jobs.queueJob({
        spec: {
          command: 'sh',
          args: ['-c', `if [ -e ${marker} ]; then echo second; else touch ${marker}; exit 4; fi`],
          retry: { retries: 3, backoff: { seconds: 1n, nanos: 0 } },
        },
      });
      const id = job?.id ?? '';
      const done = await waitFor('the retried job to succeed', async () => {
        const { job: now } = await server.jobs.getJob({ id });
        return now?.state === JobState.SUCCEEDED || now?.state === JobState.FAILED
          ? now
          : undefined;
      });
      expect(done.state).toBe(JobState.SUCCEEDED);
      expect(done.attempt).toBe(2);
      expect(done.retriesUsed).toBe(1);
      const [first, second] = done.attempts;
      expect(first).toMatchObject({ attempt: 1, outcome: AttemptOutcome.FAILED, exitCode: 4 });
      expect(second).toMatchObject({ attempt: 2, outcome: AttemptOutcome.SUCCEEDED, exitCode: 0 });
      const failedAt = timestampDate(first!.finishedAt!).getTime();
      const retriedAt = timestampDate(second!.startedAt!).getTime();
      expect(retriedAt - failedAt).toBeGreaterThanOrEqual(500);
      expect(first?.retryAt).toBeDefined();
      expect(retriedAt).toBeGreaterThanOrEqual(timestampDate(first!.retryAt!).getTime());
    });

    it('a job cancelled while it waits for its retry ends CANCELLED and never runs again', async () => {
      const { job } = await server.jobs.queueJob({
        spec: {
          command: 'sh',
          args: ['-c', 'exit 1'],
          retry: { retries: 5, backoff: { seconds: 60n, nanos: 0 } },
        },
      });
      const id = job?.id ?? '';
      await waitFor('the first attempt to fail and a retry to wait', async () => {
        const { job: now } = await server.jobs.getJob({ id });
        return now?.state === JobState.PENDING && now.retryAt ? now : undefined;
      });
      const { job: cancelled } = await server.jobs.cancelJob({ id });
      expect(cancelled?.state).toBe(JobState.CANCELLED);
      const { job: after } = await server.jobs.getJob({ id });
      expect(after?.attempts.map((a) => a.outcome)).toEqual([AttemptOutcome.FAILED]);
      expect(after?.attempt).toBe(2);
    });

    it('a bad retry policy is refused naming the field', async () => {
      await expect(
        server.jobs.queueJob({ spec: { command: 'true', retry: { retries: 101 } } }),
      ).rejects.toThrow(/spec\.retry\.retries/);
      const result = await cli(['run', '--retries', '1', '--backoff', 'soon', '--', 'true']);
      expect(result.code).not.toBe(0);
      expect(result.stderr).toMatch(/--backoff expects a duration/);
    });
  });
}
