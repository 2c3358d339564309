// Worker liveness: any frame counts on arrival, a frame the server is still handling keeps the
// worker alive, and silence longer than the limit is reported.
import { describe, expect, it } from 'vitest';
import { createWorkerLiveness } from './worker-liveness.js';

function fakeClock() {
  let now = 1_000_000;
  return { clock: { now: () => now }, advance: (ms: number) => (now += ms) };
}

describe('worker liveness', () => {
  it('reports a worker silent once nothing arrived for longer than the limit', () => {
    const { clock, advance } = fakeClock();
    const liveness = createWorkerLiveness(clock);
    liveness.track('w1');
    advance(1500);
    expect(liveness.check(1500).silent).toEqual([]);
    advance(1);
    expect(liveness.check(1500).silent).toEqual(['w1']);
  });

  it('counts any frame the moment it arrives', () => {
    const { clock, advance } = fakeClock();
    const liveness = createWorkerLiveness(clock);
    liveness.track('w1');
    advance(1400);
    liveness.seen('w1');
    advance(1400);
    const { alive, silent } = liveness.check(1500);
    expect(silent).toEqual([]);
    expect(alive.map((a) => a.workerId)).toEqual(['w1']);
  });

  it('keeps a worker alive while the server handles its frame, and restarts the wait after', () => {
    const { clock, advance } = fakeClock();
    const liveness = createWorkerLiveness(clock);
    liveness.track('w1');
    liveness.busy('w1', true);
    advance(60_000);
    expect(liveness.check(1500).silent).toEqual([]);
    liveness.busy('w1', false);
    advance(1499);
    expect(liveness.check(1500).silent).toEqual([]);
    advance(2);
    expect(liveness.check(1500).silent).toEqual(['w1']);
  });

  it('forgets a worker whose stream closed', () => {
    const { clock, advance } = fakeClock();
    const liveness = createWorkerLiveness(clock);
    liveness.track('w1');
    liveness.forget('w1');
    advance(10_000);
    expect(liveness.check(1500)).toEqual({ alive: [], silent: [] });
    expect(liveness.isTracked('w1')).toBe(false);
  });
});
