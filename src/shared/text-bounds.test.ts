// Cutting text to a byte budget with a marker, and making it storable in PostgreSQL.
import { describe, expect, it } from 'vitest';
import { cutMarker, hasUnstorableText, storableText, truncateUtf8 } from './text-bounds.js';

const bytes = (s: string) => Buffer.byteLength(s, 'utf8');

describe('truncateUtf8', () => {
  it('leaves a text within the budget as it is', () => {
    expect(truncateUtf8('hello', 5)).toBe('hello');
    expect(truncateUtf8('ñandú', 7)).toBe('ñandú');
  });

  it('cuts a 1 MiB text to the budget, ending with how many bytes were cut', () => {
    const text = '/tmp/'.padEnd(1024 * 1024, 'x');
    const cut = truncateUtf8(text, 4096);
    expect(bytes(cut)).toBeLessThanOrEqual(4096);
    expect(bytes(cut)).toBeGreaterThan(4000);
    expect(cut.startsWith('/tmp/xxx')).toBe(true);
    const match = /… \((\d+) bytes cut\)$/.exec(cut);
    expect(match).not.toBeNull();
    // What was kept plus what was cut is the whole text.
    const kept = cut.slice(0, cut.length - cutMarker(Number(match?.[1])).length);
    expect(bytes(kept) + Number(match?.[1])).toBe(1024 * 1024);
  });

  it('never cuts a character in two', () => {
    for (const char of ['é', '€', '😀']) {
      for (let budget = 40; budget < 48; budget += 1) {
        const cut = truncateUtf8(char.repeat(100), budget);
        expect(bytes(cut)).toBeLessThanOrEqual(budget);
        expect(cut).not.toContain('\uFFFD');
        const kept = cut.slice(0, cut.indexOf('…'));
        expect(kept).toBe(char.repeat(kept.length / char.length));
      }
    }
  });
});

describe('storableText', () => {
  it('replaces NUL and lone surrogates, keeps pairs', () => {
    expect(hasUnstorableText('a\0b')).toBe(true);
    expect(storableText('a\0b')).toBe('a\uFFFDb');
    expect(storableText('x\uD800y')).toBe('x\uFFFDy');
    expect(storableText('x\uDC00')).toBe('x\uFFFD');
    expect(hasUnstorableText('ok 😀')).toBe(false);
    expect(storableText('ok 😀')).toBe('ok 😀');
  });
});
