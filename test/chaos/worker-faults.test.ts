// Chaos in small: one worker's agent is SIGKILLed in the middle of a job and another's is frozen
// (SIGSTOP). Both jobs run again elsewhere; every job ends SUCCEEDED once, never two runs of a
// job at once, and after one reconcile interval no process or live row of the two is left.
import { afterAll, describe, expect, it } from 'vitest';
import { startChaosTestRun, type ChaosTestRun } from './chaos-test-run.js';
import { signal, workerProcesses } from '../../bench/chaos/checks.js';
import { waitFor } from '../helpers/procs.js';

describe('chaos: workers killed and frozen mid-job', () => {
  let run: ChaosTestRun | undefined;
  afterAll(async () => {
    await run?.cleanup();
  });

  /** The agent of a worker whose job's shell is running (started 0.2–1 s ago). */
  async function agentMidJob(r: ChaosTestRun, skip: Set<string>) {
    const db = await r.server.openDb();
    try {
      return await waitFor('a worker in the middle of a job', async () => {
        r.ledger.poll();
        const now = Date.now();
        const running = r.ledger
          .attempts()
          .filter((a) => a.ended === 'running' && now - a.startMs > 200 && now - a.startMs < 1000);
        const { rows } = await db.query<{ id: string; job: string }>(
          `SELECT id::text, current_job_id::text AS job FROM workers WHERE state = 'BUSY'`,
        );
        const agents = workerProcesses(r.server.url).filter((p) => p.agent);
        for (const row of rows) {
          if (skip.has(row.job) || !running.some((a) => a.jobId === row.job)) continue;
          const agent = agents.find((p) => p.workerId === row.id);
          if (agent) return { pid: agent.pid, jobId: row.job };
        }
        return undefined;
      });
    } finally {
      await db.close();
    }
  }

  it('SIGKILL of one agent and SIGSTOP of another, mid-job: none lost, none twice, none overlapping, no zombie', async () => {
    run = await startChaosTestRun();
    const r = run;
    await r.queue(10, 1.5);
    const killed = await agentMidJob(r, new Set());
    signal(killed.pid, 'SIGKILL');
    const frozen = await agentMidJob(r, new Set([killed.jobId]));
    signal(frozen.pid, 'SIGSTOP');
    const figures = await r.expectInvariants();
    // Both jobs ran again (a frozen worker's job may have completed its first run: at-least-once).
    const runs = (jobId: string) => r.ledger.attempts().filter((a) => a.jobId === jobId).length;
    expect(runs(killed.jobId)).toBeGreaterThanOrEqual(2);
    expect(runs(frozen.jobId)).toBeGreaterThanOrEqual(2);
    expect(figures.reExecuted).toBeGreaterThanOrEqual(2);
    expect(workerProcesses(r.server.url).some((p) => p.pid === frozen.pid)).toBe(false);
  }, 90_000);
});
