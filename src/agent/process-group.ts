// Signals to a job's process group. Every job runs as the leader of a group of its own
// (`detached: true`), so one signal to `-pid` reaches the command and everything it forked.
import { constants } from 'node:os';

/** Sends `signal` to the group led by `pgid` (0 probes); false when the group no longer exists. */
export function signalGroup(pgid: number | undefined, signal: NodeJS.Signals | 0): boolean {
  if (!pgid || pgid <= 1) return false;
  try {
    process.kill(-pgid, signal);
    return true;
  } catch {
    // ESRCH: nobody left in the group. EPERM cannot happen for a group we created.
    return false;
  }
}

/** True while at least one process of the group exists (zombies included). */
export function groupAlive(pgid: number | undefined): boolean {
  return signalGroup(pgid, 0);
}

/** The shell convention for a command killed by a signal: 128 + its number (SIGKILL → 137). */
export function signalExitCode(signal: NodeJS.Signals): number {
  return 128 + (constants.signals[signal] ?? 0);
}
