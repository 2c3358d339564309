// A small push/pull queue that an async generator drains: how a bidirectional RPC handler sends
// messages produced elsewhere (saga steps) down its response stream.
export interface AsyncQueue<T> extends AsyncIterable<T> {
  push(item: T): void;
  close(): void;
  readonly closed: boolean;
}

export function createAsyncQueue<T>(): AsyncQueue<T> {
  const items: T[] = [];
  let waiting: (() => void) | undefined;
  let closed = false;
  return {
    push(item) {
      if (closed) return;
      items.push(item);
      waiting?.();
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
        const item = items.shift();
        if (item !== undefined) {
          yield item;
          continue;
        }
        if (closed) return;
        await new Promise<void>((resolve) => (waiting = resolve));
        waiting = undefined;
      }
    },
  };
}
