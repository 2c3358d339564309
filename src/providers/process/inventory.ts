// The process provider's inventory: every worker process of this installation on this machine,
// whichever server process started it. A worker is recognised by its environment (the
// provider starts each one with HODEI_WORKER_ID, HODEI_INSTALLATION_ID and HODEI_SERVER_PID,
// worker-environment.ts); a job's processes never carry these (their environment is built from
// scratch, agent/job-run.ts). One round reads /proc/<pid>/stat and /proc/<pid>/environ of every
// process of this user (a few hundred files, a few ms), so it is for the safety nets' slow loops,
// not for a hot path.
import { readFile } from 'node:fs/promises';
import { isZombie, readProcTable } from '../../shared/proc.js';
import { WORKER_ID_VARIABLE } from '../../shared/reaper-env.js';
import type { WorkerInfrastructure } from '../provider.js';
import { INSTALLATION_VARIABLE, SERVER_PID_VARIABLE } from './worker-environment.js';

/** A process's environment, or undefined when it is gone or not readable (another user's). */
async function readEnvironment(pid: number): Promise<Map<string, string> | undefined> {
  let text: string;
  try {
    text = await readFile(`/proc/${pid}/environ`, 'utf8');
  } catch {
    return undefined;
  }
  const env = new Map<string, string>();
  for (const entry of text.split('\0')) {
    const eq = entry.indexOf('=');
    if (eq > 0) env.set(entry.slice(0, eq), entry.slice(eq + 1));
  }
  return env;
}

/**
 * The worker processes of `installationId` on this machine: one entry per worker, its root (the
 * reaper, or the agent when it runs without one; the agent below a reaper carries the same worker
 * id and is left out). Orphaned when its parent is no longer the server process that started it.
 */
export async function findWorkerProcesses(installationId: string): Promise<WorkerInfrastructure[]> {
  const table = (await readProcTable()).filter((p) => !isZombie(p));
  const envs = await Promise.all(table.map((p) => readEnvironment(p.pid)));
  const marked = new Map<number, { ppid: number; workerId: string; serverPid: string }>();
  table.forEach((p, i) => {
    const env = envs[i];
    const workerId = env?.get(WORKER_ID_VARIABLE);
    if (!workerId || env?.get(INSTALLATION_VARIABLE) !== installationId) return;
    marked.set(p.pid, { ppid: p.ppid, workerId, serverPid: env.get(SERVER_PID_VARIABLE) ?? '' });
  });
  const found: WorkerInfrastructure[] = [];
  for (const [pid, mark] of marked) {
    if (marked.get(mark.ppid)?.workerId === mark.workerId) continue; // below its own reaper
    found.push({
      externalId: String(pid),
      workerId: mark.workerId,
      orphaned: String(mark.ppid) !== mark.serverPid,
    });
  }
  return found;
}
