// Events are bounded when written: strings cut with a marker, the whole payload under its limit,
// and nothing PostgreSQL's jsonb would refuse.
import { describe, expect, it } from 'vitest';
import { EVENT_LIMITS, EventTooLargeError, boundEventPayload } from './event-bounds.js';

const MiB = 1024 * 1024;
const bytes = (value: unknown) => Buffer.byteLength(JSON.stringify(value), 'utf8');

describe('boundEventPayload', () => {
  it('leaves an ordinary payload as it was', () => {
    const payload = { jobId: 'j-1', attempt: 2, workerId: 'w-1', exitCode: 0 };
    expect(boundEventPayload('JobSucceeded', payload)).toEqual(payload);
  });

  it('cuts an error that echoes a 1 MiB working directory to 4 KiB with the marker', () => {
    const dir = `/tmp/${'d'.repeat(MiB)}`;
    const payload = { jobId: 'j-1', attempt: 1, error: `working directory not found: ${dir}` };
    const bounded = boundEventPayload('JobFailed', payload);
    expect(bounded.jobId).toBe('j-1');
    expect(bounded.attempt).toBe(1);
    expect(Buffer.byteLength(bounded.error)).toBeLessThanOrEqual(EVENT_LIMITS.fieldBytes);
    expect(bounded.error.startsWith('working directory not found: /tmp/ddd')).toBe(true);
    expect(bounded.error).toMatch(/… \(\d+ bytes cut\)$/);
    expect(bytes(bounded)).toBeLessThan(EVENT_LIMITS.fieldBytes + 200);
  });

  it('cuts strings at any depth and keeps the whole under the payload limit', () => {
    const payload = {
      reasons: Array.from({ length: 40 }, () => 'r'.repeat(10_000)),
      nested: { text: 'n'.repeat(MiB) },
    };
    const bounded = boundEventPayload('WorkerLost', payload);
    expect(bytes(bounded)).toBeLessThanOrEqual(EVENT_LIMITS.payloadBytes);
    expect(bounded.reasons).toHaveLength(40);
    expect(bounded.nested.text).toMatch(/bytes cut\)$/);
  });

  it('replaces what jsonb cannot store (NUL, a lone surrogate)', () => {
    const bounded = boundEventPayload('JobFailed', {
      jobId: 'j',
      attempt: 1,
      error: 'bad\0name \uD800',
    });
    expect(bounded.error).toBe('bad\uFFFDname \uFFFD');
  });

  it('refuses a payload whose structure alone is over the limit', () => {
    const payload = { many: Array.from({ length: 20_000 }, (_, i) => i) };
    expect(() => boundEventPayload('WorkerLost', payload)).toThrow(EventTooLargeError);
  });
});
