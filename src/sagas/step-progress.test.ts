// Background step records: in order, halting when one finds the saga moved on or fails.
import { describe, expect, it } from 'vitest';
import { createStepProgress } from './step-progress.js';

const tick = () => new Promise((r) => setTimeout(r, 1));

describe('step progress', () => {
  it('writes records one after the other, in the order they were queued', async () => {
    const progress = createStepProgress();
    const order: string[] = [];
    const write = (name: string) => async () => {
      order.push(`start:${name}`);
      await tick();
      order.push(`end:${name}`);
      return true;
    };
    progress.record(write('a'));
    progress.record(write('b'));
    expect(progress.halted).toBe(false);
    expect(await progress.settled()).toBe(true);
    expect(order).toEqual(['start:a', 'end:a', 'start:b', 'end:b']);
  });

  it('halts and skips later records once one finds the saga moved on', async () => {
    const progress = createStepProgress();
    const written: string[] = [];
    progress.record(async () => {
      written.push('a');
      return false;
    });
    progress.record(async () => {
      written.push('b');
      return true;
    });
    expect(await progress.settled()).toBe(false);
    expect(progress.halted).toBe(true);
    expect(written).toEqual(['a']);
  });

  it('reports a failed record through settled, not as an unhandled rejection', async () => {
    const progress = createStepProgress();
    progress.record(() => Promise.reject(new Error('connection lost')));
    await tick();
    expect(progress.halted).toBe(true);
    await expect(progress.settled()).rejects.toThrow('connection lost');
  });

  it('settles at once with nothing queued', async () => {
    expect(await createStepProgress().settled()).toBe(true);
  });
});
