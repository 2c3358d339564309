import { describe, expect, it } from 'vitest';
import { createSessionTokens } from './session-token.js';

function fakeClock(start = 1_000_000) {
  let now = start;
  return { now: () => now, advance: (ms: number) => (now += ms) };
}

describe('session tokens', () => {
  it('a token opens one stream, for the worker it was issued to', () => {
    const tokens = createSessionTokens();
    const token = tokens.issue('worker-a');
    expect(tokens.spend(token)).toBe('worker-a');
    expect(tokens.spend(token)).toBeUndefined();
  });

  it('a token with another worker id or a changed signature opens nothing', () => {
    const tokens = createSessionTokens();
    const token = tokens.issue('worker-a');
    tokens.issue('worker-b');
    const [, session, sig] = token.split('.');
    expect(tokens.spend(`worker-b.${session}.${sig}`)).toBeUndefined();
    expect(tokens.spend(`${token.slice(0, -2)}xx`)).toBeUndefined();
    expect(tokens.spend('')).toBeUndefined();
    expect(tokens.spend('worker-a')).toBeUndefined();
    expect(tokens.spend(token)).toBe('worker-a'); // the failed tries did not spend it
  });

  it('a token signed by another server process opens nothing', () => {
    const token = createSessionTokens().issue('worker-a');
    const other = createSessionTokens();
    other.issue('worker-a');
    expect(other.spend(token)).toBeUndefined();
  });

  it('registering again voids the earlier token', () => {
    const tokens = createSessionTokens();
    const first = tokens.issue('worker-a');
    const second = tokens.issue('worker-a');
    expect(tokens.spend(first)).toBeUndefined();
    expect(tokens.spend(second)).toBe('worker-a');
  });

  it('a token not spent within its time opens nothing', () => {
    const clock = fakeClock();
    const tokens = createSessionTokens({ ttlMs: 1000, clock });
    const late = tokens.issue('worker-a');
    const onTime = tokens.issue('worker-b');
    clock.advance(999);
    expect(tokens.spend(onTime)).toBe('worker-b');
    clock.advance(1);
    expect(tokens.spend(late)).toBeUndefined();
  });
});
