// The output redactor: every secret value masked, whichever way the output is cut into reads,
// with overlapping and touching occurrences masked as one, and short values left alone.
import { describe, expect, it } from 'vitest';
import { createStreamRedactor, redactText } from './secret-redactor.js';

/** What the redactor sends for `text` read in pieces cut at `cuts`. */
function through(values: string[], text: string, cuts: number[]): string {
  const redactor = createStreamRedactor(values);
  if (!redactor) return text;
  const bytes = Buffer.from(text);
  const out: Buffer[] = [];
  let at = 0;
  for (const cut of [...cuts, bytes.length]) {
    out.push(redactor.push(bytes.subarray(at, cut)));
    at = cut;
  }
  out.push(redactor.end());
  return Buffer.concat(out).toString();
}

describe('createStreamRedactor', () => {
  it('masks a value in one read', () => {
    expect(through(['hunter22'], 'token=hunter22\n', [])).toBe('token=***\n');
  });

  it('masks a value cut at every byte boundary into two reads', () => {
    const text = 'before hunter22 after';
    for (let cut = 0; cut <= text.length; cut += 1) {
      expect(through(['hunter22'], text, [cut]), `cut at ${cut}`).toBe('before *** after');
    }
  });

  it('masks a value that arrives one byte at a time', () => {
    const text = 'a hunter22 b hunter22';
    const cuts = Array.from({ length: text.length }, (_, i) => i);
    expect(through(['hunter22'], text, cuts)).toBe('a *** b ***');
  });

  it('holds back only what could start a value, and gives it back at the end', () => {
    const redactor = createStreamRedactor(['hunter22'])!;
    const first = redactor.push(Buffer.from('log line\nhunt')).toString();
    expect(first).toBe('log line\n'.slice(0, first.length));
    expect(first).not.toContain('hunt');
    const rest = Buffer.concat([redactor.push(Buffer.from('ing season')), redactor.end()]);
    expect(first + rest.toString()).toBe('log line\nhunting season');
  });

  it('masks overlapping and touching occurrences as one, of one value or several', () => {
    expect(through(['abcdef', 'cdefgh'], 'xxabcdefghyy', [])).toBe('xx***yy');
    expect(through(['abcdef', 'cdefgh'], 'xxabcdefghyy', [5])).toBe('xx***yy');
    expect(through(['aaaa'], 'b aaaaaa b', [4])).toBe('b *** b');
    expect(through(['hunter22'], 'hunter22hunter22!', [9])).toBe('***!');
    // A value inside a longer one: the longer one is masked whole.
    expect(through(['secret', 'my-secret-value'], 'is my-secret-value.', [8])).toBe('is ***.');
  });

  it('leaves values shorter than 4 bytes alone, and masks by bytes (UTF-8)', () => {
    expect(through(['abc'], 'abc abc', [])).toBe('abc abc');
    expect(createStreamRedactor(['', 'no'])).toBeUndefined();
    expect(through(['ñandú'], 'el ñandú corre', [4, 5])).toBe('el *** corre');
  });

  it('masks a run longer than what it may hold back without showing any of it', () => {
    const redactor = createStreamRedactor(['aaaa'])!;
    const out: Buffer[] = [];
    for (let i = 0; i < 100; i += 1) out.push(redactor.push(Buffer.alloc(1024, 'a')));
    out.push(redactor.push(Buffer.from('zz')), redactor.end());
    const text = Buffer.concat(out).toString();
    expect(text).toMatch(/^(\*\*\*)+zz$/);
  });

  it('gives the same output for any cutting of random output', () => {
    const values = ['s3cr3t-token', 'tok3', 'xyzw', 'p@ss:word'];
    let seed = 7;
    const random = (n: number) => {
      seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
      return seed % n;
    };
    const pieces = [...values, 's3cr3t', 'tok', 'xy', 'zw', ' ', 'a', '\n', 'p@ss', ':word'];
    for (let round = 0; round < 200; round += 1) {
      const text = Array.from({ length: 30 }, () => pieces[random(pieces.length)]).join('');
      const whole = through(values, text, []);
      const cuts = [...new Set(Array.from({ length: 5 }, () => random(text.length + 1)))].sort(
        (a, b) => a - b,
      );
      expect(through(values, text, cuts), JSON.stringify({ text, cuts })).toBe(whole);
      for (const value of values) expect(whole).not.toContain(value);
    }
  });
});

describe('redactText', () => {
  it('masks values in a message', () => {
    expect(redactText('cannot open /run/hunter22/x', ['hunter22'])).toBe('cannot open /run/***/x');
    expect(redactText('nothing here', [])).toBe('nothing here');
  });
});
