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

  it('leaves out the subjects of the exceptions, and only those', () => {
    const only = (subject: string) =>
      new RegExp(filterToRegex('p.events.>', ['p.events.saga.>', 'p.events.worker.Gone'])).test(
        subject,
      );
    expect(only('p.events.job.JobQueued')).toBe(true);
    expect(only('p.events.saga.SagaStarted')).toBe(false);
    expect(only('p.events.saga')).toBe(true);
    expect(only('p.events.sagas.x')).toBe(true);
    expect(only('p.events.worker.Gone')).toBe(false);
    expect(only('p.events.worker.GoneToo')).toBe(true);
    expect(only('q.events.job.JobQueued')).toBe(false);
  });

  it('treats regex characters in tokens literally', () => {
    expect(matches('a+b.c', 'a+b.c')).toBe(true);
    expect(matches('a+b.c', 'aab.c')).toBe(false);
  });
});
