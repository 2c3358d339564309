// Group commit: calls that arrive while a batch cannot start yet run together as one batch — the
// calls of one turn of the event loop, and those that come while `concurrency` batches are in
// flight. One statement for many callers costs one round trip instead of many; on a small
// machine each round trip (a socket write that wakes the database) costs more CPU than the work
// it carries. Each caller gets its own result or error.

export interface BatcherOptions<I, O> {
  /** Runs a batch; resolves with one result per item, in the items' order. */
  run: (items: readonly I[]) => Promise<readonly O[]>;
  /** Runs one item by itself: a batch of one, and each item of a batch that failed with an
   * error `retryAlone` accepts (one item's problem is then only its caller's). Without it, or
   * for any other error, every item of a failed batch fails with that error. */
  alone?: (item: I) => Promise<O>;
  retryAlone?: (error: unknown) => boolean;
  /** The most items in one batch. */
  maxBatch: number;
  /** The most batches in flight at once. */
  concurrency: number;
}

export type Batcher<I, O> = (item: I) => Promise<O>;

interface Pending<I, O> {
  item: I;
  resolve: (value: O) => void;
  reject: (error: unknown) => void;
}

export function createBatcher<I, O>(options: BatcherOptions<I, O>): Batcher<I, O> {
  const queue: Array<Pending<I, O>> = [];
  let inFlight = 0;
  let scheduled = false;

  function schedule(): void {
    if (scheduled || queue.length === 0 || inFlight >= options.concurrency) return;
    scheduled = true;
    // After this turn's I/O callbacks: the calls that came with them join the batch.
    setImmediate(flush);
  }

  function flush(): void {
    scheduled = false;
    while (queue.length > 0 && inFlight < options.concurrency) {
      const batch = queue.splice(0, options.maxBatch);
      inFlight += 1;
      void runBatch(batch).finally(() => {
        inFlight -= 1;
        schedule();
      });
    }
  }

  async function runBatch(batch: Array<Pending<I, O>>): Promise<void> {
    const { alone } = options;
    if (alone && batch.length === 1) {
      const [only] = batch as [Pending<I, O>];
      await alone(only.item).then(only.resolve, only.reject);
      return;
    }
    let results: readonly O[];
    try {
      results = await options.run(batch.map((p) => p.item));
    } catch (error) {
      if (alone && options.retryAlone?.(error)) {
        await Promise.all(batch.map((p) => alone(p.item).then(p.resolve, p.reject)));
      } else for (const pending of batch) pending.reject(error);
      return;
    }
    batch.forEach((pending, index) => {
      if (index < results.length) pending.resolve(results[index] as O);
      else pending.reject(new Error(`batch returned no result for item ${index}`));
    });
  }

  return (item) =>
    new Promise<O>((resolve, reject) => {
      queue.push({ item, resolve, reject });
      schedule();
    });
}
