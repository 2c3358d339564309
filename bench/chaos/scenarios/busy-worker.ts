// Picks a worker in the middle of a job: BUSY in the database, its job's shell running per the
// ledger, its agent process (`hodei.js worker`) found in /proc. Skips jobs already hit once.
import { workerProcesses } from '../checks.js';
import type { ScenarioHandle } from '../harness.js';

const inRange = (v: number, low: number, high: number) => v >= low && v <= high;

export interface BusyWorker {
  workerId: string;
  jobId: string;
  agentPid: number;
}

/** `maxAgeMs`: only a job whose shell started at most this long ago (surely still running). */
export async function busyWorker(
  h: ScenarioHandle,
  skip: Set<string>,
  maxAgeMs: number,
): Promise<BusyWorker | undefined> {
  const deadline = Date.now() + 20_000;
  while (Date.now() < deadline) {
    h.ledger.poll();
    const running = new Set(
      h.ledger
        .attempts()
        .filter((a) => a.ended === 'running' && inRange(Date.now() - a.startMs, 200, maxAgeMs))
        .map((a) => a.jobId),
    );
    const { rows } = await h.db
      .query<{ id: string; current_job_id: string }>(
        `SELECT id::text, current_job_id::text FROM workers WHERE state = 'BUSY' AND current_job_id IS NOT NULL`,
      )
      .catch(() => ({ rows: [] }));
    const agents = workerProcesses().filter((p) => p.agent);
    for (const row of rows) {
      if (skip.has(row.current_job_id) || !running.has(row.current_job_id)) continue;
      const agent = agents.find((p) => p.workerId === row.id);
      if (agent) return { workerId: row.id, jobId: row.current_job_id, agentPid: agent.pid };
    }
    await h.sleep(100);
  }
  return undefined;
}
