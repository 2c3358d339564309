// Strict proto3 JSON: what the lenient decoder would have accepted or answered without naming a
// field is refused here with the field's name.
import { describe, expect, it } from 'vitest';
import { QueueJobRequestSchema, ListJobsRequestSchema } from '../gen/hodei/v1/job_pb.js';
import { checkStrictJson } from './strict-json.js';

const queue = (spec: unknown) => () => checkStrictJson(QueueJobRequestSchema, { spec });

describe('checkStrictJson', () => {
  it('accepts what proto3 JSON allows', () => {
    expect(
      queue({
        command: 'echo',
        max_attempts: '16',
        maxAttempts: 3,
        timeout: '1.000000001s',
        retry: { retries: 2, backoff: '0.5s', maxBackoff: null },
        env: { A: '1' },
        args: ['a'],
      }),
    ).not.toThrow();
    expect(() =>
      checkStrictJson(ListJobsRequestSchema, { states: ['JOB_STATE_RUNNING', 3] }),
    ).not.toThrow();
  });

  it('names unknown fields, with the path they were found at', () => {
    expect(queue({ command: 'echo', maxAttempt: 1 })).toThrow(/^spec\.maxAttempt: unknown field/);
    expect(queue({ command: 'echo', retry: { retry: 1 } })).toThrow(
      /^spec\.retry\.retry: unknown field/,
    );
  });

  it('takes whole numbers only as JSON numbers or decimal strings, within range', () => {
    for (const bad of ['0x10', '1e1', ' 16', '16.0', '', '+1']) {
      expect(queue({ command: 'e', maxAttempts: bad })).toThrow(/^spec\.max_attempts: /);
    }
    expect(queue({ command: 'e', maxAttempts: 2.5 })).toThrow(/whole number/);
    expect(queue({ command: 'e', maxAttempts: 2 ** 31 })).toThrow(/out of range/);
    expect(queue({ command: 'e', maxAttempts: true })).toThrow(/must be a number/);
  });

  it('explains a malformed duration', () => {
    for (const bad of ['1.0000000001s', '30', '1m', 's', '-', 5, '1.s']) {
      expect(queue({ command: 'e', timeout: bad })).toThrow(/^spec\.timeout: must be a duration/);
    }
  });

  it('quotes at most a short prefix of a bad value', () => {
    expect(queue({ command: 'e', maxAttempts: 'x'.repeat(10_000) })).toThrow(/got "x{32}"…$/);
  });
});
