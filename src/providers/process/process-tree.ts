// Finding and killing process groups on this machine (Linux /proc). A job the agent started runs
// in a process group of its own, which survives a SIGKILL of the agent's group; it inherits
// HODEI_WORKER_ID from the agent's environment, which is how a destroyed worker's leftovers are
// found. Reads are asynchronous: this runs inside the control plane's event loop.
import { readdir, readFile } from 'node:fs/promises';

export const WORKER_ID_VARIABLE = 'HODEI_WORKER_ID';

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

interface ProcStat {
  state: string;
  pgid: number;
}

async function readStat(pid: string): Promise<ProcStat | undefined> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    // "pid (comm) state ppid pgrp …": comm may hold spaces and parentheses, so cut at the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return { state: fields[0] ?? '?', pgid: Number(fields[2]) };
  } catch {
    return undefined;
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

/** Alive and not a zombie (a killed child stays a zombie until its parent reaps it). */
export async function isRunning(pid: number): Promise<boolean> {
  if (!Number.isInteger(pid) || pid <= 1) return false;
  const stat = await readStat(String(pid));
  if (stat) return stat.state !== 'Z' && stat.state !== 'X';
  if (process.platform === 'linux') return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Process group ids of live processes whose environment holds `name=value`. */
export async function groupsWithEnvironment(name: string, value: string): Promise<number[]> {
  let entries: string[];
  try {
    entries = await readdir('/proc');
  } catch {
    return []; // not Linux: leftovers cannot be found this way
  }
  const wanted = `${name}=${value}`;
  const ownGroup = (await readStat('self'))?.pgid ?? process.pid;
  const groups = new Set<number>();
  await Promise.all(
    entries
      .filter((entry) => /^\d+$/.test(entry) && Number(entry) !== process.pid)
      .map(async (entry) => {
        try {
          const environ = await readFile(`/proc/${entry}/environ`, 'utf8');
          if (!environ.split('\0').includes(wanted)) return;
          const stat = await readStat(entry);
          if (stat && stat.pgid > 1 && stat.pgid !== ownGroup) groups.add(stat.pgid);
        } catch {
          // ended while we looked, or not ours to read
        }
      }),
  );
  return [...groups];
}

/**
 * Kills every group holding a process marked with this worker id. Repeats while it finds some
 * (at most a few rounds): a process forked during one scan is caught by the next.
 */
export async function killMarkedGroups(workerId: string, rounds = 3): Promise<number> {
  let killed = 0;
  for (let round = 0; round < rounds; round += 1) {
    const groups = await groupsWithEnvironment(WORKER_ID_VARIABLE, workerId);
    if (groups.length === 0) break;
    for (const pgid of groups) if (killGroup(pgid)) killed += 1;
  }
  return killed;
}
