// Wakes WatchJob streams in this process when something about their job changed (a state change
// seen on the bus, or log lines stored). Watchers re-read the database, so a wake-up carries no
// data and a missed one costs only the watcher's slow re-check.
export interface JobWatch {
  notify(jobId: string): void;
  /** Calls `onChange` on each notification for the job until the returned function is called. */
  subscribe(jobId: string, onChange: () => void): () => void;
}

export function createJobWatch(): JobWatch {
  const listeners = new Map<string, Set<() => void>>();
  return {
    notify(jobId) {
      for (const listener of listeners.get(jobId) ?? []) listener();
    },
    subscribe(jobId, onChange) {
      let set = listeners.get(jobId);
      if (!set) {
        set = new Set();
        listeners.set(jobId, set);
      }
      set.add(onChange);
      return () => {
        set.delete(onChange);
        if (set.size === 0) listeners.delete(jobId);
      };
    },
  };
}
