// Memory does not grow with output: while a job writes 250 MB through `hodei run`, the server's
// resident memory stays within 150 MB of what it was idle and the agent's under 150 MB (measured
// on this machine: +60–100 MB and ~105 MB, with 100 MB or 300 MB of output alike). Were either to
// hold the output, it would pass its bound.
// Registered once per deployment (output-memory-*.test.ts).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { runCli, startTestServer, type Deployment, type TestServer } from '../helpers/server.js';
import { listProcs } from '../helpers/procs.js';

const SERVER_GROWTH_MB = 150;
const AGENT_MB = 150;
const OUTPUT_BYTES = 250_000_000;

function rssMb(pid: number): number {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0) / 1024;
  } catch {
    return 0;
  }
}

export function outputMemorySuite(deployment: Deployment): void {
  describe(`memory under output (${deployment})`, () => {
    let server: TestServer;

    beforeAll(async () => {
      server = await startTestServer({ deployment, env: { HODEI_MAX_JOB_OUTPUT: '256MiB' } });
    });
    afterAll(async () => {
      await server?.cleanup();
    });

    it(`a 250 MB output job: server within +${SERVER_GROWTH_MB} MB of idle, agent under ${AGENT_MB} MB`, async () => {
      const warm = await runCli(['--url', server.url, 'run', '--', 'true']);
      expect(warm.code).toBe(0);
      const serverPid = server.proc.pid ?? 0;
      const idle = rssMb(serverPid);
      const agents = () =>
        listProcs()
          .filter((p) => p.cmdline.includes('hodei.js worker') && !p.cmdline.startsWith('perl'))
          .map((p) => p.pid);
      let serverPeak = 0;
      let agentPeak = 0;
      const timer = setInterval(() => {
        serverPeak = Math.max(serverPeak, rssMb(serverPid));
        for (const pid of agents()) agentPeak = Math.max(agentPeak, rssMb(pid));
      }, 50);
      try {
        const run = await runCli(
          [
            '--url',
            server.url,
            'run',
            '--',
            'sh',
            '-c',
            `head -c ${OUTPUT_BYTES} /dev/zero | tr '\\0' 'x'`,
          ],
          {},
          120_000,
        );
        expect(run.code).toBe(0);
        expect(run.stdoutBytes.length).toBe(OUTPUT_BYTES);
      } finally {
        clearInterval(timer);
      }
      expect(agentPeak).toBeGreaterThan(0);
      expect(serverPeak - idle).toBeLessThan(SERVER_GROWTH_MB);
      expect(agentPeak).toBeLessThan(AGENT_MB);
    }, 180_000);
  });
}
