// A push/pull queue that an async generator drains: how messages produced elsewhere go down a
// stream (saga steps' RUN commands to a worker; a worker's reports to the control plane). The
// RPC runtime pulls the next message only once the previous one was written to the HTTP/2 stream,
// and HTTP/2 holds writes while the other side has not read what it has (its flow-control
// window), so the bytes waiting here are the backlog of a slow reader: the agent stops reading a
// job's pipes while it is high. Urgent messages (heartbeats) go ahead of whatever waits.
export interface AsyncQueue<T> extends AsyncIterable<T> {
  /** Queues a message of `bytes` bytes (0 for small control messages) at the back. */
  push(item: T, bytes?: number): void;
  /** Queues a message ahead of everything waiting (it does not count as backlog). */
  pushUrgent(item: T): void;
  /** Bytes of queued messages not yet taken by the stream. */
  readonly backlogBytes: number;
  /** Calls `listener` each time the backlog falls to `bytes` or below; returns an unsubscribe. */
  onBacklogBelow(bytes: number, listener: () => void): () => void;
  /** Ends the iteration once what is queued was taken; later pushes are dropped. */
  close(): void;
  readonly closed: boolean;
}

interface Entry<T> {
  item: T;
  bytes: number;
}

export function createAsyncQueue<T>(): AsyncQueue<T> {
  // A taken slot is cleared at once (a message may hold 256 KiB of output), and the array is
  // compacted once more than half of it is spent.
  let entries: Array<Entry<T> | undefined> = [];
  let head = 0;
  let backlog = 0;
  let closed = false;
  let waiting: (() => void) | undefined;
  const watchers = new Set<{ bytes: number; listener: () => void }>();

  function take(): Entry<T> | undefined {
    if (head >= entries.length) return undefined;
    const entry = entries[head]!;
    entries[head] = undefined;
    head += 1;
    if (head > 64 && head * 2 > entries.length) {
      entries = entries.slice(head);
      head = 0;
    }
    return entry;
  }

  function taken(entry: Entry<T>): void {
    if (entry.bytes === 0) return;
    const before = backlog;
    backlog -= entry.bytes;
    for (const watcher of watchers) {
      if (before > watcher.bytes && backlog <= watcher.bytes) watcher.listener();
    }
  }

  return {
    push(item, bytes = 0) {
      if (closed) return;
      entries.push({ item, bytes });
      backlog += bytes;
      waiting?.();
    },
    pushUrgent(item) {
      if (closed) return;
      if (head > 0) {
        head -= 1;
        entries[head] = { item, bytes: 0 };
      } else {
        entries.unshift({ item, bytes: 0 });
      }
      waiting?.();
    },
    get backlogBytes() {
      return backlog;
    },
    onBacklogBelow(bytes, listener) {
      const watcher = { bytes, listener };
      watchers.add(watcher);
      return () => {
        watchers.delete(watcher);
      };
    },
    close() {
      closed = true;
      waiting?.();
    },
    get closed() {
      return closed;
    },
    async *[Symbol.asyncIterator]() {
      for (;;) {
        const entry = take();
        if (entry) {
          taken(entry);
          yield entry.item;
          continue;
        }
        if (closed) return;
        await new Promise<void>((resolve) => (waiting = resolve));
        waiting = undefined;
      }
    },
  };
}
