// The ids tracing makes: span ids from a pooled random source (distinct across refills of the
// pool) and a correlation id's trace id (the first 16 bytes of its SHA-256, also once remembered).
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { randomHex, traceIdFor, traceparentFor } from './tracing.js';

describe('tracing ids', () => {
  it('randomHex gives lowercase hex of the asked length, never the same twice across pool refills', () => {
    const seen = new Set<string>();
    // 4 KiB pool: 1,500 ids of 8 bytes and 500 of 16 refill it several times, at odd offsets.
    for (let i = 0; i < 1500; i += 1) seen.add(randomHex(8));
    for (let i = 0; i < 500; i += 1) seen.add(randomHex(16));
    expect(seen.size).toBe(2000);
    for (const id of seen) expect(id).toMatch(/^([0-9a-f]{16}|[0-9a-f]{32})$/);
  });

  it("a correlation id's trace id is its SHA-256 prefix, the same when remembered and after being forgotten", () => {
    const expected = (id: string) => createHash('sha256').update(id).digest('hex').slice(0, 32);
    expect(traceIdFor('job-a')).toBe(expected('job-a'));
    expect(traceIdFor('job-a')).toBe(expected('job-a'));
    for (let i = 0; i < 2000; i += 1) traceIdFor(`other-${i}`);
    expect(traceIdFor('job-a')).toBe(expected('job-a'));
    expect(traceIdFor('other-1999')).toBe(expected('other-1999'));
    expect(traceparentFor('job-a')).toMatch(
      new RegExp(`^00-${expected('job-a')}-[0-9a-f]{16}-01$`),
    );
  });
});
