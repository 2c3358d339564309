import { describe, expect, it } from 'vitest';
import { filterToRegex } from './subject-filter.js';

const matches = (filter: string, subject: string) =>
  new RegExp(filterToRegex(filter)).test(subject);

describe('filterToRegex', () => {
  it('matches the rest with >', () => {
    expect(matches('hodei.events.>', 'hodei.events.job.JobQueued')).toBe(true);
    expect(matches('hodei.events.>', 'hodei.events')).toBe(false);
    expect(matches('hodei.events.>', 'hodei.eventsX.job')).toBe(false);
  });

  it('matches exactly one token with *', () => {
    expect(matches('hodei.*.job', 'hodei.events.job')).toBe(true);
    expect(matches('hodei.*.job', 'hodei.a.b.job')).toBe(false);
  });

  it('treats regex characters in tokens literally', () => {
    expect(matches('a+b.c', 'a+b.c')).toBe(true);
    expect(matches('a+b.c', 'aab.c')).toBe(false);
  });
});
