// Nothing outlives its job (issue 7 item 8): kills what a finished job left running. The agent
// runs under the per-worker reaper (providers/process/reaper.ts), a child subreaper, so every
// process a job orphans — `sleep &` after its shell exits, `setsid` and double-forked daemons,
// `env -i` ones that carry no marker — is reparented to the reaper, not to init. After a job's
// main process has exited (or been killed at cancel/timeout) the job's whole tree is therefore
// among the reaper's children: every child of the reaper except this agent is a job leftover.
// Without the reaper (no perl, not Linux) jobs are contained by their process group only.
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { REAPER_PID_VARIABLE, REAPER_SUBREAPER_VARIABLE } from '../shared/reaper-env.js';
import {
  childrenIn,
  descendantsIn,
  isZombie,
  killPid,
  readProcStat,
  readProcTable,
} from '../shared/proc.js';

export type ContainmentMode = 'subreaper' | 'process-group';

/** Kill rounds before giving up: a job forking as fast as it is killed could otherwise hold us. */
const MAX_ROUNDS = 20;
/** Pause between rounds, so SIGKILLed processes have died and their children been reparented. */
const ROUND_PAUSE_MS = 10;

/**
 * 'subreaper' while the agent's parent is the reaper that started it and that reaper became a
 * child subreaper; else 'process-group'. Read each time: should the reaper die, the agent is
 * reparented and its ppid no longer matches.
 */
export function containmentMode(): ContainmentMode {
  const reaper = process.env[REAPER_PID_VARIABLE];
  return reaper !== undefined &&
    reaper === String(process.ppid) &&
    process.env[REAPER_SUBREAPER_VARIABLE] === '1'
    ? 'subreaper'
    : 'process-group';
}

/**
 * The reaper's children: one small read of its children file, or a /proc scan without it. The
 * read is synchronous: /proc is in memory, and the promise API's open, read and close through
 * the thread pool cost the agent more CPU than the read itself (a perf profile of the agents put
 * ~10% of their time in closing those file handles).
 */
async function reaperChildren(reaper: number): Promise<number[]> {
  try {
    const text = readFileSync(`/proc/${reaper}/task/${reaper}/children`, 'utf8');
    return text
      .split(' ')
      .filter((entry) => entry !== '')
      .map(Number);
  } catch {
    // Kernels without CONFIG_PROC_CHILDREN: find them by their ppid links.
    return childrenIn(await readProcTable(), reaper);
  }
}

/** The reaper's children other than this agent that are still alive (not zombies). */
async function leftovers(reaper: number): Promise<number[]> {
  const others = (await reaperChildren(reaper)).filter((pid) => pid !== process.pid);
  if (others.length === 0) return others;
  const stats = await Promise.all(others.map((pid) => readProcStat(pid)));
  return stats.filter((stat) => stat !== undefined && !isZombie(stat)).map((stat) => stat!.pid);
}

/**
 * SIGKILLs every process the ended job left behind (the reaper's other children and all their
 * descendants), round after round until none is left or MAX_ROUNDS passed. Returns how many
 * processes were killed. One small file read when there is nothing to kill; 0 in
 * 'process-group' mode, where the command runner's kill of the job's group is all there is.
 * Call it only between jobs: it cannot tell one job's processes from another's.
 */
export async function killJobLeftovers(): Promise<number> {
  if (containmentMode() !== 'subreaper') return 0;
  const reaper = process.ppid;
  const killed = new Set<number>();
  for (let round = 0; round < MAX_ROUNDS; round += 1) {
    const roots = await leftovers(reaper);
    if (roots.length === 0) break;
    // Descendants too, in the same round: otherwise each level of a tree would cost a round.
    const targets = [
      ...roots,
      ...descendantsIn(await readProcTable(), roots)
        .filter((p) => !isZombie(p))
        .map((p) => p.pid),
    ];
    for (const pid of targets) if (pid !== process.pid && killPid(pid)) killed.add(pid);
    await sleep(ROUND_PAUSE_MS);
  }
  return killed.size;
}
