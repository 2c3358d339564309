// The agent's outgoing queue: urgent messages first, backlog in bytes, a callback once it drains.
import { describe, expect, it } from 'vitest';
import { createOutgoingQueue } from './outgoing-queue.js';

describe('createOutgoingQueue', () => {
  it('hands out urgent messages ahead of waiting output, in order otherwise', async () => {
    const queue = createOutgoingQueue<string>();
    queue.push('out-1', 100);
    queue.push('out-2', 100);
    queue.pushUrgent('heartbeat');
    queue.close();
    const taken: string[] = [];
    for await (const item of queue) taken.push(item);
    expect(taken).toEqual(['heartbeat', 'out-1', 'out-2']);
  });

  it('counts the backlog in bytes and calls back once it falls to the mark', async () => {
    const queue = createOutgoingQueue<string>();
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
    const queue = createOutgoingQueue<string>();
    queue.close();
    queue.push('late');
    const taken: string[] = [];
    for await (const item of queue) taken.push(item);
    expect(taken).toEqual([]);
  });
});
