// Validates a job as a client submits it; every error names the field that is wrong.
import { InvalidArgumentError } from '../shared/errors.js';
import { mapEntryName, quoteBounded } from '../shared/text-bounds.js';
import { DEFAULT_MAX_ATTEMPTS, type JobSpecInput } from './job.js';
import {
  DEFAULT_RETRY_BACKOFF_MS,
  DEFAULT_RETRY_MAX_BACKOFF_MS,
  type RetryPolicy,
} from './retry-policy.js';

export const LIMITS = {
  nameLength: 200,
  commandLength: 4096,
  args: 1000,
  argsBytes: 256 * 1024,
  envEntries: 256,
  envBytes: 64 * 1024,
  secretEntries: 64,
  secretsBytes: 64 * 1024,
  labels: 64,
  labelLength: 256,
  workingDirLength: 4096,
  maxAttempts: 100,
  keyLength: 200,
  timeoutMs: 7 * 24 * 3_600_000,
  retries: 100,
  backoffMs: 24 * 3_600_000,
} as const;

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** Whether `name` is a valid environment variable (or secret) name. */
export function isVariableName(name: string): boolean {
  return ENV_NAME.test(name);
}
const LABEL_KEY = /^[A-Za-z0-9][A-Za-z0-9_.\-/]*$/;

/** A spec as received: the same fields as a stored one, not yet checked (a timeout may be
 * negative or fractional, max attempts and the retry backoffs 0 for their defaults). */
export type RawJobSpec = JobSpecInput;

function bytes(text: string): number {
  return Buffer.byteLength(text, 'utf8');
}

function noNul(field: string, value: string): void {
  if (value.includes('\0'))
    throw new InvalidArgumentError(field, 'must not contain NUL characters');
}

export function validateJobSpec(raw: RawJobSpec, knownProviders: readonly string[]): JobSpecInput {
  const command = raw.command.trim();
  if (command === '') throw new InvalidArgumentError('spec.command', 'must not be empty');
  if (command.length > LIMITS.commandLength) {
    throw new InvalidArgumentError(
      'spec.command',
      `must be at most ${LIMITS.commandLength} characters`,
    );
  }
  noNul('spec.command', command);
  if (raw.name.length > LIMITS.nameLength) {
    throw new InvalidArgumentError('spec.name', `must be at most ${LIMITS.nameLength} characters`);
  }
  if (raw.args.length > LIMITS.args) {
    throw new InvalidArgumentError('spec.args', `must have at most ${LIMITS.args} entries`);
  }
  raw.args.forEach((arg, i) => noNul(`spec.args[${i}]`, arg));
  if (raw.args.reduce((sum, a) => sum + bytes(a), 0) > LIMITS.argsBytes) {
    throw new InvalidArgumentError('spec.args', `must total at most ${LIMITS.argsBytes} bytes`);
  }
  const envEntries = Object.entries(raw.env);
  if (envEntries.length > LIMITS.envEntries) {
    throw new InvalidArgumentError('spec.env', `must have at most ${LIMITS.envEntries} entries`);
  }
  let envSize = 0;
  for (const [key, value] of envEntries) {
    if (!ENV_NAME.test(key)) {
      throw new InvalidArgumentError(
        'spec.env',
        `${quoteBounded(key)} is not a valid variable name (letters, digits and _, not starting with a digit)`,
      );
    }
    noNul(mapEntryName('spec.env', key), value);
    envSize += bytes(key) + bytes(value) + 2;
  }
  if (envSize > LIMITS.envBytes) {
    throw new InvalidArgumentError(
      'spec.env',
      `is ${envSize} bytes; at most ${LIMITS.envBytes} allowed`,
    );
  }
  validateSecrets(raw.secrets, raw.env);
  noNul('spec.working_dir', raw.workingDir);
  if (raw.workingDir.length > LIMITS.workingDirLength) {
    throw new InvalidArgumentError(
      'spec.working_dir',
      `must be at most ${LIMITS.workingDirLength} characters`,
    );
  }
  if (!Number.isFinite(raw.timeoutMs) || raw.timeoutMs < 0) {
    throw new InvalidArgumentError('spec.timeout', 'must not be negative');
  }
  if (raw.timeoutMs > LIMITS.timeoutMs) {
    throw new InvalidArgumentError('spec.timeout', 'must be at most 7 days');
  }
  if (
    !Number.isInteger(raw.maxAttempts) ||
    raw.maxAttempts < 0 ||
    raw.maxAttempts > LIMITS.maxAttempts
  ) {
    throw new InvalidArgumentError(
      'spec.max_attempts',
      `must be between 0 and ${LIMITS.maxAttempts}`,
    );
  }
  const labels = Object.entries(raw.labels);
  if (labels.length > LIMITS.labels) {
    throw new InvalidArgumentError('spec.labels', `must have at most ${LIMITS.labels} entries`);
  }
  for (const [key, value] of labels) {
    if (!LABEL_KEY.test(key) || key.length > LIMITS.labelLength) {
      throw new InvalidArgumentError(
        'spec.labels',
        `${quoteBounded(key)} is not a valid label key (letters, digits, and _ . - / after the first)`,
      );
    }
    if (value.length > LIMITS.labelLength) {
      throw new InvalidArgumentError(
        mapEntryName('spec.labels', key),
        `must be at most ${LIMITS.labelLength} characters`,
      );
    }
  }
  if (raw.provider !== '' && !knownProviders.includes(raw.provider)) {
    throw new InvalidArgumentError(
      'spec.provider',
      `unknown provider ${quoteBounded(raw.provider)} (known: ${knownProviders.join(', ')})`,
    );
  }
  return {
    name: raw.name,
    command,
    args: raw.args,
    env: raw.env,
    workingDir: raw.workingDir,
    timeoutMs: Math.ceil(raw.timeoutMs),
    maxAttempts: raw.maxAttempts === 0 ? DEFAULT_MAX_ATTEMPTS : raw.maxAttempts,
    labels: raw.labels,
    provider: raw.provider,
    retry: validateRetry(raw.retry),
    secrets: raw.secrets,
  };
}

/** Secret names follow the env rules and are not in env too; a value is never quoted in an
 * error (only its name and size are told). */
function validateSecrets(
  secrets: Readonly<Record<string, string>>,
  env: Readonly<Record<string, string>>,
): void {
  const entries = Object.entries(secrets);
  if (entries.length > LIMITS.secretEntries) {
    throw new InvalidArgumentError(
      'spec.secrets',
      `must have at most ${LIMITS.secretEntries} entries`,
    );
  }
  let size = 0;
  for (const [name, value] of entries) {
    if (!ENV_NAME.test(name)) {
      throw new InvalidArgumentError(
        'spec.secrets',
        `${quoteBounded(name)} is not a valid variable name (letters, digits and _, not starting with a digit)`,
      );
    }
    if (Object.hasOwn(env, name)) {
      throw new InvalidArgumentError(
        mapEntryName('spec.secrets', name),
        `${name} is in spec.env too; a name is either a plain variable or a secret`,
      );
    }
    noNul(mapEntryName('spec.secrets', name), value);
    size += bytes(name) + bytes(value) + 2;
  }
  if (size > LIMITS.secretsBytes) {
    throw new InvalidArgumentError(
      'spec.secrets',
      `is ${size} bytes; at most ${LIMITS.secretsBytes} allowed`,
    );
  }
}

function backoff(field: string, ms: number, fallback: number): number {
  if (!Number.isFinite(ms) || ms < 0) throw new InvalidArgumentError(field, 'must not be negative');
  if (ms > LIMITS.backoffMs) throw new InvalidArgumentError(field, 'must be at most 1 day');
  return ms === 0 ? fallback : Math.ceil(ms);
}

/** The retry policy with its defaults filled in: backoff 1 s, max backoff 5 min (or the backoff
 * when that is longer). */
function validateRetry(raw: RetryPolicy): RetryPolicy {
  if (!Number.isInteger(raw.retries) || raw.retries < 0 || raw.retries > LIMITS.retries) {
    throw new InvalidArgumentError('spec.retry.retries', `must be between 0 and ${LIMITS.retries}`);
  }
  const backoffMs = backoff('spec.retry.backoff', raw.backoffMs, DEFAULT_RETRY_BACKOFF_MS);
  const maxBackoffMs = backoff(
    'spec.retry.max_backoff',
    raw.maxBackoffMs,
    Math.max(backoffMs, DEFAULT_RETRY_MAX_BACKOFF_MS),
  );
  if (maxBackoffMs < backoffMs) {
    throw new InvalidArgumentError(
      'spec.retry.max_backoff',
      `must not be shorter than spec.retry.backoff (${backoffMs} ms)`,
    );
  }
  return { retries: raw.retries, backoffMs, maxBackoffMs };
}

/** Checks an optional client-chosen key (idempotency key, correlation id). */
export function validateKey(field: string, value: string): string {
  if (value.length > LIMITS.keyLength) {
    throw new InvalidArgumentError(field, `must be at most ${LIMITS.keyLength} characters`);
  }
  if (!/^[\x21-\x7e]*$/.test(value)) {
    throw new InvalidArgumentError(field, 'must be printable ASCII without spaces');
  }
  return value;
}
