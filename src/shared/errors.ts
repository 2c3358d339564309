// Typed errors: one base class with a stable code, one subclass per failure mode. The API maps
// codes to RPC status codes in one place (api/error-mapping.ts).

export type ErrorCode =
  | 'INVALID_ARGUMENT'
  | 'NOT_FOUND'
  | 'JOB_ILLEGAL_TRANSITION'
  | 'WORKER_ILLEGAL_TRANSITION'
  | 'WORKER_REGISTRATION_REFUSED'
  | 'WORKER_NOT_CONNECTED'
  | 'SAGA_STEP_FAILED'
  | 'SAGA_DEADLINE_EXCEEDED'
  | 'PROVIDER_FAILED'
  | 'CONFIG_INVALID'
  | 'DATA_DIR_LOCKED'
  | 'UNAVAILABLE'
  | 'DEAD_LETTER_NOT_PENDING'
  | 'JOB_OUTPUT_DELETED'
  | 'BUS_REFUSED'
  | 'IDEMPOTENCY_KEY_REUSED'
  | 'UNAUTHENTICATED'
  | 'PERMISSION_DENIED'
  | 'API_TOKEN_NAME_TAKEN'
  | 'JOB_SECRETS_UNREADABLE';

export class HodeiError extends Error {
  readonly code: ErrorCode;
  readonly context: Readonly<Record<string, unknown>>;

  constructor(
    code: ErrorCode,
    message: string,
    context: Record<string, unknown> = {},
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
    this.context = Object.freeze({ ...context });
  }
}

/** Input that fails validation; `field` names what was wrong. */
export class InvalidArgumentError extends HodeiError {
  constructor(
    readonly field: string,
    message: string,
  ) {
    super('INVALID_ARGUMENT', `${field}: ${message}`, { field });
  }
}

export class NotFoundError extends HodeiError {
  constructor(kind: string, id: string) {
    super('NOT_FOUND', `${kind} ${id} not found`, { kind, id });
  }
}

export class IllegalTransitionError extends HodeiError {
  constructor(
    code: 'JOB_ILLEGAL_TRANSITION' | 'WORKER_ILLEGAL_TRANSITION',
    readonly from: string,
    readonly to: string,
  ) {
    super(code, `illegal transition ${from} -> ${to}`, { from, to });
  }
}

/**
 * A worker registration refused for any reason (unknown worker, wrong, used or expired one-time
 * password, worker no longer CREATING). The message is the same for all of them, so a caller
 * cannot tell a worker id that exists from one that does not; `reason` is for the server's log.
 */
export class RegistrationRefusedError extends HodeiError {
  static readonly MESSAGE =
    'registration refused: unknown worker, or a wrong, used or expired one-time password';

  constructor(
    workerId: string,
    readonly reason: string,
  ) {
    super('WORKER_REGISTRATION_REFUSED', RegistrationRefusedError.MESSAGE, { workerId, reason });
  }
}

/** A replay or discard of a dead letter that was already replayed or discarded (each happens
 * once). */
export class DeadLetterNotPendingError extends HodeiError {
  constructor(
    readonly id: number,
    readonly state: 'REPLAYED' | 'DISCARDED',
    at: Date | null,
  ) {
    const done = state === 'REPLAYED' ? 'replayed' : 'discarded';
    super(
      'DEAD_LETTER_NOT_PENDING',
      `dead letter ${id} was already ${done}${at ? ` at ${at.toISOString()}` : ''}; a dead letter is replayed or discarded once`,
      { id, state },
    );
  }
}

/** The output of a job was deleted by the retention loop. */
export class OutputDeletedError extends HodeiError {
  constructor(
    readonly jobId: string,
    deletedAt: Date,
  ) {
    super(
      'JOB_OUTPUT_DELETED',
      `the output of job ${jobId} was deleted by retention at ${deletedAt.toISOString()} (output of finished jobs is kept for HODEI_RETENTION_JOB_OUTPUT, 30d by default)`,
      { jobId },
    );
  }
}

/** A job queued again with an idempotency key already used for a job with another spec. */
export class IdempotencyKeyReusedError extends HodeiError {
  constructor(
    readonly key: string,
    readonly jobId: string,
    readonly differences: readonly string[],
  ) {
    super(
      'IDEMPOTENCY_KEY_REUSED',
      `idempotency_key ${JSON.stringify(key)} was used for job ${jobId}, whose spec differs in ${differences.join(', ')}; the same key queues the same job once (use a new key for a different job)`,
      { key, jobId },
    );
  }
}

/** An item of a batch (QueueJobs) was refused: the item's error, its index in front. Nothing of
 * the batch was written. */
export class BatchItemError extends HodeiError {
  constructor(
    readonly index: number,
    readonly itemError: HodeiError,
  ) {
    super(itemError.code, `jobs[${index}]: ${itemError.message}`, {
      ...itemError.context,
      index,
    });
  }
}

/** The same idempotency key from another API token: nothing about that token's job is told. */
export class IdempotencyKeyTakenError extends HodeiError {
  constructor(readonly key: string) {
    super(
      'IDEMPOTENCY_KEY_REUSED',
      `idempotency_key ${JSON.stringify(key)} was used by another API token; use a new key`,
      { key },
    );
  }
}

export class ConfigError extends HodeiError {
  constructor(variable: string, message: string) {
    super('CONFIG_INVALID', `${variable}: ${message}`, { variable });
  }
}

/** Normalise any caught value into an Error, once. */
export function toError(value: unknown): Error {
  if (value instanceof Error) return value;
  if (typeof value === 'string') return new Error(value);
  try {
    return new Error(JSON.stringify(value));
  } catch {
    return new Error(String(value));
  }
}

export function errorMessage(value: unknown): string {
  return toError(value).message;
}

/** A call without a valid API token on a server that requires one. */
export class UnauthenticatedError extends HodeiError {
  constructor(message: string) {
    super('UNAUTHENTICATED', message);
  }
}

/** A valid API token whose scopes do not allow the call (or not on this job). */
export class PermissionDeniedError extends HodeiError {
  constructor(
    readonly token: string,
    message: string,
  ) {
    super('PERMISSION_DENIED', message, { token });
  }
}

/** Token names are unique for good, revoked tokens' names too. */
export class ApiTokenNameTakenError extends HodeiError {
  constructor(readonly tokenName: string) {
    super(
      'API_TOKEN_NAME_TAKEN',
      `a token named "${tokenName}" exists already (names are never reused)`,
      { name: tokenName },
    );
  }
}

/** A job's secrets cannot be opened with the server's secrets key: sealed under another key
 * (HODEI_SECRETS_KEY or the key file changed), or the stored bytes were altered. The run fails
 * with this message; no value is ever part of it. */
export class SecretsUnreadableError extends HodeiError {
  constructor(
    readonly jobId: string,
    readonly reason: 'other-key' | 'altered' | 'missing',
    keys: { stored?: string; current: string },
  ) {
    const why =
      reason === 'other-key'
        ? `they were encrypted with secrets key ${keys.stored ?? '?'}, and this server has key ${keys.current} (HODEI_SECRETS_KEY or the key file changed; see "Secrets key" in docs/operations.md)`
        : reason === 'altered'
          ? `decryption with secrets key ${keys.current} failed: the stored ciphertext was altered or belongs to another job`
          : 'they are no longer stored';
    super('JOB_SECRETS_UNREADABLE', `the secrets of job ${jobId} cannot be read: ${why}`, {
      jobId,
      reason,
    });
  }
}
