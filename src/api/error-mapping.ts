// The one place where typed errors become RPC status codes.
import { Code, ConnectError } from '@connectrpc/connect';
import { HodeiError, type ErrorCode } from '../shared/errors.js';
import type { Logger } from '../shared/logger.js';
import { truncateUtf8 } from '../shared/text-bounds.js';

const MAX_MESSAGE_BYTES = 1024;

const CODES: Record<ErrorCode, Code> = {
  INVALID_ARGUMENT: Code.InvalidArgument,
  NOT_FOUND: Code.NotFound,
  JOB_ILLEGAL_TRANSITION: Code.FailedPrecondition,
  WORKER_ILLEGAL_TRANSITION: Code.FailedPrecondition,
  WORKER_REGISTRATION_REFUSED: Code.Unauthenticated,
  WORKER_NOT_CONNECTED: Code.FailedPrecondition,
  SAGA_STEP_FAILED: Code.Internal,
  SAGA_DEADLINE_EXCEEDED: Code.DeadlineExceeded,
  PROVIDER_FAILED: Code.Unavailable,
  CONFIG_INVALID: Code.InvalidArgument,
  DATA_DIR_LOCKED: Code.FailedPrecondition,
  UNAVAILABLE: Code.Unavailable,
  DEAD_LETTER_NOT_PENDING: Code.FailedPrecondition,
  JOB_OUTPUT_DELETED: Code.FailedPrecondition,
  BUS_REFUSED: Code.FailedPrecondition,
  IDEMPOTENCY_KEY_REUSED: Code.AlreadyExists,
  UNAUTHENTICATED: Code.Unauthenticated,
  PERMISSION_DENIED: Code.PermissionDenied,
  API_TOKEN_NAME_TAKEN: Code.AlreadyExists,
  JOB_SECRETS_UNREADABLE: Code.FailedPrecondition,
};

export function toConnectError(error: unknown, logger?: Logger): ConnectError {
  if (error instanceof ConnectError) return error;
  if (error instanceof HodeiError) {
    // A status message travels in an HTTP/2 trailer: a long one breaks the stream (RST_STREAM)
    // instead of reaching the client. Messages quote short prefixes; this bounds the rest.
    return new ConnectError(truncateUtf8(error.message, MAX_MESSAGE_BYTES), CODES[error.code]);
  }
  logger?.error({ err: error }, 'unexpected error in an RPC');
  return new ConnectError('internal error; see the server log', Code.Internal);
}

/** Runs an RPC body, mapping whatever it throws. */
export async function mapErrors<T>(logger: Logger, body: () => Promise<T>): Promise<T> {
  try {
    return await body();
  } catch (error) {
    throw toConnectError(error, logger);
  }
}
