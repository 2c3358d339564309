// The relay's policy table: permanent refusals are dead-lettered after the bounded tries, an
// unavailable bus never dead-letters anything, and retries back off.
import { describe, expect, it } from 'vitest';
import { relayDecision } from './relay-policy.js';

describe('relayDecision', () => {
  it('dead-letters a too-large event on its last allowed try, not before', () => {
    expect(relayDecision('too-large', 1, 3).action).toBe('retry');
    expect(relayDecision('too-large', 2, 3).action).toBe('retry');
    expect(relayDecision('too-large', 3, 3)).toEqual({ action: 'dead-letter' });
    expect(relayDecision('invalid-subject', 1, 1)).toEqual({ action: 'dead-letter' });
    expect(relayDecision('refused', 5, 3)).toEqual({ action: 'dead-letter' });
  });

  it('never dead-letters while the bus is unavailable', () => {
    expect(relayDecision('unavailable', 1_000, 3).action).toBe('retry');
  });

  it('backs off from about 100 ms to about 2 s', () => {
    const first = relayDecision('unavailable', 1, 3);
    const late = relayDecision('unavailable', 20, 3);
    expect(first.action === 'retry' && first.inMs).toBeLessThanOrEqual(125);
    expect(late.action === 'retry' && late.inMs).toBeGreaterThanOrEqual(1500);
    expect(late.action === 'retry' && late.inMs).toBeLessThanOrEqual(2500);
  });
});
