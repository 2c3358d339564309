// Line splitting at byte level: newlines across chunks, CRLF, and the 64 KiB cap on UTF-8
// character boundaries.
import { describe, expect, it } from 'vitest';
import { createLineSplitter } from './line-splitter.js';

function split(chunks: Array<string | Buffer>, maxBytes?: number): string[] {
  const lines: string[] = [];
  const splitter = createLineSplitter((line) => lines.push(line), maxBytes);
  for (const chunk of chunks) splitter.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk));
  splitter.end();
  return lines;
}

describe('createLineSplitter', () => {
  it('joins a line spread over chunks and keeps empty lines', () => {
    expect(split(['he', 'llo\n\nwor', 'ld\n'])).toEqual(['hello', '', 'world']);
  });

  it('drops the carriage return of CRLF and emits a last line without newline', () => {
    expect(split(['a\r\nb'])).toEqual(['a', 'b']);
  });

  it('cuts a long line into pieces of at most maxBytes; a line of exactly maxBytes is whole', () => {
    expect(split(['abcdefghij\n'], 4)).toEqual(['abcd', 'efgh', 'ij']);
    expect(split(['abcd\n'], 4)).toEqual(['abcd']);
  });

  it('never cuts inside a UTF-8 character', () => {
    const line = 'aé€😀'.repeat(3); // 1 + 2 + 3 + 4 bytes each
    const pieces = split([line + '\n'], 5);
    expect(pieces.join('')).toBe(line);
    for (const piece of pieces) {
      expect(Buffer.byteLength(piece)).toBeLessThanOrEqual(5);
      expect(piece).not.toContain('\uFFFD');
    }
  });

  it('keeps a multi-byte character split across chunks intact', () => {
    const bytes = Buffer.from('€\n');
    expect(split([bytes.subarray(0, 1), bytes.subarray(1)])).toEqual(['€']);
  });
});
