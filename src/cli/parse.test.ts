// Flag parsing for `hodei run` / `hodei job submit` / `hodei job list`: bad input is a usage
// error (exit 2) naming the flag, found before anything is sent to the server.
import { describe, expect, it } from 'vitest';
import { JobState } from '../gen/hodei/v1/job_pb.js';
import { CliError, EXIT_USAGE } from './cli-error.js';
import { parseCount, parsePairs, parseStates, parseTimeout, toQueueRequest } from './parse.js';

function usageErrorOf(fn: () => unknown): CliError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(CliError);
    expect((error as CliError).exitCode).toBe(EXIT_USAGE);
    return error as CliError;
  }
  throw new Error('expected a usage error');
}

describe('parsePairs', () => {
  it('splits at the first "=", keeps empty values and lets a later key win', () => {
    expect(parsePairs('--env', ['A=1', 'B=x=y', 'C=', 'A=2'])).toEqual({ A: '2', B: 'x=y', C: '' });
  });

  it('rejects a value without "=" naming the flag', () => {
    expect(usageErrorOf(() => parsePairs('--env', ['FOO'])).message).toMatch(/^--env .*"FOO"/);
    expect(usageErrorOf(() => parsePairs('--label', ['team'])).message).toMatch(/^--label /);
  });

  it('rejects an empty key', () => {
    expect(usageErrorOf(() => parsePairs('--label', ['=v'])).message).toMatch(/empty key/);
  });
});

describe('parseTimeout', () => {
  it('turns 30s, 500ms, 2m and 1.5s into a protobuf Duration', () => {
    expect(parseTimeout('30s')).toEqual({ seconds: 30n, nanos: 0 });
    expect(parseTimeout('500ms')).toEqual({ seconds: 0n, nanos: 500_000_000 });
    expect(parseTimeout('2m')).toEqual({ seconds: 120n, nanos: 0 });
    expect(parseTimeout('1.5s')).toEqual({ seconds: 1n, nanos: 500_000_000 });
    expect(parseTimeout(undefined)).toBeUndefined();
  });

  it('rejects what is not a duration, naming --timeout', () => {
    for (const bad of ['soon', '-5s', '10 days', '']) {
      expect(usageErrorOf(() => parseTimeout(bad)).message).toMatch(/^--timeout /);
    }
  });
});

describe('parseCount', () => {
  it('accepts whole numbers within the range', () => {
    expect(parseCount('--limit', '20', { min: 1, max: 500 })).toBe(20);
    expect(parseCount('--port', '0', { min: 0, max: 65535 })).toBe(0);
    expect(parseCount('--limit', undefined, { min: 1 })).toBeUndefined();
  });

  it('rejects fractions, words and numbers out of range', () => {
    for (const bad of ['1.5', 'ten', '0', '501', '-1']) {
      expect(usageErrorOf(() => parseCount('--limit', bad, { min: 1, max: 500 })).message).toMatch(
        /^--limit /,
      );
    }
  });
});

describe('parseStates', () => {
  it('reads repeated and comma-separated states in any case, with or without the prefix', () => {
    expect(parseStates(['running,Pending', 'JOB_STATE_FAILED', 'RUNNING'])).toEqual([
      JobState.RUNNING,
      JobState.PENDING,
      JobState.FAILED,
    ]);
  });

  it('rejects an unknown state, and UNSPECIFIED', () => {
    expect(usageErrorOf(() => parseStates(['DONE'])).message).toMatch(/^--state: .*"DONE"/);
    expect(() => parseStates(['UNSPECIFIED'])).toThrow(CliError);
  });
});

describe('toQueueRequest', () => {
  it('builds the spec from the command line and the flags', () => {
    const request = toQueueRequest(
      ['sh', '-c', 'echo hi'],
      {
        name: 'greet',
        env: ['GREETING=hi'],
        label: ['team=core'],
        timeout: '2m',
        maxAttempts: '5',
        workdir: '/tmp',
        idempotencyKey: 'k1',
        correlationId: 'c1',
      },
      { TOKEN: 'hunter22' },
    );
    expect(request).toEqual({
      spec: {
        name: 'greet',
        command: 'sh',
        args: ['-c', 'echo hi'],
        env: { GREETING: 'hi' },
        secrets: { TOKEN: 'hunter22' },
        labels: { team: 'core' },
        workingDir: '/tmp',
        timeout: { seconds: 120n, nanos: 0 },
        maxAttempts: 5,
        retry: undefined,
      },
      idempotencyKey: 'k1',
      correlationId: 'c1',
    });
  });

  it('builds the retry policy from --retries, --backoff and --max-backoff', () => {
    expect(
      toQueueRequest(['false'], { retries: '3', backoff: '500ms', maxBackoff: '10s' }).spec?.retry,
    ).toEqual({
      retries: 3,
      backoff: { seconds: 0n, nanos: 500_000_000 },
      maxBackoff: { seconds: 10n, nanos: 0 },
    });
    expect(toQueueRequest(['false'], { retries: '2' }).spec?.retry).toEqual({
      retries: 2,
      backoff: undefined,
      maxBackoff: undefined,
    });
  });

  it('names the retry flag that is wrong', () => {
    expect(() => toQueueRequest(['false'], { retries: 'x' })).toThrow(/--retries/);
    expect(() => toQueueRequest(['false'], { retries: '101' })).toThrow(/--retries/);
    expect(() => toQueueRequest(['false'], { retries: '1', backoff: 'soon' })).toThrow(/--backoff/);
    expect(() => toQueueRequest(['false'], { retries: '1', maxBackoff: '-' })).toThrow(
      /--max-backoff/,
    );
    expect(() => toQueueRequest(['false'], { backoff: '1s' })).toThrow(/need --retries/);
  });

  it('leaves defaults to the server when flags are absent', () => {
    expect(toQueueRequest(['true'], {}).spec).toMatchObject({
      command: 'true',
      args: [],
      env: {},
      timeout: undefined,
      maxAttempts: 0,
    });
  });

  it('is a usage error without a command, or with a bad flag', () => {
    expect(usageErrorOf(() => toQueueRequest([], {})).message).toMatch(/missing command/);
    expect(usageErrorOf(() => toQueueRequest(['true'], { env: ['FOO'] })).message).toMatch(
      /^--env /,
    );
    expect(usageErrorOf(() => toQueueRequest(['true'], { maxAttempts: '0' })).message).toMatch(
      /^--max-attempts /,
    );
  });
});
