// Reading the process table of this machine from Linux /proc, for the code that must find every
// process a job left behind (agent/job-containment.ts, providers/process). Reads are
// asynchronous because both callers run inside an event loop that serves other work.
import { readdir, readFile } from 'node:fs/promises';

export interface ProcStat {
  pid: number;
  /** R, S, D, T, Z (zombie: dead, waiting for its parent to reap it), X … */
  state: string;
  ppid: number;
  pgid: number;
  /** Start time in clock ticks after boot: with the pid, it names one process for good. */
  startTime: number;
}

/** One process's /proc/<pid>/stat, or undefined when it is gone (or not Linux). */
export async function readProcStat(pid: number | 'self'): Promise<ProcStat | undefined> {
  let text: string;
  try {
    text = await readFile(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // "pid (comm) state ppid pgrp …": comm may hold spaces and parentheses, so cut at the last ')'.
  const close = text.lastIndexOf(')');
  const fields = text.slice(close + 2).split(' ');
  return {
    pid: Number(text.slice(0, text.indexOf(' '))),
    state: fields[0] ?? '?',
    ppid: Number(fields[1]),
    pgid: Number(fields[2]),
    // Field 22 of stat; fields[] starts at field 3.
    startTime: Number(fields[19]),
  };
}

export function isZombie(stat: ProcStat): boolean {
  return stat.state === 'Z' || stat.state === 'X';
}

/** Every process visible in /proc (empty when there is no /proc). */
export async function readProcTable(): Promise<ProcStat[]> {
  let entries: string[];
  try {
    entries = await readdir('/proc');
  } catch {
    return [];
  }
  const stats = await Promise.all(
    entries.filter((entry) => /^\d+$/.test(entry)).map((entry) => readProcStat(Number(entry))),
  );
  return stats.filter((stat) => stat !== undefined);
}

/** The pids of the direct children of `pid`, from `table`. */
export function childrenIn(table: readonly ProcStat[], pid: number): number[] {
  return table.filter((p) => p.ppid === pid).map((p) => p.pid);
}

/** Every descendant of the `roots` in `table` (children, their children, …), roots excluded. */
export function descendantsIn(table: readonly ProcStat[], roots: readonly number[]): ProcStat[] {
  const byParent = new Map<number, ProcStat[]>();
  for (const p of table) {
    const siblings = byParent.get(p.ppid);
    if (siblings) siblings.push(p);
    else byParent.set(p.ppid, [p]);
  }
  const found: ProcStat[] = [];
  const todo = [...roots];
  const seen = new Set(roots);
  for (let pid = todo.pop(); pid !== undefined; pid = todo.pop()) {
    for (const child of byParent.get(pid) ?? []) {
      if (seen.has(child.pid)) continue;
      seen.add(child.pid);
      found.push(child);
      todo.push(child.pid);
    }
  }
  return found;
}

/** Sends SIGKILL to one pid; false when it was gone already (ESRCH) or not ours (EPERM). */
export function killPid(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 1) return false;
  try {
    process.kill(pid, 'SIGKILL');
    return true;
  } catch {
    return false;
  }
}
