// Runs a handler over an async stream of messages with up to `concurrency` handlers in flight:
// the next message is taken only when a slot is free, so the client's buffer (max_messages) is
// the only read-ahead and nothing waits in memory past its ack wait unnecessarily.

export interface ConcurrentRun {
  /** Resolves when the stream has ended and every handler has finished. */
  finished(): Promise<void>;
}

export function consumeWithConcurrency<T>(
  source: AsyncIterable<T>,
  concurrency: number,
  handle: (item: T) => Promise<void>,
  onLoopError: (error: unknown) => void,
): ConcurrentRun {
  const inFlight = new Set<Promise<void>>();
  const loop = (async () => {
    for await (const item of source) {
      const work: Promise<void> = Promise.resolve()
        .then(() => handle(item))
        // `handle` settles its own failures; this only keeps one rejection from ending the loop.
        .catch(onLoopError)
        .finally(() => inFlight.delete(work));
      inFlight.add(work);
      if (inFlight.size >= concurrency) await Promise.race(inFlight);
    }
  })().catch(onLoopError);
  return {
    async finished() {
      await loop;
      await Promise.allSettled([...inFlight]);
    },
  };
}
