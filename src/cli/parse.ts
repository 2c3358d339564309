// Pure parsing of command-line values: KEY=VALUE pairs, durations, counts, job states, and the
// QueueJob request `hodei run` and `hodei job submit` build. Bad input is a usage error naming
// the flag, raised before anything is sent to the server.
import type { MessageInitShape } from '@bufbuild/protobuf';
import { JobState, type QueueJobRequestSchema } from '../gen/hodei/v1/job_pb.js';
import { parseDuration } from '../shared/duration.js';
import { usageError } from './cli-error.js';
import { JOB_STATES } from '../jobs/job-state.js';

/** The flags `hodei run` and `hodei job submit` share, as commander hands them over. */
export interface JobFlags {
  name?: string;
  env?: string[];
  /** NAME (value from stdin) or NAME=@FILE; read by secret-input.ts, not here. */
  secret?: string[];
  label?: string[];
  timeout?: string;
  maxAttempts?: string;
  retries?: string;
  backoff?: string;
  maxBackoff?: string;
  workdir?: string;
  idempotencyKey?: string;
  correlationId?: string;
}

/** Parses repeated `KEY=VALUE` values; a later value for the same key wins. */
export function parsePairs(flag: string, values: readonly string[]): Record<string, string> {
  const pairs: Record<string, string> = {};
  for (const value of values) {
    const eq = value.indexOf('=');
    if (eq < 0) throw usageError(`${flag} expects KEY=VALUE, got "${value}" (no "=")`);
    if (eq === 0) throw usageError(`${flag} expects KEY=VALUE, got "${value}" (empty key)`);
    pairs[value.slice(0, eq)] = value.slice(eq + 1);
  }
  return pairs;
}

/** `500ms`, `30s`, `2m`, `1h` (or bare milliseconds) as a protobuf Duration; 0 means none. */
export function parseTimeout(
  value: string | undefined,
  flag = '--timeout',
): { seconds: bigint; nanos: number } | undefined {
  if (value === undefined) return undefined;
  const ms = parseDuration(value);
  if (ms === undefined) {
    throw usageError(`${flag} expects a duration such as 500ms, 30s or 2m, got "${value}"`);
  }
  const seconds = Math.floor(ms / 1000);
  return { seconds: BigInt(seconds), nanos: (ms - seconds * 1000) * 1_000_000 };
}

/** A whole number within [min, max]. */
export function parseCount(
  flag: string,
  value: string | undefined,
  range: { min: number; max?: number },
): number | undefined {
  if (value === undefined) return undefined;
  const n = /^\s*\d+\s*$/.test(value) ? Number(value) : NaN;
  const max = range.max ?? Number.MAX_SAFE_INTEGER;
  if (!Number.isSafeInteger(n) || n < range.min || n > max) {
    const bounds = range.max === undefined ? `>= ${range.min}` : `from ${range.min} to ${max}`;
    throw usageError(`${flag} expects a whole number ${bounds}, got "${value}"`);
  }
  return n;
}

const STATE_NAMES = JOB_STATES;

/** Job states from repeated or comma-separated `--state` values, with or without JOB_STATE_. */
export function parseStates(values: readonly string[]): JobState[] {
  const states: JobState[] = [];
  for (const value of values.flatMap((v) => v.split(','))) {
    const name = value
      .trim()
      .toUpperCase()
      .replace(/^JOB_STATE_/, '');
    const known = STATE_NAMES.find((s) => s === name);
    if (!known) {
      throw usageError(`--state: unknown job state "${value}" (one of ${STATE_NAMES.join(', ')})`);
    }
    if (!states.includes(JobState[known])) states.push(JobState[known]);
  }
  return states;
}

/** The retry policy from --retries, --backoff and --max-backoff; none without --retries. */
function parseRetry(flags: JobFlags) {
  const retries = parseCount('--retries', flags.retries, { min: 0, max: 100 });
  if (retries === undefined) {
    if (flags.backoff !== undefined || flags.maxBackoff !== undefined) {
      throw usageError('--backoff and --max-backoff need --retries N (how many times to retry)');
    }
    return undefined;
  }
  return {
    retries,
    backoff: parseTimeout(flags.backoff, '--backoff'),
    maxBackoff: parseTimeout(flags.maxBackoff, '--max-backoff'),
  };
}

/** The QueueJob request for `CMD ARGS…`, the job flags and the secrets read for --secret. */
export function toQueueRequest(
  argv: readonly string[],
  flags: JobFlags,
  secrets: Record<string, string> = {},
): MessageInitShape<typeof QueueJobRequestSchema> {
  const [command, ...args] = argv;
  if (!command) {
    throw usageError('missing command: put it after --, e.g. "hodei run -- echo hello"');
  }
  return {
    spec: {
      name: flags.name ?? '',
      command,
      args,
      env: parsePairs('--env', flags.env ?? []),
      secrets,
      labels: parsePairs('--label', flags.label ?? []),
      workingDir: flags.workdir ?? '',
      timeout: parseTimeout(flags.timeout),
      maxAttempts: parseCount('--max-attempts', flags.maxAttempts, { min: 1 }) ?? 0,
      retry: parseRetry(flags),
    },
    idempotencyKey: flags.idempotencyKey ?? '',
    correlationId: flags.correlationId ?? '',
  };
}
