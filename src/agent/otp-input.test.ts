// The agent's one-time password arrives as the first line of stdin: a line, the end of input
// without a newline, nothing, and a stdin that never ends.
import { PassThrough, Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { readOtpLine } from './otp-input.js';

describe('readOtpLine', () => {
  it('takes the first line and stops reading', async () => {
    const input = new PassThrough();
    input.write('abc-123\r\nsecond line\n');
    expect(await readOtpLine(input, 1000)).toEqual({ otp: 'abc-123' });
    expect(input.destroyed).toBe(true);
  });

  it('takes a last line without a newline when the input ends', async () => {
    expect(await readOtpLine(Readable.from(['ab', 'c']), 1000)).toEqual({ otp: 'abc' });
  });

  it('reports an empty or closed stdin', async () => {
    expect(await readOtpLine(Readable.from([]), 1000)).toEqual({
      problem: 'stdin is empty or closed',
    });
    expect(await readOtpLine(Readable.from(['\n']), 1000)).toEqual({
      problem: 'the first line of stdin is empty',
    });
  });

  it('gives up after the timeout when nothing complete arrives', async () => {
    const input = new PassThrough();
    input.write('no newline yet');
    const started = Date.now();
    expect(await readOtpLine(input, 100)).toEqual({
      problem: 'nothing arrived on stdin within 0.1 s',
    });
    expect(Date.now() - started).toBeGreaterThanOrEqual(90);
  });

  it('refuses a first line longer than any one-time password', async () => {
    const result = await readOtpLine(Readable.from(['x'.repeat(5000)]), 1000);
    expect(result).toEqual({ problem: 'the first line of stdin is longer than 1024 bytes' });
  });
});
