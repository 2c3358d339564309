// `hodei job submit --from-file` end to end on both deployments: real server, workers and
// commands. The file's jobs are queued (1,000 a call, each call all or none) and run; a bad line
// queues nothing and is named by file and line; `-` reads the jobs from stdin.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { JobState } from '../../src/gen/hodei/v1/job_pb.js';
import {
  HODEI_BIN,
  runCli,
  startTestServer,
  type Deployment,
  type TestServer,
} from '../helpers/server.js';
import { waitFor } from '../helpers/procs.js';

for (const deployment of ['embedded', 'postgres+nats'] as Deployment[]) {
  describe(`hodei job submit --from-file (${deployment})`, () => {
    let server: TestServer;
    let dir: string;
    const cli = (args: string[]) => runCli(['--url', server.url, ...args]);
    const jobCount = async () => (await server.jobs.listJobs({ pageSize: 500 })).jobs.length;

    beforeAll(async () => {
      server = await startTestServer({ deployment });
      dir = await mkdtemp(path.join(tmpdir(), 'hodei-submit-file-'));
    });
    afterAll(async () => {
      await server?.cleanup();
      await rm(dir, { recursive: true, force: true });
    });

    it('queues every line of the file and the jobs run', async () => {
      const file = path.join(dir, 'jobs.jsonl');
      const lines = [1, 2, 3, 4, 5].map((i) =>
        JSON.stringify({ spec: { command: 'sh', args: ['-c', `echo job-${i}`] } }),
      );
      await writeFile(file, `${lines.join('\n')}\n\n`);
      const result = await cli(['job', 'submit', '--from-file', file]);
      expect(result.stderr).toBe('');
      expect(result.code).toBe(0);
      const ids = result.stdout.trim().split('\n');
      expect(ids).toHaveLength(5);
      for (const [i, id] of ids.entries()) {
        const job = await waitFor(
          `job ${i + 1} to succeed`,
          async () => {
            const { job } = await server.jobs.getJob({ id });
            return job?.state === JobState.SUCCEEDED ? job : undefined;
          },
          30_000,
        );
        expect(job.spec?.args).toEqual(['-c', `echo job-${i + 1}`]);
      }
    });

    it('a bad line queues nothing, names file and line, and exits 2', async () => {
      const file = path.join(dir, 'bad.jsonl');
      await writeFile(
        file,
        [
          '{"spec":{"command":"true"}}',
          '{"spec":{"command":"true"}}',
          '{"spec":{"command":"true","maxAttempt":2}}',
        ].join('\n'),
      );
      const before = await jobCount();
      const result = await cli(['job', 'submit', '--from-file', file]);
      expect(result.code).toBe(2);
      expect(result.stderr).toContain(`${file}:3: `);
      expect(result.stderr).toMatch(/key "maxAttempt" is unknown/);
      expect(result.stdout).toBe('');
      expect(await jobCount()).toBe(before);
    });

    it('a line the server refuses queues nothing of its call and is named by its line', async () => {
      const file = path.join(dir, 'refused.jsonl');
      await writeFile(
        file,
        ['{"spec":{"command":"true"}}', '{"spec":{"command":"true","provider":"nowhere"}}'].join(
          '\n',
        ),
      );
      const before = await jobCount();
      const result = await cli(['job', 'submit', '--from-file', file]);
      expect(result.code).toBe(1);
      expect(result.stderr).toMatch(/refused\.jsonl:2: spec\.provider: /);
      expect(result.stderr).toMatch(/nothing from lines 1–2 was queued/);
      expect(await jobCount()).toBe(before);
    });

    it('a file that cannot be read, or a command given too, is a usage error and queues nothing', async () => {
      const before = await jobCount();
      const missing = await cli(['job', 'submit', '--from-file', path.join(dir, 'nope.jsonl')]);
      expect(missing.code).toBe(2);
      expect(missing.stderr).toMatch(/cannot read .*nope\.jsonl: ENOENT/);
      const withFile = (...more: string[]) =>
        cli(['job', 'submit', '--from-file', path.join(dir, 'jobs.jsonl'), ...more]);
      const both = await withFile('--', 'echo');
      expect(both.code).toBe(2);
      expect(both.stderr).toMatch(/give either a command or --from-file, not both/);
      const flagged = await withFile('--env', 'A=1');
      expect(flagged.code).toBe(2);
      expect(flagged.stderr).toMatch(/--env does not apply/);
      expect(await jobCount()).toBe(before);
    });

    it('a file of large jobs goes in calls small enough for the server, all queued', async () => {
      // 30 jobs of ~200 KB each (6 MB in all, over the server's 4 MiB message limit in one call).
      const file = path.join(dir, 'large.jsonl');
      const big = 'x'.repeat(60_000);
      const lines = Array.from({ length: 30 }, (_, i) =>
        JSON.stringify({ spec: { command: 'true', args: [big, big, big], name: `large-${i}` } }),
      );
      await writeFile(file, lines.join('\n'));
      const result = await cli(['job', 'submit', '--from-file', file]);
      expect(result.stderr).toBe('');
      expect(result.code).toBe(0);
      expect(result.stdout.trim().split('\n')).toHaveLength(30);
    });

    it('reads the jobs from stdin with -, and prints JSON with --json', async () => {
      const input = `${JSON.stringify({ spec: { command: 'true' }, idempotencyKey: `stdin-${deployment}` })}\n`;
      const stdout = await new Promise<string>((resolve, reject) => {
        const child = execFile(
          process.execPath,
          [HODEI_BIN, '--url', server.url, 'job', 'submit', '--from-file', '-', '--json'],
          (error, out) => (error ? reject(new Error(error.message)) : resolve(out)),
        );
        child.stdin?.end(input);
      });
      const printed = JSON.parse(stdout) as Array<{ line: number; jobId: string; state: string }>;
      expect(printed).toHaveLength(1);
      expect(printed[0]).toMatchObject({ line: 1, state: 'PENDING' });
    });
  });
}
