// Finding and killing process groups on this machine. A job the agent started lives in a process
// group of its own, which survives a SIGKILL of the agent; it carries HODEI_WORKER_ID in its
// environment, which is how a destroyed worker's leftovers are found (Linux /proc).
import { readdirSync, readFileSync } from 'node:fs';

/** Sends `signal` to the process group `pgid`; false when it no longer exists. */
export function killGroup(pgid: number, signal: NodeJS.Signals = 'SIGKILL'): boolean {
  try {
    process.kill(-pgid, signal);
    return true;
  } catch {
    return false;
  }
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Process group ids of live processes whose environment holds `NAME=value` (Linux only). */
export function groupsWithEnv(name: string, value: string): number[] {
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return [];
  }
  const wanted = `${name}=${value}`;
  const groups = new Set<number>();
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const environ = readFileSync(`/proc/${entry}/environ`, 'utf8');
      if (!environ.split('\0').includes(wanted)) continue;
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const pgid = Number(fields[2]);
      if (pgid > 1 && pgid !== process.pid) groups.add(pgid);
    } catch {
      // gone, or not ours to read
    }
  }
  return [...groups];
}
