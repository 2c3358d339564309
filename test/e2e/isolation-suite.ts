// A job is untrusted and may misbehave: end to end with real processes, it sees only its own
// environment, nothing it starts outlives it (not even what left its process group), nothing it
// asks for takes its worker down, and a worker busy printing is never taken for a silent one
// while a stopped one is lost within three heartbeat intervals. Registered once per deployment.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile, chmod } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { JobState } from '../../src/gen/hodei/v1/job_pb.js';
import { WorkerState } from '../../src/gen/hodei/v1/worker_pb.js';
import { runCli, startTestServer, type Deployment, type TestServer } from '../helpers/server.js';
import { listProcs, waitFor } from '../helpers/procs.js';

const HEARTBEAT_MS = 200;
const SERVER_MARK = 'HODEI_TEST_SERVER_ONLY';

export function isolationSuite(deployment: Deployment): void {
  describe(`job isolation (${deployment})`, () => {
    let server: TestServer;
    let dir: string;
    const cli = (args: string[], timeoutMs = 60_000) =>
      runCli(['--url', server.url, ...args], {}, timeoutMs);

    beforeAll(async () => {
      server = await startTestServer({
        deployment,
        env: { HODEI_HEARTBEAT_INTERVAL: `${HEARTBEAT_MS}ms`, [SERVER_MARK]: 'server-secret' },
      });
      dir = await mkdtemp(path.join(tmpdir(), 'hodei-isolation-'));
    });
    afterAll(async () => {
      await server?.cleanup();
      if (dir) await rm(dir, { recursive: true, force: true });
    });

    async function jobOf(marker: string) {
      const { jobs } = await server.jobs.listJobs({ pageSize: 50 });
      return jobs.find((j) => j.spec?.args.some((a) => a.includes(marker)) ?? false);
    }

    it("hodei run -- env shows the job's own environment, none of the server's", async () => {
      const run = await cli(['run', '--env', 'MINE=1', '--', 'env']);
      expect(run.code).toBe(0);
      const names = run.stdout
        .trim()
        .split('\n')
        .map((line) => line.slice(0, line.indexOf('=')));
      expect(names).not.toContain(SERVER_MARK);
      expect(names).not.toContain('HODEI_WORKER_OTP');
      expect(names).not.toContain('HODEI_DATABASE_URL');
      expect(names).toContain('MINE');
      expect(names).toEqual(
        expect.arrayContaining(['PATH', 'HOME', 'HODEI_JOB_ID', 'HODEI_ATTEMPT']),
      );
    });

    it("the worker's one-time password is not in its environment or command line", async () => {
      await cli(['run', '--', 'true']);
      const { workers } = await server.ops.listWorkers({});
      const live = workers.find((w) => w.externalId !== '' && w.state !== WorkerState.TERMINATED);
      const root = Number(live?.externalId);
      const tree = listProcs().filter((p) => p.pid === root || p.ppid === root);
      expect(tree.length).toBeGreaterThan(0);
      for (const proc of tree) {
        const environ = readFileSync(`/proc/${proc.pid}/environ`, 'utf8');
        expect(environ).not.toContain('HODEI_WORKER_OTP');
        expect(environ).not.toContain(SERVER_MARK);
        expect(proc.cmdline).not.toMatch(/otp/i);
      }
    });

    it('nothing a job starts outlives it: &, setsid and env -i setsid', async () => {
      const tag = randomBytes(3).toString('hex');
      const seconds = (n: number) => `${n}.${parseInt(tag, 16)}`;
      const cases = [
        `sleep ${seconds(300)} & sleep 1; echo x`,
        `setsid sleep ${seconds(301)} & sleep 1; echo x`,
        `env -i setsid sleep ${seconds(302)} & sleep 1; echo x`,
      ];
      for (const script of cases) {
        const run = await cli(['run', '--', 'sh', '-c', script]);
        expect(run.stdout).toBe('x\n');
        const left = () =>
          listProcs().filter(
            (p) =>
              p.state !== 'Z' &&
              /^sleep 30[0-2]\.\d+$/.test(p.cmdline) &&
              p.cmdline.endsWith(`.${parseInt(tag, 16)}`),
          );
        await waitFor(
          `no sleep left after "${script}"`,
          () => left().length === 0 || undefined,
          3000,
        );
      }
    });

    it("a job's failure is never the worker's: each fails with its reason and its worker lives on", async () => {
      const file = path.join(dir, 'a-file');
      await writeFile(file, 'x\n');
      const script = path.join(dir, 'bad-interpreter.sh');
      await writeFile(script, '#!/nonexistent/hodei-shell\necho hi\n');
      await chmod(script, 0o755);
      const warm = await cli(['job', 'submit', '--json', '--', 'true']);
      const first = (JSON.parse(warm.stdout) as { jobId: string }).jobId;
      const workerOf = async (id: string) => {
        const job = await waitFor(`job ${id} to end`, async () => {
          const { job: j } = await server.jobs.getJob({ id });
          return j && j.state >= JobState.SUCCEEDED ? j : undefined;
        });
        return job;
      };
      const ran = new Set([(await workerOf(first)).workerId]);
      const failures: Array<[string[], RegExp]> = [
        [['--', 'x'.repeat(4000)], /x{200}… \(4000 chars\)/],
        [['--workdir', file, '--', 'true'], /working directory is not a directory/],
        [['--', script], /bad interpreter: \/nonexistent\/hodei-shell/],
      ];
      for (const [args, reason] of failures) {
        const run = await cli(['run', ...args]);
        expect(run.code).toBeGreaterThanOrEqual(126);
        expect(run.stderr).toMatch(reason);
        const { jobs } = await server.jobs.listJobs({ pageSize: 1 });
        expect(jobs[0]?.state).toBe(JobState.FAILED);
        expect(jobs[0]?.attempt).toBe(1);
        ran.add(jobs[0]?.workerId ?? '');
      }
      const next = await cli(['run', '--', 'echo', 'next']);
      expect(next.stdout).toBe('next\n');
      // Another worker may have been started meanwhile and taken some of the jobs; what matters is
      // that no worker a failing job ran on was ended for it.
      const { workers } = await server.ops.listWorkers({});
      for (const id of ran) {
        const w = workers.find((x) => x.id === id);
        expect(w?.state, `worker ${id}`).not.toBe(WorkerState.TERMINATED);
      }
    });

    it(`a job printing for 10 s with heartbeats every ${HEARTBEAT_MS} ms is never lost`, async () => {
      const marker = `busy-${randomBytes(3).toString('hex')}`;
      const run = await cli(
        [
          'run',
          '--',
          'sh',
          '-c',
          // About 1 MB/s: busy all the time, yet under the 64 MiB kept per attempt (unpaced, a
          // fast machine prints past it and the marker line is dropped). Ten seconds are more
          // than fifteen times the silence that loses a worker (3 heartbeats of 200 ms).
          `end=$(($(date +%s) + 10)); while [ $(date +%s) -lt $end ]; do seq 1 5000; sleep 0.02; done; echo ${marker}`,
        ],
        120_000,
      );
      expect(run.code).toBe(0);
      expect(run.stdout.endsWith(`${marker}\n`)).toBe(true);
      const job = await jobOf(marker);
      expect(job?.attempt).toBe(1);
      expect(server.log()).not.toMatch(/missed \d+ heartbeats/);
    }, 120_000);

    it('a SIGSTOPped worker is lost within 3 intervals plus one check', async () => {
      const marker = `stopped-${randomBytes(3).toString('hex')}`;
      const { job } = await server.jobs.queueJob({
        spec: { command: 'sh', args: ['-c', `sleep 30; echo ${marker}`], maxAttempts: 1 },
      });
      const id = job?.id ?? '';
      const running = await waitFor('the job to run', async () => {
        const { job: j } = await server.jobs.getJob({ id });
        return j?.state === JobState.RUNNING ? j : undefined;
      });
      const worker = (await server.ops.listWorkers({})).workers.find(
        (w) => w.id === running.workerId,
      );
      const root = Number(worker?.externalId);
      // Stop the whole worker (its reaper and its agent), as a frozen host would be.
      const stopped = listProcs().filter((p) => p.pid === root || p.ppid === root);
      for (const p of stopped) process.kill(p.pid, 'SIGSTOP');
      const stoppedAt = Date.now();
      try {
        const failed = await waitFor(
          'the job to fail',
          async () => {
            const { job: j } = await server.jobs.getJob({ id });
            return j?.state === JobState.FAILED ? j : undefined;
          },
          10_000,
          20,
        );
        expect(failed.error).toMatch(/missed 3 heartbeats/);
        // 3 intervals of silence, plus up to one check interval, plus time to record it.
        expect(Date.now() - stoppedAt).toBeLessThan(4 * HEARTBEAT_MS + 1500);
      } finally {
        for (const p of stopped) {
          try {
            process.kill(p.pid, 'SIGCONT');
          } catch {
            // destroyed meanwhile
          }
        }
      }
    });
  });
}
