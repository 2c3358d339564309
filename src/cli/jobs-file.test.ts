import { describe, expect, it } from 'vitest';
import { batches, parseJobsFile } from './jobs-file.js';

describe('parseJobsFile', () => {
  it('reads one QueueJobRequest per line, skipping blank lines, with their line numbers', () => {
    const jobs = parseJobsFile(
      'jobs.jsonl',
      [
        '{"spec":{"command":"echo","args":["a"]},"idempotencyKey":"k1"}',
        '',
        '  {"spec":{"command":"true","env":{"A":"1"},"timeout":"5s"}}  ',
      ].join('\n') + '\n',
    );
    expect(jobs.map((j) => j.line)).toEqual([1, 3]);
    expect(jobs[0]?.request.spec?.args).toEqual(['a']);
    expect(jobs[0]?.request.idempotencyKey).toBe('k1');
    expect(jobs[1]?.request.spec?.env).toEqual({ A: '1' });
  });

  it('names the file and line of the first bad line', () => {
    const good = '{"spec":{"command":"true"}}';
    expect(() => parseJobsFile('f', `${good}\n{"spec":`)).toThrow(/^f:2: not JSON: /);
    expect(() => parseJobsFile('f', `${good}\n[1,2]`)).toThrow(/^f:2: expected an object/);
    expect(() => parseJobsFile('f', `${good}\n{"spec":{"command":"x","maxAttempt":1}}`)).toThrow(
      /^f:2: .*maxAttempt/,
    );
    expect(() => parseJobsFile('f', `${good}\n{"spec":{"args":["x"]}}`)).toThrow(
      'f:2: spec.command is missing',
    );
    expect(() => parseJobsFile('f', '\n\n')).toThrow('f: no jobs in it');
  });

  it('a bad line is a usage error (exit 2)', () => {
    try {
      parseJobsFile('f', 'nope');
    } catch (error) {
      expect((error as { exitCode?: number }).exitCode).toBe(2);
    }
    expect.assertions(1);
  });
});

describe('batches', () => {
  const job = (line: number, bytes: number) => ({ line, bytes, request: {} as never });
  it('cuts the jobs into calls of at most n jobs and about m bytes, in order', () => {
    const lines = (calls: Array<Array<{ line: number }>>) => calls.map((c) => c.map((j) => j.line));
    expect(
      lines(
        batches(
          [1, 2, 3, 4, 5].map((i) => job(i, 10)),
          2,
          1000,
        ),
      ),
    ).toEqual([[1, 2], [3, 4], [5]]);
    expect(
      lines(
        batches(
          [1, 2, 3, 4].map((i) => job(i, 40)),
          1000,
          100,
        ),
      ),
    ).toEqual([
      [1, 2],
      [3, 4],
    ]);
    // A job larger than the bound goes alone.
    expect(lines(batches([job(1, 10), job(2, 500), job(3, 10)], 1000, 100))).toEqual([
      [1],
      [2],
      [3],
    ]);
    expect(batches([], 3, 100)).toEqual([]);
  });
});
