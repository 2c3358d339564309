// The stream queue: urgent messages first, backlog in bytes, a callback once it drains, and no
// reference kept to what was taken.
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { describe, expect, it } from 'vitest';
import { createAsyncQueue } from './async-queue.js';

describe('createAsyncQueue', () => {
  it('hands out urgent messages ahead of waiting output, in order otherwise', async () => {
    const queue = createAsyncQueue<string>();
    queue.push('out-1', 100);
    queue.push('out-2', 100);
    queue.pushUrgent('heartbeat');
    queue.close();
    const taken: string[] = [];
    for await (const item of queue) taken.push(item);
    expect(taken).toEqual(['heartbeat', 'out-1', 'out-2']);
  });

  it('counts the backlog in bytes and calls back once it falls to the mark', async () => {
    const queue = createAsyncQueue<string>();
    let calls = 0;
    queue.onBacklogBelow(100, () => (calls += 1));
    queue.push('a', 100);
    queue.push('b', 100);
    queue.push('c', 100);
    expect(queue.backlogBytes).toBe(300);
    const it = queue[Symbol.asyncIterator]();
    await it.next();
    expect(queue.backlogBytes).toBe(200);
    expect(calls).toBe(0);
    await it.next();
    expect(queue.backlogBytes).toBe(100);
    expect(calls).toBe(1);
    await it.next();
    expect(calls).toBe(1);
  });

  it('drops pushes after close and ends the iteration', async () => {
    const queue = createAsyncQueue<string>();
    queue.close();
    queue.push('late');
    const taken: string[] = [];
    for await (const item of queue) taken.push(item);
    expect(taken).toEqual([]);
  });

  it('keeps no reference to a message once the stream took it', async () => {
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    const queue = createAsyncQueue<{ payload: Buffer }>();
    const it = queue[Symbol.asyncIterator]();
    const refs: WeakRef<Buffer>[] = [];
    for (let i = 0; i < 200; i += 1) {
      const payload = Buffer.alloc(1024);
      refs.push(new WeakRef(payload));
      queue.push({ payload }, 1024);
      await it.next();
    }
    await new Promise((r) => setTimeout(r, 0));
    gc();
    // Every message but the last (the iterator's current value may still be on its stack) is gone.
    expect(refs.slice(0, -1).filter((ref) => ref.deref() !== undefined)).toEqual([]);
  });
});
