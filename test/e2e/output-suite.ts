// Jobs of any size, end to end with real processes (issue: output flow control, attempts, limits):
// output comes back byte for byte from `hodei run` and `hodei job logs` (a million lines, one
// 27 MB line, bytes that are not UTF-8), output past the per-attempt limit is dropped with one
// marker while the job goes on, and the attempts of a job whose worker died are kept apart.
// Registered once per deployment (output-*.test.ts).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { JobState } from '../../src/gen/hodei/v1/job_pb.js';
import {
  runCli,
  startCli,
  startTestServer,
  type Deployment,
  type TestServer,
} from '../helpers/server.js';
import { waitFor } from '../helpers/procs.js';

const md5 = (data: Buffer | string) => createHash('md5').update(data).digest('hex');

export function outputSuite(deployment: Deployment): void {
  describe(`job output (${deployment})`, () => {
    let server: TestServer;
    let dir: string;
    const cli = (args: string[], timeoutMs = 120_000) =>
      runCli(['--url', server.url, ...args], {}, timeoutMs);

    beforeAll(async () => {
      server = await startTestServer({
        deployment,
        env: { HODEI_MAX_JOB_OUTPUT: '40MiB' },
      });
      dir = await mkdtemp(path.join(tmpdir(), 'hodei-output-'));
    });
    afterAll(async () => {
      await server?.cleanup();
      if (dir) await rm(dir, { recursive: true, force: true });
    });

    async function lastJobId(): Promise<string> {
      const { jobs } = await server.jobs.listJobs({ pageSize: 1 });
      return jobs[0]?.id ?? '';
    }

    it('seq 1 1000000: stdout and job logs are byte-identical, attempt 1, no lost heartbeats', async () => {
      const expected = Array.from({ length: 1_000_000 }, (_, i) => `${i + 1}\n`).join('');
      const run = await cli(['run', '--', 'seq', '1', '1000000']);
      expect(run.code).toBe(0);
      expect(md5(run.stdoutBytes)).toBe(md5(expected));
      const id = await lastJobId();
      const { job } = await server.jobs.getJob({ id });
      expect(job?.attempt).toBe(1);
      const logs = await cli(['job', 'logs', id]);
      expect(md5(logs.stdoutBytes)).toBe(md5(expected));
      expect(server.log()).not.toMatch(/missed \d+ heartbeats/);
    });

    it('one 27 MB line without a newline comes back as one line, identical', async () => {
      const run = await cli([
        'run',
        '--',
        'sh',
        '-c',
        'head -c 20000000 /dev/urandom | base64 -w 0',
      ]);
      expect(run.code).toBe(0);
      expect(run.stdoutBytes.length).toBe(26_666_668);
      expect(run.stdoutBytes.includes(0x0a)).toBe(false);
      const logs = await cli(['job', 'logs', await lastJobId()]);
      expect(md5(logs.stdoutBytes)).toBe(md5(run.stdoutBytes));
      const json = await cli(['job', 'logs', await lastJobId(), '--json']);
      const parsed = JSON.parse(json.stdout) as { lines: Array<{ line: string; attempt: number }> };
      expect(parsed.lines).toHaveLength(1);
      expect(parsed.lines[0]?.line.length).toBe(26_666_668);
      expect(parsed.lines[0]?.attempt).toBe(1);
    });

    it('output that is not UTF-8 comes back with the same bytes', async () => {
      const file = path.join(dir, 'random.bin');
      const bytes = randomBytes(1_000_000);
      await writeFile(file, bytes);
      const run = await cli(['run', '--', 'cat', file]);
      expect(run.code).toBe(0);
      expect(Buffer.compare(run.stdoutBytes, bytes)).toBe(0);
      const logs = await cli(['job', 'logs', await lastJobId()]);
      expect(Buffer.compare(logs.stdoutBytes, bytes)).toBe(0);
    });

    it('stdout and stderr keep their order and go to their own streams', async () => {
      const run = await cli([
        'run',
        '--',
        'sh',
        '-c',
        'for i in 1 2 3; do echo "out $i"; sleep 0.05; echo "err $i" >&2; sleep 0.05; done',
      ]);
      expect(run.stdout).toBe('out 1\nout 2\nout 3\n');
      expect(run.stderr).toContain('err 1\nerr 2\nerr 3\n');
      const json = await cli(['job', 'logs', await lastJobId(), '--json']);
      const lines = (JSON.parse(json.stdout) as { lines: Array<{ stream: string; line: string }> })
        .lines;
      expect(lines.map((l) => `${l.stream}:${l.line}`)).toEqual([
        'stdout:out 1',
        'stderr:err 1',
        'stdout:out 2',
        'stderr:err 2',
        'stdout:out 3',
        'stderr:err 3',
      ]);
    });

    it('past the per-attempt limit output is dropped with one marker line; the job goes on', async () => {
      // 50 MiB written, 40 MiB kept (this server's HODEI_MAX_JOB_OUTPUT).
      const run = await cli([
        'run',
        '--',
        'sh',
        '-c',
        "head -c 52428800 /dev/zero | tr '\\0' 'x'; echo; echo still running >&2",
      ]);
      expect(run.code).toBe(0);
      const logs = await cli(['job', 'logs', await lastJobId()]);
      expect(logs.stdoutBytes.length).toBe(40 * 1024 * 1024);
      expect(logs.stderr).toBe(
        `\n… ${10 * 1024 * 1024 + 1 + 14} bytes dropped (output passed the limit of 40 MiB per attempt)\n`,
      );
      const { job } = await server.jobs.getJob({ id: await lastJobId() });
      expect(job?.state).toBe(JobState.SUCCEEDED);
      const metrics = await (await fetch(`${server.url}/metrics`)).text();
      expect(metrics).toMatch(/hodei_job_output_dropped_bytes_total \d+/);
      expect(Number(/hodei_job_output_dropped_bytes_total (\d+)/.exec(metrics)?.[1])).toBe(
        10 * 1024 * 1024 + 1 + 14,
      );
    });

    it('a worker killed mid-output: attempts are kept apart in run, logs, --all and --json', async () => {
      const script =
        'i=0; while [ $i -lt 40 ]; do echo "attempt $HODEI_ATTEMPT line $i"; i=$((i+1)); sleep 0.05; done';
      const running = startCli(['--url', server.url, 'run', '--', 'sh', '-c', script], {}, 60_000);
      const id = await waitFor('the job to print', async () => {
        const { jobs } = await server.jobs.listJobs({ pageSize: 1 });
        const job = jobs[0];
        if (job?.spec?.command !== 'sh' || job.spec.args[1] !== script) return undefined;
        const { chunks } = await server.jobs.getJobLogs({ id: job.id });
        return chunks.length > 2 ? job.id : undefined;
      });
      const { job } = await server.jobs.getJob({ id });
      const worker = (await server.ops.listWorkers({})).workers.find((w) => w.id === job?.workerId);
      process.kill(Number(worker?.externalId), 'SIGKILL');
      const run = await running.done;
      expect(run.code).toBe(0);
      const attempt2 = Array.from({ length: 40 }, (_, i) => `attempt 2 line ${i}\n`).join('');
      expect(run.stdout.endsWith(attempt2)).toBe(true);
      expect(run.stdout.startsWith('attempt 1 line 0\n')).toBe(true);
      expect(run.stderr.match(/attempt 2 starts/g)).toHaveLength(1);

      const last = await cli(['job', 'logs', id]);
      expect(last.stdout).toBe(attempt2);
      const first = await cli(['job', 'logs', id, '--attempt', '1']);
      expect(first.stdout).toMatch(/^(attempt 1 line \d+\n)+$/);
      const all = await cli(['job', 'logs', id, '--all']);
      expect(all.stdout).toBe(`--- attempt 1 ---\n${first.stdout}--- attempt 2 ---\n${attempt2}`);
      const json = await cli(['job', 'logs', id, '--json']);
      const parsed = JSON.parse(json.stdout) as {
        attempt: number;
        lines: Array<{ attempt: number }>;
      };
      expect(parsed.attempt).toBe(2);
      expect(parsed.lines.every((l) => l.attempt === 2)).toBe(true);
      const none = await cli(['job', 'logs', id, '--attempt', '3']);
      expect(none.code).not.toBe(0);
      expect(none.stderr).toMatch(/no attempt 3/);
    });
  });
}
