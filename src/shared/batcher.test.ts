// Group commit: calls of one turn run as one batch, calls during a full set of batches in flight
// wait for the next, each caller gets its own result, a batch that throws fails only its own
// calls, and an error that allows it has the batch's items tried one by one.
import { describe, expect, it } from 'vitest';
import { createBatcher } from './batcher.js';

function recorder(maxBatch = 100, concurrency = 1) {
  const batches: number[][] = [];
  const release: Array<() => void> = [];
  const add = createBatcher<number, number>({
    maxBatch,
    concurrency,
    run: async (items) => {
      batches.push([...items]);
      await new Promise<void>((resolve) => release.push(resolve));
      return items.map((n) => n * 10);
    },
  });
  return { add, batches, release };
}

const turn = () => new Promise((resolve) => setImmediate(resolve));

describe('createBatcher', () => {
  it('runs the calls of one turn as one batch and answers each with its own result', async () => {
    const { add, batches, release } = recorder();
    const results = [1, 2, 3, 4].map((n) => add(n));
    await turn();
    expect(batches).toEqual([[1, 2, 3, 4]]);
    release.shift()?.();
    expect(await Promise.all(results)).toEqual([10, 20, 30, 40]);
  });

  it('gathers the calls made while the batches in flight are full into the next one', async () => {
    const { add, batches, release } = recorder(100, 1);
    const first = add(1);
    await turn();
    const later = [add(2), add(3), add(4)];
    await turn();
    expect(batches).toEqual([[1]]);
    release.shift()?.();
    await first;
    await turn();
    await turn();
    expect(batches).toEqual([[1], [2, 3, 4]]);
    release.shift()?.();
    expect(await Promise.all(later)).toEqual([20, 30, 40]);
  });

  it('splits at maxBatch and runs up to `concurrency` batches at once', async () => {
    const { add, batches, release } = recorder(2, 2);
    const all = [1, 2, 3, 4, 5].map((n) => add(n));
    await turn();
    expect(batches).toEqual([
      [1, 2],
      [3, 4],
    ]);
    release.shift()?.();
    await turn();
    await turn();
    expect(batches).toEqual([[1, 2], [3, 4], [5]]);
    release.splice(0).forEach((r) => r());
    expect(await Promise.all(all)).toEqual([10, 20, 30, 40, 50]);
  });

  it('fails every call of a batch that throws, and only those', async () => {
    let calls = 0;
    const add = createBatcher<number, number>({
      maxBatch: 2,
      concurrency: 2,
      run: (items) => {
        calls += 1;
        if (calls === 1) return Promise.reject(new Error('database down'));
        return Promise.resolve(items);
      },
    });
    const outcomes = await Promise.allSettled([add(1), add(2), add(3)]);
    expect(outcomes.map((o) => o.status)).toEqual(['rejected', 'rejected', 'fulfilled']);
    expect((outcomes[0] as PromiseRejectedResult).reason).toEqual(new Error('database down'));
  });

  it('runs a batch of one alone, and a failed batch item by item when the error allows', async () => {
    const ran: string[] = [];
    const add = createBatcher<number, number>({
      maxBatch: 10,
      concurrency: 1,
      run: (items) => {
        ran.push(`batch ${items.join(',')}`);
        return Promise.reject(new Error('item 2 is bad'));
      },
      alone: (n) => {
        ran.push(`alone ${n}`);
        return n === 2 ? Promise.reject(new Error('2 is bad')) : Promise.resolve(n);
      },
      retryAlone: (error) => (error as Error).message === 'item 2 is bad',
    });
    expect(await add(7)).toBe(7);
    const outcomes = await Promise.allSettled([add(1), add(2), add(3)]);
    expect(outcomes.map((o) => (o.status === 'fulfilled' ? o.value : 'failed'))).toEqual([
      1,
      'failed',
      3,
    ]);
    expect(ran).toEqual(['alone 7', 'batch 1,2,3', 'alone 1', 'alone 2', 'alone 3']);
  });
});
