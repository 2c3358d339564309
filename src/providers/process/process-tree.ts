// Finding and killing a worker's processes on this machine (Linux /proc), for the process
// provider. Under the reaper (reaper.ts) the reaper does the real work; these are what destroy
// falls back on when it does not answer: its process group, and the descendants seen before.
// Reads are asynchronous: this runs inside the control plane's event loop.
import { readFile } from 'node:fs/promises';
import {
  descendantsIn,
  isZombie,
  killPid,
  readProcStat,
  readProcTable,
  type ProcStat,
} from '../../shared/proc.js';

/** SIGKILLs the process group `pgid`; false when nobody was left in it (ESRCH). */
export function killGroup(pgid: number): boolean {
  if (!Number.isInteger(pgid) || pgid <= 1) return false;
  try {
    process.kill(-pgid, 'SIGKILL');
    return true;
  } catch {
    return false;
  }
}

/** Sends `signal` to one process; false when it is gone. */
export function signalPid(pid: number, signal: NodeJS.Signals): boolean {
  if (!Number.isInteger(pid) || pid <= 1) return false;
  try {
    process.kill(pid, signal);
    return true;
  } catch {
    return false;
  }
}

/** The value of `name` in a process's environment; undefined when absent or unreadable. */
export async function environmentValue(pid: number, name: string): Promise<string | undefined> {
  try {
    const environ = await readFile(`/proc/${pid}/environ`, 'utf8');
    const prefix = `${name}=`;
    return environ
      .split('\0')
      .find((entry) => entry.startsWith(prefix))
      ?.slice(prefix.length);
  } catch {
    return undefined;
  }
}

/** A process's command line (/proc/<pid>/cmdline, split); empty when it is gone. */
export async function commandLine(pid: number): Promise<string[]> {
  try {
    return (await readFile(`/proc/${pid}/cmdline`, 'utf8')).split('\0');
  } catch {
    return [];
  }
}

/** Alive and not a zombie (a killed child stays a zombie until its parent reaps it). */
export async function isRunning(pid: number): Promise<boolean> {
  if (!Number.isInteger(pid) || pid <= 1) return false;
  const stat = await readProcStat(pid);
  if (stat) return !isZombie(stat);
  if (process.platform === 'linux') return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Every live descendant of `pid` now: what to kill later should `pid` not clean up itself. */
export async function descendantsOf(pid: number): Promise<ProcStat[]> {
  return descendantsIn(await readProcTable(), [pid]).filter((p) => !isZombie(p));
}

/**
 * SIGKILLs the processes of an earlier `descendantsOf` that still run — the same processes, by
 * pid and start time, so a pid reused since by someone else is left alone. Returns how many.
 */
export async function killSurvivors(seen: readonly ProcStat[]): Promise<number> {
  let killed = 0;
  for (const before of seen) {
    const now = await readProcStat(before.pid);
    if (now && !isZombie(now) && now.startTime === before.startTime && killPid(before.pid)) {
      killed += 1;
    }
  }
  return killed;
}
