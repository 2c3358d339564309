// Liveness of the workers whose streams this server holds, kept in memory and updated the moment
// a frame arrives, before it is processed (DESIGN §10): a heartbeat, output or anything else from
// a worker proves it alive, and nothing a worker sends waits behind a database write to count.
// While the server itself is busy with a worker's frame (storing its output, say), the worker is
// waiting on the server, so it is not silent either. The monitor reads this every interval.
import type { Clock } from '../shared/clock.js';

export interface WorkerLiveness {
  /** The worker's stream opened: it is alive now. */
  track(workerId: string): void;
  /** Its stream closed: nothing more is known here. */
  forget(workerId: string): void;
  /** A frame from the worker arrived. */
  seen(workerId: string): void;
  /** The server starts (true) or ends (false) handling one of the worker's frames. */
  busy(workerId: string, busy: boolean): void;
  /** Workers tracked here, split into those heard from within `silentMs` and the silent ones. */
  check(silentMs: number): { alive: Array<{ workerId: string; lastSeen: Date }>; silent: string[] };
  isTracked(workerId: string): boolean;
}

interface Entry {
  lastSeen: number;
  busy: number;
}

export function createWorkerLiveness(clock: Clock): WorkerLiveness {
  const entries = new Map<string, Entry>();
  return {
    track(workerId) {
      entries.set(workerId, { lastSeen: clock.now(), busy: 0 });
    },
    forget(workerId) {
      entries.delete(workerId);
    },
    seen(workerId) {
      const entry = entries.get(workerId);
      if (entry) entry.lastSeen = clock.now();
    },
    busy(workerId, busy) {
      const entry = entries.get(workerId);
      if (!entry) return;
      entry.busy += busy ? 1 : -1;
      // Done handling: the worker could not send while we held it up, so the wait starts now.
      if (!busy) entry.lastSeen = clock.now();
    },
    check(silentMs) {
      const now = clock.now();
      const alive: Array<{ workerId: string; lastSeen: Date }> = [];
      const silent: string[] = [];
      for (const [workerId, entry] of entries) {
        if (entry.busy > 0 || now - entry.lastSeen <= silentMs) {
          alive.push({ workerId, lastSeen: new Date(entry.busy > 0 ? now : entry.lastSeen) });
        } else {
          silent.push(workerId);
        }
      }
      return { alive, silent };
    },
    isTracked: (workerId) => entries.has(workerId),
  };
}
